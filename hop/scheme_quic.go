package hop

import (
	"context"
	"fmt"
	"net"

	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/transport/quic"
)

// quic://: QUIC's own streams (no smux); over a stream hop, its datagrams
// ride a CONNECT udp stream.
var quicScheme = scheme{
	dial: func(ctx context.Context, d *Dialer, prev *Hop, a Addr, h *Hop) (*session.Link, error) {
		cfg, err := d.tlsConfig(a)
		if err != nil {
			return nil, err
		}
		var qc *quic.Conn
		if prev == nil {
			qc, err = quic.Dial(ctx, a.HostPort(), cfg, nil)
		} else {
			var pc net.PacketConn
			var raddr net.Addr
			if pc, raddr, err = packetThrough(ctx, prev, a); err == nil {
				qc, err = quic.DialPacket(ctx, pc, raddr, cfg, nil)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		return session.NewMuxedLink(qc, session.Client, d.linkConfig(d.peerOf(h, a, qc.ConnectionState())))
	},
	listen: func(ctx context.Context, hostport string, cfg *ListenConfig) (Listener, error) {
		tc, err := cfg.serverTLS(true)
		if err != nil {
			return nil, err
		}
		ln, err := quic.Listen(hostport, tc, nil)
		if err != nil {
			return nil, err
		}
		return &quicListener{ln: ln, cfg: *cfg}, nil
	},
}

type quicListener struct {
	ln  *quic.Listener
	cfg ListenConfig
}

func (l *quicListener) Accept(ctx context.Context) (Accepted, error) {
	qc, err := l.ln.Accept(ctx)
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{Muxed: qc, Peer: l.cfg.peerOf(qc.ConnectionState()), Close: qc.Close}, nil
}

func (l *quicListener) Addr() net.Addr                        { return l.ln.Addr() }
func (l *quicListener) Close() error                          { return l.ln.Close() }
func (l *quicListener) Stats() (int, map[string]uint64, bool) { return noStats() }
