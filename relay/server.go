package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay/directory"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
	"github.com/hopwire/hopwire/transport/stdio"
)

// Options configures a node. Serve copies it.
type Options struct {
	// Name is the node's name, announced to peers (default: the identity's).
	Name string
	// Identity is presented to peers; required for tls and quic listeners.
	Identity *certs.Identity
	// Trust says which peers may connect (the authorized file, a CA).
	Trust certs.Trust
	// Policy decides what connected peers may do; nil denies everything.
	Policy *Policy
	// Listen lists listener addresses: tls://HOST:PORT, quic://HOST:PORT,
	// tcp://HOST:PORT (unauthenticated: loopback only unless InsecureTCP).
	Listen []string
	// InsecureTCP allows tcp:// listeners off loopback.
	InsecureTCP bool
	// SSHAuthorizedKeys is the authorized_keys file of ssh:// listeners
	// (their host key is the node's identity key).
	SSHAuthorizedKeys string
	// HandshakeTimeout bounds each transport handshake of a tls or dtls
	// listener, before the peer is authenticated (default 10s), and
	// MaxHandshakes caps how many such peers each of those listeners
	// holds at once (default 64; a tls listener lets one source network,
	// an IPv4 /24 or IPv6 /64, hold at most a quarter of them); see
	// [Server.PreAuth].
	HandshakeTimeout time.Duration
	MaxHandshakes    int
	// Link and Session are the base configurations of links and RPC
	// sessions (nil: defaults).
	Link    *session.LinkConfig
	Session *session.Options
	// ClassicRoot, if set, confines the classic service's file operations
	// to a directory (through an os.Root; see package classic). Processes
	// cannot be confined by it: under a root they are refused unless the
	// principal also holds an exec grant. New fails if it is not a
	// directory.
	ClassicRoot string
	// Services, when set, is called for every new session and returns
	// services to expose beyond the node service.
	Services func(peer session.Peer) map[string]any
	// Logger receives lifecycle, refusal and per-link logs; nil discards.
	Logger *slog.Logger
	// Version is reported by the node service.
	Version string
	// StateSocket, if set, is the path of a unix socket on which the node
	// serves its [State] as JSON over HTTP (GET /state), for monitoring
	// and tests. Off by default; the socket is created mode 0600.
	StateSocket string
	// Admin, if set, is the HOST:PORT of the node's admin HTTP listener
	// (off by default), which serves GET /metrics (Prometheus text
	// format; the metrics are listed in the package doc), /healthz (the
	// process is alive) and /readyz (200 once every listener is up, 503
	// before and after), and a status page at / (see
	// [Server.AdminHandler]). On a loopback address it is plain HTTP,
	// answering only requests for a loopback address or localhost. On
	// any other address it is HTTPS that requires a client certificate
	// the node's Trust accepts, as its tls listeners do (so it needs
	// Identity); New refuses it otherwise. See [Server.AdminHandler] to
	// serve the same pages elsewhere.
	Admin string
	// MaxLinksPerPeer caps the links one peer key (its fingerprint) holds
	// at once, whatever principal it is given (default 16; negative: no
	// cap). A link past the cap is refused at its hello, with an error
	// the client reads. Peers without a fingerprint (stdio) are exempt.
	MaxLinksPerPeer int
	// MemoryBudget bounds the bytes all the node's links hold in their
	// receive buffers, data received and not yet read (default 512 MiB;
	// negative: no budget). While it is spent, new links and new streams
	// (pings excepted) are refused. See [session.Budget].
	MemoryBudget int64
	// Fleet, if set, joins the node to a fleet of relays that share a
	// directory (see "Fleets" in the package doc): Start calls it, once
	// the listeners are up, with this relay's ID (its key's fingerprint)
	// and FleetAddr, and with hooks for the node's metrics; the node
	// records the agents registered here in the directory it returns,
	// reaches the fleet's other agents through it, and closes it when
	// the node stops. nil: the node's agents are its own (the
	// single-relay default).
	Fleet func(ctx context.Context, self directory.RelayInfo, m directory.Metrics) (directory.Directory, error)
	// FleetAddr is the hop address other relays of the fleet reach this
	// one at (default: its first listener's, which must then name a host,
	// not a wildcard address).
	FleetAddr string
}

