package hopwire

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
	hssh "github.com/hopwire/hopwire/transport/ssh"
)

// Options configures Dial. nil means: the identity and known_nodes file
// in certs.Home(), no jump hops. Every hop must present the key
// known_nodes binds to its address ("hopwire trust --known FP NAME --addr
// HOST:PORT"), or to its name for an agent, or the one pinned in its
// address (tls://h:p#SHA256:…): a node trusted elsewhere on the chain
// cannot answer in its place. The hopwire command builds its routes from
// these options too, so a program and the CLI dial alike.
type Options struct {
	// Via are the jump hops before the target, as with ssh -J
	// ("tls://r1:7443", "quic://10.0.2.2:7443", …). DialChain takes them
	// parsed instead and ignores Via.
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
	// Services are exposed to the target for its calls back (they replace
	// Session.Services when set).
	Services map[string]any
	// Errors registers application sentinels by wire code on every hop's
	// session (added to Session.Errors), so that errors.Is sees through a
	// remote error to them; the node registers the same codes
	// (ServeOptions.Session.Errors).
	Errors map[string]error
	// Session are the base options of every hop's RPC session (for
	// instance an Accept for streams the target opens back); nil: defaults.
	Session *session.Options
	// Link configures every hop's link (keepalive, idle timeout, buffer
	// sizes); nil: defaults. An empty Name is the identity's name.
	// KeepAlive and KeepAliveTimeout set how soon a dead or blackholed
	// path is noticed (by default a keepalive every 10 s, dead after 30 s
	// of silence): &session.LinkConfig{KeepAlive: 2 * time.Second,
	// KeepAliveTimeout: 6 * time.Second} notices it in about 6 s.
	Link *session.LinkConfig
	// SSH are the options of ssh:// hops (identity files, known_hosts,
	// the ssh configuration file); nil: the user's ~/.ssh setup.
	SSH *hssh.ClientOptions
	// Prefixes, if set, shares via hops between the routes dialed with
	// it while they are up (hop.Prefixes): a program that reaches many
	// targets behind the same relays opens one link per relay.
	Prefixes *hop.Prefixes
	// OneLink keeps the connections of DialContext on the target's RPC
	// link instead of a second link of their own (hop.Dialer.OneLink):
	// one link per client, but calls then queue behind bulk data on
	// those connections at every relay.
	OneLink bool
	// BulkFirst keeps the connections of DialContext at full speed while
	// the program makes calls (hop.Dialer.BulkFirst). By default what
	// they send gives way to the calls: it is paced while calls run, so
	// that the calls stay near an idle connection's speed.
	BulkFirst bool
	// NoUpload forbids uploading this binary to an ssh:// target that
	// lacks hopwire.
	NoUpload bool
	// ConnectTimeout bounds the setup of the whole chain (and of each
	// redial) on top of ctx; 0 means 15 seconds.
	ConnectTimeout time.Duration
	// Redial makes the Client dial the chain again when it breaks: the
	// next DialContext or Listen after a break sets up a new route
	// (Conn and Route return the newest). Without it a broken Client
	// stays broken.
	Redial bool
	// OnRetry, with Redial, hears each failed attempt to bring back what
	// a break took (a listener re-opening on the redialed route) before
	// the next try; nil logs it to Logger.
	OnRetry func(err error)
	// Logger receives per-hop logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConnectTimeout bounds a chain's setup when Options.ConnectTimeout
// is zero.
const DefaultConnectTimeout = 15 * time.Second

// NewDialer returns the chain dialer the options describe: identity,
// trust (known_nodes in Home, and CA), link, session and ssh options. Dial
// and DialChain use it; programs that drive a hop.Dialer themselves (a
// reverse agent, for one) start from it.
func NewDialer(opts *Options) (*hop.Dialer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Home == "" {
		o.Home = certs.Home()
	}
	id := o.Identity
	if id == nil {
		var err error
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
	var link session.LinkConfig
	if o.Link != nil {
		link = *o.Link
	}
	if link.Name == "" {
		link.Name = id.Name()
	}
	var sess *session.Options
	if o.Session != nil || o.Services != nil || o.Errors != nil {
		s := session.Options{}
		if o.Session != nil {
			s = *o.Session
		}
		if o.Services != nil {
			s.Services = o.Services
		}
		if o.Errors != nil {
			errs := make(map[string]error, len(s.Errors)+len(o.Errors))
			maps.Copy(errs, s.Errors)
			maps.Copy(errs, o.Errors)
			s.Errors = errs
		}
		sess = &s
	}
	d := &hop.Dialer{
		Identity:  id,
		Trust:     func(hop.Addr) certs.Trust { return trust },
		Link:      &link,
		Session:   sess,
		Logger:    o.Logger,
		SSH:       o.SSH,
		NoUpload:  o.NoUpload,
		Prefixes:  o.Prefixes,
		OneLink:   o.OneLink,
		BulkFirst: o.BulkFirst,
	}
	if d.SSH != nil && d.SSH.Logger == nil {
		s := *d.SSH
		s.Logger = o.Logger
		d.SSH = &s
	}
	return d, nil
}

// Client is an authenticated route to a node: its RPC session and
// connections exiting there. It is safe for concurrent use; Close ends it.
type Client struct {
	rd      *hop.Redialer
	redial  bool
	onRetry func(error)
}

// Dial reaches target (a hop address) through opts.Via, authenticating
// every hop, and returns the route. ctx governs the setup only.
func Dial(ctx context.Context, target string, opts *Options) (*Client, error) {
	t, err := hop.Parse(target)
	if err != nil {
		return nil, err
	}
	var via []hop.Addr
	if opts != nil {
		for _, v := range opts.Via {
			a, err := hop.Parse(v)
			if err != nil {
				return nil, err
			}
			via = append(via, a)
		}
	}
	return DialChain(ctx, via, t, opts)
}

// DialChain is Dial with the hops already parsed (hop.ParseChain): via,
// then the target. opts.Via is ignored. A failure names the hop that
// failed (a *hop.Error).
func DialChain(ctx context.Context, via []hop.Addr, target hop.Addr, opts *Options) (*Client, error) {
	d, err := NewDialer(opts)
	if err != nil {
		return nil, err
	}
	timeout := DefaultConnectTimeout
	var redial bool
	if opts != nil {
		redial = opts.Redial
		if opts.ConnectTimeout > 0 {
			timeout = opts.ConnectTimeout
		}
	}
	dial := func(ctx context.Context) (*hop.Route, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return d.Dial(ctx, via, target)
	}
	r, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	c := &Client{rd: hop.NewRedialer(r, dial), redial: redial}
	if opts != nil {
		c.onRetry = opts.OnRetry
		if c.onRetry == nil && opts.Logger != nil {
			log := opts.Logger
			c.onRetry = func(err error) { log.Warn("retrying after the route broke", "err", err) }
		}
	}
	return c, nil
}

// route returns the route calls go through: with Redial, a fresh one once
// the current one broke.
func (c *Client) route(ctx context.Context) (*hop.Route, error) {
	if c.redial {
		return c.rd.Route(ctx)
	}
	if r := c.rd.Current(); r != nil {
		return r, nil
	}
	return nil, hop.ErrRedialerClosed
}

// Route returns the current route (its hops, its target session, Listen,
// DialPacket); nil after Close.
func (c *Client) Route() *hop.Route { return c.rd.Current() }

// Conn returns the RPC session with the target; nil after Close.
func (c *Client) Conn() *session.Conn {
	if r := c.Route(); r != nil {
		return r.Target()
	}
	return nil
}

// Hops returns the route's hops, the target last.
func (c *Client) Hops() []*hop.Hop {
	if r := c.Route(); r != nil {
		return r.Hops
	}
	return nil
}

// DialContext opens a connection from the target to addr, as a net.Dialer
// whose packets leave from there: hand it to net/http, database drivers,
// anything that takes a dial function. The target's policy must grant it;
// a refusal is the dial's error (errors.Is(err, session.ErrDenied)).
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r, err := c.route(ctx)
	if err != nil {
		return nil, err
	}
	return r.DialContext(ctx, network, addr)
}

// Listen asks the target to listen on addr (a local IP:PORT there) and
// returns a listener of the connections it accepts, as ssh -R: the target's
// policy must grant forward-remote (a refusal is Listen's error,
// errors.Is(err, session.ErrDenied)). Without Redial the listener ends with
// the route; with it, the listener follows the route across breaks: after
// one, Accept redials and listens again (see hop.Redialer.ListenFollow).
func (c *Client) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	if c.redial {
		return c.rd.ListenFollow(ctx, network, addr, c.onRetry)
	}
	r, err := c.route(ctx)
	if err != nil {
		return nil, err
	}
	return r.Listen(ctx, network, addr)
}

