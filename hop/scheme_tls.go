package hop

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/hopwire/hopwire/session"
	htls "github.com/hopwire/hopwire/transport/tls"
)

// tls://: TLS 1.3 over TCP (over the previous hop's stream when there is
// one).
var tlsScheme = scheme{
	dial: func(ctx context.Context, d *Dialer, prev *Hop, a Addr, h *Hop) (*session.Link, error) {
		cfg, err := d.tlsConfig(a)
		if err != nil {
			return nil, err
		}
		if prev == nil {
			tc, err := htls.Dial(ctx, a.HostPort(), cfg)
			if err != nil {
				return nil, fmt.Errorf("handshake: %w", err)
			}
			return session.NewLink(tc, session.Client, d.linkConfig(d.peerOf(h, a, tc.ConnectionState())))
		}
		return tlsOver(ctx, d, h, a, cfg, func() (net.Conn, error) { return prev.dialTCP(ctx, a.HostPort()) })
	},
	listen: func(ctx context.Context, hostport string, cfg *ListenConfig) (Listener, error) {
		tc, err := cfg.serverTLS(true)
		if err != nil {
			return nil, err
		}
		ln, err := htls.ListenWith(ctx, hostport, tc, &htls.ListenerOptions{
			HandshakeTimeout: cfg.HandshakeTimeout, MaxHandshakes: cfg.MaxHandshakes, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		return &tlsListener{ln: ln, cfg: *cfg}, nil
	},
}

// tlsOver runs a TLS client handshake over the stream open returns, and a
// link over that.
func tlsOver(ctx context.Context, d *Dialer, h *Hop, a Addr, cfg *tls.Config, open func() (net.Conn, error)) (*session.Link, error) {
	c, err := open()
	if err != nil {
		return nil, err // the previous hop's refusal says why
	}
	tc, err := htls.Client(ctx, c, cfg)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	return session.NewLink(tc, session.Client, d.linkConfig(d.peerOf(h, a, tc.ConnectionState())))
}

type tlsListener struct {
	ln  *htls.Listener
	cfg ListenConfig
}

func (l *tlsListener) Accept(ctx context.Context) (Accepted, error) {
	c, err := l.ln.AcceptContext(ctx)
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{Conn: c, Peer: l.cfg.peerOf(c.ConnectionState()), Close: c.Close}, nil
}

func (l *tlsListener) Addr() net.Addr { return l.ln.Addr() }
func (l *tlsListener) Close() error   { return l.ln.Close() }
func (l *tlsListener) Stats() (int, map[string]uint64, bool) {
	st := l.ln.Stats()
	return st.PreAuth, st.Dropped, true
}
