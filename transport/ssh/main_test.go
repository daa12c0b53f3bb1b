package ssh_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
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
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	hssh "github.com/hopwire/hopwire/transport/ssh"
	"github.com/hopwire/hopwire/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDeps keeps the package a leaf: besides the standard library it may
// import golang.org/x/crypto only, and nothing from hopwire but the
// standard-library-only leaves transporttest.Leaf names (the transports'
// shared internals and internal/shell).
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
			if strings.Contains(first, ".") && !strings.HasPrefix(path, "golang.org/x/crypto/") && !transporttest.Leaf(path) {
				t.Errorf("%s imports %s; the ssh transport may import the standard library and golang.org/x/crypto only", name, path)
			}
		}
	}
}

// TestNoInsecureIgnoreHostKey enforces PITFALLS.md §1.5 outside tests.
func TestNoInsecureIgnoreHostKey(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "Insecure"+"IgnoreHostKey") {
			t.Errorf("%s uses ssh.Insecure"+"IgnoreHostKey", name)
		}
	}
}

func newEd25519(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newECDSA(t testing.TB) ssh.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeFile writes data to path (creating directories) with mode 0600.
func writeFile(t testing.TB, path string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// knownHostsLines returns known_hosts lines for addr ("host:port").
func knownHostsLines(addr string, keys ...ssh.PublicKey) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, k) + "\n")
	}
	return b.String()
}

// authorizedLines returns authorized_keys lines for keys.
func authorizedLines(keys ...ssh.PublicKey) string {
	var b strings.Builder
	for _, k := range keys {
		b.Write(ssh.MarshalAuthorizedKey(k))
	}
	return b.String()
}

// server is an embedded hopwire SSH server on loopback.
type server struct {
	ln         *hssh.Listener
	addr       string
	hostKeys   []ssh.Signer
	authorized string // the authorized_keys file
}

// startServer starts a Listener with a fresh Ed25519 host key (unless
// cfg has host keys) that authorizes clients; t.Cleanup closes it.
func startServer(t *testing.T, cfg *hssh.ServerConfig, clients ...ssh.PublicKey) *server {
	t.Helper()
	if cfg == nil {
		cfg = &hssh.ServerConfig{}
	}
	c := *cfg
	if len(c.HostKeys) == 0 {
		c.HostKeys = []ssh.Signer{newEd25519(t)}
	}
	if c.AuthorizedKeysFile == "" {
		c.AuthorizedKeysFile = filepath.Join(t.TempDir(), "authorized_keys")
		writeFile(t, c.AuthorizedKeysFile, authorizedLines(clients...))
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := hssh.NewListener(inner, &c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &server{ln: ln, addr: inner.Addr().String(), hostKeys: c.HostKeys, authorized: c.AuthorizedKeysFile}
}

// clientConfig resolves addr with no ssh_config and no agent, trusting
// the host keys given in a fresh known_hosts file, and offering signers.
func clientConfig(t testing.TB, addr string, hostKeys []ssh.PublicKey, signers ...ssh.Signer) *hssh.ClientConfig {
	t.Helper()
	home := t.TempDir()
	kh := filepath.Join(home, ".ssh", "known_hosts")
	writeFile(t, kh, knownHostsLines(addr, hostKeys...))
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	cfg, err := hssh.LoadClientConfig(host, &hssh.ClientOptions{
		Home:            home,
		ConfigFile:      "none",
		User:            "alice",
		Port:            p,
		Signers:         signers,
		KnownHostsFiles: []string{kh},
		AgentSocket:     "none",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func pubs(signers ...ssh.Signer) []ssh.PublicKey {
	var out []ssh.PublicKey
	for _, s := range signers {
		out = append(out, s.PublicKey())
	}
	return out
}

// ctx returns a context for one setup step.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// dial connects a Client; t.Cleanup closes it.
func dial(t *testing.T, cfg *hssh.ClientConfig) *hssh.Client {
	t.Helper()
	c, err := hssh.Dial(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// acceptEcho accepts conns on ln and echoes each, until t ends. Accepted
// conns go to the returned channel (buffered) before being echoed.
func acceptEcho(t *testing.T, ln *hssh.Listener) <-chan *hssh.Conn {
	accepted := make(chan *hssh.Conn, 16)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []*hssh.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.AcceptContext(context.Background())
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- c:
			default:
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	return accepted
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
