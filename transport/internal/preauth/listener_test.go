package preauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pipeListener hands out the server ends of pipes, and the errors queued
// in errs, from Accept.
type pipeListener struct {
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), errs: make(chan error, 8), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		return nil, err
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dial connects a client to l and returns its end.
func (l *pipeListener) dial(t *testing.T) net.Conn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close() })
	select {
	case l.conns <- b:
	case <-time.After(5 * time.Second):
		t.Fatal("the accept loop does not accept")
	}
	return a
}

// byteHandshake authenticates a peer that sends 'y' and refuses one that
// sends anything else.
func byteHandshake(_ context.Context, c net.Conn) (net.Conn, error) {
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		c.Close()
		return nil, err
	}
	if b[0] != 'y' {
		c.Close()
		return nil, fmt.Errorf("test: refused %q", b)
	}
	return c, nil
}

// logs collects log records.
type logs struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func newListener(t *testing.T, inner net.Listener, handshake func(context.Context, net.Conn) (net.Conn, error), o Options) *Listener[net.Conn] {
	t.Helper()
	if o.Scheme == "" {
		o.Scheme = "test"
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.Max == 0 {
		o.Max = 4
	}
	l := NewListener(inner, handshake, o)
	t.Cleanup(func() { l.Close() })
	return l
}

// Peers that authenticate reach Accept; the others are counted by reason
// and logged, refused ones at Warn, silent ones at Debug; Accept after
// Close fails with net.ErrClosed, named by the scheme.
func TestListenerAcceptAndDrops(t *testing.T) {
	inner := newPipeListener()
	var rec logs
	l := newListener(t, inner, byteHandshake, Options{Logger: rec.logger()})

	good := inner.dial(t)
	go good.Write([]byte("y"))
	c, err := l.AcceptContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	bad := inner.dial(t)
	bad.Write([]byte("n"))
	gone := inner.dial(t)
	gone.Close()
	want := map[string]uint64{"cap": 0, "silent": 1, "refused": 1}
	waitFor(t, "the drops counted", func() bool { return fmt.Sprint(l.Stats().Dropped) == fmt.Sprint(want) })
	waitFor(t, "the slots given back", func() bool { return l.Stats().PreAuth == 0 })
	for _, line := range []string{`level=WARN msg="test: handshake failed"`, `level=DEBUG msg="test: handshake failed"`} {
		if !strings.Contains(rec.String(), line) {
			t.Errorf("no %s in the log:\n%s", line, rec.String())
		}
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = l.AcceptContext(t.Context())
	var oe *net.OpError
	if !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) || oe.Net != "test" {
		t.Errorf("Accept after Close: %v; want a test accept error wrapping net.ErrClosed", err)
	}
}

// A handshake that ignores its context is cut off at the deadline (its
// conn is closed), and one that reports success only after it is void.
func TestListenerDeadline(t *testing.T) {
	for _, tt := range []struct {
		name      string
		handshake func(context.Context, net.Conn) (net.Conn, error)
	}{
		{"blocked", func(_ context.Context, c net.Conn) (net.Conn, error) {
			c.SetDeadline(time.Time{}) // only the close can end the read
			if _, err := c.Read(make([]byte, 1)); err != nil {
				return nil, err
			}
			return c, nil
		}},
		{"late", func(ctx context.Context, c net.Conn) (net.Conn, error) {
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond)
			return c, nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inner := newPipeListener()
			l := newListener(t, inner, tt.handshake, Options{HandshakeTimeout: 100 * time.Millisecond})
			peer := inner.dial(t)
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := peer.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("peer read %v; want io.EOF (closed at the deadline)", err)
			}
			// (Counted as silent over TCP, where the closed conn's read
			// fails with net.ErrClosed; a pipe says io.ErrClosedPipe.)
			waitFor(t, "a drop", func() bool { d := l.Stats().Dropped; return d["silent"]+d["refused"] == 1 })
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			if c, err := l.AcceptContext(ctx); err == nil {
				c.Close()
				t.Error("a handshake past its deadline was accepted")
			}
		})
	}
}

