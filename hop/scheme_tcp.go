package hop

import (
	"context"
	"net"

	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/transport/tcp"
)

// tcp://: no authentication; loopback only unless InsecureTCP.
var tcpScheme = scheme{
	dial: func(ctx context.Context, d *Dialer, prev *Hop, a Addr, h *Hop) (*session.Link, error) {
		var c net.Conn
		var err error
		if prev == nil {
			c, err = tcp.Dial(ctx, a.HostPort(), &tcp.Options{Insecure: d.InsecureTCP})
		} else {
			c, err = prev.dialTCP(ctx, a.HostPort())
		}
		if err != nil {
			return nil, err
		}
		return session.NewLink(c, session.Client, d.linkConfig(session.Peer{}))
	},
	listen: func(ctx context.Context, hostport string, cfg *ListenConfig) (Listener, error) {
		ln, err := tcp.Listen(ctx, hostport, &tcp.Options{Insecure: cfg.InsecureTCP})
		if err != nil {
			return nil, err
		}
		return tcpListener{ln}, nil
	},
}

type tcpListener struct{ net.Listener }

func (l tcpListener) Accept(context.Context) (Accepted, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return Accepted{}, err
	}
	return Accepted{Conn: c, Close: c.Close}, nil
}

func (l tcpListener) Stats() (int, map[string]uint64, bool) { return noStats() }
