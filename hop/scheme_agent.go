package hop

import (
	"context"
	"errors"
	"net"

	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
)

// NAME: an agent registered at the previous relay, reached by a CONNECT
// agent stream and authenticated end to end by TLS inside it.
var agentScheme = scheme{
	dial: func(ctx context.Context, d *Dialer, prev *Hop, a Addr, h *Hop) (*session.Link, error) {
		if prev == nil {
			return nil, errors.New("an agent name needs a relay before it in the chain")
		}
		cfg, err := d.tlsConfig(a)
		if err != nil {
			return nil, err
		}
		pl, err := prev.link("an agent connection")
		if err != nil {
			return nil, err
		}
		h.Transport = "agent"
		return tlsOver(ctx, d, h, a, cfg, func() (net.Conn, error) {
			return connect.Open(ctx, pl, &connect.Request{Network: connect.Agent, Address: a.Name})
		})
	},
}
