package ssh_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	hssh "github.com/hopwire/hopwire/transport/ssh"
	"github.com/hopwire/hopwire/transport/transporttest"
)

func TestHopwireEcho(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, nil, key.PublicKey())
	accepted := acceptEcho(t, srv.ln)
	c := dial(t, clientConfig(t, srv.addr, pubs(srv.hostKeys...), key))

	conn, err := c.OpenHopwire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, "hello over the hopwire channel")

	sc := <-accepted
	if got, want := sc.PeerFingerprint(), ssh.FingerprintSHA256(key.PublicKey()); got != want {
		t.Errorf("server sees peer %s, want %s", got, want)
	}
	if sc.User() != "alice" {
		t.Errorf("server sees user %q", sc.User())
	}
	cc := conn.(*hssh.Conn)
	if got, want := cc.PeerFingerprint(), ssh.FingerprintSHA256(srv.hostKeys[0].PublicKey()); got != want {
		t.Errorf("client sees host key %s, want %s", got, want)
	}

	// A second hopwire channel on the same connection is refused: one
	// link per SSH connection.
	if _, err := c.OpenHopwire(ctx(t)); err == nil {
		t.Error("second hopwire channel accepted")
	}
	// So are other channel types.
	if _, err := c.DialContext(ctx(t), "tcp", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "prohibited") {
		t.Errorf("direct-tcpip to the embedded server: %v, want administratively prohibited", err)
	}
	if _, err := c.Exec(ctx(t), "true"); err == nil {
		t.Error("exec on the embedded server accepted")
	}
	// The first channel still works.
	roundTrip(t, conn, "still there")
}

// TestConformance runs the transport suite over hopwire channels: client
// end against server end, each with a fresh SSH connection.
func TestConformance(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, nil, key.PublicKey())
	cfg := clientConfig(t, srv.addr, pubs(srv.hostKeys...), key)
	transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
		c, err := hssh.Dial(ctx(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		type accepted struct {
			c   *hssh.Conn
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			sc, err := srv.ln.AcceptContext(ctx(t))
			ch <- accepted{sc, err}
		}()
		cc, err := c.OpenHopwire(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		a := <-ch
		if a.err != nil {
			t.Fatal(a.err)
		}
		return cc, a.c
	})
}

func TestUnknownClientKeyRefused(t *testing.T) {
	allowed, stranger := newEd25519(t), newEd25519(t)
	srv := startServer(t, nil, allowed.PublicKey())
	_, err := hssh.Dial(ctx(t), clientConfig(t, srv.addr, pubs(srv.hostKeys...), stranger))
	if err == nil {
		t.Fatal("a key not in authorized_keys got in")
	}
	t.Logf("refused: %v", err)
	if !strings.Contains(err.Error(), "unable to authenticate") || !strings.Contains(err.Error(), ssh.FingerprintSHA256(stranger.PublicKey())) {
		t.Errorf("error %q should say authentication failed and name the key offered", err)
	}
	// The file is re-read: authorizing the key lets it in at once.
	writeFile(t, srv.authorized, authorizedLines(allowed.PublicKey(), stranger.PublicKey()))
	acceptEcho(t, srv.ln)
	c := dial(t, clientConfig(t, srv.addr, pubs(srv.hostKeys...), stranger))
	conn, err := c.OpenHopwire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, "in")
}

func TestAuthorizedKeysOptions(t *testing.T) {
	plain, restricted, commanded := newEd25519(t), newEd25519(t), newEd25519(t)
	file := filepath.Join(t.TempDir(), "authorized_keys")
	writeFile(t, file, authorizedLines(plain.PublicKey())+
		"restrict,no-pty "+string(ssh.MarshalAuthorizedKey(restricted.PublicKey()))+
		`command="/bin/false" `+string(ssh.MarshalAuthorizedKey(commanded.PublicKey())))
	srv := startServer(t, &hssh.ServerConfig{AuthorizedKeysFile: file})
	acceptEcho(t, srv.ln)
	for _, c := range []struct {
		name string
		key  ssh.Signer
		ok   bool
	}{{"plain", plain, true}, {"restrict", restricted, true}, {"command= is not enforced, so ignored", commanded, false}} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := hssh.Dial(ctx(t), clientConfig(t, srv.addr, pubs(srv.hostKeys...), c.key))
			if err == nil {
				defer cl.Close()
			}
			if (err == nil) != c.ok {
				t.Fatalf("Dial: %v; want success %v", err, c.ok)
			}
		})
	}
}

// badSigner presents key's public key but signs with an algorithm that
// cannot belong to it, so the server counts a failed attempt (without
// dropping the connection) and the client goes on to its next key.
type badSigner struct{ pub ssh.PublicKey }

