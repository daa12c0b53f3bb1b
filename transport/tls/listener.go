package tls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hopwire/hopwire/transport/internal/preauth"
)

// Defaults for [ListenerOptions].
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxHandshakes    = 64
)

// Limits on how often the accept loop retries and logs.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
	dropLogInterval  = time.Second
)

// ListenerOptions configures a [Listener]. A nil *ListenerOptions means the
// defaults. NewListener copies what it needs and never modifies it.
type ListenerOptions struct {
	// HandshakeTimeout bounds each TLS handshake, from the TCP accept to
	// the verified peer; a peer that has not completed it by then is
	// disconnected. Zero means DefaultHandshakeTimeout (10s).
	HandshakeTimeout time.Duration

	// MaxHandshakes caps the connections held between the TCP accept and
	// Accept handing them out: handshakes in progress, and authenticated
	// conns waiting for the caller to call Accept. A connection that
	// arrives when the cap is reached takes the slot of a stalled
	// handshake, which is closed: the oldest connection that has sent
	// nothing for an eighth of HandshakeTimeout (at most 250ms), or
	// failing that the oldest handshake running for a quarter of it (at
	// most a second). With none, the newcomer is closed at once, before
	// any TLS state exists for it. A client completes its handshake in a
	// few round trips, so neither a flood of silent connections nor one
	// of handshakes begun and left hanging (slowloris) can keep it out.
	// With a cap of 16 or more, one source network (an IPv4 /24, an IPv6
	// /64) may hold at most a quarter of the slots; past that, its
	// newcomers can only take the slots of its own stalled handshakes, so
	// one flooding host cannot fill the cap. At the cap, a newcomer from a
	// network holding at least two slots fewer than the network holding
	// the most may also take that one's oldest handshake past the quiet
	// grace, so that a flood from several networks cannot keep clients of
	// others out either. Zero means DefaultMaxHandshakes (64).
	MaxHandshakes int

	// Logger receives failed handshakes (at Warn, or Debug for peers that
	// left or stalled before authenticating) and connections dropped at
	// the cap (Warn, at most once a second). Nil discards them.
	Logger *slog.Logger
}

// Listener is a TLS listener that authenticates peers before Accept sees
// them. A background goroutine accepts TCP connections and runs each
// handshake on its own goroutine, under a deadline and a cap on how many
// are in progress, so a slow or silent peer never holds up Accept or other
// peers. Accept returns only conns whose handshake has completed and passed
// every check of [Server].
//
// A Listener is safe for concurrent use. The caller closes it; Close stops
// the accept loop and every handshake in progress and waits for their
// goroutines, and closes conns that were authenticated but not yet
// accepted. Conns already returned by Accept belong to the caller.
type Listener struct {
	inner   net.Listener
	cfg     *tls.Config // prepared
	timeout time.Duration
	log     *slog.Logger
	gate    *preauth.Gate // a slot per connection between TCP accept and Accept
	ready   chan *tls.Conn

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and the handshake goroutines

	loopDone chan struct{} // closed when the accept loop has stopped
	loopErr  error         // why it stopped; written before loopDone is closed

	drops dropCounts

	closeOnce sync.Once
	closeErr  error
}

// Listen listens for TCP connections on addr ("host:port") and returns a
// [Listener] that runs a TLS 1.3 server handshake with cfg on each, with
// the default [ListenerOptions]. cfg is checked, cloned and adjusted as for
// [Server]; an unacceptable cfg is refused before anything is bound.
// Accepted TCP connections get TCP_NODELAY and keep-alive probes.
//
// ctx governs the bind only. The caller closes the listener.
func Listen(ctx context.Context, addr string, cfg *tls.Config) (*Listener, error) {
	return ListenWith(ctx, addr, cfg, nil)
}

// ListenWith is [Listen] with [ListenerOptions] (nil: the defaults).
func ListenWith(ctx context.Context, addr string, cfg *tls.Config, opts *ListenerOptions) (*Listener, error) {
	if _, err := prepare(cfg, true); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{KeepAlive: -1, KeepAliveConfig: tcpKeepAlive}
	inner, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return NewListener(inner, cfg, opts)
}

