package tls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	htls "github.com/hopwire/hopwire/transport/tls"
	"github.com/hopwire/hopwire/transport/transporttest"
)

func TestMutualEcho(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ln := listen(t, p.server, nil)
	states := acceptEcho(t, ln)

	c, err := htls.Dial(ctx(t), ln.Addr().String(), p.cli)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	roundTrip(t, c, "hello over mutual TLS")

	cs := c.ConnectionState()
	if cs.Version != tls.VersionTLS13 {
		t.Errorf("version %s, want TLS 1.3", tls.VersionName(cs.Version))
	}
	if cs.NegotiatedProtocol != htls.ALPN {
		t.Errorf("ALPN %q, want %q", cs.NegotiatedProtocol, htls.ALPN)
	}
	if name, fp := certs.PeerFromState(cs); name != "node" || fp != p.node.Fingerprint() {
		t.Errorf("client sees %q %s, want node %s", name, fp, p.node.Fingerprint())
	}
	ss := <-states
	if name, fp := certs.PeerFromState(ss); name != "alice" || fp != p.client.Fingerprint() {
		t.Errorf("server sees %q %s, want alice %s", name, fp, p.client.Fingerprint())
	}
}

// TestListen covers the Listen constructor (NewListener is used elsewhere).
func TestListen(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ln, err := htls.Listen(t.Context(), "127.0.0.1:0", p.server)
	if err != nil {
		t.Fatal(err)
	}
	acceptEcho(t, ln)
	c, err := htls.Dial(ctx(t), ln.Addr().String(), p.cli)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	roundTrip(t, c, "x")
}

func TestConfigNotModified(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ln := listen(t, p.server, nil)
	acceptEcho(t, ln)

	cli := p.cli.Clone()
	cli.MinVersion, cli.MaxVersion = tls.VersionTLS10, 0
	srvBefore := p.server.MinVersion
	c, err := htls.Dial(ctx(t), ln.Addr().String(), cli)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %s", tls.VersionName(v))
	}
	if cli.MinVersion != tls.VersionTLS10 || cli.MaxVersion != 0 || cli.NextProtos != nil {
		t.Errorf("caller's client config modified: min %x max %x protos %q", cli.MinVersion, cli.MaxVersion, cli.NextProtos)
	}
	if p.server.MinVersion != srvBefore || p.server.NextProtos != nil {
		t.Errorf("caller's server config modified")
	}
}

// tls12 returns a copy of cfg limited to TLS 1.2.
func tls12(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	c.NextProtos = []string{htls.ALPN}
	return c
}

func TestTLS12Refused(t *testing.T) {
	t.Parallel()
	t.Run("client", func(t *testing.T) {
		t.Parallel()
		p := newPair(t)
		rec := newRecorder()
		ln := listen(t, p.server, &htls.ListenerOptions{Logger: slogger(rec)})
		c, err := tls.Dial("tcp", ln.Addr().String(), tls12(p.cli))
		if err == nil {
			c.Close()
			t.Fatal("a TLS 1.2 client completed a handshake")
		}
		if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("client error %v; want a protocol version alert", err)
		}
		rec.wait(t, "handshake failed", "version")
		noAccept(t, ln)
	})
	t.Run("server", func(t *testing.T) {
		t.Parallel()
		p := newPair(t)
		raw, err := tls.Listen("tcp", "127.0.0.1:0", tls12(p.server))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		defer raw.Close()
		wg.Go(func() {
			c, err := raw.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		})
		c, err := htls.Dial(ctx(t), raw.Addr().String(), p.cli)
		if err == nil {
			c.Close()
			t.Fatal("Dial to a TLS 1.2 server succeeded")
		}
		if !strings.Contains(err.Error(), "version") {
			t.Errorf("Dial: %v; want a protocol version error", err)
		}
	})
}

// noAccept checks that ln hands out no conn.
func noAccept(t *testing.T, ln *htls.Listener) {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if conn, err := ln.AcceptContext(c); err == nil {
		conn.Close()
		t.Fatal("Accept returned a conn that should have been refused")
	}
}

func TestPeerRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// client returns the client config to dial with, given the pair.
		client func(t *testing.T, p *pair) *tls.Config
		// serverLog is what the listener's log must say, if anything.
		serverLog string
		// dialErr, if set, is what Dial must fail with; otherwise the
		// client may complete its side (TLS 1.3) and must fail to read.
		dialErr func(error) bool
	}{
		{
			name: "unknown client certificate",
			client: func(t *testing.T, p *pair) *tls.Config {
				return clientConfig(t, newID(t, "mallory"), p.node)
			},
			serverLog: "does not match the pinned",
		},
		{
			name: "wrong server fingerprint",
			client: func(t *testing.T, p *pair) *tls.Config {
				return clientConfig(t, p.client, newID(t, "other-node"))
			},
			dialErr: func(err error) bool {
				var me *certs.MismatchError
				return errors.As(err, &me)
			},
		},
		{
			name: "ALPN mismatch",
			client: func(t *testing.T, p *pair) *tls.Config {
				c := p.cli.Clone()
				c.NextProtos = []string{"other/1"}
				return c
			},
			serverLog: "unsupported application protocols",
			dialErr: func(err error) bool {
				return strings.Contains(err.Error(), "no application protocol")
			},
		},
		{
			name: "client certificate missing",
			client: func(t *testing.T, p *pair) *tls.Config {
				c := p.cli.Clone()
				c.Certificates = nil
				return c
			},
			serverLog: "certificate",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			rec := newRecorder()
			ln := listen(t, p.server, &htls.ListenerOptions{Logger: slogger(rec)})
			c, err := htls.Dial(ctx(t), ln.Addr().String(), tt.client(t, p))
			switch {
			case err != nil && tt.dialErr != nil && !tt.dialErr(err):
				t.Errorf("Dial: %v; not the expected error", err)
			case err != nil:
				t.Logf("Dial: %v", err)
			case tt.dialErr != nil:
				c.Close()
				t.Fatal("Dial succeeded")
			default:
				// TLS 1.3: the client finished first; the refusal
				// arrives as an alert on its first read.
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, rerr := c.Read(make([]byte, 1))
				c.Close()
				if rerr == nil {
					t.Fatal("read from a refused conn succeeded")
				}
				if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
					t.Fatal("refused conn was not closed")
				}
				t.Logf("Read: %v", rerr)
			}
			if tt.serverLog != "" {
				t.Logf("server: %s", rec.wait(t, "handshake failed", tt.serverLog))
			}
			noAccept(t, ln)
		})
	}
}

// TestALPNMissing checks both sides against a peer that does no ALPN at all.
func TestALPNMissing(t *testing.T) {
	t.Parallel()
	t.Run("server without ALPN", func(t *testing.T) {
		t.Parallel()
		p := newPair(t)
		raw, err := tls.Listen("tcp", "127.0.0.1:0", p.server) // crypto/tls, no NextProtos
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		defer raw.Close()
		wg.Go(func() {
			c, err := raw.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		})
		c, err := htls.Dial(ctx(t), raw.Addr().String(), p.cli)
		if err == nil {
			c.Close()
			t.Fatal("Dial to a server without ALPN succeeded")
		}
		if !strings.Contains(err.Error(), "no application protocol") {
			t.Errorf("Dial: %v", err)
		}
	})
	t.Run("client without ALPN", func(t *testing.T) {
		t.Parallel()
		p := newPair(t)
		rec := newRecorder()
		ln := listen(t, p.server, &htls.ListenerOptions{Logger: slogger(rec)})
		c, err := tls.Dial("tcp", ln.Addr().String(), p.cli) // crypto/tls, no NextProtos
		if err == nil {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Fatal("a client without ALPN was served")
		}
		rec.wait(t, "handshake failed", "no application protocol")
		noAccept(t, ln)
	})
}

func TestConfigRefused(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	insecure := &tls.Config{InsecureSkipVerify: true}
	noClientAuth := p.server.Clone()
	noClientAuth.ClientAuth = tls.NoClientCert
	anyUnverified := p.server.Clone()
	anyUnverified.VerifyConnection = nil
	tests := []struct {
		name   string
		cfg    *tls.Config
		server bool
		want   string
	}{
		{"nil client config", nil, false, "nil config"},
		{"nil server config", nil, true, "nil config"},
		{"client skips verification", insecure, false, "does not authenticate the server"},
		{"server without client auth", noClientAuth, true, "does not authenticate clients"},
		{"server accepting any certificate", anyUnverified, true, "does not authenticate clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := net.Pipe()
			defer b.Close()
			var err error
			if tt.server {
				_, err = htls.Server(t.Context(), a, tt.cfg)
			} else {
				_, err = htls.Client(t.Context(), a, tt.cfg)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want one containing %q", err, tt.want)
			}
			if _, werr := a.Write([]byte("x")); !errors.Is(werr, io.ErrClosedPipe) {
				t.Errorf("the conn given was not closed on error: write: %v", werr)
			}
			if tt.server {
				if ln, err := htls.Listen(t.Context(), "127.0.0.1:0", tt.cfg); err == nil {
					ln.Close()
					t.Error("Listen accepted the config")
				}
			} else if c, err := htls.Dial(t.Context(), "127.0.0.1:1", tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				if c != nil {
					c.Close()
				}
				t.Errorf("Dial: %v; want %q", err, tt.want)
			}
		})
	}
}