// Server is a running node. It is safe for concurrent use.
type Server struct {
	opts     Options
	policy   atomic.Pointer[Policy]         // SetPolicy replaces it
	identity atomic.Pointer[certs.Identity] // SetIdentity replaces it
	log      *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners []listener
	conns     map[*session.Conn]string // the transport each came over
	agents    map[string]*session.Conn

	drops   dropCounts
	metrics *metrics
	ready   atomic.Bool // every listener is up (/readyz)
	state   *stateServer
	admin   *adminServer
	adm     *admission
	book    *statusBook // who and what, for the status page
	started time.Time
	fleet   atomic.Pointer[fleet] // nil: not in a fleet
	fleetUp chan struct{}         // closed once Start has joined the fleet (or there is none)

	resolver *net.Resolver // of CONNECT's dialer; nil: net.DefaultResolver (tests count its lookups)
}

type listener struct {
	url   string
	close func() error
	addr  net.Addr
	stats func() (preAuth int, dropped map[string]uint64) // nil: not counted
}

// New checks opts and returns a node that is not listening yet.
func New(opts *Options) (*Server, error) {
	o := *opts
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" && o.Identity != nil {
		o.Name = o.Identity.Name()
	}
	if o.ClassicRoot != "" {
		if fi, err := os.Stat(o.ClassicRoot); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("relay: classic root %q is not a directory (%v)", o.ClassicRoot, err)
		}
	}
	p := o.Policy
	if p == nil {
		p = NewPolicy(nil)
	}
	s := &Server{opts: o, log: o.Logger.With("node", o.Name),
		conns: make(map[*session.Conn]string), agents: make(map[string]*session.Conn), adm: newAdmission(&o),
		book: newStatusBook(), started: time.Now(), fleetUp: make(chan struct{})}
	s.policy.Store(p)
	if o.Identity != nil {
		s.identity.Store(o.Identity)
	}
	if o.Admin != "" {
		if err := checkAdmin(&o); err != nil {
			return nil, err
		}
	}
	s.metrics = newMetrics(s)
	s.metrics.denied = s.book.denied
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start opens every listener and serves them in the background. On error
// nothing is left open. The admin listener, if any, opens first and
// reports ready (/readyz) once every listener is up.
func (s *Server) Start(ctx context.Context) error {
	if s.opts.StateSocket != "" {
		st, err := s.serveState(s.opts.StateSocket)
		if err != nil {
			return err
		}
		s.state = st
	}
	if s.opts.Admin != "" {
		a, err := s.serveAdmin(s.opts.Admin)
		if err != nil {
			s.Close()
			return err
		}
		s.admin = a
	}
	for _, u := range s.opts.Listen {
		if err := s.listen(ctx, u); err != nil {
			s.Close()
			return err
		}
	}
	if err := s.joinFleet(ctx); err != nil {
		s.Close()
		return err
	}
	close(s.fleetUp)
	s.ready.Store(true)
	return nil
}

// joinFleet opens the fleet's directory (Options.Fleet), if any.
func (s *Server) joinFleet(ctx context.Context) error {
	if s.opts.Fleet == nil {
		return nil
	}
	id := s.Identity()
	if id == nil {
		return errors.New("relay: a fleet relay needs an identity: its key's fingerprint is its ID in the fleet")
	}
	addr := s.opts.FleetAddr
	if addr == "" {
		addrs := s.Addrs()
		if len(addrs) == 0 {
			return errors.New("relay: a fleet relay needs a listener or a fleet address where the fleet's other relays reach it")
		}
		a, err := hop.Parse(addrs[0])
		if err != nil {
			return fmt.Errorf("relay: fleet address %s: %w", addrs[0], err)
		}
		if ip, err := netip.ParseAddr(strings.Trim(a.Host, "[]")); err == nil && ip.IsUnspecified() {
			return fmt.Errorf("relay: the first listener %s names no host the fleet's other relays could dial: give the fleet address (--fleet-addr tls://HOST:PORT)", addrs[0])
		}
		addr = addrs[0]
	} else if _, err := hop.Parse(addr); err != nil {
		return fmt.Errorf("relay: fleet address: %w", err)
	}
	dir, err := s.opts.Fleet(ctx, directory.RelayInfo{ID: id.Fingerprint(), Addr: addr}, directoryMetrics(s))
	if err != nil {
		return fmt.Errorf("relay: joining the fleet: %w", err)
	}
	f := newFleet(s, dir, id.Fingerprint())
	s.fleet.Store(f)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f.run()
	}()
	s.log.Info("joined the fleet", "addr", addr, "id", id.Fingerprint())
	return nil
}

