package dtls_test

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/transport/dtls"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// TestConformance runs the transport conformance suite (16 MiB each way
// with SHA-256 included) over loopback DTLS.
func TestConformance(t *testing.T) {
	p := pairIDs(t)
	opts := &dtls.Options{Linger: time.Second}
	transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
		ln := listen(t, p.server, opts)
		c1, c2 := connPair(t, ln, "", p.cli, opts)
		return c1, c2
	})
}

// TestMutualAuthEcho checks that both ends see the other's verified
// identity (Ed25519 certificates from package certs) and that data flows.
func TestMutualAuthEcho(t *testing.T) {
	node, alice := newID(t, "node"), newID(t, "alice")
	if _, ok := node.Certificate().PublicKey.(ed25519.PublicKey); !ok {
		t.Fatalf("certs identity key is %T, want Ed25519", node.Certificate().PublicKey)
	}
	ln := listen(t, serverConfig(t, node, alice), nil)
	c1, c2 := connPair(t, ln, "", clientConfig(t, alice, node), nil)
	go echo(c2)

	for _, tc := range []struct {
		side       string
		c          *dtls.Conn
		want       *certs.Identity
		wantServer string
	}{
		{"client", c1, node, "node"},
		{"server", c2, alice, ""},
	} {
		cs := tc.c.ConnectionState()
		name, fp := certs.PeerFromState(cs)
		if name != tc.want.Name() || fp != tc.want.Fingerprint() {
			t.Errorf("%s sees peer %q %s, want %q %s", tc.side, name, fp, tc.want.Name(), tc.want.Fingerprint())
		}
		if !cs.HandshakeComplete || cs.NegotiatedProtocol != dtls.ALPN || cs.Version != 0xfefd {
			t.Errorf("%s state: complete %v, ALPN %q, version %#x", tc.side, cs.HandshakeComplete, cs.NegotiatedProtocol, cs.Version)
		}
		if cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 && cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
			t.Errorf("%s cipher suite %s, want ECDHE-ECDSA with AES-GCM", tc.side, tls.CipherSuiteName(cs.CipherSuite))
		}
	}
	roundTrip(t, c1, "hello over dtls")
	roundTrip(t, c1, strings.Repeat("x", 100<<10))
}

// TestWrongServerRefused: a client pinning another fingerprint fails at
// Dial with the certs error.
func TestWrongServerRefused(t *testing.T) {
	node, alice, other := newID(t, "node"), newID(t, "alice"), newID(t, "other")
	rec := newRecorder()
	ln := listen(t, serverConfig(t, node, alice), &dtls.Options{Logger: rec.logger()})
	go ln.AcceptContext(ctx(t))

	_, err := dtls.Dial(ctx(t), ln.Addr().String(), clientConfig(t, alice, other), nil)
	var mm *certs.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Dial to the wrong server: %v; want a *certs.MismatchError", err)
	}
	if mm.Got != node.Fingerprint() {
		t.Errorf("mismatch names %s, want the node's %s", mm.Got, node.Fingerprint())
	}
	t.Logf("refused: %v", err)
}

// TestUnknownServerRefused: a server not in the known-nodes file fails
// Dial with *certs.UnknownPeerError.
func TestUnknownServerRefused(t *testing.T) {
	node, alice := newID(t, "node"), newID(t, "alice")
	ln := listen(t, serverConfig(t, node, alice), nil)
	go ln.AcceptContext(ctx(t))

	store, err := certs.LoadFingerprints(t.TempDir() + "/known_nodes")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := certs.ClientConfig(alice, certs.Trust{Store: store}, "node")
	if err != nil {
		t.Fatal(err)
	}
	_, err = dtls.Dial(ctx(t), ln.Addr().String(), cfg, nil)
	var up *certs.UnknownPeerError
	if !errors.As(err, &up) || up.Fingerprint != node.Fingerprint() {
		t.Fatalf("Dial to an unknown server: %v; want a *certs.UnknownPeerError for %s", err, node.Fingerprint())
	}
}

// TestUnknownClientRefused: the server refuses a client it does not
// trust; the client learns it at Dial (DTLS 1.2 checks the client before
// the server's Finished), the server logs the certs error, and Accept
// never sees the client.
func TestUnknownClientRefused(t *testing.T) {
	node, alice, mallory := newID(t, "node"), newID(t, "alice"), newID(t, "mallory")
	rec := newRecorder()
	ln := listen(t, serverConfig(t, node, alice), &dtls.Options{Logger: rec.logger()})
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.AcceptContext(ctx(t))
		if err == nil {
			c.Close()
			err = errors.New("accepted")
		}
		accepted <- err
	}()

	start := time.Now()
	_, err := dtls.Dial(ctx(t), ln.Addr().String(), clientConfig(t, mallory, node), nil)
	if err == nil {
		t.Fatal("Dial by an untrusted client succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("refusal took %v; it should come with the handshake", time.Since(start))
	}
	t.Logf("client sees: %v", err)
	rec2 := rec.wait(t, 5*time.Second, "dtls: handshake failed", "")
	var mm *certs.MismatchError
	if err := errAttr(t, rec2); !errors.As(err, &mm) || mm.Got != mallory.Fingerprint() {
		t.Fatalf("server logged %v; want a *certs.MismatchError for mallory", err)
	}
	ln.Close()
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept: %v; want net.ErrClosed", err)
	}
}