// NewListener returns a [Listener] that runs a TLS 1.3 server handshake
// with cfg on every conn inner accepts. cfg is checked, cloned and adjusted
// as for [Server].
//
// NewListener takes ownership of inner: the Listener closes it, and
// NewListener closes it itself if it returns an error.
func NewListener(inner net.Listener, cfg *tls.Config, opts *ListenerOptions) (*Listener, error) {
	c, err := prepare(cfg, true)
	if err != nil {
		inner.Close()
		return nil, err
	}
	var o ListenerOptions
	if opts != nil {
		o = *opts
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.MaxHandshakes <= 0 {
		o.MaxHandshakes = DefaultMaxHandshakes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		inner:    inner,
		cfg:      c,
		timeout:  o.HandshakeTimeout,
		log:      o.Logger.With("transport", Scheme, "listen", inner.Addr().String()),
		gate:     preauth.NewGate(o.MaxHandshakes, o.HandshakeTimeout),
		ready:    make(chan *tls.Conn),
		ctx:      ctx,
		cancel:   cancel,
		loopDone: make(chan struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Accept waits for and returns the next authenticated conn, a *tls.Conn
// whose handshake has completed. It implements [net.Listener]; see
// [Listener.AcceptContext].
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptContext(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptContext waits for the next authenticated conn, until ctx is done or
// the listener is closed. The caller closes the returned conn. After Close
// it returns an error wrapping [net.ErrClosed]; if the underlying listener
// failed for good, it returns that error.
func (l *Listener) AcceptContext(ctx context.Context) (*tls.Conn, error) {
	if l.ctx.Err() != nil {
		return nil, l.closedErr()
	}
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		return nil, l.closedErr()
	case <-l.loopDone:
		return nil, l.loopErr
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stats is a snapshot of a listener's connections that have not
// authenticated, for monitoring (a node's state endpoint).
type Stats struct {
	// PreAuth counts connections held between the accept and Accept:
	// handshakes in progress and authenticated conns not yet taken.
	PreAuth int
	// Dropped counts connections closed before authentication since the
	// listener started, by reason: "cap" (the pre-auth cap was reached),
	// "silent" (the peer left, stalled or reset without completing the
	// handshake) and "refused" (the handshake failed or the peer was not
	// trusted).
	Dropped map[string]uint64
}

// dropCounts counts a listener's pre-auth drops by reason.
type dropCounts struct{ cap, silent, refused atomic.Uint64 }

func (d *dropCounts) snapshot() map[string]uint64 {
	return map[string]uint64{"cap": d.cap.Load(), "silent": d.silent.Load(), "refused": d.refused.Load()}
}

// Stats returns a snapshot of the connections that have not authenticated.
func (l *Listener) Stats() Stats {
	return Stats{PreAuth: l.gate.Held(), Dropped: l.drops.snapshot()}
}

// Addr returns the listener's network address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close stops the listener: it closes the underlying listener, interrupts
// the handshakes in progress, closes authenticated conns not yet accepted,
// and waits for all of its goroutines to exit. It is idempotent; every call
// returns the result of closing the underlying listener.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.inner.Close()
		l.wg.Wait()
	})
	return l.closeErr
}

// closedErr is the error of Accept after Close.
func (l *Listener) closedErr() error {
	return &net.OpError{Op: "accept", Net: Scheme, Addr: l.inner.Addr(), Err: net.ErrClosed}
}

// acceptLoop accepts TCP connections and starts a handshake for each while
// a slot is free; beyond the cap it closes them at once.
func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	defer close(l.loopDone)
	var (
		backoff  time.Duration
		dropped  int
		lastDrop time.Time
	)
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				l.loopErr = l.closedErr()
				return
			}
			if !transient(err) {
				l.loopErr = fmt.Errorf("tls: %w", err)
				l.log.Error("tls: accept failed; listener stopped", "err", err)
				return
			}
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			l.log.Warn("tls: accept failed; retrying", "err", err, "retry", backoff)
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
			}
			continue
		}
		backoff = 0
		hc, ok := l.gate.Admit(raw)
		if !ok {
			raw.Close()
			l.drops.cap.Add(1)
			dropped++
			if now := time.Now(); now.Sub(lastDrop) >= dropLogInterval {
				l.log.Warn("tls: too many connections waiting to authenticate; closed new ones",
					"max", l.gate.Cap(), "dropped", dropped)
				dropped, lastDrop = 0, now
			}
			continue
		}
		l.wg.Add(1)
		go l.serve(hc)
	}
}

// serve runs the handshake on hc and hands the conn to Accept. It holds a
// slot until then.
func (l *Listener) serve(hc *preauth.Conn) {
	defer l.wg.Done()
	defer l.gate.Release(hc)
	raw := hc.Conn
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline) // also ends reads and writes the context cannot reach
	addr := raw.RemoteAddr().String()
	tc, err := handshake(ctx, tls.Server(&corkConn{Conn: hc}, l.cfg), raw)
	if err == nil && !l.gate.Authenticated(hc) {
		tc.Close()
		err = errEvicted
	}
	if err != nil {
		if l.ctx.Err() == nil {
			level := slog.LevelWarn
			if quiet(err) || hc.Evicted() {
				level = slog.LevelDebug
				l.drops.silent.Add(1)
			} else {
				l.drops.refused.Add(1)
			}
			l.log.Log(context.Background(), level, "tls: handshake failed", "addr", addr, "err", err)
		}
		return
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		tc.Close()
		return
	}
	select {
	case l.ready <- tc:
	case <-l.ctx.Done():
		tc.Close()
	}
}

// errEvicted is the error of a handshake whose slot went to a newcomer.
var errEvicted = errors.New("tls: handshake stalled and evicted at the pre-auth cap")

// quiet reports whether a handshake error is the ordinary noise of a peer
// that went away or said nothing (port scanners, health checks), rather
// than a peer that tried and was refused.
func quiet(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// transient reports whether an Accept error is worth retrying: the process
// or the system ran out of something that may come back.
func transient(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
