package tls_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/certs"
	htls "github.com/hopwire/hopwire/transport/tls"
	"github.com/hopwire/hopwire/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDeps keeps tls a leaf: certs is used by the tests only.
func TestDeps(t *testing.T) {
	transporttest.StdlibOnly(t)
}

// newID creates a self-signed identity in a fresh directory.
func newID(t testing.TB, name string) *certs.Identity {
	t.Helper()
	id, err := certs.LoadOrCreate(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pair is a node and a client that pin each other's fingerprints.
type pair struct {
	node, client *certs.Identity
	server       *tls.Config // the node's
	cli          *tls.Config // the client's
}

func newPair(t testing.TB) *pair {
	t.Helper()
	p := &pair{node: newID(t, "node"), client: newID(t, "alice")}
	p.server = serverConfig(t, p.node, p.client)
	p.cli = clientConfig(t, p.client, p.node)
	return p
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

// recorder is a slog.Handler that passes each record, flattened to text,
// to a channel.
type recorder struct{ ch chan string }

func newRecorder() *recorder { return &recorder{ch: make(chan string, 100)} }

// slogger returns a logger writing to r.
func slogger(r *recorder) *slog.Logger { return slog.New(r) }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	select {
	case r.ch <- b.String():
	default:
	}
	return nil
}

// wait waits for a record containing every one of subs.
func (r *recorder) wait(t *testing.T, subs ...string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-r.ch:
			ok := true
			for _, sub := range subs {
				ok = ok && strings.Contains(s, sub)
			}
			if ok {
				return s
			}
			t.Logf("log: %s", s)
		case <-timeout:
			t.Fatalf("no log record containing %q", subs)
			return ""
		}
	}
}

// listen starts a Listener on loopback with cfg and opts; t.Cleanup closes
// it.
func listen(t *testing.T, cfg *tls.Config, opts *htls.ListenerOptions) *htls.Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := htls.NewListener(inner, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptEcho accepts one conn on ln and echoes it; t.Cleanup closes ln and
// waits. The accepted conn's state goes to states.
func acceptEcho(t *testing.T, ln *htls.Listener) <-chan tls.ConnectionState {
	states := make(chan tls.ConnectionState, 1)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		c, err := ln.AcceptContext(t.Context())
		if err != nil {
			return
		}
		defer c.Close()
		states <- c.ConnectionState()
		io.Copy(c, c)
	})
	return states
}

// ctx returns a context for one handshake.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// roundTrip writes msg to c and reads it back.
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

// silent opens a TCP connection to ln that never says anything.
func silent(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin checks that the server closes c within d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	_, err := c.Read(make([]byte, 1))
	took := time.Since(start)
	if err == nil {
		t.Fatal("read data from a conn that should have been closed")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("conn still open after %v", d)
	}
	return took
}
