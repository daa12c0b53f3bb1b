package certs

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDeps keeps certs a leaf: its non-test files import the standard
// library only, so nothing else in the module (STYLE.md §1).
func TestDeps(t *testing.T) {
	t.Parallel()
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
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s; certs may import the standard library only", name, path)
			}
		}
	}
}

// newCA creates a CA in a fresh temporary directory.
func newCA(t *testing.T) *Authority {
	t.Helper()
	a, err := InitCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// issueID issues an identity from a, with explicit options.
func issueID(t *testing.T, a *Authority, name string, o issueOpts) *Identity {
	t.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(time.Hour)
	}
	certPEM, keyPEM, err := a.issue(name, []string{"127.0.0.1", name}, o)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ParseIdentity(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// selfID creates a self-signed identity in a fresh temporary directory.
func selfID(t *testing.T, name string) *Identity {
	t.Helper()
	id, err := LoadOrCreate(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// selfSignedWith makes a self-signed identity with the given validity.
func selfSignedWith(t *testing.T, name string, notBefore, notAfter time.Time) *Identity {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ParseIdentity(encodeCert(der), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// side is one end of a test handshake.
type side struct {
	err   error // from the handshake or the ping/pong exchange after it
	state tls.ConnectionState
}

// handshake runs a TLS handshake between cc and sc over loopback TCP, then
// exchanges one message each way: in TLS 1.3 a client learns that the server
// refused its certificate only when it next reads.
func handshake(t *testing.T, cc, sc *tls.Config) (client, server side) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()

	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			server.err = err
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		tc := tls.Server(c, sc)
		if server.err = tc.HandshakeContext(ctx); server.err != nil {
			return
		}
		server.state = tc.ConnectionState()
		buf := make([]byte, 4)
		if _, server.err = io.ReadFull(tc, buf); server.err != nil {
			return
		}
		_, server.err = tc.Write([]byte("pong"))
	})

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		wg.Wait()
		t.Fatal(err)
	}
	c.SetDeadline(deadline)
	tc := tls.Client(c, cc)
	if client.err = tc.HandshakeContext(ctx); client.err == nil {
		client.state = tc.ConnectionState()
		if _, client.err = tc.Write([]byte("ping")); client.err == nil {
			buf := make([]byte, 4)
			_, client.err = io.ReadFull(tc, buf)
		}
	}
	c.Close()
	wg.Wait()
	return client, server
}

// mode returns the permission bits of path.
func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}