func TestGetConfigForClient(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	tests := []struct {
		name string
		sub  func() *tls.Config
		ok   bool
	}{
		{"authenticating", func() *tls.Config { return p.server }, true},
		{"not authenticating", func() *tls.Config {
			c := p.server.Clone()
			c.ClientAuth = tls.NoClientCert
			return c
		}, false},
		{"TLS 1.2 config, forced to 1.3", func() *tls.Config { return tls12(p.server) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			outer := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return tt.sub(), nil
			}}
			ln := listen(t, outer, nil)
			acceptEcho(t, ln)
			c, err := htls.Dial(ctx(t), ln.Addr().String(), p.cli)
			if err == nil {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err = c.Write([]byte("x")); err == nil {
					_, err = io.ReadFull(c, make([]byte, 1))
				}
			}
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatal("served")
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	p := newPair(t)
	ln := listen(t, p.server, &htls.ListenerOptions{HandshakeTimeout: timeout})
	acceptEcho(t, ln)

	start := time.Now()
	quiet := silent(t, ln)
	// The silent peer must not hold up a legitimate one.
	c, err := htls.Dial(ctx(t), ln.Addr().String(), p.cli)
	if err != nil {
		t.Fatalf("Dial while a silent peer is connected: %v", err)
	}
	defer c.Close()
	roundTrip(t, c, "not blocked")
	if d := time.Since(start); d >= timeout {
		t.Logf("legitimate client took %v (slow machine?)", d)
	}

	closedWithin(t, quiet, 10*time.Second)
	if total := time.Since(start); total < timeout/2 {
		t.Errorf("silent conn closed after %v, before the %v deadline", total, timeout)
	}
}

func TestMaxHandshakes(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	rec := newRecorder()
	ln := listen(t, p.server, &htls.ListenerOptions{
		MaxHandshakes:    2,
		HandshakeTimeout: time.Minute,
		Logger:           slogger(rec),
	})
	acceptEcho(t, ln)

	// Two slow peers that have started their handshake (one byte of a
	// record header): they are not evicted before the slow grace (a
	// second; see TestEvictStalled).
	s1 := silent(t, ln)
	s2 := silent(t, ln)
	for _, c := range []net.Conn{s1, s2} {
		if _, err := c.Write([]byte{22}); err != nil {
			t.Fatal(err)
		}
	}
	waitInFlight(t, ln, 2)
	time.Sleep(300 * time.Millisecond) // past the eviction grace

	// A third connection is over the cap: closed at once, long before the
	// handshake deadline.
	extra := silent(t, ln)
	closedWithin(t, extra, 10*time.Second)
	rec.wait(t, "too many", "max=2")

	// Freeing a slot lets a legitimate client in.
	s1.Close()
	waitInFlight(t, ln, 1)
	c, err := htls.Dial(ctx(t), ln.Addr().String(), p.cli)
	if err != nil {
		t.Fatalf("Dial after a slot was freed: %v", err)
	}
	defer c.Close()
	roundTrip(t, c, "in")
}

// A connection that arrives when the cap is reached takes the slot of the
// oldest stalled handshake: one that has sent nothing for the quiet grace
// (250ms), or one begun and left hanging (slowloris: part of a
// ClientHello, then nothing) for the slow grace (a quarter of the
// handshake timeout, at most a second). Neither kind keeps a client out.
func TestEvictStalled(t *testing.T) {
	for _, tt := range []struct {
		name  string
		first []byte        // what each stalled peer sends
		grace time.Duration // how long to wait before the client comes
	}{
		{"silent", nil, 300 * time.Millisecond},
		// A handshake record header announcing 512 bytes, and 3 of them.
		{"slowloris", []byte{22, 3, 1, 2, 0, 1, 0, 1}, 1100 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			ln := listen(t, p.server, &htls.ListenerOptions{MaxHandshakes: 2, HandshakeTimeout: time.Minute})
			acceptEcho(t, ln)
			var stalled []net.Conn
			for range 2 {
				c := silent(t, ln)
				if tt.first != nil {
					if _, err := c.Write(tt.first); err != nil {
						t.Fatal(err)
					}
				}
				stalled = append(stalled, c)
				waitInFlight(t, ln, len(stalled))
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(tt.grace)

			getsIn(t, ln, p.cli, "with every slot held by a stalled handshake")
			closedWithin(t, stalled[0], 5*time.Second) // the oldest made room
			stalled[1].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := stalled[1].Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("the younger stalled peer was closed too: %v", err)
			}
			if n := ln.InFlight(); n > 2 {
				t.Errorf("%d in flight, cap 2", n)
			}
		})
	}
}