// Addrs returns the listeners' addresses as URLs, in the order given.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.listeners {
		a, _ := parseListen(l.url)
		a.Host, a.Port, _ = net.SplitHostPort(l.addr.String())
		out = append(out, a.String())
	}
	return out
}

// Close stops the listeners, ends every session and waits for the node's
// goroutines.
func (s *Server) Close() error {
	s.ready.Store(false)
	s.cancel()
	s.mu.Lock()
	ls := s.listeners
	s.listeners = nil
	conns := make([]*session.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	if f := s.fleet.Load(); f != nil {
		f.dir.Close()
	}
	if s.state != nil {
		s.state.close()
	}
	if s.admin != nil {
		s.admin.close()
	}
	return nil
}

// parseListen parses a listen URL SCHEME://HOST:PORT, where PORT may be 0
// (any free port).
func parseListen(u string) (hop.Addr, error) {
	scheme, hp, ok := strings.Cut(u, "://")
	if !ok {
		return hop.Addr{}, fmt.Errorf("relay: listen %q: want SCHEME://HOST:PORT", u)
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return hop.Addr{}, fmt.Errorf("relay: listen %q: %w", u, err)
	}
	if port == "0" {
		port = "1" // only to validate the rest
	}
	a, err := hop.Parse(scheme + "://" + net.JoinHostPort(host, port))
	if err != nil {
		return hop.Addr{}, fmt.Errorf("relay: listen: %w", err)
	}
	_, a.Port, _ = net.SplitHostPort(hp)
	return a, nil
}

func (s *Server) listen(ctx context.Context, u string) error {
	a, err := parseListen(u)
	if err != nil {
		return err
	}
	ln, err := hop.Listen(ctx, a, &hop.ListenConfig{Identity: s.opts.Identity, Certificate: s.Identity, Trust: s.opts.Trust,
		InsecureTCP: s.opts.InsecureTCP, SSHAuthorizedKeys: s.opts.SSHAuthorizedKeys,
		HandshakeTimeout: s.opts.HandshakeTimeout, MaxHandshakes: s.opts.MaxHandshakes, Logger: s.opts.Logger})
	if err != nil {
		return fmt.Errorf("relay: listen %s: %w", u, err)
	}
	s.addListener(u, ln.Close, ln.Addr())
	s.metrics.listening(a.Scheme)
	if _, _, ok := ln.Stats(); ok {
		s.countPreAuth(func() (int, map[string]uint64) { n, d, _ := ln.Stats(); return n, d })
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			acc, err := ln.Accept(s.ctx)
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if acc.Muxed == nil {
					s.serveConn(acc.Conn, acc.Peer, a.Scheme)
					return
				}
				start := time.Now()
				l, err := session.NewMuxedLink(acc.Muxed, session.Server, s.linkConfig(acc.Peer))
				if err != nil {
					acc.Close()
					s.drops.link.Add(1)
					s.metrics.handshake(a.Scheme, start, err)
					s.log.Warn("link refused", "transport", a.Scheme, "err", err)
					return
				}
				s.serveLink(l, a.Scheme, start, nil)
			}()
		}
	}()
	s.log.Info("listening", "addr", u)
	return nil
}

func (s *Server) addListener(u string, closeFn func() error, addr net.Addr) {
	s.mu.Lock()
	s.listeners = append(s.listeners, listener{url: u, close: closeFn, addr: addr})
	s.mu.Unlock()
}

// PreAuth returns how many connections the node holds that have not
// authenticated yet, over its tls and dtls listeners (each holds at most
// Options.MaxHandshakes): State's PreAuth, without the rest.
func (s *Server) PreAuth() int {
	s.mu.Lock()
	ls := append([]listener(nil), s.listeners...)
	s.mu.Unlock()
	n := 0
	for _, l := range ls {
		if l.stats != nil {
			k, _ := l.stats()
			n += k
		}
	}
	return n
}

