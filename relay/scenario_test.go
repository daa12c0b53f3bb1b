package relay

// Scenarios of issue 6 ("reliability under faults") that need real relay
// nodes: in-process relay.Servers over loopback TCP, each scenario with the
// issue's numeric pass criterion. The bodies take their sizes as
// parameters; the default run uses small ones, scenario_soak_test.go
// (build tag soak) the long ones.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
	htls "github.com/hopwire/hopwire/transport/tls"
)

// chain2 is client → r1 → r2, where r2 may connect to loopback TCP: a
// connection the client dials through the route crosses two relays.
type chain2 struct {
	client *certs.Identity
	r1, r2 *testNode
}

func newChain2(t testing.TB, link *session.LinkConfig) *chain2 {
	client := newIdentity(t, "client")
	withLink := func(o *Options) { o.Link = link }
	r2 := startNodeWith(t, "r2", "tls://127.0.0.1:0", []*certs.Identity{client}, withLink, "client:connect=127.0.0.1/32:1-65535")
	r1 := startNodeWith(t, "r1", "tls://127.0.0.1:0", []*certs.Identity{client}, withLink, "client:connect="+hostPort(t, r2.url))
	return &chain2{client: client, r1: r1, r2: r2}
}

func (c *chain2) dial(t testing.TB) *hop.Route {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	route, err := dialer(c.client, c.r1, c.r2).Dial(ctx, []hop.Addr{mustAddr(t, c.r1.url)}, mustAddr(t, c.r2.url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { route.Close() })
	return route
}

// pattern returns n reproducible pseudo-random bytes.
func pattern(seed uint64, n int64) io.Reader {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	return io.LimitReader(mrand.NewChaCha8(s), n)
}

func patternSum(seed uint64, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, pattern(seed, n))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// drained is what a reader got: how much, its hash, and how it ended
// (nil for a clean EOF).
type drained struct {
	n   int64
	sum [32]byte
	err error
}

func drain(r io.Reader) drained {
	h := sha256.New()
	n, err := io.Copy(h, r)
	d := drained{n: n, err: err}
	h.Sum(d.sum[:0])
	return d
}

func (d drained) check(what string, n int64, want [32]byte) error {
	switch {
	case d.err != nil:
		return fmt.Errorf("%s: ended with %v after %d bytes, want a clean EOF", what, d.err, d.n)
	case d.n != n:
		return fmt.Errorf("%s: %d bytes, want %d", what, d.n, n)
	case d.sum != want:
		return fmt.Errorf("%s: %d bytes, corrupted", what, d.n)
	}
	return nil
}

type closeWriter interface{ CloseWrite() error }

// Scenario 6: half-close through two relays in both directions, size
// bytes each way: one side ends its writing, the other keeps sending, both
// get everything and a clean EOF. Then a silent half-open stream is reaped
// after the relays' half-close timeout, and the relay lets go of the
// connection behind it.
func TestScenario6_HalfCloseThroughTwoRelays(t *testing.T) {
	scenarioHalfClose(t, 10<<20)
}

func scenarioHalfClose(t *testing.T, size int64) {
	const halfClose = 300 * time.Millisecond
	ch := newChain2(t, &session.LinkConfig{HalfCloseTimeout: halfClose})
	route := ch.dial(t)
	ctx := t.Context()

	// The expected hashes are computed before any transfer: a pause of
	// the client to compute one would be silence on a half-closed stream,
	// which the relays' short half-close timeout reaps.
	sums := map[uint64][32]byte{}
	for seed := uint64(1); seed <= 4; seed++ {
		sums[seed] = patternSum(seed, size)
	}
	t.Run("client-closes-first", func(t *testing.T) {
		got := make(chan drained, 1)
		addr := tcpServer(t, func(c net.Conn) {
			got <- drain(c)
			// Everything of ours goes out after the client's half-close.
			io.Copy(c, pattern(2, size))
		})
		c, err := route.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.Copy(c, pattern(1, size)); err != nil {
			t.Fatal(err)
		}
		if err := c.(closeWriter).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		back := drain(c)
		if err := (<-got).check("server", size, sums[1]); err != nil {
			t.Error(err)
		}
		if err := back.check("client", size, sums[2]); err != nil {
			t.Error(err)
		}
	})
	t.Run("server-closes-first", func(t *testing.T) {
		got := make(chan drained, 1)
		addr := tcpServer(t, func(c net.Conn) {
			io.Copy(c, pattern(3, size))
			c.(*net.TCPConn).CloseWrite()
			got <- drain(c)
		})
		c, err := route.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		back := drain(c)
		if err := back.check("client", size, sums[3]); err != nil {
			t.Error(err)
		}
		if _, err := io.Copy(c, pattern(4, size)); err != nil {
			t.Fatal(err)
		}
		if err := c.(closeWriter).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if err := (<-got).check("server", size, sums[4]); err != nil {
			t.Error(err)
		}
	})
	t.Run("upload-after-half-close-fails", func(t *testing.T) {
		// The server half-closes, takes a little of the upload, then
		// dies: the uploading client learns it (it used to write into
		// the void, then block for ever on the window).
		addr := tcpServer(t, func(c net.Conn) {
			c.Write([]byte("banner"))
			c.(*net.TCPConn).CloseWrite()
			io.ReadFull(c, make([]byte, 1000))
			c.(*net.TCPConn).SetLinger(0)
		})
		c, err := route.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got, err := io.ReadAll(c); err != nil || string(got) != "banner" {
			t.Fatalf("banner: %q %v", got, err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := io.Copy(c, pattern(5, 1<<40))
			errc <- err
		}()
		select {
		case err := <-errc:
			var se *session.StreamError
			if !errors.As(err, &se) || se.Code != session.AbortUpstream {
				t.Fatalf("upload ended with %v, want an upstream abort", err)
			}
			t.Log(err)
		case <-time.After(10 * time.Second):
			t.Fatal("the upload to a dead server never failed")
		}
	})
	t.Run("half-open-reaped", func(t *testing.T) {
		hold := make(chan struct{})
		addr := tcpServer(t, func(c net.Conn) {
			io.Copy(io.Discard, c)
			<-hold // half-open, and silent
		})
		t.Cleanup(func() { close(hold) })
		base := ch.r2.srv.State()
		c, err := route.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("bye"))
		c.(closeWriter).CloseWrite()
		start := time.Now()
		_, err = c.Read(make([]byte, 1))
		took := time.Since(start)
		var se *session.StreamError
		if !errors.As(err, &se) {
			t.Fatalf("half-open stream ended with %v, want an abort", err)
		}
		t.Logf("reaped after %v: %v", took, err)
		if took > halfClose+2*time.Second {
			t.Errorf("reaped after %v, want about %v", took, halfClose)
		}
		// The relay let go of the target connection too: nothing of this
		// stream is left but the silent server's own goroutine and socket.
		waitUntil(t, "r2 back to its baseline", func() bool {
			s := ch.r2.srv.State()
			return s.Streams <= base.Streams && s.FDs <= base.FDs+1 && s.Goroutines <= base.Goroutines+1
		}, func() string { return fmt.Sprintf("baseline %+v, now %+v", base, ch.r2.srv.State()) })
	})
}

// waitUntil polls ok for up to 10 s; on timeout it fails with why().
func waitUntil(t *testing.T, what string, ok func() bool, why func() string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, why())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Scenario 3 (in-process): GC at every turn (GOGC=1) while forwarding
// through two relays: zero short or corrupted streams (xtaci/smux#116, a
// finalizer that closed accepted streams mid-copy, would show here).
func TestScenario3_GCPressure(t *testing.T) {
	size := int64(1 << 20)
	if raceEnabled {
		size = 256 << 10
	}
	scenarioGCPressure(t, 20, 4, size)
}

func scenarioGCPressure(t *testing.T, runs, streams int, size int64) {
	ch := newChain2(t, nil)
	route := ch.dial(t)
	echo := echoServer(t)
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	var bad atomic.Int64
	for run := range runs {
		var wg sync.WaitGroup
		for i := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				seed := uint64(run*streams + i)
				c, err := route.DialContext(t.Context(), "tcp", echo)
				if err != nil {
					t.Error(err)
					bad.Add(1)
					return
				}
				defer c.Close()
				go func() {
					io.Copy(c, pattern(seed, size))
					c.(closeWriter).CloseWrite()
				}()
				if err := drain(c).check(fmt.Sprintf("run %d stream %d", run, i), size, patternSum(seed, size)); err != nil {
					t.Error(err)
					bad.Add(1)
				}
			}()
		}
		wg.Wait()
	}
	if n := bad.Load(); n != 0 {
		t.Errorf("%d of %d streams short or corrupted", n, runs*streams)
	}
}