// One network may hold at most a quarter of the pre-auth slots (cap 16:
// four). Its fifth stalled handshake is refused at once while its own are
// within their graces, and a client from another address gets in at
// once, without waiting for any grace.
func TestPerSourceShare(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ln := listen(t, p.server, &htls.ListenerOptions{MaxHandshakes: 16, HandshakeTimeout: time.Minute})
	acceptEcho(t, ln)
	// Another /24 than the client's (127.0.0.1): a source is a network.
	flooder := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, 2)}}
	for i := range 4 {
		c, err := flooder.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte{22, 3, 1, 2, 0, 1, 0, 1}); err != nil {
			t.Fatal(err)
		}
		waitInFlight(t, ln, i+1)
	}
	fifth, err := flooder.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fifth.Close()
	closedWithin(t, fifth, 5*time.Second)

	getsIn(t, ln, p.cli, "from another address (127.0.0.1)")
}

// A slowloris flood from 64 addresses in 8 /24s (127.0.1-8.x), renewing
// its handshakes a few hundred times a second, holds every slot of the
// default cap; each network stays within its share. A client from another
// network still gets in within a second, every time: it takes the slot of
// a flood handshake past the quiet grace, while the flood's own newcomers
// wait for the slow one. (Keyed on exact addresses, and with the client
// racing the flood for each slot as it passed the slow grace, 2 tries in
// 10 got in: review F7.)
func TestMultiSourceSlowloris(t *testing.T) {
	p := newPair(t)
	ln := listen(t, p.server, &htls.ListenerOptions{HandshakeTimeout: 10 * time.Second})
	var accepted sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		accepted.Wait()
	})
	accepted.Go(func() {
		for {
			c, err := ln.AcceptContext(t.Context())
			if err != nil {
				return
			}
			accepted.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	addr := ln.Addr().String()
	floodCtx, stop := context.WithCancel(t.Context())
	var flood sync.WaitGroup
	defer flood.Wait()
	defer stop()
	flood.Go(func() {
		tick := time.NewTicker(time.Second / 400)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-floodCtx.Done():
				return
			case <-tick.C:
			}
			src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i%8), byte(2+i/8%8))}
			flood.Go(func() {
				d := net.Dialer{LocalAddr: src, Timeout: time.Second}
				c, err := d.DialContext(floodCtx, "tcp", addr)
				if err != nil {
					return
				}
				defer context.AfterFunc(floodCtx, func() { c.Close() })()
				defer c.Close()
				// A handshake record header announcing 512 bytes, and 3 of
				// them; then nothing until the listener closes it.
				if _, err := c.Write([]byte{22, 3, 1, 2, 0, 1, 0, 1}); err != nil {
					return
				}
				c.SetReadDeadline(time.Now().Add(15 * time.Second))
				c.Read(make([]byte, 1))
			})
		}
	})
	waitInFlight(t, ln, htls.DefaultMaxHandshakes)
	time.Sleep(1500 * time.Millisecond) // past the slow grace: the flood renews its slots
	before := ln.Stats().Dropped["cap"]
	for i := range 5 {
		getsIn(t, ln, p.cli, fmt.Sprintf("during a slowloris flood from 8 networks (try %d)", i+1))
		time.Sleep(100 * time.Millisecond)
	}
	// The flood was at the cap all along: its newcomers were turned away.
	if refused := ln.Stats().Dropped["cap"] - before; refused == 0 {
		t.Error("no flood connection was refused at the cap: the flood did not fill it")
	} else {
		t.Logf("%d flood connections refused at the cap meanwhile", refused)
	}
}