// countPreAuth attaches pre-auth statistics to the listener added last.
func (s *Server) countPreAuth(stats func() (int, map[string]uint64)) {
	s.mu.Lock()
	s.listeners[len(s.listeners)-1].stats = stats
	s.mu.Unlock()
}

func (s *Server) serverTLS() (*tls.Config, error) {
	id := s.Identity()
	if id == nil {
		return nil, errors.New("relay: a tls or quic listener needs an identity")
	}
	return certs.ServerConfig(id, s.opts.Trust)
}

func (s *Server) linkConfig(p session.Peer) *session.LinkConfig {
	var cfg session.LinkConfig
	if s.opts.Link != nil {
		cfg = *s.opts.Link
	}
	if !slices.Contains(cfg.Caps, connect.VerdictCap) {
		cfg.Caps = append(slices.Clip(cfg.Caps), connect.VerdictCap) // a refused CONNECT is the client's dial error
	}
	cfg.Name = s.opts.Name
	cfg.Peer = p
	cfg.Budget, cfg.Admit = s.adm.budget, s.adm.admit
	if cfg.Logger == nil {
		cfg.Logger = s.opts.Logger
	}
	return &cfg
}

// peerOf is who the client of a connection is: the principal the node's
// trust vouches for (a CA-signed name, or the name the authorized file
// gives the key), never the name the client's certificate claims.
func (s *Server) peerOf(cs tls.ConnectionState) session.Peer {
	v := s.opts.Trust.VerifiedClient(cs)
	return session.Peer{Principal: v.Principal, Fingerprint: v.Fingerprint}
}

// ServeConn runs a link over c, already authenticated as peer (by the
// transport, or by construction for a stdio link), until it ends. It owns
// c. Its metrics count c as a tls link if it is a *tls.Conn, as a stdio
// link otherwise.
func (s *Server) ServeConn(c net.Conn, peer session.Peer) {
	transport := "stdio"
	if _, ok := c.(*tls.Conn); ok {
		transport = "tls"
	}
	<-s.serveConn(c, peer, transport)
}

