package hop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
	hssh "github.com/hopwire/hopwire/transport/ssh"
)

// Dialer dials chains of hops. Its fields are set once (by cmd or the
// hopwire facade) and not changed after; a Dialer is then safe for
// concurrent use.
type Dialer struct {
	// Identity is presented to every hop.
	Identity *certs.Identity
	// Trust says how to verify hop a. The dialer binds it to the hop: it
	// sets Trust.Addr to a's HOST:PORT (and Trust.Name to an agent's name)
	// unless the function set them, so a node trusted somewhere else on
	// the chain cannot answer here; a fingerprint pinned in the address
	// replaces every other way of trusting the hop. Required for tls,
	// quic, dtls and agent hops.
	Trust func(a Addr) certs.Trust
	// InsecureTCP allows tcp:// hops that are not on loopback.
	InsecureTCP bool
	// Link and Session are the base configurations of every hop's link
	// and RPC session (nil: defaults).
	Link    *session.LinkConfig
	Session *session.Options
	// Logger receives per-hop logs; nil discards them.
	Logger *slog.Logger
	// SSH are the base options of ssh:// hops (keys, known_hosts, the ssh
	// configuration file); nil: the user's ~/.ssh setup.
	SSH *hssh.ClientOptions
	// NoUpload forbids uploading this binary to an ssh:// target that
	// lacks hopwire.
	NoUpload bool
	// Prefixes, if set, shares the via hops of the routes this dialer
	// dials while they are up: routes through the same via chain ride
	// one link per hop of it (see [Prefixes]).
	Prefixes *Prefixes
	// OneLink keeps a route's connections (Route.DialContext) on the
	// target's RPC link instead of a data link of their own (see
	// Route.DialContext): one link per route, at the cost of RPC calls
	// queueing behind bulk connections at every relay.
	OneLink bool
	// BulkFirst keeps a route's connections at full speed while the route
	// makes calls. By default they give way (session.Link.YieldTo): while
	// calls run, the data link's writes are paced so that the calls' round
	// trips stay near an idle route's, which on a machine whose CPU the
	// transfer saturates costs the transfer most of its speed for as long
	// as calls run.
	BulkFirst bool
}

