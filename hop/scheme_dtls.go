package hop

import (
	"context"
	"fmt"
	"net"

	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/transport/dtls"
)

// dtls://: DTLS 1.2 with hopwire's reliable stream on top; over a stream
// hop, its datagrams ride a CONNECT udp stream.
var dtlsScheme = scheme{
	dial: func(ctx context.Context, d *Dialer, prev *Hop, a Addr, h *Hop) (*session.Link, error) {
		cfg, err := d.tlsConfig(a)
		if err != nil {
			return nil, err
		}
		var dc *dtls.Conn
		if prev == nil {
			dc, err = dtls.Dial(ctx, a.HostPort(), cfg, nil)
		} else {
			var pc net.PacketConn
			var raddr net.Addr
			if pc, raddr, err = packetThrough(ctx, prev, a); err == nil {
				dc, err = dtls.DialPacket(ctx, pc, raddr, cfg, nil)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		return session.NewLink(dc, session.Client, d.linkConfig(d.peerOf(h, a, dc.ConnectionState())))
	},
	listen: func(ctx context.Context, hostport string, cfg *ListenConfig) (Listener, error) {
		tc, err := cfg.serverTLS(true)
		if err != nil {
			return nil, err
		}
		ln, err := dtls.Listen(hostport, tc, &dtls.Options{
			HandshakeTimeout: cfg.HandshakeTimeout, MaxHandshakes: cfg.MaxHandshakes, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		return &dtlsListener{ln: ln, cfg: *cfg}, nil
	},
}

type dtlsListener struct {
	ln  *dtls.Listener
	cfg ListenConfig
}

func (l *dtlsListener) Accept(ctx context.Context) (Accepted, error) {
	c, err := l.ln.AcceptContext(ctx)
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{Conn: c, Peer: l.cfg.peerOf(c.ConnectionState()), Close: c.Close}, nil
}

func (l *dtlsListener) Addr() net.Addr { return l.ln.Addr() }
func (l *dtlsListener) Close() error   { return l.ln.Close() }
func (l *dtlsListener) Stats() (int, map[string]uint64, bool) {
	st := l.ln.Stats()
	return st.PreAuth, st.Dropped, true
}