func (s badSigner) PublicKey() ssh.PublicKey { return s.pub }
func (s badSigner) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	return &ssh.Signature{Format: ssh.KeyAlgoRSASHA256, Blob: []byte("not a signature")}, nil
}

// TestAttributionCVE202445337: the client offers authorized key A, which
// the public key callback approves, but never proves it holds A; it then
// authenticates with key B. The session must be attributed to B, the key
// that signed, and not to A, which the server saw (and approved) first.
func TestAttributionCVE202445337(t *testing.T) {
	a, b := newEd25519(t), newEd25519(t)
	var (
		mu      sync.Mutex
		offered []string
	)
	cfg := &hssh.ServerConfig{}
	hssh.SetOffered(cfg, func(_ string, k ssh.PublicKey) {
		mu.Lock()
		offered = append(offered, ssh.FingerprintSHA256(k))
		mu.Unlock()
	})
	srv := startServer(t, cfg, a.PublicKey(), b.PublicKey())
	accepted := acceptEcho(t, srv.ln)
	c := dial(t, clientConfig(t, srv.addr, pubs(srv.hostKeys...), badSigner{a.PublicKey()}, b))
	conn, err := c.OpenHopwire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, "x")
	sc := <-accepted

	fa, fb := ssh.FingerprintSHA256(a.PublicKey()), ssh.FingerprintSHA256(b.PublicKey())
	mu.Lock()
	defer mu.Unlock()
	if len(offered) < 2 || offered[0] != fa || offered[len(offered)-1] != fb {
		t.Fatalf("keys offered to the callback: %q; want A (%s) first, then B (%s)", offered, fa, fb)
	}
	if got := sc.PeerFingerprint(); got != fb {
		t.Fatalf("session attributed to %s; want B %s (A is %s)", got, fb, fa)
	}
	if string(sc.PeerKey().Marshal()) != string(b.PublicKey().Marshal()) {
		t.Fatal("PeerKey is not B")
	}
}

func TestUnknownHost(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, nil, key.PublicKey())
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".ssh", "config"), "Host *\n  StrictHostKeyChecking no\n")
	_, port, _ := net.SplitHostPort(srv.addr)
	p, _ := strconv.Atoi(port)
	cfg, err := hssh.LoadClientConfig("127.0.0.1", &hssh.ClientOptions{
		Home: home, ConfigFile: filepath.Join(home, ".ssh", "config"), Port: p, User: "alice",
		Signers: []ssh.Signer{key}, AgentSocket: "none",
		KnownHostsFiles: []string{filepath.Join(home, ".ssh", "known_hosts")}, // missing
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = hssh.Dial(ctx(t), cfg)
	var he *hssh.HostKeyError
	if !errors.As(err, &he) || !he.Unknown() {
		t.Fatalf("Dial: %v; want an unknown-host HostKeyError", err)
	}
	msg := err.Error()
	t.Logf("unknown host: %s", msg)
	for _, want := range []string{
		ssh.FingerprintSHA256(srv.hostKeys[0].PublicKey()),
		"ssh-keyscan -p " + port + " -t ed25519 127.0.0.1 >> ",
		"never trusts",
		"StrictHostKeyChecking no is not honoured",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		t.Error("HostKeyError does not unwrap to knownhosts.KeyError")
	}
}

func TestChangedHostKey(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, nil, key.PublicKey())
	old := newEd25519(t)
	home := t.TempDir()
	kh := filepath.Join(home, "known_hosts")
	writeFile(t, kh, "# comment\n"+knownHostsLines(srv.addr, old.PublicKey()))
	cfg := clientConfig(t, srv.addr, nil, key)
	cfg.KnownHostsFiles = []string{kh}
	_, err := hssh.Dial(ctx(t), cfg)
	var he *hssh.HostKeyError
	if !errors.As(err, &he) || he.Unknown() {
		t.Fatalf("Dial: %v; want a changed-key HostKeyError", err)
	}
	msg := err.Error()
	t.Logf("changed key: %s", msg)
	for _, want := range []string{kh + ":2", "has changed", ssh.FingerprintSHA256(old.PublicKey()), ssh.FingerprintSHA256(srv.hostKeys[0].PublicKey()), "ssh-keygen -R"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestRevokedHostKey(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, nil, key.PublicKey())
	kh := filepath.Join(t.TempDir(), "known_hosts")
	hk := srv.hostKeys[0].PublicKey()
	writeFile(t, kh, knownHostsLines(srv.addr, hk)+"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hk)))+"\n")
	cfg := clientConfig(t, srv.addr, nil, key)
	cfg.KnownHostsFiles = []string{kh}
	_, err := hssh.Dial(ctx(t), cfg)
	var he *hssh.HostKeyError
	if !errors.As(err, &he) || he.Revoked == nil || !strings.Contains(err.Error(), "@revoked") {
		t.Fatalf("Dial: %v; want a revoked HostKeyError", err)
	}
}

// TestHostKeyAlgorithms: a server with ECDSA and Ed25519 host keys, and
// a known_hosts holding only one of them. x/crypto's default preference
// picks ECDSA and fails with a spurious mismatch when known_hosts has
// only Ed25519 (golang/go#49631); we offer only the known types.
func TestHostKeyAlgorithms(t *testing.T) {
	key := newEd25519(t)
	ec, ed := newECDSA(t), newEd25519(t)
	srv := startServer(t, &hssh.ServerConfig{HostKeys: []ssh.Signer{ec, ed}}, key.PublicKey())
	acceptEcho(t, srv.ln)

	// The problem, with x/crypto alone.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, kh, knownHostsLines(srv.addr, ed.PublicKey()))
	cb, err := knownhosts.New(kh)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, _, err := ssh.NewClientConn(raw, srv.addr, &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)}, HostKeyCallback: cb})
	if err == nil {
		rc.Close()
		t.Log("x/crypto's default host key preference no longer picks ECDSA here; the check below still holds")
	} else if !strings.Contains(err.Error(), "mismatch") {
		t.Logf("x/crypto alone: %v", err)
	}

	for _, c := range []struct {
		name  string
		known ssh.Signer
	}{{"ed25519 only", ed}, {"ecdsa only", ec}} {
		t.Run(c.name, func(t *testing.T) {
			cl := dial(t, clientConfig(t, srv.addr, pubs(c.known), key))
			if got, want := cl.HostKey().Type(), c.known.PublicKey().Type(); got != want {
				t.Errorf("host key %s, want %s", got, want)
			}
		})
	}
}

