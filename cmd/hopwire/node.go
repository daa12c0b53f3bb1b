package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/relay/directory"
	"github.com/hopwire/hopwire/session"
	hssh "github.com/hopwire/hopwire/transport/ssh"
	"github.com/hopwire/hopwire/transport/stdio"
	htls "github.com/hopwire/hopwire/transport/tls"
)

// identityFlags are the flags every command that authenticates takes.
type identityFlags struct {
	home, ca, cert, key, name string
	verbose, quiet            bool
	keepalive                 time.Duration
	connectTimeout            time.Duration
	// logLevel is the level logged without -v or -q: Info for nodes,
	// nothing (above Error) for client commands, whose errors are
	// returned.
	logLevel slog.Level
	// mayCreateHome lets identity create a missing --home (id, and a node
	// spawned over pipes on a host that never ran hopwire).
	mayCreateHome bool
	// logLevelFlag and logFormat are --log-level and --log-format.
	logLevelFlag, logFormat string
	// level is the level of the logger made by logger, which a node's
	// reload may change.
	level *slog.LevelVar
}

func (f *identityFlags) register(fs *flag.FlagSet) {
	f.logLevel = slog.LevelError + 4 // client commands return their errors: no log
	fs.StringVar(&f.home, "home", certs.Home(), "hopwire's directory ($HOPWIRE_HOME): identity, known_nodes, authorized")
	fs.StringVar(&f.ca, "ca", os.Getenv("HOPWIRE_CA"), "CA certificate: trust peers it issued ($HOPWIRE_CA)")
	fs.StringVar(&f.cert, "cert", os.Getenv("HOPWIRE_CERT"), "certificate to present ($HOPWIRE_CERT; default: the identity in --home)")
	fs.StringVar(&f.key, "key", os.Getenv("HOPWIRE_KEY"), "key of --cert ($HOPWIRE_KEY)")
	fs.BoolVar(&f.verbose, "v", false, "verbose: debug logs to stderr, and errors with their Go detail")
	fs.BoolVar(&f.quiet, "q", false, "quiet: no progress bars, only errors logged")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 0, "give up on a chain that is not up within this time (default 15s, or connect-timeout in the config file)")
	fs.DurationVar(&f.keepalive, "keepalive", 0, "keepalive interval of every link; a peer silent for 3x this is declared dead (default 10s)")
	fs.StringVar(&f.logLevelFlag, "log-level", "", "what to log: debug, info, warn or error (default: info for serve, errors only for client commands)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log record format: text or json")
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
	if err := f.checkHome(); err != nil {
		return nil, err
	}
	return certs.LoadOrCreate(f.home, f.name)
}

// checkHome refuses a --home that does not exist (a typo would otherwise
// make a new identity there), unless this command may create it.
func (f *identityFlags) checkHome() error {
	if f.mayCreateHome {
		return nil
	}
	return homeExists(f.home)
}

func homeExists(home string) error {
	fi, err := os.Stat(home)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("--home %s is not a directory", home)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--home %s does not exist; to create an identity there run: hopwire --home %s id", home, home)
	}
	return err
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
	level := f.logLevel
	if f.logLevelFlag != "" {
		// checkLogFlags has vetted it.
		_ = level.UnmarshalText([]byte(f.logLevelFlag))
	}
	switch {
	case f.verbose:
		level = slog.LevelDebug
	case f.quiet:
		level = slog.LevelError
	}
	if level > slog.LevelError {
		return slog.New(slog.DiscardHandler)
	}
	f.level = new(slog.LevelVar)
	f.level.Set(level)
	o := &slog.HandlerOptions{Level: f.level}
	if f.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, o))
	}
	return slog.New(slog.NewTextHandler(stderr, o))
}

// checkLogFlags refuses a --log-level or --log-format it does not know.
func (f *identityFlags) checkLogFlags() error {
	if f.logLevelFlag != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(f.logLevelFlag)); err != nil {
			return fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, f.logLevelFlag)
		}
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return fmt.Errorf("%w: --log-format %q: want text or json", errUsage, f.logFormat)
	}
	return nil
}

