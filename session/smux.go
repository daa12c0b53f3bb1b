package session

import (
	"context"
	"net"

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
	s    *smux.Session
	conn net.Conn
}

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
		sc.KeepAliveTimeout = cfg.KeepAliveTimeout
	}
	var s *smux.Session
	var err error
	if role == Client {
		s, err = smux.Client(c, sc)
	} else {
		s, err = smux.Server(c, sc)
	}
	if err != nil {
		return nil, err
	}
	return &smuxMuxer{s: s, conn: c}, nil
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
		return nil, err
	}
	return st, nil
}

func (m *smuxMuxer) close() error { return m.s.Close() }

// abort closes the connection only: smux's Session.Close would discard
// the data its streams buffered before the break.
func (m *smuxMuxer) abort() { _ = m.conn.Close() }