// RefusedByPeer reports whether err says that the node refused this
// side's certificate: the key is not authorized there. (With TLS 1.3 a
// client learns it at its first read, as the alert the node sent.)
func RefusedByPeer(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"tls: bad certificate", "tls: certificate required", "tls: unknown certificate authority", "tls: unknown certificate"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Error reports which hop of a chain failed.
type Error struct {
	Index int // 1-based
	Addr  Addr
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("hop %d (%s): %v", e.Index, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// HopError is the old name of [Error].
//
// Deprecated: use Error.
type HopError = Error

// Hop is one established hop of a route.
type Hop struct {
	Addr      Addr
	Transport string        // how the hop was reached: tls, quic, ssh, ssh+stdio, agent, …
	Peer      session.Peer  // who answered, as authenticated
	Verified  string        // how its identity was checked: pinned, known, ca (certs.By…), ssh, or "" (tcp, stdio)
	Conn      *session.Conn // the RPC session with the hop; nil for a plain SSH bastion
	SSH       *hssh.Client  // the SSH connection of an ssh:// hop
	Setup     time.Duration // from the start of its dial to its session
}

// close closes the hop's session and SSH connection.
func (h *Hop) close() {
	if h.Conn != nil {
		h.Conn.Close()
	}
	if h.SSH != nil {
		h.SSH.Close()
	}
}

// settle waits (briefly) until what was sent on the hop's link so far
// has reached the hop: one ping round trip. A quic or dtls hop behind it
// says goodbye in a datagram that travels over this link; closing the
// link at once could drop it, and the node behind would hold the dead
// link until its idle timeout.
func (h *Hop) settle() {
	if h.Conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	h.Conn.Link().Ping(ctx)
}

// dialTCP reaches addr from this hop: a connect stream on a hopwire hop,
// direct-tcpip through an SSH bastion.
func (h *Hop) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if h.Conn == nil {
		return h.SSH.DialContext(ctx, "tcp", addr)
	}
	return connect.Dial(ctx, h.Conn.Link(), "tcp", addr)
}

// link returns the hop's link, or an error for a plain SSH bastion, which
// can only forward TCP.
func (h *Hop) link(what string) (*session.Link, error) {
	if h.Conn == nil {
		return nil, fmt.Errorf("an OpenSSH bastion cannot carry %s: put a hopwire node after it", what)
	}
	return h.Conn.Link(), nil
}

// Route is a chain of established hops; the last is the target. It is safe
// for concurrent use; Close tears the hops down, last first.
type Route struct {
	Hops []*Hop
	once sync.Once
	rev  reverse // remote listeners (Listen)
	// A route dialed through shared via hops (Dialer.Prefixes) owns its
	// hops from index shared on; release gives the shared ones back.
	shared  int
	release func()
	data    dataLink
}

// dataLink is a route's second end-to-end link with its target, which
// carries the route's connections (DialContext) so that they never stand
// between the route's RPC calls and the target.
//
// Why a link of their own: a relay carries each end-to-end link as one
// stream of its own links, and a stream is a FIFO the relay cannot look
// into (it sees only ciphertext). A call sent while a connection of the
// same link moves bulk data waits at every relay behind up to a stream
// window of that data (1 MiB; milliseconds at hundreds of MB/s), and on a
// direct link behind the socket buffers. On a link of their own the
// connections are another stream at each relay, which the relay's
// multiplexer serves in turn with the RPC link's frames, and other
// socket buffers on a direct link: the median of null calls beside a
// 256 MiB transfer through two relays in one process fell from 11.4× an
// idle session's to 6.5× (BenchmarkRPCUnderBulk; what is left is the CPU
// the transfer takes). The cost is a handshake with the target
// (through the route's hops, which are shared) when the route's first
// connection is dialled, and one more link at the target while the route
// lives. Routes whose target is not a tls or agent hop keep one link.
type dataLink struct {
	rd *Redialer // nil: connections use the RPC link

	mu     sync.Mutex
	failed time.Time // the last dial failed at; not tried again before dataRetry
}

// dataRetry is how long a route whose data link could not be opened
// keeps its connections on the RPC link before it tries again.
const dataRetry = 30 * time.Second

// errDataLater: the data link failed less than dataRetry ago.
var errDataLater = errors.New("hop: the data link failed lately")

// dial is the data link's Redialer's dial: open, unless it failed lately.
func (dl *dataLink) dial(ctx context.Context, open func(context.Context) (*Route, error), log *slog.Logger) (*Route, error) {
	dl.mu.Lock()
	lately := !dl.failed.IsZero() && time.Since(dl.failed) < dataRetry
	dl.mu.Unlock()
	if lately {
		return nil, errDataLater
	}
	r, err := open(ctx)
	if err != nil && ctx.Err() == nil {
		dl.mu.Lock()
		dl.failed = time.Now()
		dl.mu.Unlock()
		log.Info("connections of this route share its RPC link: their own link did not open", "err", err, "retry", dataRetry)
	}
	return r, err
}

// link returns the data link, opening it on first use (one dial at a
// time, and again when it broke); nil: use the RPC link (none wanted,
// the dial failed, or the route is closing).
func (dl *dataLink) link(ctx context.Context) *session.Link {
	if dl.rd == nil {
		return nil
	}
	r, err := dl.rd.Route(ctx)
	if err != nil {
		return nil
	}
	return r.Target().Link()
}

// close closes the data link and stops new ones.
func (dl *dataLink) close() {
	if dl.rd != nil {
		dl.rd.Close()
	}
}

// Target returns the RPC session with the target (the last hop).
func (r *Route) Target() *session.Conn { return r.Hops[len(r.Hops)-1].Conn }

// Close closes every hop, the target first (hops shared with other
// routes, see Dialer.Prefixes, once the last route using them closes).
func (r *Route) Close() error {
	r.once.Do(func() {
		r.data.close()
		for i := len(r.Hops) - 1; i >= r.shared; i-- {
			r.Hops[i].close()
			if i > r.shared && (r.Hops[i].Transport == "quic" || r.Hops[i].Transport == "dtls") {
				r.Hops[i-1].settle()
			}
		}
		if r.release != nil {
			r.release()
		}
	})
	return nil
}

// Done is closed when any hop of the route is gone.
func (r *Route) Done() <-chan struct{} { return r.Target().Done() }

// DialContext opens a connection from the target to addr ("tcp" or
// "udp"), like a net.Dialer whose packets leave from the target. The
// target's policy decides whether it may, and DialContext returns only
// after its verdict (when the target announces connect verdicts, as
// hopwire nodes from this version on do): a refusal is DialContext's
// error, matching session.ErrDenied for a policy refusal, so net/http and
// database drivers see a failed dial, not a failed read. That costs one
// round trip to the target before the first byte, as ssh's channel open
// confirmation does. ctx governs the dial and the wait.
//
// The connections ride a second link with the target, opened by the
// first DialContext (see dataLink; Dialer.OneLink turns it off), so that
// bulk data on them does not delay the route's RPC calls; where that link
// cannot be opened they share the RPC link. While the route makes calls,
// what its connections send is paced so that the calls stay near the
// speed of an idle route (see session.Link.YieldTo; Dialer.BulkFirst
// turns it off); what the far side sends on them is not.
func (r *Route) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	l := r.Target().Link()
	select {
	case <-r.Done():
		// A broken route stays broken: its connections fail as its
		// calls do (a Redialer dials a new route).
	default:
		if dl := r.data.link(ctx); dl != nil {
			l = dl
		}
	}
	return connect.Dial(ctx, l, network, addr)
}

// Dial reaches target through via, hop by hop: each hop after the first is
// dialed through the previous one, and each is authenticated by this side.
// ctx governs the setup; the returned Route lives until closed. A failure
// is a *Error naming the hop.
func (d *Dialer) Dial(ctx context.Context, via []Addr, target Addr) (*Route, error) {
	all, err := d.expandProxyJumps(append(append([]Addr(nil), via...), target))
	if err != nil {
		return nil, err
	}
	r := &Route{}
	if d.Prefixes != nil && len(all) > 1 {
		base, release, err := d.Prefixes.acquire(ctx, d, all[:len(all)-1])
		if err != nil {
			return nil, err
		}
		r.Hops, r.shared, r.release = slices.Clone(base.Hops), len(base.Hops), release
	}
	// Every hop's session hands the route the reverse streams of its
	// remote listeners (Route.Listen), and the rest to d.Session's Accept.
	dd := *d
	dd.Session = r.sessionOptions(d.Session)
	d = &dd
	for i := len(r.Hops); i < len(all); i++ {
		a := all[i]
		start := time.Now()
		var prev *Hop
		if i > 0 {
			prev = r.Hops[i-1]
		}
		h, err := d.dialHop(ctx, prev, a, i == len(all)-1)
		if err == nil {
			err = sameKeyAsEarlier(r.Hops, h)
			if err != nil {
				h.close()
			}
		}
		if err != nil {
			r.Close()
			return nil, &Error{Index: i + 1, Addr: a, Err: err}
		}
		h.Setup = time.Since(start)
		r.Hops = append(r.Hops, h)
		if h.Verified == certs.ByUnbound {
			d.logger().Warn("hop trusted by a known_nodes entry without an address; bind it to the hop",
				"hop", i+1, "addr", a.String(), "fp", h.Peer.Fingerprint, "run", "hopwire trust --known "+h.Peer.Fingerprint+" NAME --addr "+a.HostPort())
		}
		d.logger().Debug("hop up", "hop", i+1, "addr", a.String(), "peer", h.Peer.Name, "setup", h.Setup)
	}
	if target := all[len(all)-1]; !d.OneLink && (target.Scheme == "tls" || target.Scheme == "") {
		log := d.logger()
		r.data.rd = NewRedialer(nil, func(ctx context.Context) (*Route, error) {
			return r.data.dial(ctx, func(ctx context.Context) (*Route, error) { return d.dataRoute(ctx, r, target) }, log)
		})
	}
	return r, nil
}

// dataRoute dials a second link with r's target, through the same hops,
// for its data link: a route that shares r's hops before the target and
// owns only its last. The target must answer with the key it answered
// the route's RPC link with.
func (d *Dialer) dataRoute(ctx context.Context, r *Route, target Addr) (*Route, error) {
	n := len(r.Hops)
	var prev *Hop
	if n > 1 {
		prev = r.Hops[n-2]
	}
	h, err := d.dialHop(ctx, prev, target, true)
	if err != nil {
		return nil, err
	}
	if want := r.Hops[n-1].Peer.Fingerprint; h.Peer.Fingerprint != want {
		h.close()
		return nil, fmt.Errorf("the target answered a second link with key %s, not %s", h.Peer.Fingerprint, want)
	}
	// The connections give way to the route's calls (calls first).
	if !d.BulkFirst {
		h.Conn.Link().YieldTo(r.Target())
	}
	return &Route{Hops: append(slices.Clip(r.Hops[:n-1]), h), shared: n - 1}, nil
}

func (d *Dialer) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func (d *Dialer) dialHop(ctx context.Context, prev *Hop, a Addr, last bool) (*Hop, error) {
	sc, ok := lookupScheme(a.Scheme)
	if !ok {
		return nil, fmt.Errorf("scheme %q is not supported by this build", a.Scheme)
	}
	if sc.dialHop != nil {
		return sc.dialHop(ctx, d, prev, a, last)
	}
	h := &Hop{Addr: a, Transport: a.Scheme}
	l, err := sc.dial(ctx, d, prev, a, h)
	if err != nil {
		return nil, err
	}
	return d.finishHop(ctx, h, l)
}

// finishHop starts the RPC session on a hop's link.
func (d *Dialer) finishHop(ctx context.Context, h *Hop, l *session.Link) (*Hop, error) {
	conn, err := session.NewConn(ctx, l, d.Session)
	if err != nil {
		if h.SSH != nil {
			h.SSH.Close()
		}
		return nil, err
	}
	h.Conn = conn
	h.Peer = l.Peer()
	return h, nil
}

// packetThrough opens a connect udp stream through prev to a's address
// and presents it as a PacketConn.
func packetThrough(ctx context.Context, prev *Hop, a Addr) (net.PacketConn, net.Addr, error) {
	pl, err := prev.link("UDP (a " + a.Scheme + " hop)")
	if err != nil {
		return nil, nil, err
	}
	return connect.DialPacket(ctx, pl, a.HostPort())
}

// sameKeyAsEarlier refuses a hop that answered with the key of an earlier
// hop of the chain, unless that key was pinned or bound to this very hop:
// it is the relay before it answering for the node behind it.
func sameKeyAsEarlier(earlier []*Hop, h *Hop) error {
	if h.Peer.Fingerprint == "" || h.Verified == certs.ByPinned || h.Verified == "known" {
		return nil
	}
	for j, e := range earlier {
		if e.Peer.Fingerprint == h.Peer.Fingerprint {
			return fmt.Errorf("answered with the key of hop %d (%s, %s): the node before it is answering in the place of the node meant; pin the hop's key (%s#SHA256:…) or bind it: hopwire trust --known FINGERPRINT NAME --addr %s",
				j+1, e.Addr, h.Peer.Fingerprint, h.Addr, h.Addr.HostPort())
		}
	}
	return nil
}

// trust is the trust for hop a, bound to it (see Dialer.Trust).
func (d *Dialer) trust(a Addr) certs.Trust {
	var trust certs.Trust
	if d.Trust != nil {
		trust = d.Trust(a)
	}
	if a.Fingerprint != "" {
		// A pin is the only key accepted at its hop.
		trust.Pinned = []string{a.Fingerprint}
	}
	if trust.Addr == "" && a.Host != "" {
		trust.Addr = a.HostPort()
	}
	if trust.Name == "" && a.Scheme == "" {
		trust.Name = a.Name
	}
	return trust
}

func (d *Dialer) tlsConfig(a Addr) (*tls.Config, error) {
	if d.Identity == nil {
		return nil, errors.New("no identity to present")
	}
	trust := d.trust(a)
	host := a.Host
	if host == "" {
		host = a.Name
	}
	cfg, err := certs.ClientConfig(d.Identity, trust, strings.Trim(host, "[]"))
	if err != nil {
		return nil, fmt.Errorf("trust for %s: %w", a, err)
	}
	return cfg, nil
}

func (d *Dialer) linkConfig(p session.Peer) *session.LinkConfig {
	var cfg session.LinkConfig
	if d.Link != nil {
		cfg = *d.Link
	}
	cfg.Peer = p
	if !slices.Contains(cfg.Caps, connect.VerdictCap) {
		cfg.Caps = append(slices.Clip(cfg.Caps), connect.VerdictCap) // a refused CONNECT is a dial error
	}
	if cfg.Logger == nil {
		cfg.Logger = d.Logger
	}
	return &cfg
}

// peerOf is who the node at hop a is, as the hop's trust vouches (never
// the name its certificate claims), and records how on h.
func (d *Dialer) peerOf(h *Hop, a Addr, cs tls.ConnectionState) session.Peer {
	v := d.trust(a).VerifiedServer(cs)
	h.Verified = v.By
	if v.By == certs.ByStore {
		h.Verified = "known"
	}
	return session.Peer{Principal: v.Principal, Fingerprint: v.Fingerprint}
}
