package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	qgo "github.com/quic-go/quic-go"
)

// ALPN is the application protocol hopwire negotiates when the caller's
// config names none.
const ALPN = "hopwire/1"

// Options tunes a QUIC connection. nil means defaults.
type Options struct {
	// HandshakeTimeout bounds the QUIC and TLS handshake (default 10s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection silent this long (default 30s);
	// KeepAlive sends pings this often (default 10s).
	IdleTimeout time.Duration
	KeepAlive   time.Duration
	// MaxStreams caps the peer's concurrent streams (default 1024): QUIC
	// makes a peer beyond it wait, it costs us nothing.
	MaxStreams int64
}

func (o *Options) config() *qgo.Config {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Second
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 10 * time.Second
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 1024
	}
	return &qgo.Config{
		HandshakeIdleTimeout:       opts.HandshakeTimeout,
		MaxIdleTimeout:             opts.IdleTimeout,
		KeepAlivePeriod:            opts.KeepAlive,
		MaxIncomingStreams:         opts.MaxStreams,
		MaxIncomingUniStreams:      -1,
		InitialStreamReceiveWindow: 512 << 10,
		MaxStreamReceiveWindow:     6 << 20,
		MaxConnectionReceiveWindow: 15 << 20,
	}
}

func tlsConfig(cfg *tls.Config) (*tls.Config, error) {
	if cfg == nil {
		return nil, errors.New("quic: nil tls.Config")
	}
	c := cfg.Clone()
	c.MinVersion = tls.VersionTLS13
	c.MaxVersion = tls.VersionTLS13
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{ALPN}
	}
	return c, nil
}

// Conn is an authenticated QUIC connection. It satisfies session.Muxer.
// It is safe for concurrent use; Close closes it and the socket it owns.
type Conn struct {
	qc      *qgo.Conn
	tr      *qgo.Transport // owned when not nil
	closeMu sync.Once
}

// Dial connects to addr over a new UDP socket and completes the handshake
// under ctx.
func Dial(ctx context.Context, addr string, cfg *tls.Config, opts *Options) (*Conn, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quic: dial %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("quic: dial %s: %w", addr, err)
	}
	return DialPacket(ctx, udp, raddr, cfg, opts)
}

// DialPacket runs QUIC over pc, to raddr, and completes the handshake
// under ctx. The Conn owns pc from then on (on error pc is closed).
func DialPacket(ctx context.Context, pc net.PacketConn, raddr net.Addr, cfg *tls.Config, opts *Options) (*Conn, error) {
	tc, err := tlsConfig(cfg)
	if err != nil {
		pc.Close()
		return nil, err
	}
	tr := &qgo.Transport{Conn: pc}
	qc, err := tr.Dial(ctx, raddr, tc, opts.config())
	if err != nil {
		tr.Close()
		pc.Close()
		return nil, fmt.Errorf("quic: dial %s: %w", raddr, err)
	}
	return &Conn{qc: qc, tr: tr}, nil
}

// ConnectionState returns the TLS state: the verified peer is in
// PeerCertificates.
func (c *Conn) ConnectionState() tls.ConnectionState { return c.qc.ConnectionState().TLS }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.qc.LocalAddr() }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.qc.Context().Done() }

// OpenStream opens a bidirectional stream, waiting under ctx while the
// peer's stream limit is reached.
func (c *Conn) OpenStream(ctx context.Context) (net.Conn, error) {
	s, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return &Stream{s: s, c: c}, nil
}

// AcceptStream waits for the peer's next stream.
func (c *Conn) AcceptStream(ctx context.Context) (net.Conn, error) {
	s, err := c.qc.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return &Stream{s: s, c: c}, nil
}

// Close closes the connection (the peer sees it at once) and the socket it
// owns. It is idempotent.
func (c *Conn) Close() error {
	c.closeMu.Do(func() {
		c.qc.CloseWithError(0, "")
		if c.tr != nil {
			c.tr.Close()
			c.tr.Conn.Close()
		}
	})
	return nil
}

// Stream is one QUIC stream as a net.Conn. Unlike quic-go's Close, which
// ends only the send side, Close here ends both directions; CloseWrite is
// the half-close.
type Stream struct {
	s *qgo.Stream
	c *Conn
}

func (s *Stream) Read(p []byte) (int, error)  { return s.s.Read(p) }
func (s *Stream) Write(p []byte) (int, error) { return s.s.Write(p) }

// CloseWrite ends the send side with a FIN; reading goes on.
func (s *Stream) CloseWrite() error { return s.s.Close() }

// Close ends both directions.
func (s *Stream) Close() error {
	s.s.CancelRead(0)
	return s.s.Close()
}

// Reset ends both directions abruptly (RESET_STREAM and STOP_SENDING):
// a Write blocked on flow control returns at once, and data not yet
// delivered is discarded.
func (s *Stream) Reset() {
	s.s.CancelWrite(0)
	s.s.CancelRead(0)
}

// LocalAddr returns the connection's local address.
func (s *Stream) LocalAddr() net.Addr { return s.c.LocalAddr() }

// RemoteAddr returns the connection's remote address.
func (s *Stream) RemoteAddr() net.Addr { return s.c.RemoteAddr() }

// SetDeadline sets both deadlines.
func (s *Stream) SetDeadline(t time.Time) error { return s.s.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.s.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.s.SetWriteDeadline(t) }

// Listener accepts QUIC connections.
type Listener struct {
	ln *qgo.Listener
	tr *qgo.Transport
	pc net.PacketConn

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
}

// Listen listens on the UDP address addr.
func Listen(addr string, cfg *tls.Config, opts *Options) (*Listener, error) {
	laddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quic: listen %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("quic: listen %s: %w", addr, err)
	}
	return ListenPacket(udp, cfg, opts)
}

// ListenPacket accepts QUIC connections arriving on pc, which the Listener
// then owns.
func ListenPacket(pc net.PacketConn, cfg *tls.Config, opts *Options) (*Listener, error) {
	tc, err := tlsConfig(cfg)
	if err != nil {
		pc.Close()
		return nil, err
	}
	tr := &qgo.Transport{Conn: pc}
	ln, err := tr.Listen(tc, opts.config())
	if err != nil {
		tr.Close()
		pc.Close()
		return nil, fmt.Errorf("quic: listen: %w", err)
	}
	return &Listener{ln: ln, tr: tr, pc: pc, conns: make(map[*Conn]struct{})}, nil
}

// Accept waits for the next authenticated connection.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	qc, err := l.ln.Accept(ctx)
	if err != nil {
		return nil, err
	}
	c := &Conn{qc: qc}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	go func() {
		<-qc.Context().Done()
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
	}()
	return c, nil
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops listening and closes every connection it accepted.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	conns := make([]*Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	err := l.ln.Close()
	l.tr.Close()
	l.pc.Close()
	return err
}
