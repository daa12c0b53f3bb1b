package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"
)

// smuxMuxer adapts an smux v2 session. smux sessions have no close frame, so
// closing the muxer closes the connection: the peer notices at once.
//
// smux's AcceptStream sets no finalizer on the streams it returns (the
// xtaci/smux#116 fix is in the pinned version), and every *smux.Stream is
// held by a *Stream for its whole life anyway, so no stream is ever closed
// by the garbage collector mid-copy.
type smuxMuxer struct {
	s     *smux.Session
	conn  net.Conn
	clock *clockedConn
}

// clockedConn records when bytes last arrived, for the link's dead-peer
// check: smux's own keepalive only looks once per timeout period, so it
// notices a silent peer between one and two timeouts late.
type clockedConn struct {
	net.Conn
	last atomic.Int64 // unix nanoseconds of the last read that returned bytes
}

func (c *clockedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// lastHeard returns when the peer last sent anything.
func (m *smuxMuxer) lastHeard() time.Time { return time.Unix(0, m.clock.last.Load()) }

func newSmux(c net.Conn, role Role, cfg *LinkConfig) (*smuxMuxer, error) {
	sc := smux.DefaultConfig()
	sc.Version = 2
	sc.MaxFrameSize = cfg.FrameSize
	sc.MaxReceiveBuffer = cfg.LinkBuffer
	sc.MaxStreamBuffer = cfg.StreamWindow
	if cfg.KeepAlive < 0 {
		sc.KeepAliveDisabled = true
	} else {
		sc.KeepAliveInterval = cfg.KeepAlive
		// The link's own check (Link.watchPeer) enforces the timeout;
		// smux's coarser one stays as a backstop.
		sc.KeepAliveTimeout = 2 * cfg.KeepAliveTimeout
	}
	// smux reads each frame's 8-byte header and its payload with two
	// reads; through a buffer, one syscall usually brings both (and the
	// frames behind them). Reads of whole large payloads bypass the buffer.
	clock := &clockedConn{Conn: c}
	clock.last.Store(time.Now().UnixNano())
	bc := &bufferedConn{Conn: c, r: bufio.NewReaderSize(clock, 16<<10)}
	var s *smux.Session
	var err error
	if role == Client {
		s, err = smux.Client(bc, sc)
	} else {
		s, err = smux.Server(bc, sc)
	}
	if err != nil {
		return nil, err
	}
	return &smuxMuxer{s: s, conn: c, clock: clock}, nil
}

// bufferedConn reads through a bufio.Reader, and offers smux the vectored
// write it looks for, so that smux keeps no 64 KiB write buffer per link:
// a frame's header and payload are joined in a pooled buffer and go out in
// one write (one TLS record on TLS). (A writev on TCP measured no faster
// than the copy.)
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 65535+8); return &b }}

// WriteBuffers writes v as one frame.
func (b *bufferedConn) WriteBuffers(v [][]byte) (int, error) {
	bp := framePool.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, p := range v {
		buf = append(buf, p...)
	}
	n, err := b.Conn.Write(buf)
	if cap(buf) <= 65535+8 {
		*bp = buf[:0]
		framePool.Put(bp)
	}
	return n, err
}

func (m *smuxMuxer) open(ctx context.Context) (rawStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := m.s.OpenStream()
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (m *smuxMuxer) accept() (rawStream, error) {
	st, err := m.s.AcceptStream()
	if err != nil {
		if errors.Is(err, smux.ErrInvalidProtocol) {
			// A frame with another version, an unknown command or a
			// wrong length: the peer broke the protocol.
			return nil, fmt.Errorf("%w: bad multiplexer frame (%w)", ErrProtocol, err)
		}
		return nil, err
	}
	return st, nil
}

func (m *smuxMuxer) close() error { return m.s.Close() }

// abort closes the connection only: smux's Session.Close would discard
// the data its streams buffered before the break.
func (m *smuxMuxer) abort() { _ = m.conn.Close() }