// serveConn starts serving a link over c; the channel it returns is
// closed once that has ended.
func (s *Server) serveConn(c net.Conn, peer session.Peer, transport string) <-chan struct{} {
	start := time.Now()
	c, n := countConn(c)
	l, err := session.NewLink(c, session.Server, s.linkConfig(peer))
	if err != nil {
		s.drops.link.Add(1)
		s.metrics.handshake(transport, start, err)
		s.log.Warn("link refused", "addr", c.RemoteAddr().String(), "err", err)
		return closedChan
	}
	return s.serveLink(l, transport, start, n)
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// serveLink serves l, which came over transport and whose handshake began
// at start, until it ends; n counts its bytes (nil: not counted).
func (s *Server) serveLink(l *session.Link, transport string, start time.Time, n *linkBytes) (done <-chan struct{}) {
	ended := make(chan struct{})
	var closers []func() error // what ends with the session
	finish := func() {
		for _, c := range closers {
			c()
		}
		close(ended)
	}
	peer := l.Peer()
	log := s.log.With("peer", peer.Principal, "fp", peer.Fingerprint)
	var conn *session.Conn
	opts := session.Options{}
	if s.opts.Session != nil {
		opts = *s.opts.Session
	}
	opts.Logger = log
	cs := s.connectServer(log) // one for the link's connect streams
	opened := s.metrics.streamsOpened.WithLabelValues("connect")
	opts.Accept = func(st *session.Stream) {
		opened.Inc()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			cs.Serve(s.ctx, st)
		}()
	}
	node := &nodeService{s: s, peer: peer, ready: make(chan struct{})}
	opts.Services = map[string]any{"node": node}
	dataOpened := s.metrics.streamsOpened.WithLabelValues("data")
	if prev := opts.OnDataStream; prev != nil {
		opts.OnDataStream = func() { dataOpened.Inc(); prev() }
	} else {
		opts.OnDataStream = dataOpened.Inc
	}
	if prev := opts.OnCall; prev != nil {
		opts.OnCall = func(service, method string, took time.Duration, failed bool) {
			s.metrics.call(service, method, took, failed)
			prev(service, method, took, failed)
		}
	} else {
		opts.OnCall = s.metrics.call
	}
	// Classic administration only for peers granted it; for everyone
	// else the service does not exist (ErrNoService).
	audit := s.metrics.auditLogger(log)
	if g, err := s.pol().AllowClassic(peer, false); err == nil {
		// Under a classic root, processes (which the root cannot
		// confine) need an exec grant besides.
		svc, err := classic.NewService(&classic.Options{Root: s.opts.ClassicRoot,
			AllowProcesses: s.pol().HasExec(peer),
			AllowCommand: func(argv []string) error {
				_, _, err := s.pol().AllowExec(peer, argv, exec.LookPath)
				s.metrics.decide(CapExec, err)
				return err
			},
			Audit: audit})
		if err != nil {
			log.Error("classic administration unavailable: cannot open the classic root", "root", s.opts.ClassicRoot, "err", err)
		} else {
			closers = append(closers, svc.Close)
			opts.Services[classic.ServiceName] = svc
			s.metrics.decide(CapClassic, nil)
			log.Info("classic granted", "rule", g.String())
		}
	}
	if g, err := s.pol().AllowClassic(peer, true); err == nil {
		opts.Services[classic.EvalServiceName] = &classic.Evaluator{Audit: audit}
		log.Info("eval granted", "rule", g.String())
	}
	if s.opts.Services != nil {
		for name, v := range s.opts.Services(peer) {
			opts.Services[name] = v
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	conn, err := session.NewConn(ctx, l, &opts)
	cancel()
	s.metrics.handshake(transport, start, err)
	if err != nil {
		s.drops.session.Add(1)
		log.Warn("session refused", "err", err)
		finish()
		return ended
	}
	s.metrics.streamsOpened.WithLabelValues("rpc").Inc()
	node.conn = conn
	close(node.ready)
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		conn.Close()
		finish()
		return ended
	}
	s.conns[conn] = transport
	s.wg.Add(1) // the caller is counted: Close cannot be waiting yet
	s.mu.Unlock()
	s.book.linkUp(conn, transport, n)
	log.Info("link up", "name", peer.Name)
	// The rest runs when the session ends (Close ends every session):
	// nothing waits for it meanwhile, so an idle link parks no goroutine
	// here.
	conn.AfterDone(func() {
		defer s.wg.Done()
		s.linkEnded(conn, peer, log)
		s.book.linkDown(conn)
		finish()
	})
	return ended
}

// linkEnded forgets a session that ended, and the agents it registered.
func (s *Server) linkEnded(conn *session.Conn, peer session.Peer, log *slog.Logger) {
	conn.Close()
	s.mu.Lock()
	delete(s.conns, conn)
	var gone []string
	for name, a := range s.agents {
		if a == conn {
			delete(s.agents, name)
			gone = append(gone, name)
			log.Info("agent gone", "agent", name)
		}
	}
	s.mu.Unlock()
	if f := s.fleet.Load(); f != nil {
		for _, name := range gone {
			f.unregister(name, peer.Fingerprint)
		}
	}
	if err := conn.Err(); err == nil || err == session.ErrLinkClosed || errors.Is(err, io.EOF) {
		log.Info("link down", "reason", "closed") // a client that left is no error
	} else {
		log.Info("link down", "err", err)
	}
}

// spawned is a child a connect exec stream runs (a stdio: hop, whose
// first words on stdout are its link hello). When it exits having said
// nothing on stdout but something on stderr, the stream's reader gets an
// error carrying that (sudo's or docker's own reason), so the client's
// stdio: hop fails with it instead of a bare end of stream.
type spawned struct {
	*stdio.ChildConn
	said  *stdio.Tail
	spoke bool // read by the splice's one reader only
}

func (c *spawned) Read(p []byte) (int, error) {
	n, err := c.ChildConn.Read(p)
	c.spoke = c.spoke || n > 0
	if err == io.EOF && !c.spoke {
		select {
		case <-c.Exited():
		case <-time.After(time.Second):
		}
		for i := 0; i < 20 && c.said.String() == ""; i++ {
			time.Sleep(10 * time.Millisecond) // its last stderr line may still be on the way
		}
		if s := c.said.String(); s != "" {
			return n, fmt.Errorf("the command exited: %s", s)
		}
	}
	return n, err
}

// StdioGrantEnv is the environment variable through which a node tells a
// child it spawns under an exec grant the most a "hopwire serve --stdio"
// child may grant its spawner: "classic=eval", "classic" or "none". A
// child that finds it grants its "stdio" principal no more than that (and
// one spawned by a shell, sudo or ssh, without it, grants classic=eval as
// before: whoever could spawn it could already run anything there). The
// node passes what the principal already holds on the node itself, so an
// exec grant never yields more than classic administration the principal
// has anyway.
const StdioGrantEnv = "HOPWIRE_STDIO_GRANT"

// spawnEnv is the environment of a child spawned for peer.
func (s *Server) spawnEnv(peer session.Peer) []string {
	grant := "none"
	if _, err := s.pol().AllowClassic(peer, true); err == nil {
		grant = "classic=eval"
	} else if _, err := s.pol().AllowClassic(peer, false); err == nil {
		grant = "classic"
	}
	env := []string{StdioGrantEnv + "=" + grant}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, StdioGrantEnv+"=") {
			env = append(env, e)
		}
	}
	return env
}