// deepSvc is scenario 13's service: Enter calls the client back, passing
// next, which calls the client back again one level deeper. Each Enter
// exports next to the client; next holds a token whose collection shows
// the export was released.
type deepSvc struct {
	mu        sync.Mutex
	handlers  int
	cancelled []time.Time

	created, released atomic.Int64
}

type deepCB = func(ctx context.Context, level int, next func(context.Context, int) error) error

func (d *deepSvc) watch(ctx context.Context) {
	d.mu.Lock()
	d.handlers++
	d.mu.Unlock()
	context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.cancelled = append(d.cancelled, time.Now())
		d.mu.Unlock()
	})
}

func (d *deepSvc) Enter(ctx context.Context, cb deepCB) error {
	token := new([256]byte)
	d.created.Add(1)
	runtime.AddCleanup(token, func(*atomic.Int64) { d.released.Add(1) }, &d.released)
	var next func(context.Context, int) error
	next = func(ctx context.Context, level int) error {
		d.watch(ctx)
		token[0]++
		return cb(ctx, level+1, next)
	}
	d.watch(ctx)
	return cb(ctx, 1, next)
}

// Ping answers, for the clients that stay.
func (d *deepSvc) Ping(ctx context.Context, f func(context.Context, int) (int, error), x int) (int, error) {
	return f(ctx, x)
}

