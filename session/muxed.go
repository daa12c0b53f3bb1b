package session

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// Muxer is a connection whose transport multiplexes streams itself, such
// as a QUIC connection. Session declares it so that transports need not
// import session; transport/quic's connection satisfies it.
//
// The streams returned must be net.Conns that also have CloseWrite() error
// (end the write direction with a clean FIN, keep reading, like
// *net.TCPConn); Close must end both directions at once.
type Muxer interface {
	OpenStream(ctx context.Context) (net.Conn, error)
	AcceptStream(ctx context.Context) (net.Conn, error)
	Close() error
}

// NewMuxedLink builds a Link over a natively multiplexed connection,
// using its own streams instead of smux. The hello travels on the first
// stream the client opens, under cfg.HandshakeTimeout. Keepalives,
// stream windows and frame sizes are the transport's; the stream cap,
// the idle and half-close timeouts and the record layer are the same as
// NewLink's. On error m is closed; on success the Link owns m.
func NewMuxedLink(m Muxer, role Role, cfg *LinkConfig) (*Link, error) {
	conf := cfg.withDefaults()
	if err := conf.verify(); err != nil {
		m.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), conf.HandshakeTimeout)
	defer cancel()
	var first net.Conn
	var err error
	if role == Client {
		first, err = m.OpenStream(ctx)
	} else {
		first, err = m.AcceptStream(ctx)
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%w: hello stream: %w", ErrHandshake, err)
	}
	peer, err := handshake(first, role, &conf, wire.MuxNative)
	first.Close()
	if err != nil {
		m.Close()
		return nil, err
	}
	mm := &nativeMuxer{m: m, ctx: context.Background()}
	mm.ctx, mm.cancel = context.WithCancel(context.Background())
	return startLink(mm, role, &conf, peer), nil
}

type nativeMuxer struct {
	m      Muxer
	ctx    context.Context
	cancel context.CancelFunc
}

func asRaw(c net.Conn) (rawStream, error) {
	if r, ok := c.(rawStream); ok {
		return r, nil
	}
	c.Close()
	return nil, errors.New("session: muxer stream lacks CloseWrite")
}

func (n *nativeMuxer) open(ctx context.Context) (rawStream, error) {
	c, err := n.m.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	return asRaw(c)
}

func (n *nativeMuxer) accept() (rawStream, error) {
	c, err := n.m.AcceptStream(n.ctx)
	if err != nil {
		return nil, err
	}
	return asRaw(c)
}

func (n *nativeMuxer) close() error {
	n.cancel()
	return n.m.Close()
}

// abort closes the connection; native streams keep what they buffered
// only as far as the transport allows.
func (n *nativeMuxer) abort() { n.close() }