func TestListenerConfigChecks(t *testing.T) {
	hk := newEd25519(t)
	for _, c := range []struct {
		name string
		cfg  *hssh.ServerConfig
	}{
		{"nil", nil},
		{"no host key", &hssh.ServerConfig{AuthorizedKeys: []ssh.PublicKey{hk.PublicKey()}}},
		{"no client auth", &hssh.ServerConfig{HostKeys: []ssh.Signer{hk}}},
		{"missing file", &hssh.ServerConfig{HostKeys: []ssh.Signer{hk}, AuthorizedKeysFile: "/nonexistent/authorized_keys"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := hssh.Listen(ctx(t), "127.0.0.1:0", c.cfg)
			if err == nil {
				ln.Close()
				t.Fatal("Listen accepted a bad config")
			}
		})
	}
}

// TestPreAuthLimits: a client that stalls in its handshake is cut off at
// the handshake deadline, and connections beyond MaxPreAuth are closed at
// once while no handshake has stalled long enough to be evicted.
func TestPreAuthLimits(t *testing.T) {
	key := newEd25519(t)
	const timeout = 2 * time.Second // evictable after 500ms (a quarter)
	srv := startServer(t, &hssh.ServerConfig{HandshakeTimeout: timeout, MaxPreAuth: 2}, key.PublicKey())
	var stalled []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The server's version line shows that its handshake, holding a
		// slot, has begun; the client starts its own, and stalls.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatalf("no banner: %v", err)
		}
		if _, err := c.Write([]byte("SSH-2.0-")); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
	}
	extra, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(extra); err != nil || len(b) > 0 {
		t.Errorf("connection beyond the cap: read %q, %v; want it closed at once, unanswered", b, err)
	}
	for _, c := range stalled {
		c.SetReadDeadline(time.Now().Add(2 * timeout))
		start := time.Now()
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("stalled client: %v; want the server to close it at its deadline", err)
		}
		if d := time.Since(start); d > timeout+time.Second {
			t.Errorf("stalled client held on for %v", d)
		}
	}
	// Slots are free again.
	acceptEcho(t, srv.ln)
	cl := dial(t, clientConfig(t, srv.addr, pubs(srv.hostKeys...), key))
	conn, err := cl.OpenHopwire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, "after")
}

