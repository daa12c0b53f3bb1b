package hop

import (
	"context"
	"fmt"
	"net"

	"github.com/hopwire/hopwire/internal/shell"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
	"github.com/hopwire/hopwire/transport/stdio"
)

// stdio:COMMAND: a link over a spawned command's stdin and stdout: here
// when first, on an OpenSSH host over an exec channel, or on a hopwire
// node under its exec grant.
var stdioScheme = scheme{
	dial: func(ctx context.Context, d *Dialer, prev *Hop, a Addr, h *Hop) (*session.Link, error) {
		var c net.Conn
		var err error
		var said stdio.Tail // what a local command says on stderr, for its failure
		switch {
		case prev == nil:
			c, err = stdio.Spawn(ctx, a.Command, &stdio.SpawnOptions{Stderr: said.Add})
		case prev.Conn == nil:
			c, err = prev.SSH.Exec(ctx, shell.Join(a.Command))
		default:
			c, err = connect.Open(ctx, prev.Conn.Link(), &connect.Request{Network: connect.Exec, Address: a.Command[0], Args: a.Command[1:]})
		}
		if err != nil {
			return nil, err
		}
		// A spawned process is as trusted as whoever spawned it.
		l, err := session.NewLink(c, session.Client, d.linkConfig(session.Peer{Principal: "stdio:" + a.Command[0]}))
		if err != nil {
			c.Close() // waits for the child's last words on stderr
			if s := said.String(); s != "" {
				// sudo, docker exec and the like say why on stderr:
				// that, not "read hello: EOF", is the reason.
				return nil, fmt.Errorf("%s: %s (%w)", a.Command[0], s, err)
			}
			return nil, err
		}
		return l, nil
	},
}