// chainFlags adds -J, the ssh options of ssh:// hops and --control.
type chainFlags struct {
	jump     string
	sshKeys  multi
	noUpload bool
	control  string
}

func (c *chainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.jump, "J", "", "jump hops, comma-separated (like ssh -J): tls://r1:7443,quic://r2:7443")
	fs.Var(&c.sshKeys, "i", "ssh identity file for ssh:// hops (repeatable; default: ~/.ssh config, agent, id_*)")
	fs.BoolVar(&c.noUpload, "no-upload", false, "never upload hopwire to an ssh:// target that lacks it")
	fs.StringVar(&c.control, "control", "", "ride the chain a 'hopwire mux --control PATH' holds to TARGET instead of dialing one")
}

// via parses -J, expanding the aliases of the config file in home.
func (c *chainFlags) via(home string) ([]hop.Addr, error) {
	if c.jump == "" {
		return nil, nil
	}
	v, err := hop.ParseChain(c.jump)
	if err != nil {
		return nil, fmt.Errorf("%w: -J: %v", errUsage, err)
	}
	cfg, err := loadConfig(home)
	if err != nil {
		return nil, err
	}
	return cfg.expandChain(v, 0)
}

// options are the library's dial options of these flags (and of cf's
// ssh options, when given): every route the command dials goes through
// hopwire.NewDialer or hopwire.DialChain with them.
func (f *identityFlags) options(stderr io.Writer, cf *chainFlags) (*hopwire.Options, error) {
	if err := f.checkLogFlags(); err != nil {
		return nil, err
	}
	id, err := f.identity()
	if err != nil {
		return nil, err
	}
	o := &hopwire.Options{Identity: id, Home: f.home, CA: f.ca, Link: f.linkConfig(id.Name()), Logger: f.logger(stderr)}
	if cf != nil {
		o.SSH = &hssh.ClientOptions{IdentityFiles: cf.sshKeys}
		o.NoUpload = cf.noUpload
	}
	return o, nil
}