// Peer is who the target is, as this side verified it: its principal,
// key fingerprint, announced name and hopwire version.
func (c *Client) Peer() session.Peer {
	if conn := c.Conn(); conn != nil {
		return conn.Link().Peer()
	}
	return session.Peer{}
}

// Done is closed when the current route ends.
func (c *Client) Done() <-chan struct{} {
	if r := c.Route(); r != nil {
		return r.Done()
	}
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Close ends the route.
func (c *Client) Close() error { return c.rd.Close() }

// ServeOptions configures Serve: a node (see relay.Options).
type ServeOptions = relay.Options

// Node is a running node (see Start).
type Node = relay.Server

// Start runs a node in the background until ctx ends or Close: its
// listeners are up when Start returns, and Addrs says where they bound
// (a listener on port 0 gets a free port).
func Start(ctx context.Context, opts *ServeOptions) (*Node, error) {
	if opts == nil {
		return nil, errors.New("hopwire: Start needs options (at least a listener)")
	}
	srv, err := relay.New(opts)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		srv.Close()
		return nil, err
	}
	context.AfterFunc(ctx, func() { srv.Close() })
	return srv, nil
}

// Serve runs a node until ctx ends.
func Serve(ctx context.Context, opts *ServeOptions) error {
	srv, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	<-ctx.Done()
	return nil
}