// connectServer serves the connect streams of one peer's link under the
// policy: tcp and udp to the addresses a connect grant allows (checked on
// the address dialled), exec of the command lines an exec grant names,
// and the agents registered here.
// The status page's book follows the streams connected (s.tracked).
func (s *Server) connectServer(log *slog.Logger) *connect.Server {
	return s.tracked(&connect.Server{
		Dial: func(ctx context.Context, peer session.Peer, req *connect.Request) (net.Conn, error) {
			switch req.Network {
			case connect.TCP, connect.UDP:
				return s.dialChecked(ctx, log, peer, req)
			case connect.Exec:
				argv := append([]string{req.Address}, req.Args...)
				_, prog, err := s.pol().AllowExec(peer, argv, exec.LookPath)
				s.metrics.decide(CapExec, err)
				if err != nil {
					return nil, err
				}
				argv[0] = prog
				said := &stdio.Tail{}
				c, err := stdio.Spawn(s.ctx, argv, &stdio.SpawnOptions{Env: s.spawnEnv(peer), Stderr: said.Add})
				if err != nil {
					return nil, err
				}
				return &spawned{ChildConn: c, said: said}, nil
			case connect.Agent:
				return s.reachAgent(ctx, peer, req.Address)
			}
			return nil, fmt.Errorf("relay: connect network %s is not served here", req.Network)
		},
		Refused: func(req *connect.Request, err error) {
			switch {
			case req == nil:
				s.drops.malformed.Add(1)
				log.Warn("connect refused: malformed request", "err", err)
			case errors.Is(err, ErrDenied):
				s.drops.denied.Add(1)
				log.Warn("connect denied", "network", req.Network.String(), "dest", clipAttr(req.Address), "err", err)
			default:
				log.Info("connect failed", "network", req.Network.String(), "dest", clipAttr(req.Address), "err", err)
			}
		},
		Accepted: func(req *connect.Request) {
			log.Debug("connect", "network", req.Network.String(), "dest", clipAttr(req.Address))
		},
		// One access record per connected stream, at the default level:
		// who, where, how much each way, how long, how it ended.
		Ended: func(req *connect.Request, up, down int64, took time.Duration, err error) {
			s.metrics.relayed(up, down)
			result := "ok"
			if err != nil {
				result = clipAttr(err.Error())
			}
			log.Info("connect ended", "network", req.Network.String(), "dest", clipAttr(req.Address),
				"bytes_up", up, "bytes_down", down, "took", took.Round(time.Millisecond), "result", result)
		},
	})
}