// dialer builds the chain dialer from the identity flags.
func (f *identityFlags) dialer(stderr io.Writer) (*hop.Dialer, error) {
	o, err := f.options(stderr, nil)
	if err != nil {
		return nil, err
	}
	return hopwire.NewDialer(o)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var idf identityFlags
	idf.register(fs)
	idf.logLevel = slog.LevelInfo // a node says what it refuses and who comes and goes
	var cf chainFlags
	cf.register(fs)
	var listens, grants multi
	fs.Var(&listens, "listen", "listen URL (repeatable): tls://, quic://, dtls://, ssh://HOST:PORT, tcp://127.0.0.1:PORT")
	fs.Var(&grants, "grant", "PRINCIPAL:CAPABILITY[=SCOPE] (repeatable); capabilities: connect, exec, register, agent (reach agents through this relay), classic, forward-remote, relay (another relay of the fleet)")
	fs.StringVar(&idf.name, "name", "", "node name (and agent name with --connect); default: the identity's")
	useStdio := fs.Bool("stdio", false, "serve one link over stdin/stdout (as spawned by a stdio: hop)")
	var connects multi
	fs.Var(&connects, "connect", "run as a reverse agent: dial this relay URL and register --name (repeatable: a fleet's relays, tried in turn when one fails)")
	dirURL := fs.String("directory", "", "join a fleet of relays sharing this directory (nats://HOST:PORT, or tls://HOST:PORT for TLS: a NATS server with JetStream): agents registered at any of them are reachable through every one")
	dirCA := fs.String("directory-ca", "", "with --directory: speak TLS to the directory and verify its servers against the CA certificates in this PEM file (default with tls://: the system's roots); over TLS the relay presents its own certificate, which a server that verifies clients checks (NATS's tls block, verify: true)")
	dirCreds := fs.String("directory-creds", "", "with --directory: a NATS credentials file (user JWT and nkey seed) for a server that authenticates with them")
	dirReplicas := fs.Int("directory-replicas", 1, "with --directory: how many servers of a NATS cluster keep the fleet's buckets (1 to 5; 3 outlives a server); set by the relay that creates them")
	fleetAddr := fs.String("fleet-addr", "", "with --directory: the URL the fleet's other relays dial this one at (default: the first --listen, which must then name a host)")
	fleetLease := fs.Duration("fleet-lease", 15*time.Second, "with --directory: how long the fleet keeps this relay's agents after it stops renewing them (it renews every third of it)")
	insecureTCP := fs.Bool("insecure-tcp", false, "allow tcp:// listeners off loopback (no authentication!)")
	sshAuth := fs.String("ssh-authorized-keys", "", "authorized_keys of ssh:// listeners (default: authorized_keys in --home)")
	classicRoot := fs.String("classic-root", "", "confine classic administration's FILE operations to this directory (resolved beneath it, symlinks included); processes are NOT confined, so under a root they are refused unless the principal also holds an exec grant")
	stateSock := fs.String("state", "", "serve the node's state (goroutines, sessions, streams, refs, drops) as JSON on this unix socket; read it with hopwire state")
	admin := fs.String("admin", "", "serve a status page (/), /metrics (Prometheus), /healthz and /readyz on this HOST:PORT, e.g. 127.0.0.1:9090 (off by default); plain HTTP on loopback, anywhere else HTTPS that requires a client certificate the node trusts (--ca, authorized)")
	rpycListen := fs.String("rpyc", "", "also serve Python RPyC clients on this loopback HOST:PORT (node info; RPyC has no authentication)")
	maxHandshakes := fs.Int("max-handshakes", 0, "limit: peers each tls, dtls or ssh listener holds before they authenticate (default 64; one source network at most a quarter)")
	handshakeTimeout := fs.Duration("handshake-timeout", 0, "limit: how long a peer may take to authenticate (default 10s)")
	maxLinksPerPeer := fs.Int("max-links-per-key", 0, "limit: links one peer key holds at once (default 16; negative: no cap)")
	var memoryBudget byteSize
	fs.Var(&memoryBudget, "memory-budget", "limit: bytes all links may hold received and unread, e.g. 512MiB (default 512MiB); while spent, new links and streams are refused")
	configFile := fs.String("config", "", "read settings from this file: one flag per line ('grant ops:connect=10.0.0.0/8:22'), # comments; flags given here override it; SIGHUP reloads its grants, log level, and the certificate")
	check := fs.Bool("check", false, "check the settings (and --config's file) and the files they name, print what would run, and exit")
	if err := parse(fs, args); err != nil {
		return err
	}
	cmdline := setFlags(fs)
	var settings []serveSetting
	if *configFile != "" {
		var err error
		if settings, err = applyServeConfig(fs, *configFile, cmdline); err != nil {
			return err
		}
	}
	if err := idf.checkLogFlags(); err != nil {
		return err
	}
	idf.mayCreateHome = *useStdio // spawned on a host that may never have run hopwire
	if len(listens) == 0 && !*useStdio && len(connects) == 0 {
		return fmt.Errorf("%w: serve needs --listen, --stdio or --connect", errUsage)
	}
	if *admin != "" && *useStdio {
		return fmt.Errorf("%w: --admin needs --listen or --connect: a --stdio node serves one link and has no admin listener", errUsage)
	}
	if *dirURL != "" && len(listens) == 0 {
		return fmt.Errorf("%w: --directory needs --listen: a fleet relay serves clients and the fleet's other relays", errUsage)
	}
	if *dirURL == "" && (*fleetAddr != "" || *dirCA != "" || *dirCreds != "" || *dirReplicas != 1) {
		return fmt.Errorf("%w: --fleet-addr, --directory-ca, --directory-creds and --directory-replicas need --directory", errUsage)
	}
	if *dirReplicas < 1 || *dirReplicas > 5 {
		return fmt.Errorf("%w: --directory-replicas %d: want 1 to 5", errUsage, *dirReplicas)
	}
	for _, l := range listens {
		if !strings.Contains(l, "://") {
			return fmt.Errorf("%w: --listen %q: want SCHEME://HOST:PORT, e.g. tls://%s", errUsage, l, l)
		}
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
	if *useStdio {
		log = slog.New(slog.DiscardHandler) // stderr is the spawner's: -v only
		if idf.verbose {
			log = idf.logger(stderr)
		}
	}
	fleet := fleetDir{url: *dirURL, lease: *fleetLease, ca: *dirCA, creds: *dirCreds, replicas: *dirReplicas, addr: *fleetAddr, id: id}
	srv, err := relay.New(&relay.Options{
		Name: idf.name, Identity: id, Trust: trust, Policy: relay.NewPolicy(gs),
		Listen: listens, InsecureTCP: *insecureTCP, Logger: log, Version: version, Link: idf.linkConfig(""),
		SSHAuthorizedKeys: orDefault(*sshAuth, filepath.Join(idf.home, "authorized_keys")),
		ClassicRoot:       *classicRoot,
		MaxHandshakes:     *maxHandshakes, HandshakeTimeout: *handshakeTimeout,
		MaxLinksPerPeer: *maxLinksPerPeer, MemoryBudget: int64(memoryBudget),
		StateSocket: *stateSock,
		Admin:       *admin,
		Fleet:       fleetDirectory(fleet, log),
		FleetAddr:   *fleetAddr,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if *check {
		return checkServe(stdout, listens, gs, id, fleet)
	}
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
	nt := takeNotifySocket(log) // systemd's Type=notify
	if err := srv.Start(ctx); err != nil {
		return err
	}
	warnExpiry(log, id, time.Now())
	rl := &serveReload{fs: fs, path: *configFile, cmdline: cmdline, settings: settings, idf: &idf, srv: srv, log: log}
	rl.extra = gs[len(grants):] // a stdio node's, of no flag
	if cmdline["grant"] || *configFile == "" {
		rl.grants = grants
	}
	defer onHangup(log, rl, nt)()
	for _, a := range srv.Addrs() {
		fmt.Fprintf(stdout, "listening %s\n", a)
	}
	if u := srv.AdminURL(); u != "" {
		fmt.Fprintf(stdout, "admin %s\n", u)
	}
	fmt.Fprintf(stdout, "node %s %s\n", id.Name(), id.Fingerprint())
	if *rpycListen != "" {
		stop, err := startRPyC(ctx, *rpycListen, &rpycNode{Name: id.Name(), Fingerprint: id.Fingerprint(), Version: version}, stdout)
		if err != nil {
			return err
		}
		defer stop()
	}
	defer nt.ready(srv.Addrs())() // every listener is up: READY=1, then STOPPING=1 on the way out
	if len(connects) > 0 {
		if idf.name == "" {
			return fmt.Errorf("%w: --connect needs --name", errUsage)
		}
		var relays []hop.Addr
		for _, c := range connects {
			a, err := hop.Parse(c)
			if err != nil {
				return fmt.Errorf("%w: --connect: %v", errUsage, err)
			}
			relays = append(relays, a)
		}
		via, err := cf.via(idf.home)
		if err != nil {
			return err
		}
		d, err := idf.dialer(stderr)
		if err != nil {
			return err
		}
		err = srv.RunAgentAt(ctx, d, via, relays, idf.name, func(relay hop.Addr) {
			fmt.Fprintf(stdout, "registered as %s at %s\n", idf.name, relay)
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
	rc.asJSON = new(bool)
	return rc
}

// withJSON adds --json to a command that has results to print.
func (rc *routeCmd) withJSON(what string) *routeCmd {
	rc.asJSON = rc.fs.Bool("json", false, "print "+what+" as JSON")
	return rc
}

// dial parses args and dials the route to TARGET.
func (rc *routeCmd) dial(ctx context.Context, args []string, stderr io.Writer) (*hop.Route, error) {
	if err := parseInterleaved(rc.fs, args); err != nil {
		return nil, err
	}
	return dialTarget(ctx, rc.fs, &rc.idf, &rc.cf, stderr)
}

// dialTarget dials the route to the TARGET argument through -J.
func dialTarget(ctx context.Context, fs *flag.FlagSet, idf *identityFlags, cf *chainFlags, stderr io.Writer) (*hop.Route, error) {
	if fs.NArg() < 1 {
		return nil, fmt.Errorf("%w: missing TARGET; see %s --help", errUsage, fs.Name())
	}
	return dialRoute(ctx, fs.Arg(0), idf, cf, stderr)
}

// dialRoute dials the route to target (a hop or a config alias) through
// -J, or through the alias's via chain when -J was not given.
func dialRoute(ctx context.Context, name string, idf *identityFlags, cf *chainFlags, stderr io.Writer) (*hop.Route, error) {
	if cf.control != "" {
		cfg, err := loadConfig(idf.home)
		if err != nil {
			return nil, err
		}
		_, target, err := cf.route(cfg, name)
		if err != nil {
			return nil, err
		}
		return dialControl(ctx, cf.control, target)
	}
	c, err := dialClient(ctx, name, idf, cf, stderr, nil)
	if err != nil {
		return nil, err
	}
	return c.Route(), nil
}

// dialClient is dialRoute through the library's Client; edit, if not nil,
// adjusts the options (forward's listeners ask for Redial).
func dialClient(ctx context.Context, name string, idf *identityFlags, cf *chainFlags, stderr io.Writer, edit func(*hopwire.Options)) (*hopwire.Client, error) {
	if err := idf.checkHome(); err != nil {
		return nil, err
	}
	if cf.control != "" {
		return nil, fmt.Errorf("%w: --control: this command dials its own chain (a hopwire mux carries calls: exec, shell, put, get, ls, cat, rm, mkdir, call, ping)", errUsage)
	}
	cfg, err := loadConfig(idf.home)
	if err != nil {
		return nil, err
	}
	via, target, err := cf.route(cfg, name)
	if err != nil {
		return nil, err
	}
	return dialChain(ctx, via, target, idf, cf, stderr, func(o *hopwire.Options) {
		o.ConnectTimeout = idf.timeout(cfg)
		if edit != nil {
			edit(o)
		}
	})
}

// dialChain dials via then target with the flags' options (edited by
// edit, if not nil), explains a failure, and warns about hops trusted by
// entries bound to no address.
func dialChain(ctx context.Context, via []hop.Addr, target hop.Addr, idf *identityFlags, cf *chainFlags, stderr io.Writer, edit func(*hopwire.Options)) (*hopwire.Client, error) {
	o, err := idf.options(stderr, cf)
	if err != nil {
		return nil, err
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = idf.timeout(nil)
	}
	if edit != nil {
		edit(o)
	}
	c, err := hopwire.DialChain(ctx, via, target, o)
	if err != nil {
		return nil, explainDial(ctx, err, o.Identity, o.ConnectTimeout)
	}
	warnUnbound(stderr, c.Route())
	return c, nil
}

// timeout is the chain's connect timeout: --connect-timeout, else the
// config file's, else 15 s.
func (f *identityFlags) timeout(cfg *config) time.Duration {
	switch {
	case f.connectTimeout > 0:
		return f.connectTimeout
	case cfg != nil && cfg.connectTimeout > 0:
		return cfg.connectTimeout
	}
	return hopwire.DefaultConnectTimeout
}

// route resolves TARGET and the chain before it: config aliases in
// both, -J before an alias's via.
func (c *chainFlags) route(cfg *config, name string) (via []hop.Addr, target hop.Addr, err error) {
	tname, aliasVia, isAlias := resolveAlias(cfg.aliases, name)
	jump := c.jump
	if jump == "" {
		jump = aliasVia
	}
	if jump != "" {
		if via, err = hop.ParseChain(jump); err != nil {
			return nil, target, fmt.Errorf("%w: -J: %v", errUsage, err)
		}
		if via, err = cfg.expandChain(via, 0); err != nil {
			return nil, target, err
		}
	}
	target, err = hop.Parse(tname)
	if err != nil {
		return nil, target, fmt.Errorf("%w: %v%s", errUsage, err, targetHint(name))
	}
	if target.Scheme == "" && isAlias && tname != name {
		// The alias names another alias (or an agent behind its via).
		hops, err := cfg.expandChain([]hop.Addr{target}, 1)
		if err != nil {
			return nil, target, err
		}
		via, target = append(via, hops[:len(hops)-1]...), hops[len(hops)-1]
	}
	if target.Scheme == "" && len(via) == 0 {
		return nil, target, fmt.Errorf("%w: %q is not a hop: an agent NAME needs its relay (-J tls://RELAY:PORT %s), a host needs a scheme (tls://%s:PORT, ssh://%s), or name it in %s",
			errUsage, name, name, name, name, "$HOPWIRE_HOME/config")
	}
	return via, target, nil
}

// targetHint suggests a scheme for a TARGET written as HOST:PORT.
func targetHint(name string) string {
	if host, port, err := net.SplitHostPort(name); err == nil && host != "" && port != "" && !strings.Contains(name, "://") {
		return fmt.Sprintf("; did you mean tls://%s or quic://%s?", name, name)
	}
	return ""
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
	rc := newRouteCmd("ping", stderr).withJSON("each round trip")
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
	rc := newRouteCmd("trace", stderr).withJSON("the hops")
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
				return &hop.Error{Index: i + 1, Addr: h.Addr, Err: err}
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
		rtt := (time.Duration(h.RTTMicros) * time.Microsecond).String()
		if h.Transport == "ssh" && h.RTTMicros == 0 {
			rtt = "-" // a plain OpenSSH bastion: no session to ping
		}
		fmt.Fprintf(stdout, "%2d  %-28s %-9s %-14s %s %-11s rtt=%s setup=%v\n", h.Hop, h.Addr, h.Transport, quoteName(h.Principal), h.Fingerprint, verified,
			rtt, time.Duration(h.SetupMicros)*time.Microsecond)
	}
	return nil
}

// fleetDir is what serve's --directory flags say.
type fleetDir struct {
	url      string
	lease    time.Duration
	ca       string          // --directory-ca
	creds    string          // --directory-creds
	replicas int             // --directory-replicas
	addr     string          // --fleet-addr (for --check)
	id       *certs.Identity // presented over TLS
}

// options is the directory's Options but for its logger and metrics;
// it checks the URL.
func (f fleetDir) options() (*directory.Options, error) {
	_, secure, err := directory.ParseURL(f.url)
	if err != nil {
		return nil, err
	}
	o := &directory.Options{Lease: f.lease, Credentials: f.creds, Replicas: f.replicas}
	if f.ca != "" || secure {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{f.id.TLSCertificate()}}
		if f.ca != "" {
			pool, err := certs.LoadPool(f.ca)
			if err != nil {
				return nil, fmt.Errorf("--directory-ca: %w", err)
			}
			o.TLS.RootCAs = pool
		}
	}
	return o, nil
}

// fleetDirectory is serve's Options.Fleet for --directory URL; nil
// without one.
func fleetDirectory(f fleetDir, log *slog.Logger) func(context.Context, directory.RelayInfo, directory.Metrics) (directory.Directory, error) {
	if f.url == "" {
		return nil
	}
	return func(ctx context.Context, self directory.RelayInfo, m directory.Metrics) (directory.Directory, error) {
		o, err := f.options()
		if err != nil {
			return nil, err
		}
		o.Logger, o.Metrics = log, m
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		d, err := directory.Open(ctx, f.url, self, o)
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			if f.ca == "" {
				err = fmt.Errorf("%w (give the CA that issued the directory server's certificate: --directory-ca FILE)", err)
			} else {
				err = fmt.Errorf("%w (--directory-ca %s does not hold the CA that issued the directory server's certificate)", err, f.ca)
			}
		}
		return d, err
	}
}

func runPeers(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("peers", stderr).withJSON("the agent names (with --fleet: name, fingerprint, home relay)")
	fleet := rc.fs.Bool("fleet", false, "list every agent of the relay's fleet with its home relay")
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	if *fleet {
		agents, err := session.Call[[]relay.FleetAgent](ctx, route.Target().Service("node"), "Fleet")
		if err != nil {
			return err
		}
		if *rc.asJSON {
			return json.NewEncoder(stdout).Encode(agents)
		}
		for _, a := range agents {
			fmt.Fprintf(stdout, "%-24s %s %s\n", quoteName(a.Name), a.Fingerprint, quoteName(a.RelayAddr))
		}
		return nil
	}
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
	list := fs.Bool("list", false, "list the entries of known_nodes and authorized (or of the one --known or --authorized names)")
	remove := fs.String("remove", "", "remove every entry of this FINGERPRINT (from the file --known or --authorized names, else from both)")
	asJSON := fs.Bool("json", false, "with --list: print JSON")
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if err := homeExists(*home); err != nil {
		return err
	}
	files := []string{certs.KnownNodesFile, certs.AuthorizedFile}
	switch {
	case *known && *authorized:
		return fmt.Errorf("%w: trust takes --known or --authorized, not both", errUsage)
	case *known:
		files = files[:1]
	case *authorized:
		files = files[1:]
	}
	if *list || *remove != "" {
		if *list && *remove != "" || fs.NArg() > 0 {
			return fmt.Errorf("%w: trust --list and trust --remove FINGERPRINT take no other arguments", errUsage)
		}
		if *list {
			return listTrust(stdout, *home, files, *asJSON)
		}
		fp, err := certs.ParseFingerprint(*remove)
		if err != nil {
			return fmt.Errorf("%w: --remove: %v", errUsage, err)
		}
		total := 0
		for _, f := range files {
			path := filepath.Join(*home, f)
			n, err := certs.RemoveEntries(path, fp)
			if err != nil {
				return err
			}
			if n > 0 {
				fmt.Fprintf(stdout, "removed %s from %s (%d entries)\n", fp, path, n)
			}
			total += n
		}
		if total == 0 {
			return fmt.Errorf("%s is in none of %s; hopwire trust --list shows what is", fp, strings.Join(files, ", "))
		}
		return nil
	}
	if !*known && !*authorized {
		return fmt.Errorf("%w: trust needs --known or --authorized (or --list, --remove FINGERPRINT)", errUsage)
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
	path := filepath.Join(*home, files[0])
	if (len(addrs) > 0 || *shared) && fs.Arg(1) == "" {
		return fmt.Errorf("%w: --addr and --shared need a NAME: trust --known FINGERPRINT NAME --addr HOST:PORT", errUsage)
	}
	if err := certs.AddEntry(path, certs.Entry{Fingerprint: fp, Name: fs.Arg(1), Addrs: addrs, Shared: *shared}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s to %s\n", fp, path)
	return nil
}

// trustEntry is one line of trust --list --json.
type trustEntry struct {
	File        string   `json:"file"` // known_nodes or authorized
	Fingerprint string   `json:"fingerprint"`
	Name        string   `json:"name,omitempty"`
	Addrs       []string `json:"addrs,omitempty"`
	Shared      bool     `json:"shared,omitempty"`
}

func listTrust(stdout io.Writer, home string, files []string, asJSON bool) error {
	out := []trustEntry{}
	for _, f := range files {
		es, err := certs.ReadEntries(filepath.Join(home, f))
		if err != nil {
			return err
		}
		for _, e := range es {
			out = append(out, trustEntry{File: f, Fingerprint: e.Fingerprint, Name: e.Name, Addrs: e.Addrs, Shared: e.Shared})
		}
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	for _, e := range out {
		line := fmt.Sprintf("%-12s %s %s", e.File, e.Fingerprint, orDefault(e.Name, "-"))
		if len(e.Addrs) > 0 {
			line += " addr=" + strings.Join(e.Addrs, ",")
		}
		if e.Shared {
			line += " shared"
		}
		fmt.Fprintln(stdout, line)
	}
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

// onHangup makes SIGHUP a reload instead of the end of the node
// (serveReload.reload), and checks the certificate's expiry twice a day.
// Under systemd, nt reports RELOADING=1 and READY=1 around a reload. The
// returned function stops listening for SIGHUP.
func onHangup(log *slog.Logger, rl *serveReload, nt *notifier) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	tick := time.NewTicker(12 * time.Hour)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if id := rl.srv.Identity(); id != nil {
					warnExpiry(log, id, time.Now())
				}
			case <-hup:
				reloaded := nt.reloading()
				if err := rl.reload(); err != nil {
					log.Error("SIGHUP: reload failed; the node keeps its running configuration", "err", err)
				}
				reloaded()
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		tick.Stop()
		close(done)
	}
}