// getsIn checks that a client dials ln and echoes through it within a
// second; when names the situation for the failure message.
func getsIn(t *testing.T, ln *htls.Listener, cli *tls.Config, when string) {
	t.Helper()
	start := time.Now()
	c, err := htls.Dial(ctx(t), ln.Addr().String(), cli)
	if err != nil {
		t.Fatalf("Dial %s: %v", when, err)
	}
	defer c.Close()
	roundTrip(t, c, "in")
	if d := time.Since(start); d > time.Second {
		t.Errorf("the client got in after %v (%s)", d, when)
	}
}

// waitInFlight waits until ln holds n connections.
func waitInFlight(t *testing.T, ln *htls.Listener, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ln.InFlight() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections in flight, want %d", ln.InFlight(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseStopsHandshakes(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ln := listen(t, p.server, &htls.ListenerOptions{HandshakeTimeout: time.Minute})
	quiet := silent(t, ln)
	waitInFlight(t, ln, 1)

	acceptErr := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		acceptErr <- err
	}()
	start := time.Now()
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if ln.InFlight() != 0 {
		t.Errorf("%d handshakes still hold a slot after Close", ln.InFlight())
	}
	closedWithin(t, quiet, 5*time.Second)
	if err := <-acceptErr; !errors.Is(err, net.ErrClosed) {
		t.Errorf("blocked Accept returned %v; want net.ErrClosed", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v; want net.ErrClosed", err)
	}
	if err := ln.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestUnacceptedClosed: an authenticated conn that nobody accepts is closed
// by Close.
func TestUnacceptedClosed(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ln := listen(t, p.server, nil)
	c, err := htls.Dial(ctx(t), ln.Addr().String(), p.cli)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitInFlight(t, ln, 1) // authenticated (or nearly), waiting for Accept
	ln.Close()
	closedWithin(t, c, 5*time.Second)
}

func TestHandshakeContext(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	a, _ := transporttest.TCPPair(t) // the far end never answers
	c, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := htls.Client(c, a, p.cli)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Client: %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Client returned after %v", d)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the conn given was not closed: write: %v", err)
	}
}

// clientServer runs Client over a and Server over b at once.
func clientServer(t *testing.T, a, b net.Conn, cli, srv *tls.Config) (c, s *tls.Conn) {
	t.Helper()
	var serr error
	var wg sync.WaitGroup
	wg.Go(func() { s, serr = htls.Server(ctx(t), b, srv) })
	c, cerr := htls.Client(ctx(t), a, cli)
	wg.Wait()
	if cerr != nil || serr != nil {
		if c != nil {
			c.Close()
		}
		if s != nil {
			s.Close()
		}
		t.Fatalf("Client: %v; Server: %v", cerr, serr)
	}
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return c, s
}

// TestOverExistingConn runs TLS over loopback TCP and then TLS inside that
// TLS, the way a chain runs hop 2 over a stream through hop 1.
func TestOverExistingConn(t *testing.T) {
	t.Parallel()
	hop1, hop2 := newPair(t), newPair(t)
	a, b := transporttest.TCPPair(t)
	outerC, outerS := clientServer(t, a, b, hop1.cli, hop1.server)
	innerC, innerS := clientServer(t, outerC, outerS, hop2.cli, hop2.server)

	if name, _ := certs.PeerFromState(innerC.ConnectionState()); name != "node" {
		t.Errorf("inner client sees %q", name)
	}
	if _, fp := certs.PeerFromState(innerS.ConnectionState()); fp != hop2.client.Fingerprint() {
		t.Errorf("inner server sees %s, want %s", fp, hop2.client.Fingerprint())
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer innerC.Close()
	wg.Go(func() { io.Copy(innerS, innerS) })
	roundTrip(t, innerC, "two layers down")
}

func TestConformance(t *testing.T) {
	t.Run("Listen+Dial", func(t *testing.T) {
		p := newPair(t)
		transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
			ln := listen(t, p.server, nil)
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.AcceptContext(ctx(t))
				if err != nil {
					accepted <- nil
					return
				}
				accepted <- c
			}()
			c1, err := htls.Dial(ctx(t), ln.Addr().String(), p.cli)
			c2 := <-accepted
			if err != nil || c2 == nil {
				t.Fatalf("Dial: %v; Accept: %v", err, c2)
			}
			return c1, c2
		})
	})
	t.Run("Client+Server", func(t *testing.T) {
		p := newPair(t)
		transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
			a, b := transporttest.TCPPair(t)
			return clientServer(t, a, b, p.cli, p.server)
		})
	})
}