// TestPreAuthEvictsStalled: with every slot held by stalled handshakes —
// a peer that sent nothing, and one that began its version line and
// stopped (slowloris) — clients still get in: each takes the slot of the
// oldest silent peer first, then of the oldest handshake past the slow
// grace (a second here).
func TestPreAuthEvictsStalled(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, &hssh.ServerConfig{HandshakeTimeout: time.Minute, MaxPreAuth: 2}, key.PublicKey())
	acceptEcho(t, srv.ln)
	dialStalled := func(first []byte) net.Conn {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatalf("no banner: %v", err)
		}
		if first != nil {
			if _, err := c.Write(first); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	loris := dialStalled([]byte("SSH-2.0-"))
	silent := dialStalled(nil)
	time.Sleep(1100 * time.Millisecond) // past both graces

	closedNow := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		return err == nil
	}
	connect := func(i int) {
		start := time.Now()
		cl := dial(t, clientConfig(t, srv.addr, pubs(srv.hostKeys...), key))
		conn, err := cl.OpenHopwire(ctx(t))
		if err != nil {
			t.Fatalf("client %d with every slot held by a stalled handshake: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		roundTrip(t, conn, "in")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("client %d got in after %v", i, d)
		}
	}
	connect(0)
	if !closedNow(silent) {
		t.Error("client 0 got in, but the silent peer is still open")
	}
	// Client 0 was accepted and gave its slot back; a fresh stalled
	// handshake takes it, so the cap is reached again.
	fresh := dialStalled([]byte("SSH-2.0-"))
	connect(1)
	if !closedNow(loris) {
		t.Error("client 1 got in, but the slowloris peer is still open")
	}
	fresh.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := fresh.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the fresh handshake, within its grace, was closed: %v", err)
	}
}

// TestCloseEndsEverything: closing the Listener, the Client and the conns
// in any order leaves no goroutine behind (goleak checks at exit), and
// closing the server's conn ends the client's.
func TestCloseEndsEverything(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, nil, key.PublicKey())
	c := dial(t, clientConfig(t, srv.addr, pubs(srv.hostKeys...), key))
	conn, err := c.OpenHopwire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sc, err := srv.ln.AcceptContext(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(sc, buf); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(buf); err != io.EOF {
		t.Errorf("client read after the server closed: %v, want io.EOF", err)
	}
	srv.ln.Close()
	if _, err := srv.ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Client.Close: %v", err)
	}
	if _, err := c.OpenHopwire(ctx(t)); err == nil {
		t.Error("OpenHopwire on a closed Client succeeded")
	}
}

// TestDialCancelled: a context that ends during the handshake ends Dial
// at once.
func TestDialCancelled(t *testing.T) {
	// A server that accepts TCP and says nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	})
	cfg := clientConfig(t, ln.Addr().String(), nil, newEd25519(t))
	cctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = hssh.Dial(cctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial: %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial took %v", d)
	}
}

func TestMissingExplicitIdentity(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, nil, key.PublicKey())
	cfg := clientConfig(t, srv.addr, pubs(srv.hostKeys...), key)
	cfg.IdentityFiles = append([]string{"/nonexistent/id_test"}, cfg.IdentityFiles...)
	cfg.RequiredIdentityFiles = 1
	if _, err := hssh.Dial(ctx(t), cfg); err == nil || !strings.Contains(err.Error(), "/nonexistent/id_test") {
		t.Fatalf("Dial with a missing -i file: %v; want an error naming it", err)
	}
}

func TestDialRefusesProxyJump(t *testing.T) {
	cfg := clientConfig(t, "127.0.0.1:22", nil)
	cfg.ProxyJump = []string{"bastion"}
	if _, err := hssh.Dial(ctx(t), cfg); err == nil || !strings.Contains(err.Error(), "ProxyJump") {
		t.Fatalf("Dial with ProxyJump: %v", err)
	}
}

// TestNewClientOverStream runs a client over a conn that is not TCP (a
// pipe, as a stream through an earlier hop would be), whose RemoteAddr is
// not host:port.
func TestNewClientOverStream(t *testing.T) {
	key := newEd25519(t)
	srv := startServer(t, nil, key.PublicKey())
	acceptEcho(t, srv.ln)
	tcp, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { io.Copy(tcp, b); tcp.Close() })
	wg.Go(func() { io.Copy(b, tcp); b.Close() })
	c, err := hssh.NewClient(ctx(t), pipeConn{a}, clientConfig(t, srv.addr, pubs(srv.hostKeys...), key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.OpenHopwire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, "through a stream")
}

// pipeConn is a net.Conn whose addresses are not host:port.
type pipeConn struct{ net.Conn }

func (pipeConn) RemoteAddr() net.Addr { return hssh.Addr{Net: "stream", S: "hop-1/stream-7"} }

// TestAgentAndEncryptedKeys: an encrypted identity file is used through
// the agent that holds it; without the agent it is skipped, and the
// agent socket is closed after the handshake.
func TestAgentAndEncryptedKeys(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, nil, signer.PublicKey())
	acceptEcho(t, srv.ln)

	home := t.TempDir()
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, ".ssh", "id_ed25519"), string(pem.EncodeToMemory(block)))
	kh := filepath.Join(home, ".ssh", "known_hosts")
	writeFile(t, kh, knownHostsLines(srv.addr, srv.hostKeys[0].PublicKey()))
	writeFile(t, filepath.Join(home, ".ssh", "config"), "Host *\n  IdentitiesOnly yes\n")

	// The agent.
	sock := filepath.Join(t.TempDir(), "agent.sock")
	al, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader) // in the agent only: IdentitiesOnly keeps it out
	for _, k := range []any{otherPriv, priv} {
		if err := keyring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	served := make(chan struct{}, 4)
	var wg sync.WaitGroup
	defer func() { al.Close(); wg.Wait() }()
	wg.Go(func() {
		for {
			c, err := al.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				agent.ServeAgent(keyring, c)
				c.Close()
				served <- struct{}{}
			})
		}
	})

	_, port, _ := net.SplitHostPort(srv.addr)
	p, _ := strconv.Atoi(port)
	load := func(agentSock string) *hssh.ClientConfig {
		cfg, err := hssh.LoadClientConfig("127.0.0.1", &hssh.ClientOptions{
			Home: home, ConfigFile: filepath.Join(home, ".ssh", "config"), Port: p, User: "alice",
			KnownHostsFiles: []string{kh}, AgentSocket: agentSock,
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	t.Run("no agent", func(t *testing.T) {
		_, err := hssh.Dial(ctx(t), load("none"))
		if err == nil || !strings.Contains(err.Error(), "no key was available") {
			t.Fatalf("Dial without the agent: %v; want no key available", err)
		}
	})
	t.Run("agent holds the encrypted key", func(t *testing.T) {
		c, err := hssh.Dial(ctx(t), load(sock))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		select {
		case <-served: // the agent connection ended with the handshake
		case <-time.After(5 * time.Second):
			t.Error("agent connection still open after the handshake")
		}
		conn, err := c.OpenHopwire(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		roundTrip(t, conn, "via agent")
	})
}

// TestPerUserAuthorizedKeys: with %u in the authorized keys path, a key
// authorizes only the users whose own files list it (as OpenSSH binds
// logins to keys), and BoundUser names that user; without %u the login
// name binds nothing.
func TestPerUserAuthorizedKeys(t *testing.T) {
	aliceKey, rootKey := newEd25519(t), newEd25519(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "alice.keys"), authorizedLines(aliceKey.PublicKey()))
	writeFile(t, filepath.Join(dir, "root.keys"), authorizedLines(rootKey.PublicKey()))
	srv := startServer(t, &hssh.ServerConfig{AuthorizedKeysFile: filepath.Join(dir, "%u.keys")})
	accepted := acceptEcho(t, srv.ln)
	login := func(user string, key ssh.Signer) (*hssh.Client, error) {
		cfg := clientConfig(t, srv.addr, pubs(srv.hostKeys...), key)
		cfg.User = user
		return hssh.Dial(ctx(t), cfg)
	}
	for _, tc := range []struct {
		user string
		key  ssh.Signer
		ok   bool
	}{
		{"alice", aliceKey, true},
		{"root", aliceKey, false}, // alice's key does not make her root
		{"../alice", aliceKey, false},
		{"alice/../alice", aliceKey, false},
		{"nobody", aliceKey, false},
		{"root", rootKey, true},
	} {
		c, err := login(tc.user, tc.key)
		if (err == nil) != tc.ok {
			t.Fatalf("login as %q: %v, want success %v", tc.user, err, tc.ok)
		}
		if err != nil {
			continue
		}
		conn, err := c.OpenHopwire(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		sc := <-accepted
		if sc.BoundUser() != tc.user {
			t.Errorf("login as %q: BoundUser = %q", tc.user, sc.BoundUser())
		}
		conn.Close()
		c.Close()
	}

	// One file for everyone: the name asked for is not bound.
	srv2 := startServer(t, nil, aliceKey.PublicKey())
	accepted2 := acceptEcho(t, srv2.ln)
	cfg := clientConfig(t, srv2.addr, pubs(srv2.hostKeys...), aliceKey)
	cfg.User = "root"
	c, err := hssh.Dial(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.OpenHopwire(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if sc := <-accepted2; sc.User() != "root" || sc.BoundUser() != "" {
		t.Errorf("single file: User %q BoundUser %q, want root and none", sc.User(), sc.BoundUser())
	}
}