// dialChecked dials a connect tcp or udp request if the policy allows the
// address dialled, and counts one policy decision for it (none when the
// dial failed before an address was checked: a name that did not
// resolve).
func (s *Server) dialChecked(ctx context.Context, log *slog.Logger, peer session.Peer, req *connect.Request) (net.Conn, error) {
	var denied error
	allowed := false
	d := net.Dialer{
		Resolver: s.resolver,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			g, err := s.pol().AllowAddr(peer, CapConnect, ap.Addr(), ap.Port())
			if err != nil {
				denied = err
				return err
			}
			allowed = true
			log.Debug("connect allowed", "dest", address, "rule", g.String())
			return nil
		},
	}
	network := "tcp"
	if req.Network == connect.UDP {
		network = "udp"
	}
	if !s.pol().couldConnect(ctx, network, peer, req.Address) { // before any lookup
		err := &DeniedError{Principal: peer.Principal, Fingerprint: peer.Fingerprint, Capability: CapConnect, Target: req.Address}
		s.metrics.decide(CapConnect, err)
		return nil, err
	}
	c, err := d.DialContext(ctx, network, req.Address)
	switch {
	case allowed:
		s.metrics.decide(CapConnect, nil) // the address dialled was allowed, whether the dial then worked or not
	case denied != nil:
		s.metrics.decide(CapConnect, denied)
	}
	if denied != nil {
		return nil, denied
	}
	if err == nil && network == "udp" {
		c = countedUDP{Conn: c, m: s.metrics}
	}
	return c, err
}

// nodeService is the node's RPC service, always exposed.
type nodeService struct {
	s     *Server
	peer  session.Peer
	conn  *session.Conn // set once ready is closed
	ready chan struct{}
}

// NodeInfo describes a node.
type NodeInfo struct {
	Name        string
	Version     string
	Fingerprint string
	Peer        string // the caller, as this node authenticated it
	Agents      []string
}

// Info describes the node.
func (n *nodeService) Info() NodeInfo {
	info := NodeInfo{Name: n.s.opts.Name, Version: n.s.opts.Version, Peer: n.peer.Principal}
	if id := n.s.Identity(); id != nil {
		info.Fingerprint = id.Fingerprint()
	}
	info.Agents = n.s.Agents()
	return info
}

// Register makes the caller reachable as an agent called name.
func (n *nodeService) Register(ctx context.Context, name string) error {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A plain agent name (no scheme, no fingerprint; at most 64 bytes of
	// letters, digits, '-', '_', '.') before it is quoted anywhere.
	if a, err := hop.Parse(name); err != nil || a.Name != name {
		return fmt.Errorf("relay: bad agent name %s: want letters, digits, '-', '_', '.' (at most 64)", clip(name))
	}
	_, err := n.s.pol().AllowRegister(n.peer, name)
	n.s.metrics.decide(CapRegister, err)
	if err != nil {
		n.s.log.Warn("register denied", "agent", name, "peer", n.peer.Principal, "err", err)
		return err
	}
	n.s.mu.Lock()
	if old, ok := n.s.agents[name]; ok && old != n.conn {
		select {
		case <-old.Done():
		default:
			n.s.mu.Unlock()
			return fmt.Errorf("relay: agent name %q is taken", name)
		}
	}
	n.s.agents[name] = n.conn
	n.s.mu.Unlock()
	select {
	case <-n.s.fleetUp:
	case <-ctx.Done():
		n.forget(name)
		return ctx.Err()
	}
	if f := n.s.fleet.Load(); f != nil {
		if err := f.register(ctx, name, n.peer.Fingerprint); err != nil {
			n.forget(name)
			n.s.log.Warn("register refused", "agent", name, "peer", n.peer.Principal, "err", err)
			return err
		}
	}
	n.s.log.Info("agent registered", "agent", name, "peer", n.peer.Principal)
	return nil
}

// forget undoes this link's registration of name (refused by the fleet).
func (n *nodeService) forget(name string) {
	n.s.mu.Lock()
	if n.s.agents[name] == n.conn {
		delete(n.s.agents, name)
	}
	n.s.mu.Unlock()
}

// dropAgent forgets the agent called name if it is still the one of key
// fp, and closes its link if it was registered.
func (s *Server) dropAgent(name, fp string) {
	s.mu.Lock()
	a := s.agents[name]
	if a != nil && a.Link().Peer().Fingerprint == fp {
		delete(s.agents, name)
	} else {
		a = nil
	}
	s.mu.Unlock()
	if a != nil {
		a.Close()
	}
}

// Fleet lists the agents of the node's fleet with their home relays;
// a node in no fleet lists its own.
func (n *nodeService) Fleet(ctx context.Context) ([]FleetAgent, error) {
	select {
	case <-n.s.fleetUp:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f := n.s.fleet.Load()
	if f == nil {
		var fp, addr string
		if id := n.s.Identity(); id != nil {
			fp = id.Fingerprint()
		}
		if addrs := n.s.Addrs(); len(addrs) > 0 {
			addr = addrs[0]
		}
		n.s.mu.Lock()
		defer n.s.mu.Unlock()
		out := make([]FleetAgent, 0, len(n.s.agents))
		for name, c := range n.s.agents {
			out = append(out, FleetAgent{Name: name, Fingerprint: c.Link().Peer().Fingerprint, Relay: fp, RelayAddr: addr})
		}
		slices.SortFunc(out, func(a, b FleetAgent) int { return strings.Compare(a.Name, b.Name) })
		return out, nil
	}
	es, err := f.dir.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: listing the fleet's agents: %w", err)
	}
	out := make([]FleetAgent, 0, len(es))
	for _, e := range es {
		out = append(out, FleetAgent{Name: e.Name, Fingerprint: e.Fingerprint, Relay: e.Relay, RelayAddr: e.Addr, Since: e.Since})
	}
	return out, nil
}

// Agents lists the registered agents.
func (s *Server) Agents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.agents))
	for name := range s.agents {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// reachAgent opens an inbound stream on the agent's link; the client's
// next hop handshake runs over it, end to end with the agent.
//
// A client needs an agent grant naming the agent (Policy.AllowAgent). In
// a fleet, an agent registered at another relay is reached through a
// mesh link to that relay (fleet.reach). A peer that is itself a relay of
// the fleet (its key is a live relay's ID in the directory) is served
// only if it holds the relay capability, and only from the agents here:
// no request crosses more than one mesh link, whatever the grants say.
func (s *Server) reachAgent(ctx context.Context, peer session.Peer, name string) (net.Conn, error) {
	s.mu.Lock()
	a := s.agents[name]
	s.mu.Unlock()
	f := s.fleet.Load()
	if f != nil && f.isRelay(ctx, peer.Fingerprint) {
		_, err := s.pol().AllowRelay(peer)
		s.metrics.decide(CapRelay, err)
		if err != nil {
			return nil, err
		}
		if a == nil {
			return nil, fmt.Errorf("relay: no agent %q registered here", name)
		}
	} else {
		// A client: its grant decides, here at the relay it asked,
		// wherever in the fleet the agent is.
		_, err := s.pol().AllowAgent(peer, name)
		s.metrics.decide(CapAgent, err)
		if err != nil {
			return nil, err
		}
	}
	if a != nil {
		return connect.Open(ctx, a.Link(), &connect.Request{Network: connect.Agent, Address: name})
	}
	if f == nil {
		return nil, fmt.Errorf("relay: no agent %q registered here", name)
	}
	return f.reach(ctx, name)
}

// Revalidate closes the sessions of peers whose key the node's authorized
// file no longer names as their principal (a key removed or renamed there).
// The file is re-read whenever it changes, so new handshakes follow it at
// once; Revalidate reaches the links already up (hopwire serve calls it on
// SIGHUP). Peers trusted through a CA, stdio and ssh: principals are left
// alone: their standing does not come from the file. It returns how many
// sessions it closed.
func (s *Server) Revalidate() int {
	store := s.opts.Trust.Store
	if store == nil {
		return 0
	}
	closed := 0
	for _, c := range s.sessions() {
		p := c.Link().Peer()
		if p.Fingerprint == "" || p.Principal == "stdio" || strings.HasPrefix(p.Principal, "ssh:") {
			continue
		}
		if now := store.Principal(p.Fingerprint); now == p.Principal {
			continue
		} else if now == "" && s.opts.Trust.Pool != nil {
			continue // CA-issued: not the file's to revoke
		}
		s.log.Warn("closing the session of a peer the authorized file no longer names", "peer", p.Principal, "fp", p.Fingerprint)
		c.Close()
		closed++
	}
	return closed
}