// Beyond the cap a newcomer is closed at once (no handshake has stalled
// long enough to be evicted) and counted; the warning is paced.
func TestListenerCap(t *testing.T) {
	inner := newPipeListener()
	var rec logs
	twoBytes := func(_ context.Context, c net.Conn) (net.Conn, error) {
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	l := newListener(t, inner, twoBytes, Options{Max: 1, HandshakeTimeout: time.Minute, Logger: rec.logger()})
	held := inner.dial(t)
	held.Write([]byte("?")) // one byte of two: spoke, so not evicted for a second
	waitFor(t, "a slot held", func() bool { return l.Stats().PreAuth == 1 })
	for range 3 {
		extra := inner.dial(t)
		if _, err := extra.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("conn beyond the cap: read %v; want io.EOF", err)
		}
	}
	waitFor(t, "three cap drops", func() bool { return l.Stats().Dropped["cap"] == 3 })
	if n := strings.Count(rec.String(), "too many connections waiting to authenticate"); n != 1 {
		t.Errorf("%d cap warnings for three drops in a burst; want 1:\n%s", n, rec.String())
	}
}

// An authenticated conn nobody accepts is closed by Close, which waits for
// every goroutine (goleak checks).
func TestListenerCloseClosesUnaccepted(t *testing.T) {
	inner := newPipeListener()
	l := newListener(t, inner, byteHandshake, Options{})
	peer := inner.dial(t)
	peer.Write([]byte("y"))
	waitFor(t, "the conn authenticated", func() bool { return l.Stats().PreAuth == 1 })
	l.Close()
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("peer read %v; want io.EOF", err)
	}
	if n := l.Stats().PreAuth; n != 0 {
		t.Errorf("%d slots held after Close", n)
	}
}

// Transient accept errors are retried with a backoff; any other stops the
// loop, and Accept then returns it.
func TestListenerAcceptErrors(t *testing.T) {
	inner := newPipeListener()
	var rec logs
	l := newListener(t, inner, byteHandshake, Options{Logger: rec.logger()})
	for range 3 {
		inner.errs <- &net.OpError{Op: "accept", Net: "pipe", Err: syscall.EMFILE}
	}
	start := time.Now()
	peer := inner.dial(t)
	go peer.Write([]byte("y"))
	c, err := l.AcceptContext(t.Context())
	if err != nil {
		t.Fatalf("Accept after transient errors: %v", err)
	}
	c.Close()
	if d := time.Since(start); d < (5+10+20)*time.Millisecond {
		t.Errorf("three retries took %v; want a backoff", d)
	}
	if n := strings.Count(rec.String(), "accept failed; retrying"); n != 3 {
		t.Errorf("%d retry warnings; want 3", n)
	}

	boom := errors.New("boom")
	inner.errs <- boom
	if _, err := l.AcceptContext(t.Context()); !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "test: ") {
		t.Errorf("Accept after a permanent error: %v; want test: boom", err)
	}
	if !strings.Contains(rec.String(), "listener stopped") {
		t.Errorf("no error logged:\n%s", rec.String())
	}
}

func TestDropsPacing(t *testing.T) {
	var d Drops
	if n, warn := d.CapReached(); !warn || n != 1 {
		t.Errorf("first drop: %d, %v; want a warning for 1", n, warn)
	}
	for range 4 {
		if _, warn := d.CapReached(); warn {
			t.Error("a second warning within a second")
		}
	}
	d.lastWarn = d.lastWarn.Add(-dropLogInterval)
	if n, warn := d.CapReached(); !warn || n != 5 {
		t.Errorf("after a second: %d, %v; want a warning for 5", n, warn)
	}
	d.Failed(true)
	d.Failed(false)
	d.Failed(false)
	if got := fmt.Sprint(d.Snapshot()); got != "map[cap:6 refused:2 silent:1]" {
		t.Errorf("Snapshot %s", got)
	}
}