// capturePC is a PacketConn that records the first datagram written to it
// and never receives anything.
type capturePC struct {
	net.PacketConn
	once sync.Once
	got  chan []byte
}

func (c *capturePC) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.once.Do(func() { c.got <- append([]byte(nil), b...) })
	return len(b), nil
}

// clientHello returns a real DTLS ClientHello datagram from our client.
func clientHello(t *testing.T, cfg *tls.Config, to net.Addr) []byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cp := &capturePC{PacketConn: pc, got: make(chan []byte, 1)}
	hctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := dtls.DialPacket(hctx, cp, to, cfg, nil)
		done <- err
	}()
	hello := <-cp.got
	cancel()
	if err := <-done; err == nil {
		t.Fatal("DialPacket succeeded with a mute PacketConn")
	}
	return hello
}

// silentPeer sends hello from a fresh socket and then says nothing.
func silentPeer(t *testing.T, hello []byte, to net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial("udp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSilentClientDropped: a client that sends a ClientHello and goes
// quiet is dropped at the handshake deadline, while a legitimate client
// connects in the meantime.
func TestSilentClientDropped(t *testing.T) {
	p := pairIDs(t)
	const timeout = 700 * time.Millisecond
	rec := newRecorder()
	ln := listen(t, p.server, &dtls.Options{HandshakeTimeout: timeout, Logger: rec.logger()})

	start := time.Now()
	silent := silentPeer(t, clientHello(t, p.cli, ln.Addr()), ln.Addr())
	waitPeers(t, ln, 1)

	c1, c2 := connPair(t, ln, "", p.cli, nil)
	go echo(c2)
	roundTrip(t, c1, "still open for business")

	rec.wait(t, 5*time.Second, "dtls: handshake failed", silent.LocalAddr().String())
	if took := time.Since(start); took < timeout || took > timeout+2*time.Second {
		t.Errorf("silent peer dropped after %v; want about %v", took, timeout)
	}
	waitPeers(t, ln, 1) // the legitimate conn only
}

// waitPeers waits until ln holds n peers.
func waitPeers(t *testing.T, ln *dtls.Listener, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ln.Peers() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("listener holds %d peers, want %d", ln.Peers(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientHelloFlood: ClientHellos from many addresses never make the
// listener hold more than MaxHandshakes peers; once the flood's handshakes
// time out, a legitimate client gets in.
func TestClientHelloFlood(t *testing.T) {
	p := pairIDs(t)
	const maxHS = 4
	rec := newRecorder()
	ln := listen(t, p.server, &dtls.Options{HandshakeTimeout: 500 * time.Millisecond, MaxHandshakes: maxHS, Logger: rec.logger()})
	hello := clientHello(t, p.cli, ln.Addr())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	most := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			mu.Lock()
			most = max(most, ln.Peers())
			mu.Unlock()
		}
	})
	for range 200 {
		silentPeer(t, hello, ln.Addr())
	}
	rec.wait(t, 5*time.Second, "dtls: handshake cap reached; dropping new peers", "")

	// The flood's handshakes expire; the client's retransmitted
	// ClientHello then finds a slot.
	c1, c2 := connPair(t, ln, "", p.cli, nil)
	go echo(c2)
	roundTrip(t, c1, "after the flood")
	close(stop)
	wg.Wait()
	if most > maxHS {
		t.Errorf("listener held %d peers during the flood; cap is %d", most, maxHS)
	}
	t.Logf("at most %d peers held", most)
}

// TestClientHelloFloodEvicts: when stalled handshakes hold every slot, a
// new client takes the slot of the oldest one instead of waiting for the
// handshake deadline.
func TestClientHelloFloodEvicts(t *testing.T) {
	p := pairIDs(t)
	const maxHS = 4
	ln := listen(t, p.server, &dtls.Options{HandshakeTimeout: time.Minute, MaxHandshakes: maxHS})
	hello := clientHello(t, p.cli, ln.Addr())
	for range maxHS {
		silentPeer(t, hello, ln.Addr())
	}
	waitPeers(t, ln, maxHS)
	time.Sleep(300 * time.Millisecond) // past the eviction grace (250ms)
	start := time.Now()
	c1, c2 := connPair(t, ln, "", p.cli, nil)
	go echo(c2)
	roundTrip(t, c1, "in")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the client got in after %v", d)
	}
	if n := ln.Stats().PreAuth; n > maxHS {
		t.Errorf("%d peers in flight, cap %d", n, maxHS)
	}
}

// mutePC hides everything but net.PacketConn's methods, as a PacketConn
// over a stream hop would.
type mutePC struct{ net.PacketConn }

// TestDialPacket runs DTLS over a caller's PacketConn and checks that the
// conn owns it.
func TestDialPacket(t *testing.T) {
	p := pairIDs(t)
	ln := listen(t, p.server, nil)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *dtls.Conn, 1)
	go func() {
		c, _ := ln.AcceptContext(ctx(t))
		ch <- c
	}()
	c1, err := dtls.DialPacket(ctx(t), mutePC{pc}, ln.Addr(), p.cli, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2 := <-ch
	if c2 == nil {
		t.Fatal("accept failed")
	}
	defer c2.Close()
	go echo(c2)
	roundTrip(t, c1, "over a PacketConn")
	if c1.LocalAddr().String() != pc.LocalAddr().String() {
		t.Errorf("LocalAddr %v, want the PacketConn's %v", c1.LocalAddr(), pc.LocalAddr())
	}
	c1.Close()
	if _, _, err := pc.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("PacketConn after Close: %v; want net.ErrClosed", err)
	}
}

// TestConfigRefused: configs that would not authenticate are refused
// before any packet, and DialPacket closes its PacketConn then.
func TestConfigRefused(t *testing.T) {
	p := pairIDs(t)
	noCert := p.cli.Clone()
	noCert.Certificates = nil
	skip := p.cli.Clone()
	skip.VerifyConnection = nil
	open := p.server.Clone()
	open.VerifyConnection = nil
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		server bool
	}{
		{"nil", nil, false},
		{"no certificate", noCert, false},
		{"client verifies nothing", skip, false},
		{"server verifies nothing", open, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.server {
				if _, err := dtls.Listen("127.0.0.1:0", tc.cfg, nil); err == nil {
					t.Fatal("Listen accepted the config")
				}
				return
			}
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dtls.DialPacket(ctx(t), pc, pc.LocalAddr(), tc.cfg, nil); err == nil {
				t.Fatal("DialPacket accepted the config")
			}
			if _, _, err := pc.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("PacketConn after a failed DialPacket: %v; want it closed", err)
			}
		})
	}
}

// TestHandshakeTimeout: Dial to a silent address fails within the
// handshake timeout even with no deadline in ctx.
func TestHandshakeTimeout(t *testing.T) {
	p := pairIDs(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // says nothing
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	start := time.Now()
	_, err = dtls.Dial(context.Background(), pc.LocalAddr().String(), p.cli, &dtls.Options{HandshakeTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("Dial to a silent address succeeded")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Dial took %v", took)
	}
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) && !(errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("Dial: %v; want a timeout", err)
	}
}

// TestIdleTimeout: when the peer vanishes (the path drops everything), a
// blocked Read fails with ErrIdleTimeout; a quiet but live conn is kept
// alive by keepalives.
func TestIdleTimeout(t *testing.T) {
	p := pairIDs(t)
	opts := &dtls.Options{KeepAlive: 100 * time.Millisecond, IdleTimeout: 600 * time.Millisecond, Linger: -1}
	ln := listen(t, p.server, opts)
	proxy := transporttest.NewUDPProxy(t, ln.Addr().String(), transporttest.Faults{})
	c1, c2 := connPair(t, ln, proxy.Addr().String(), p.cli, opts)
	go echo(c2)

	time.Sleep(1500 * time.Millisecond) // quiet, well past IdleTimeout
	roundTrip(t, c1, "still alive")

	proxy.Close() // the path goes dark
	start := time.Now()
	_, err := c1.Read(make([]byte, 1))
	if !errors.Is(err, dtls.ErrIdleTimeout) {
		t.Fatalf("Read after the peer vanished: %v; want ErrIdleTimeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%v is not a net.Error timeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("detected after %v; IdleTimeout is %v", took, opts.IdleTimeout)
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, dtls.ErrIdleTimeout) {
		t.Errorf("Write after the idle timeout: %v", err)
	}
}

// TestListenerCloseResetsConns: closing a listener closes the conns it
// accepted at once; their peers read what was delivered, then an end
// (ErrReset, or io.EOF if the FIN made it out first).
func TestListenerCloseResetsConns(t *testing.T) {
	p := pairIDs(t)
	ln := listen(t, p.server, nil)
	c1, c2 := connPair(t, ln, "", p.cli, nil)
	if _, err := c2.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(c1, buf); err != nil {
		t.Fatal(err)
	}
	ln.Close() // closes c2 at once, without a linger
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c1.Read(buf)
	if !errors.Is(err, dtls.ErrReset) && err != io.EOF {
		t.Fatalf("Read after the listener closed: %v; want ErrReset or io.EOF", err)
	}
	if _, err := c2.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write on a conn of a closed listener: %v; want net.ErrClosed", err)
	}
}
