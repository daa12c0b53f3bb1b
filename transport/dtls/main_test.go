package dtls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/transport/dtls"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// allowedImports are the non-standard imports a non-test file may have.
var allowedImports = map[string]bool{
	"github.com/pion/dtls/v3": true,
	"github.com/pion/logging": true,
	// The pre-auth drop counting the transports share (stdlib only).
	"github.com/hopwire/hopwire/transport/internal/preauth": true,
}

// TestDeps keeps dtls a leaf: the standard library, pion and the pre-auth
// drop counting the transports share, nothing else from hopwire (certs is
// for the tests).
func TestDeps(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") && !allowedImports[path] {
				t.Errorf("%s imports %s; dtls may import the standard library and pion/dtls/v3 only", name, path)
			}
		}
	}
}

// newID creates a self-signed (Ed25519) identity in a fresh directory.
func newID(t testing.TB, name string) *certs.Identity {
	t.Helper()
	id, err := certs.LoadOrCreate(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// serverConfig is id's server config, trusting only the clients given.
func serverConfig(t testing.TB, id *certs.Identity, clients ...*certs.Identity) *tls.Config {
	t.Helper()
	var fps []string
	for _, c := range clients {
		fps = append(fps, c.Fingerprint())
	}
	cfg, err := certs.ServerConfig(id, certs.Trust{Pinned: fps})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// clientConfig is id's client config, trusting only server.
func clientConfig(t testing.TB, id, server *certs.Identity) *tls.Config {
	t.Helper()
	cfg, err := certs.ClientConfig(id, certs.Trust{Pinned: []string{server.Fingerprint()}}, server.Name())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ids is a node and a client that pin each other.
type ids struct {
	node, client *certs.Identity
	server, cli  *tls.Config
}

var (
	idsOnce sync.Once
	shared  ids
)

// pairIDs returns identities shared by the tests that do not care which.
func pairIDs(t testing.TB) ids {
	idsOnce.Do(func() {
		node, err := certs.LoadOrCreate(filepath.Join(t.TempDir(), "node"), "node")
		if err != nil {
			t.Fatal(err)
		}
		client, err := certs.LoadOrCreate(filepath.Join(t.TempDir(), "client"), "alice")
		if err != nil {
			t.Fatal(err)
		}
		shared = ids{node: node, client: client}
		shared.server = serverConfig(t, node, client)
		shared.cli = clientConfig(t, client, node)
	})
	return shared
}

// listen starts a Listener on loopback; t.Cleanup closes it.
func listen(t testing.TB, cfg *tls.Config, opts *dtls.Options) *dtls.Listener {
	t.Helper()
	ln, err := dtls.Listen("127.0.0.1:0", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ctx returns a context for one handshake.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

// connPair dials ln's address (or via, if not empty) and accepts: c1 is the
// client end, c2 the server end. t.Cleanup closes both.
func connPair(t testing.TB, ln *dtls.Listener, via string, cfg *tls.Config, opts *dtls.Options) (c1, c2 *dtls.Conn) {
	t.Helper()
	type accepted struct {
		c   *dtls.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.AcceptContext(ctx(t))
		ch <- accepted{c, err}
	}()
	addr := ln.Addr().String()
	if via != "" {
		addr = via
	}
	c1, err := dtls.Dial(ctx(t), addr, cfg, opts)
	if err != nil {
		ln.Close()
		<-ch
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		c1.Close()
		t.Fatal(a.err)
	}
	t.Cleanup(func() {
		c1.Close()
		a.c.Close()
	})
	return c1, a.c
}

// recorder is a slog.Handler that passes records to a channel.
type recorder struct{ ch chan slog.Record }

func newRecorder() *recorder { return &recorder{ch: make(chan slog.Record, 1000)} }

func (r *recorder) logger() *slog.Logger                     { return slog.New(r) }
func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r.ch <- rec.Clone():
	default:
	}
	return nil
}

// attr returns rec's attribute key.
func attr(rec slog.Record, key string) slog.Value {
	var v slog.Value
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// wait waits up to d for a record with message msg whose "peer" is peer
// (if not empty).
func (r *recorder) wait(t *testing.T, d time.Duration, msg, peer string) slog.Record {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case rec := <-r.ch:
			if rec.Message == msg && (peer == "" || attr(rec, "peer").String() == peer) {
				return rec
			}
		case <-timeout:
			t.Fatalf("no %q log record for peer %q within %v", msg, peer, d)
		}
	}
}

// errAttr returns the error in rec's "err" attribute.
func errAttr(t *testing.T, rec slog.Record) error {
	t.Helper()
	err, ok := attr(rec, "err").Any().(error)
	if !ok {
		t.Fatalf("record %q has no error attribute", rec.Message)
	}
	return err
}

// roundTrip writes msg to c and reads it back from an echoing peer.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
}

// echo copies c to itself until EOF, then closes its write side.
func echo(c *dtls.Conn) {
	io.Copy(c, c)
	c.CloseWrite()
}

var _ = errors.New
