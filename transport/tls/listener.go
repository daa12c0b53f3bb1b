package tls

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hopwire/hopwire/transport/internal/preauth"
)

// Defaults for [ListenerOptions].
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxHandshakes    = 64
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
	cfg *tls.Config // prepared
	pre *preauth.Listener[*tls.Conn]
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
	l := &Listener{cfg: c}
	l.pre = preauth.NewListener(inner, l.handshake, preauth.Options{
		Scheme:           Scheme,
		HandshakeTimeout: o.HandshakeTimeout,
		Max:              o.MaxHandshakes,
		Logger:           o.Logger.With("transport", Scheme, "listen", inner.Addr().String()),
	})
	return l, nil
}

// handshake runs the TLS server handshake over c, an admitted TCP conn.
func (l *Listener) handshake(ctx context.Context, c net.Conn) (*tls.Conn, error) {
	return handshake(ctx, tls.Server(&corkConn{Conn: c}, l.cfg), c)
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
	return l.pre.AcceptContext(ctx)
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

// Stats returns a snapshot of the connections that have not authenticated.
func (l *Listener) Stats() Stats { return Stats(l.pre.Stats()) }

// Addr returns the listener's network address.
func (l *Listener) Addr() net.Addr { return l.pre.Addr() }

// Close stops the listener: it closes the underlying listener, interrupts
// the handshakes in progress, closes authenticated conns not yet accepted,
// and waits for all of its goroutines to exit. It is idempotent; every call
// returns the result of closing the underlying listener.
func (l *Listener) Close() error { return l.pre.Close() }
