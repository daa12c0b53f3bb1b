package hopwire

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

// Options configures Dial. nil means: the identity and known_nodes file
// in certs.Home(), no jump hops. Every hop must present the key
// known_nodes binds to its address ("hopwire trust --known FP NAME --addr
// HOST:PORT"), or to its name for an agent, or the one pinned in its
// address (tls://h:p#SHA256:…): a node trusted elsewhere on the chain
// cannot answer in its place.
type Options struct {
	// Via are the jump hops before the target, as with ssh -J
	// ("tls://r1:7443", "quic://10.0.2.2:7443", …).
	Via []string
	// Identity is presented to every hop; nil loads (or creates) the one
	// in Home.
	Identity *certs.Identity
	// Home is hopwire's directory (default certs.Home()).
	Home string
	// CA, if set, also trusts a peer whose certificate the CA issued to the
	// hop: its CommonName or a DNS name is the hop's name, or an IP address
	// the hop's address.
	CA string
	// Services are exposed to the target for its calls back.
	Services map[string]any
	// Logger receives per-hop logs; nil discards them.
	Logger *slog.Logger
}

// Client is an authenticated route to a node: its RPC session and
// connections exiting there. It is safe for concurrent use; Close ends it.
type Client struct {
	route *hop.Route
}

// Dial reaches target (a hop address) through opts.Via, authenticating
// every hop, and returns the route. ctx governs the setup only.
func Dial(ctx context.Context, target string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Home == "" {
		o.Home = certs.Home()
	}
	t, err := hop.Parse(target)
	if err != nil {
		return nil, err
	}
	var via []hop.Addr
	for _, v := range o.Via {
		a, err := hop.Parse(v)
		if err != nil {
			return nil, err
		}
		via = append(via, a)
	}
	id := o.Identity
	if id == nil {
		if id, err = certs.LoadOrCreate(o.Home, ""); err != nil {
			return nil, err
		}
	}
	known, err := certs.LoadFingerprints(filepath.Join(o.Home, certs.KnownNodesFile))
	if err != nil {
		return nil, err
	}
	trust := certs.Trust{Store: known}
	if o.CA != "" {
		if trust.Pool, err = certs.LoadPool(o.CA); err != nil {
			return nil, err
		}
	}
	d := &hop.Dialer{
		Identity: id,
		Trust:    func(hop.Addr) certs.Trust { return trust },
		Link:     &session.LinkConfig{Name: id.Name()},
		Session:  &session.Options{Services: o.Services},
		Logger:   o.Logger,
	}
	r, err := d.Dial(ctx, via, t)
	if err != nil {
		return nil, err
	}
	return &Client{route: r}, nil
}

// Conn returns the RPC session with the target.
func (c *Client) Conn() *session.Conn { return c.route.Target() }

// Hops returns the route's hops, the target last.
func (c *Client) Hops() []*hop.Hop { return c.route.Hops }

// DialContext opens a connection from the target to addr, as a net.Dialer
// whose packets leave from there: hand it to net/http, database drivers,
// anything that takes a dial function. The target's policy must grant it.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return c.route.DialContext(ctx, network, addr)
}

// Close ends the route.
func (c *Client) Close() error { return c.route.Close() }

// ServeOptions configures Serve: a node (see relay.Options).
type ServeOptions = relay.Options

// Serve runs a node until ctx ends.
func Serve(ctx context.Context, opts *ServeOptions) error {
	if opts == nil {
		return errors.New("hopwire: Serve needs options (at least a listener)")
	}
	srv, err := relay.New(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
