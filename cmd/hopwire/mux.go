package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
)

// hopwire mux is ssh's ControlMaster for hopwire chains: it dials a chain
// once and keeps it, and commands given --control PATH ride it instead of
// dialing their own. Each command's process connects to the unix socket
// at PATH (mode 0600; on Linux the peer's uid must be ours), runs a link
// over it, and calls the target's services (classic, eval, node, …)
// through the daemon, which forwards each call to its session with the
// target (session.Options.Forward): no handshake, no chain setup, only a
// unix-socket hop in front of the held route. The target still
// authenticated this user's identity when the daemon dialed it; what the
// socket adds is the file system's (and the kernel's) word that the
// caller is this user.
//
// The daemon redials a chain that broke, on the next call. --persist
// DURATION ends it after that long without a client (default: never).
// Connections (forward -L/-D) do not ride a control socket in this
// version: forward dials its own chain.

// controlPeer is the principal a control socket's link is given on both
// sides: the socket's permissions and owner check authenticate it.
const controlPeer = "control"

func runMux(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("mux", stderr)
	persist := rc.fs.Duration("persist", 0, "exit after this long without a client (0: never)")
	if err := parseInterleaved(rc.fs, args); err != nil {
		return err
	}
	control := &rc.cf.control // here: the socket to serve the chain on
	if *control == "" {
		return fmt.Errorf("%w: mux needs --control PATH", errUsage)
	}
	if rc.fs.NArg() != 1 {
		return fmt.Errorf("%w: mux takes one TARGET; see hopwire mux --help", errUsage)
	}
	cf := rc.cf
	cf.control = "" // the daemon dials the chain itself
	cfg, err := loadConfig(rc.idf.home)
	if err != nil {
		return err
	}
	_, target, err := cf.route(cfg, rc.fs.Arg(0))
	if err != nil {
		return err
	}
	c, err := dialClient(ctx, rc.fs.Arg(0), &rc.idf, &cf, stderr, func(o *hopwire.Options) { o.Redial = true })
	if err != nil {
		return err
	}
	defer c.Close()
	ln, err := listenControl(*control)
	if err != nil {
		return err
	}
	defer os.Remove(*control)
	defer ln.Close()
	fmt.Fprintf(stdout, "control %s -> %s\n", *control, target)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		clients int
		idle    = make(chan struct{}, 1)
		wg      sync.WaitGroup
	)
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	if *persist > 0 {
		go idleTimer(ctx, *persist, idle, cancel)
	}
	log := rc.idf.logger(stderr)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("mux: accept on %s: %w", *control, err)
		}
		if err := checkControlPeer(conn); err != nil {
			log.Warn("control socket: refused a client", "err", err)
			conn.Close()
			continue
		}
		mu.Lock()
		clients++
		mu.Unlock()
		wg.Go(func() {
			serveControl(ctx, conn, target.String(), c)
			mu.Lock()
			clients--
			if clients == 0 {
				select {
				case idle <- struct{}{}:
				default:
				}
			}
			mu.Unlock()
		})
	}
}

// idleTimer cancels the daemon once it has been idle for d: the clock
// starts at once and again whenever the last client leaves (idle), and
// a client arriving in the meantime does not stop it from being checked
// again when it leaves.
func idleTimer(ctx context.Context, d time.Duration, idle <-chan struct{}, cancel func()) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle:
			t.Reset(d)
		case <-t.C:
			cancel()
			return
		}
	}
}

// listenControl listens on a unix socket at path that only this user can
// use: a stale socket there (nobody answers) is replaced, a live one is
// not.
func listenControl(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("mux: %s is in use by another hopwire mux", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("mux: %s exists and is not a socket", path)
		}
		os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("mux: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("mux: listen %s: %w", path, err)
	}
	// Connecting takes write permission on the socket: until this chmod
	// the umask's mode applies (others cannot write under the usual
	// 022), and on Linux every client's uid is checked besides.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("mux: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}

// serveControl runs one client's link over conn: its calls to the target's
// services are forwarded through c's session with the target.
func serveControl(ctx context.Context, conn net.Conn, target string, c *hopwire.Client) {
	link, err := session.NewLink(conn, session.Server, &session.LinkConfig{Name: target, Peer: session.Peer{Principal: controlPeer}})
	if err != nil {
		return
	}
	sc, err := session.NewConn(ctx, link, &session.Options{
		Forward: func(service string) *session.Ref { return c.Conn().Service(service) },
	})
	if err != nil {
		return
	}
	select {
	case <-sc.Done():
	case <-ctx.Done():
	}
	sc.Close()
}

// dialControl reaches target through the hopwire mux at path: a route of
// one hop, the socket, whose session's calls the daemon forwards to its
// target. It refuses a daemon that holds a chain to another target.
func dialControl(ctx context.Context, path string, target hop.Addr) (*hop.Route, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("--control %s: no hopwire mux answers there (start one: hopwire mux --control %s [-J …] %s): %w", path, path, target, err)
	}
	link, err := session.NewLink(conn, session.Client, &session.LinkConfig{Name: controlPeer, Peer: session.Peer{Principal: controlPeer}})
	if err != nil {
		return nil, fmt.Errorf("--control %s: %w", path, err)
	}
	if held := link.Peer().Name; held != target.String() {
		link.Close()
		return nil, fmt.Errorf("%w: --control %s holds a chain to %s, not %s", errUsage, path, held, target)
	}
	sc, err := session.NewConn(ctx, link, nil)
	if err != nil {
		return nil, fmt.Errorf("--control %s: %w", path, err)
	}
	return &hop.Route{Hops: []*hop.Hop{{Addr: target, Transport: "control", Peer: link.Peer(), Conn: sc}}}, nil
}
