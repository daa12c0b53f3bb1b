package preauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Limits on how often the accept loop retries.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// Options configures a [Listener]. Every field but Logger is required.
type Options struct {
	// Scheme names the transport ("tls", "ssh"): it prefixes the log
	// messages and errors, and is the Net of the errors Accept returns
	// after Close.
	Scheme string
	// HandshakeTimeout bounds each handshake, from the accept to the
	// authenticated conn.
	HandshakeTimeout time.Duration
	// Max caps the connections held between the accept and Accept (see
	// [NewGate]).
	Max int
	// Logger receives failed handshakes (Warn, or Debug for peers that
	// left, stalled or were evicted), connections dropped at the cap
	// (Warn, at most once a second) and accept failures. Nil discards
	// them.
	Logger *slog.Logger
}

// Listener is the pre-authentication half of a stream listener: it
// accepts connections from an inner net.Listener, admits each through a
// [Gate], runs the transport's handshake on it under the handshake
// deadline on a goroutine of its own, and hands the authenticated conn
// (a C) to AcceptContext. The transport supplies only the handshake.
//
// A Listener is safe for concurrent use. Close stops the accept loop and
// every handshake in progress, closes the conns authenticated but not yet
// accepted, and waits for its goroutines. Conns returned by AcceptContext
// belong to the caller.
type Listener[C io.Closer] struct {
	inner     net.Listener
	scheme    string
	handshake func(context.Context, net.Conn) (C, error)
	timeout   time.Duration
	log       *slog.Logger
	gate      *Gate // a slot per connection between the accept and Accept
	ready     chan C
	evicted   error // the error of a handshake whose slot went to a newcomer
	drops     Drops

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and the handshake goroutines

	loopDone chan struct{} // closed when the accept loop has stopped
	loopErr  error         // why it stopped; written before loopDone is closed

	closeOnce sync.Once
	closeErr  error
}

// NewListener starts a Listener that runs handshake on every connection
// inner accepts, and owns inner from then on. handshake runs over the
// admitted [*Conn] (so that the Gate sees whether the peer spoke) until
// ctx is done; the Listener also sets the conn's deadline to ctx's and
// closes it when ctx is done, for handshakes that do not watch ctx. On
// error handshake closes the conn and returns no C; on success the C owns
// the conn.
func NewListener[C io.Closer](inner net.Listener, handshake func(ctx context.Context, c net.Conn) (C, error), o Options) *Listener[C] {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener[C]{
		inner:     inner,
		scheme:    o.Scheme,
		handshake: handshake,
		timeout:   o.HandshakeTimeout,
		log:       o.Logger,
		gate:      NewGate(o.Max, o.HandshakeTimeout),
		ready:     make(chan C),
		evicted:   errors.New(o.Scheme + ": handshake stalled and evicted at the pre-auth cap"),
		ctx:       ctx,
		cancel:    cancel,
		loopDone:  make(chan struct{}),
	}
	l.wg.Go(l.acceptLoop)
	return l
}

// AcceptContext waits for the next authenticated conn, until ctx is done
// or the Listener is closed. After Close it returns an error wrapping
// [net.ErrClosed]; if the inner listener failed for good, that error.
func (l *Listener[C]) AcceptContext(ctx context.Context) (C, error) {
	var zero C
	if l.ctx.Err() != nil {
		return zero, l.closedErr()
	}
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		return zero, l.closedErr()
	case <-l.loopDone:
		return zero, l.loopErr
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Stats returns a snapshot of the connections that have not authenticated.
func (l *Listener[C]) Stats() Stats {
	return Stats{PreAuth: l.gate.Held(), Dropped: l.drops.Snapshot()}
}

// Addr returns the inner listener's address.
func (l *Listener[C]) Addr() net.Addr { return l.inner.Addr() }

// Close stops the Listener: it closes the inner listener, interrupts the
// handshakes in progress, closes authenticated conns not yet accepted,
// and waits for its goroutines. It is idempotent; every call returns the
// result of closing the inner listener.
func (l *Listener[C]) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.inner.Close()
		l.wg.Wait()
	})
	return l.closeErr
}

// closedErr is the error of Accept after Close.
func (l *Listener[C]) closedErr() error {
	return &net.OpError{Op: "accept", Net: l.scheme, Addr: l.inner.Addr(), Err: net.ErrClosed}
}

// acceptLoop accepts connections and starts a handshake for each that
// the Gate admits; it closes the others at once. It retries transient
// accept errors with a backoff.
func (l *Listener[C]) acceptLoop() {
	defer close(l.loopDone)
	var backoff time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				l.loopErr = l.closedErr()
				return
			}
			if !transient(err) {
				l.loopErr = fmt.Errorf("%s: %w", l.scheme, err)
				l.log.Error(l.scheme+": accept failed; listener stopped", "err", err)
				return
			}
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			l.log.Warn(l.scheme+": accept failed; retrying", "err", err, "retry", backoff)
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
			if n, warn := l.drops.CapReached(); warn {
				l.log.Warn(l.scheme+": too many connections waiting to authenticate; closed new ones",
					"max", l.gate.Cap(), "dropped", n)
			}
			continue
		}
		l.wg.Go(func() { l.serve(hc) })
	}
}

// serve runs the handshake on hc and hands the conn to Accept. It holds a
// slot until then.
func (l *Listener[C]) serve(hc *Conn) {
	defer l.gate.Release(hc)
	raw := hc.Conn
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline) // also ends reads and writes the context cannot reach
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	addr := raw.RemoteAddr().String()
	c, err := l.handshake(ctx, hc)
	stopped := stop()
	switch {
	case err != nil:
	case !stopped:
		// The deadline passed or the Listener closed as the handshake
		// ended: raw is closed already.
		c.Close()
		err = context.Cause(ctx)
	case !l.gate.Authenticated(hc):
		c.Close()
		err = l.evicted
	}
	if err != nil {
		if l.ctx.Err() == nil {
			silent := quiet(err) || hc.Evicted()
			l.drops.Failed(silent)
			level := slog.LevelWarn
			if silent {
				level = slog.LevelDebug
			}
			l.log.Log(context.Background(), level, l.scheme+": handshake failed", "addr", addr, "err", err)
		}
		return
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		c.Close()
	}
}

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