// rawClient is a client whose TCP connection the test holds, to kill it.
type rawClient struct {
	tcp  *net.TCPConn
	conn *session.Conn
}

// dialRaw connects to n, at addr if it is not empty (a proxy in front of
// n), with the link configuration link (nil: defaults).
func dialRaw(t *testing.T, id *certs.Identity, n *testNode, link *session.LinkConfig, addr string) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if addr == "" {
		addr = hostPort(t, n.url)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := certs.ClientConfig(id, certs.Trust{Pinned: []string{n.id.Fingerprint()}}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := htls.Client(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := session.NewLink(tc, session.Client, link)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := session.NewConn(ctx, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{tcp: c.(*net.TCPConn), conn: conn}
}

// kill ends the client as a crash would: an RST, no goodbye.
func (c *rawClient) kill() {
	c.tcp.SetLinger(0)
	c.tcp.Close()
}

// Scenario 13: a client dies (RST; FIN without a goodbye; a blackhole:
// its packets stop, the socket stays) while the server is in a callback
// to it,
// three levels deep: every server-side handler's context is cancelled
// within 100 ms (the keepalive timeout, plus 500 ms of slack, for the
// blackhole; both with 2 s more under the race detector), no lock stays
// held (the server keeps serving other
// clients), and every reference exported to that client is released.
func TestScenario13_ClientDiesInCallback(t *testing.T) {
	scenarioDiesInCallback(t, 3)
}

func scenarioDiesInCallback(t *testing.T, runs int) {
	victim := newIdentity(t, "victim")
	other := newIdentity(t, "other")
	svc := &deepSvc{}
	// Short keepalives everywhere, so that the blackhole is noticed soon
	// (not so short that a busy machine makes live peers look dead).
	const keepAliveTimeout = time.Second
	link := &session.LinkConfig{KeepAlive: 100 * time.Millisecond, KeepAliveTimeout: keepAliveTimeout}
	n := startNodeWith(t, "srv", "tls://127.0.0.1:0", []*certs.Identity{victim, other}, func(o *Options) {
		o.Services = func(session.Peer) map[string]any { return map[string]any{"deep": svc} }
		o.Link = link
	})
	stay := dialRaw(t, other, n, link, "")
	defer stay.conn.Close()
	ping := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		v, err := session.Call[int](ctx, stay.conn.Service("deep"), "Ping", func(_ context.Context, x int) (int, error) { return x + 1, nil }, 41)
		if err == nil && v != 42 {
			err = fmt.Errorf("Ping = %d", v)
		}
		return err
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	base := n.srv.State()
	for run := range runs {
		mode := []string{"rst", "fin", "blackhole"}[run%3]
		var hole *blackhole
		addr := ""
		if mode == "blackhole" {
			hole = newBlackhole(t, hostPort(t, n.url))
			addr = hole.addr
		}
		cl := dialRaw(t, victim, n, link, addr)
		svc.mu.Lock()
		handlers0, cancelled0 := svc.handlers, len(svc.cancelled)
		svc.mu.Unlock()
		reached := make(chan struct{})
		cb := func(ctx context.Context, level int, next func(context.Context, int) error) error {
			if level < 3 {
				return next(ctx, level)
			}
			close(reached)
			<-ctx.Done()
			return ctx.Err()
		}
		callErr := make(chan error, 1)
		go func() {
			_, err := cl.conn.Service("deep").Call(context.Background(), "Enter", cb)
			callErr <- err
		}()
		select {
		case <-reached:
		case err := <-callErr:
			t.Fatalf("run %d: Enter returned early: %v", run, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d: depth 3 never reached", run)
		}
		if st := n.srv.State(); st.Refs < 3 {
			t.Fatalf("run %d: the server exports %d references at depth 3, want ≥ 3", run, st.Refs)
		}
		killed := time.Now()
		// The bounds. Under the race detector, on a machine
		// shared with other work, the goroutines that notice the death
		// are sometimes not scheduled for a good while (measured: a
		// blackhole noticed 1.6 s after it began, with a 1 s keepalive
		// timeout); there the bounds only catch a death never noticed.
		limit, slack := 100*time.Millisecond, time.Duration(0)
		if raceEnabled {
			slack = 2 * time.Second
		}
		switch mode {
		case "rst":
			cl.kill()
		case "fin":
			cl.tcp.Close() // and not a word of the session
		case "blackhole":
			hole.stall()
			limit = keepAliveTimeout + 500*time.Millisecond
		}
		limit += slack
		waitUntil(t, "every handler to see its context cancelled", func() bool {
			svc.mu.Lock()
			defer svc.mu.Unlock()
			return len(svc.cancelled) == svc.handlers
		}, func() string { return fmt.Sprintf("%d handlers, %d cancelled", svc.handlers, len(svc.cancelled)) })
		svc.mu.Lock()
		if got := svc.handlers - handlers0; got != 3 {
			t.Errorf("run %d: %d server handlers, want 3", run, got)
		}
		var slowest time.Duration
		for _, at := range svc.cancelled[cancelled0:] {
			slowest = max(slowest, at.Sub(killed))
		}
		svc.mu.Unlock()
		t.Logf("run %d (%s): handlers cancelled within %v of the death", run, mode, slowest)
		if slowest > limit {
			t.Errorf("run %d (%s): a handler's context was cancelled %v after the client died, want ≤ %v", run, mode, slowest, limit)
		}
		if err := <-callErr; err == nil {
			t.Errorf("run %d: the dead client's call succeeded", run)
		}
		cl.conn.Close()

		// The server serves the others, and a newcomer, at once.
		if err := ping(); err != nil {
			t.Fatalf("run %d: another client after the death: %v", run, err)
		}
		fresh := dialRaw(t, other, n, link, "")
		if _, err := session.Call[NodeInfo](t.Context(), fresh.conn.Service("node"), "Info"); err != nil {
			t.Fatalf("run %d: a new client: %v", run, err)
		}
		fresh.conn.Close()
	}
	// Every reference exported to the dead clients is gone: from the
	// server's tables, and the objects themselves are collected.
	waitUntil(t, "the references to be released", func() bool {
		st := n.srv.State()
		return st.Sessions == base.Sessions && st.Refs == base.Refs
	}, func() string { return fmt.Sprintf("baseline %+v, now %+v", base, n.srv.State()) })
	waitUntil(t, "the exported objects to be collected", func() bool {
		runtime.GC()
		return svc.released.Load() == svc.created.Load()
	}, func() string {
		return fmt.Sprintf("%d of %d exported objects collected", svc.released.Load(), svc.created.Load())
	})
	if err := ping(); err != nil {
		t.Fatal(err)
	}
}

// cycleSvc is what scenario 9's clients use: a call, a callback, a stream
// and a reference exported by the server.
type cycleSvc struct{ echoSvc }

func (cycleSvc) Adder(n int) func(int) int { return func(x int) int { return x + n } }

// Scenario 9 (in-process): connect/disconnect cycles against a relay —
// graceful close, RST, abrupt close (FIN, no goodbye) — each with streams,
// a call and a callback: the relay's goroutines, file descriptors,
// sessions, streams and references come back to their baseline.
func TestScenario9_ConnectCycles(t *testing.T) {
	scenarioCycles(t, 100)
}

func scenarioCycles(t *testing.T, cycles int) {
	client := newIdentity(t, "client")
	// An echo server that copies through a buffer: io.Copy between TCP
	// conns would splice through pipes from a pool that only the garbage
	// collector empties, and the file descriptor count would wander.
	echo := tcpServer(t, func(c net.Conn) { io.CopyBuffer(writerOnly{c}, readerOnly{c}, make([]byte, 32<<10)) })
	n := startNodeWith(t, "r", "tls://127.0.0.1:0", []*certs.Identity{client}, func(o *Options) {
		o.Services = func(session.Peer) map[string]any { return map[string]any{"svc": cycleSvc{}} }
	}, "client:connect="+echo)
	payload := make([]byte, 64<<10)
	cycle := func(i int) {
		cl := dialRaw(t, client, n, nil, "")
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		svc := cl.conn.Service("svc")
		if s, err := session.Call[string](ctx, svc, "Hello", "x"); err != nil || s != "hello x" {
			t.Fatalf("cycle %d: call: %q %v", i, s, err)
		}
		if v, err := session.Call[int](ctx, svc, "Twice", func(_ context.Context, x int) (int, error) { return 2 * x, nil }, 3); err != nil || v != 12 {
			t.Fatalf("cycle %d: callback: %d %v", i, v, err)
		}
		add, err := session.Call[func(int) int](ctx, svc, "Adder", 5)
		if err != nil || add(1) != 6 {
			t.Fatalf("cycle %d: exported func: %v", i, err)
		}
		var sn int64
		var sum []byte
		res, err := svc.Call(ctx, "Sum", &onlyReader{payload})
		if err == nil {
			err = res.Decode(&sn, &sum)
		}
		if err != nil || sn != int64(len(payload)) {
			t.Fatalf("cycle %d: data stream: %d %v", i, sn, err)
		}
		req := &connect.Request{Network: connect.TCP, Address: echo}
		st, err := connect.Open(ctx, cl.conn.Link(), req)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		st.Write([]byte("ping"))
		if _, err := io.ReadFull(st, make([]byte, 4)); err != nil {
			t.Fatalf("cycle %d: connect stream: %v", i, err)
		}
		// A second stream left open, and the server holding a reference
		// to the client, when the client goes.
		st2, err := connect.Open(ctx, cl.conn.Link(), req)
		if err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		st2.Write([]byte("open"))
		io.ReadFull(st2, make([]byte, 4))
		st.Close()
		switch i % 3 {
		case 0: // graceful
			cl.conn.Close()
		case 1: // RST
			cl.kill()
			cl.conn.Close()
		case 2: // abrupt: the connection closes under the session
			cl.tcp.Close()
			<-cl.conn.Done()
			cl.conn.Close()
		}
	}
	// One cycle first, so that lazily started process-wide goroutines
	// and pools are part of the baseline.
	cycle(0)
	settle := func(base State) func() bool {
		return func() bool {
			s := n.srv.State()
			return s.Sessions == 0 && s.Streams == 0 && s.Refs == 0 && s.FDs == base.FDs && s.Goroutines <= base.Goroutines
		}
	}
	waitUntil(t, "the warm-up session to end", func() bool { s := n.srv.State(); return s.Sessions == 0 && s.Streams == 0 }, func() string { return "" })
	runtime.GC()
	base := n.srv.State()
	t.Logf("baseline: %d goroutines, %d fds, heap %d KiB", base.Goroutines, base.FDs, base.HeapAlloc>>10)
	start := time.Now()
	for i := 1; i <= cycles; i++ {
		cycle(i)
		if i%50 == 0 || i == cycles {
			waitUntil(t, fmt.Sprintf("the baseline after %d cycles", i), settle(base), func() string {
				return fmt.Sprintf("baseline %+v, now %+v", base, n.srv.State())
			})
		}
	}
	runtime.GC()
	end := n.srv.State()
	t.Logf("%d cycles in %v; after: %d goroutines, %d fds, heap %d KiB", cycles, time.Since(start), end.Goroutines, end.FDs, end.HeapAlloc>>10)
	if grown := int64(end.HeapAlloc) - int64(base.HeapAlloc); grown > 16<<20 {
		t.Errorf("heap grew by %d KiB over %d cycles", grown>>10, cycles)
	}
}

// onlyReader hides bytes.Reader's other methods, so that it is streamed.
type onlyReader struct{ b []byte }

func (r *onlyReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// blackhole is a TCP proxy that, once stalled, keeps its sockets open but
// reads and forwards nothing: a peer whose packets vanish.
type blackhole struct {
	addr    string
	stalled chan struct{}
	once    sync.Once
}

func (b *blackhole) stall() { b.once.Do(func() { close(b.stalled) }) }

func newBlackhole(t *testing.T, target string) *blackhole {
	b := &blackhole{stalled: make(chan struct{})}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			select {
			case <-b.stalled:
				return // swallowed, and nothing more is read
			default:
			}
			if n > 0 {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	b.addr = tcpServer(t, func(c net.Conn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, c, up)
		mu.Unlock()
		wg.Add(2)
		go pipe(up, c)
		go pipe(c, up)
		<-b.stalled
		wg.Wait()
		<-t.Context().Done() // hold the sockets until the test ends
	})
	t.Cleanup(func() {
		b.stall()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return b
}

type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }
