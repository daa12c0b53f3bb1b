package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
	hssh "github.com/hopwire/hopwire/transport/ssh"
	"github.com/hopwire/hopwire/transport/stdio"
	htls "github.com/hopwire/hopwire/transport/tls"
)

// identityFlags are the flags every command that authenticates takes.
type identityFlags struct {
	home, ca, cert, key, name string
	verbose                   bool
	keepalive                 time.Duration
}

func (f *identityFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.home, "home", certs.Home(), "hopwire's directory ($HOPWIRE_HOME): identity, known_nodes, authorized")
	fs.StringVar(&f.ca, "ca", os.Getenv("HOPWIRE_CA"), "CA certificate: trust peers it issued ($HOPWIRE_CA)")
	fs.StringVar(&f.cert, "cert", os.Getenv("HOPWIRE_CERT"), "certificate to present ($HOPWIRE_CERT; default: the identity in --home)")
	fs.StringVar(&f.key, "key", os.Getenv("HOPWIRE_KEY"), "key of --cert ($HOPWIRE_KEY)")
	fs.BoolVar(&f.verbose, "v", false, "log to stderr")
	fs.DurationVar(&f.keepalive, "keepalive", 0, "keepalive interval of every link; a peer silent for 3x this is declared dead (default 10s)")
}

// linkConfig is the base configuration of this command's links.
func (f *identityFlags) linkConfig(name string) *session.LinkConfig {
	cfg := &session.LinkConfig{Name: name}
	if f.keepalive > 0 {
		cfg.KeepAlive, cfg.KeepAliveTimeout = f.keepalive, 3*f.keepalive
	}
	return cfg
}

func (f *identityFlags) identity() (*certs.Identity, error) {
	if f.cert != "" || f.key != "" {
		if f.cert == "" || f.key == "" {
			return nil, fmt.Errorf("%w: --cert and --key go together", errUsage)
		}
		return certs.Load(f.cert, f.key)
	}
	return certs.LoadOrCreate(f.home, f.name)
}

// trust returns how peers are verified: the CA (if any) and the given
// trust file under --home.
func (f *identityFlags) trust(file string) (certs.Trust, error) {
	var t certs.Trust
	if f.ca != "" {
		pool, err := certs.LoadPool(f.ca)
		if err != nil {
			return t, err
		}
		t.Pool = pool
	}
	store, err := certs.LoadFingerprints(filepath.Join(f.home, file))
	if err != nil {
		return t, err
	}
	t.Store = store
	return t, nil
}

func (f *identityFlags) logger(stderr io.Writer) *slog.Logger {
	if !f.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// chainFlags adds -J and the ssh options of ssh:// hops.
type chainFlags struct {
	jump     string
	sshKeys  multi
	noUpload bool
}

func (c *chainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.jump, "J", "", "jump hops, comma-separated (like ssh -J): tls://r1:7443,quic://r2:7443")
	fs.Var(&c.sshKeys, "i", "ssh identity file for ssh:// hops (repeatable; default: ~/.ssh config, agent, id_*)")
	fs.BoolVar(&c.noUpload, "no-upload", false, "never upload hopwire to an ssh:// target that lacks it")
}

func (c *chainFlags) via() ([]hop.Addr, error) {
	if c.jump == "" {
		return nil, nil
	}
	v, err := hop.ParseChain(c.jump)
	if err != nil {
		return nil, fmt.Errorf("%w: -J: %v", errUsage, err)
	}
	return v, nil
}

// dialer builds the chain dialer from the identity flags.
func (f *identityFlags) dialer(stderr io.Writer) (*hop.Dialer, error) {
	id, err := f.identity()
	if err != nil {
		return nil, err
	}
	trust, err := f.trust(certs.KnownNodesFile)
	if err != nil {
		return nil, err
	}
	return &hop.Dialer{
		Identity: id,
		Trust:    func(hop.Addr) certs.Trust { return trust },
		Link:     f.linkConfig(id.Name()),
		Logger:   f.logger(stderr),
	}, nil
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var idf identityFlags
	idf.register(fs)
	var cf chainFlags
	cf.register(fs)
	var listens, grants multi
	fs.Var(&listens, "listen", "listen URL (repeatable): tls://, quic://, dtls://, ssh://HOST:PORT, tcp://127.0.0.1:PORT")
	fs.Var(&grants, "grant", "PRINCIPAL:CAPABILITY[=SCOPE] (repeatable); capabilities: connect, exec, register, classic, forward-remote")
	fs.StringVar(&idf.name, "name", "", "node name (and agent name with --connect); default: the identity's")
	useStdio := fs.Bool("stdio", false, "serve one link over stdin/stdout (as spawned by a stdio: hop)")
	connect := fs.String("connect", "", "run as a reverse agent: dial this relay URL and register --name")
	insecureTCP := fs.Bool("insecure-tcp", false, "allow tcp:// listeners off loopback (no authentication!)")
	sshAuth := fs.String("ssh-authorized-keys", "", "authorized_keys of ssh:// listeners (default: authorized_keys in --home)")
	classicRoot := fs.String("classic-root", "", "confine classic administration's FILE operations to this directory (resolved beneath it, symlinks included); processes are NOT confined, so under a root they are refused unless the principal also holds an exec grant")
	stateSock := fs.String("state", "", "serve the node's state (goroutines, sessions, streams, refs, drops) as JSON on this unix socket; read it with hopwire state")
	rpycListen := fs.String("rpyc", "", "also serve Python RPyC clients on this loopback HOST:PORT (node info; RPyC has no authentication)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(listens) == 0 && !*useStdio && *connect == "" {
		return fmt.Errorf("%w: serve needs --listen, --stdio or --connect", errUsage)
	}
	var gs []*relay.Grant
	for _, g := range grants {
		pg, err := relay.ParseGrant(g)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		gs = append(gs, pg)
	}
	if *useStdio && !isSocket(os.Stdin) {
		// Whoever spawned this node over pipes (an ssh exec channel, sudo,
		// docker exec) can already run anything here: its link gets
		// classic administration, eval included, as a shell would. A
		// relay that spawned it under an exec grant says how much less
		// its client may have (relay.StdioGrantEnv): what that client
		// holds on the relay itself, so an exec grant is never a way to
		// eval.
		scope := "stdio:classic=eval"
		switch v, set := os.LookupEnv(relay.StdioGrantEnv); {
		case !set || v == "classic=eval":
		case v == "classic":
			scope = "stdio:classic"
		default:
			scope = ""
		}
		if scope != "" {
			g, err := relay.ParseGrant(scope)
			if err != nil {
				return err
			}
			gs = append(gs, g)
		}
	}
	id, err := idf.identity()
	if err != nil {
		return err
	}
	trust, err := idf.trust(certs.AuthorizedFile)
	if err != nil {
		return err
	}
	log := idf.logger(stderr)
	srv, err := relay.New(&relay.Options{
		Name: idf.name, Identity: id, Trust: trust, Policy: relay.NewPolicy(gs),
		Listen: listens, InsecureTCP: *insecureTCP, Logger: log, Version: version, Link: idf.linkConfig(""),
		SSHAuthorizedKeys: orDefault(*sshAuth, filepath.Join(idf.home, "authorized_keys")),
		ClassicRoot:       *classicRoot,
		StateSocket:       *stateSock,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if *useStdio {
		if isSocket(os.Stdin) {
			// inetd or systemd socket activation: stdin is a network
			// connection, so the peer authenticates as at a listener.
			return serveSocketStdin(ctx, srv, id, trust)
		}
		conn, restore, err := stdio.TakeStdio()
		if err != nil {
			return err
		}
		defer restore()
		// A stdio link over pipes is as trusted as whoever spawned this
		// process.
		srv.ServeConn(conn, session.Peer{Principal: "stdio"})
		return nil
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	for _, a := range srv.Addrs() {
		fmt.Fprintf(stdout, "listening %s\n", a)
	}
	fmt.Fprintf(stdout, "node %s %s\n", id.Name(), id.Fingerprint())
	if *rpycListen != "" {
		stop, err := startRPyC(ctx, *rpycListen, &rpycNode{Name: id.Name(), Fingerprint: id.Fingerprint(), Version: version}, stdout)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *connect != "" {
		if idf.name == "" {
			return fmt.Errorf("%w: --connect needs --name", errUsage)
		}
		relayAddr, err := hop.Parse(*connect)
		if err != nil {
			return fmt.Errorf("%w: --connect: %v", errUsage, err)
		}
		via, err := cf.via()
		if err != nil {
			return err
		}
		d, err := idf.dialer(stderr)
		if err != nil {
			return err
		}
		err = srv.RunAgent(ctx, d, via, relayAddr, idf.name, func() {
			fmt.Fprintf(stdout, "registered as %s at %s\n", idf.name, relayAddr)
		})
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	<-ctx.Done()
	return nil
}

// routeCmd is the common shape of the commands that reach a TARGET
// through -J hops: identity and chain flags, --json, then the route.
type routeCmd struct {
	fs     *flag.FlagSet
	idf    identityFlags
	cf     chainFlags
	asJSON *bool
}

func newRouteCmd(name string, stderr io.Writer) *routeCmd {
	rc := &routeCmd{fs: newFlags(name, stderr)}
	rc.idf.register(rc.fs)
	rc.cf.register(rc.fs)
	rc.asJSON = rc.fs.Bool("json", false, "print JSON")
	return rc
}

// dial parses args and dials the route to TARGET.
func (rc *routeCmd) dial(ctx context.Context, args []string, stderr io.Writer) (*hop.Route, error) {
	if err := parse(rc.fs, args); err != nil {
		return nil, err
	}
	return dialTarget(ctx, rc.fs, &rc.idf, &rc.cf, stderr)
}

// chainDialer builds the dialer of a route command: identity, trust and
// the ssh options of ssh:// hops.
func chainDialer(idf *identityFlags, cf *chainFlags, stderr io.Writer) (*hop.Dialer, error) {
	d, err := idf.dialer(stderr)
	if err != nil {
		return nil, err
	}
	d.SSH = &hssh.ClientOptions{IdentityFiles: cf.sshKeys, Logger: d.Logger}
	d.NoUpload = cf.noUpload
	return d, nil
}

// dialTarget dials the route to the TARGET argument through -J.
func dialTarget(ctx context.Context, fs *flag.FlagSet, idf *identityFlags, cf *chainFlags, stderr io.Writer) (*hop.Route, error) {
	return dialTargetWith(ctx, fs, idf, cf, stderr, nil)
}

// dialTargetWith is dialTarget with session options for every hop (for
// instance an Accept for the streams a target opens back).
func dialTargetWith(ctx context.Context, fs *flag.FlagSet, idf *identityFlags, cf *chainFlags, stderr io.Writer, sess *session.Options) (*hop.Route, error) {
	if fs.NArg() < 1 {
		return nil, fmt.Errorf("%w: missing TARGET", errUsage)
	}
	aliases, err := loadConfig(idf.home)
	if err != nil {
		return nil, err
	}
	name, aliasVia, _ := resolveAlias(aliases, fs.Arg(0))
	target, err := hop.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if cf.jump == "" {
		cf.jump = aliasVia
	}
	via, err := cf.via()
	if err != nil {
		return nil, err
	}
	d, err := chainDialer(idf, cf, stderr)
	if err != nil {
		return nil, err
	}
	d.Session = sess
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := d.Dial(dctx, via, target)
	if err == nil {
		warnUnbound(stderr, r)
	}
	return r, err
}

// warnUnbound says, once per hop, that a hop was trusted by a known_nodes
// entry bound to no address (a file from before addresses were bound), and
// how to bind it.
func warnUnbound(stderr io.Writer, r *hop.Route) {
	for i, h := range r.Hops {
		if h.Verified != certs.ByUnbound {
			continue
		}
		name := orDefault(h.Peer.Principal, "NAME")
		fmt.Fprintf(stderr, "hopwire: warning: hop %d (%s) was accepted by a known_nodes entry bound to no address; bind it so no other trusted node can answer there: hopwire trust --known %s %s --addr %s\n",
			i+1, h.Addr, h.Peer.Fingerprint, name, h.Addr.HostPort())
	}
}

func runPing(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("ping", stderr)
	count := rc.fs.Int("c", 1, "number of round trips")
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	t := route.Hops[len(route.Hops)-1]
	for i := 0; i < *count; i++ {
		rtt, err := route.Target().Ping(ctx)
		if err != nil {
			return err
		}
		if *rc.asJSON {
			json.NewEncoder(stdout).Encode(map[string]any{"target": t.Addr.String(), "peer": t.Peer.Principal, "rtt_us": rtt.Microseconds()})
		} else {
			fmt.Fprintf(stdout, "%s (%s): rtt=%v\n", t.Addr, quoteName(t.Peer.Principal), rtt.Round(time.Microsecond))
		}
	}
	return nil
}

type traceHop struct {
	Hop         int    `json:"hop"`
	Addr        string `json:"addr"`
	Transport   string `json:"transport"`
	Name        string `json:"name"`
	Principal   string `json:"principal"`
	Fingerprint string `json:"fingerprint"`
	Verified    string `json:"verified"` // pinned, known, ca, known_hosts; "" for tcp and stdio hops
	RTTMicros   int64  `json:"rtt_us"`
	SetupMicros int64  `json:"setup_us"`
}

func runTrace(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("trace", stderr)
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	var out []traceHop
	for i, h := range route.Hops {
		var rtt time.Duration
		if h.Conn != nil {
			if rtt, err = h.Conn.Ping(ctx); err != nil {
				return &hop.HopError{Index: i + 1, Addr: h.Addr, Err: err}
			}
		} else {
			// A plain OpenSSH bastion: no session to ping; its identity is
			// its host key.
			h.Peer = session.Peer{Principal: "ssh:" + h.Addr.Host, Fingerprint: h.SSHFingerprint()}
		}
		out = append(out, traceHop{Hop: i + 1, Addr: h.Addr.String(), Transport: h.Transport, Name: h.Peer.Name,
			Principal: h.Peer.Principal, Fingerprint: h.Peer.Fingerprint, Verified: h.Verified,
			RTTMicros: rtt.Microseconds(), SetupMicros: h.Setup.Microseconds()})
	}
	if *rc.asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	for _, h := range out {
		verified := h.Verified
		if verified == "" {
			verified = "-"
		}
		fmt.Fprintf(stdout, "%2d  %-28s %-6s %-12s %s %-7s rtt=%v setup=%v\n", h.Hop, h.Addr, h.Transport, quoteName(h.Principal), h.Fingerprint, verified,
			time.Duration(h.RTTMicros)*time.Microsecond, time.Duration(h.SetupMicros)*time.Microsecond)
	}
	return nil
}

func runPeers(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("peers", stderr)
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	info, err := session.Call[relay.NodeInfo](ctx, route.Target().Service("node"), "Info")
	if err != nil {
		return err
	}
	if *rc.asJSON {
		return json.NewEncoder(stdout).Encode(info.Agents)
	}
	for _, a := range info.Agents {
		fmt.Fprintln(stdout, quoteName(a)) // names the agents chose
	}
	return nil
}

func runTrust(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("trust", stderr)
	home := fs.String("home", certs.Home(), "hopwire's directory ($HOPWIRE_HOME)")
	known := fs.Bool("known", false, "trust a node this client dials (known_nodes)")
	authorized := fs.Bool("authorized", false, "accept a client at this node (authorized): NAME is then its principal, the name --grant rules use")
	var addrs multi
	fs.Var(&addrs, "addr", "with --known: the HOST:PORT of the hop this node answers at (repeatable); a node is accepted only at the hops bound to it, or where the hop's host name or agent name is NAME")
	shared := fs.Bool("shared", false, "let NAME belong to this key although another key has it too (a key rotation, a pool)")
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *known == *authorized {
		return fmt.Errorf("%w: trust needs exactly one of --known or --authorized", errUsage)
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return fmt.Errorf("%w: trust FINGERPRINT [NAME] [--addr HOST:PORT]", errUsage)
	}
	if *authorized && len(addrs) > 0 {
		return fmt.Errorf("%w: --addr binds a node (--known) to a hop; a client is bound by its NAME", errUsage)
	}
	fp, err := certs.ParseFingerprint(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	file := certs.KnownNodesFile
	if *authorized {
		file = certs.AuthorizedFile
	}
	path := filepath.Join(*home, file)
	if (len(addrs) > 0 || *shared) && fs.Arg(1) == "" {
		return fmt.Errorf("%w: --addr and --shared need a NAME: trust --known FINGERPRINT NAME --addr HOST:PORT", errUsage)
	}
	if err := certs.AddEntry(path, certs.Entry{Fingerprint: fp, Name: fs.Arg(1), Addrs: addrs, Shared: *shared}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s to %s\n", fp, path)
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// isSocket reports whether f is a socket (not a pipe or a terminal).
func isSocket(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// serveSocketStdin serves one link over a network socket handed in as
// stdin, after a TLS server handshake: exactly what a tls:// listener
// would demand of the peer.
func serveSocketStdin(ctx context.Context, srv *relay.Server, id *certs.Identity, trust certs.Trust) error {
	c, err := net.FileConn(os.Stdin)
	if err != nil {
		return err
	}
	cfg, err := certs.ServerConfig(id, trust)
	if err != nil {
		c.Close()
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	tc, err := htls.Server(hctx, c, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("stdin socket: %w", err)
	}
	v := trust.VerifiedClient(tc.ConnectionState())
	srv.ServeConn(tc, session.Peer{Principal: v.Principal, Fingerprint: v.Fingerprint})
	return nil
}

// runState prints the state a node serves on its --state socket.
func runState(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("state", stderr)
	gc := fs.Bool("gc", false, "have the node collect garbage first, so heap_alloc is live memory")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: state SOCKET (the path given to serve --state)", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := relay.ReadState(ctx, fs.Arg(0), *gc)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}
