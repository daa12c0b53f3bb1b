package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/internal/httpproxy"
	"github.com/hopwire/hopwire/internal/socks5"
	"github.com/hopwire/hopwire/internal/udpflow"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
)

// runForward: hopwire forward [-J chain] TARGET -L [BIND:]PORT:HOST:PORT... -D [BIND:]PORT... -R [BIND:]PORT:HOST:PORT...
// Local forwards (-L), SOCKS5 proxies (-D, CONNECT and UDP ASSOCIATE)
// whose connections leave from TARGET, and remote forwards (-R: TARGET
// listens, connections come back here), several at once, until
// interrupted. The chain is dialed again when it breaks, on the next
// connection. Every connection refused on the far side is reported, one
// line each; a remote forward the target refuses ends the command with
// that reason. -W HOST:PORT (ssh's -W) instead joins stdin and stdout to
// one connection leaving from TARGET: a ProxyCommand for ssh, scp, rsync
// and git.
func runForward(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("forward", stderr)
	var locals, socks, remotes multi
	rc.fs.Var(&locals, "L", "[BIND:]PORT:HOST:PORT[/udp]: listen here, connect from TARGET (repeatable; /udp: datagrams, one flow per client)")
	udpIdle := rc.fs.Duration("udp-idle", udpflow.DefaultIdle, "close a UDP flow (-L …/udp, SOCKS5 UDP ASSOCIATE) after this long without a datagram either way")
	rc.fs.Var(&remotes, "R", "[BIND:]PORT:HOST:PORT: listen on TARGET (needs a forward-remote grant), connect from here (repeatable)")
	rc.fs.Var(&socks, "D", "[BIND:]PORT: a SOCKS5 proxy here whose connections leave from TARGET (repeatable)")
	var httpProxies multi
	rc.fs.Var(&httpProxies, "H", "[BIND:]PORT: an HTTP proxy here (CONNECT, and http:// requests) whose connections leave from TARGET (repeatable)")
	proxyAuth := rc.fs.String("proxy-auth", "", "FILE of USER:PASSWORD lines (mode 0600): -D and -H proxies require a username and password (SOCKS5: RFC 1929; HTTP: Proxy-Authorization Basic); needed off loopback")
	insecureSocks := rc.fs.Bool("insecure-socks", false, "allow -D and -H proxies off loopback without --proxy-auth (anyone who reaches them reaches what TARGET can)")
	stdio := rc.fs.String("W", "", "HOST:PORT: join stdin and stdout to one connection to HOST:PORT leaving from TARGET (ssh -o ProxyCommand='hopwire forward -W %h:%p …')")
	if err := parseInterleaved(rc.fs, args); err != nil {
		return err
	}
	if *stdio != "" {
		if len(locals)+len(socks)+len(remotes)+len(httpProxies) > 0 {
			return fmt.Errorf("%w: -W goes alone, without -L, -R, -D or -H", errUsage)
		}
		return forwardStdio(ctx, rc, *stdio, stdin, stdout, stderr)
	}
	if len(locals)+len(socks)+len(remotes)+len(httpProxies) == 0 {
		return fmt.Errorf("%w: forward needs -L, -R, -D, -H or -W", errUsage)
	}
	var users proxyUsers
	if *proxyAuth != "" {
		var err error
		if users, err = loadProxyAuth(*proxyAuth); err != nil {
			return err
		}
	}
	for _, binds := range []struct {
		flag  string
		specs multi
	}{{"D", socks}, {"H", httpProxies}} {
		for i, spec := range binds.specs {
			if !strings.Contains(spec, ":") {
				binds.specs[i] = "127.0.0.1:" + spec
			}
			if err := checkProxyBind(binds.flag, binds.specs[i], users != nil, *insecureSocks); err != nil {
				return err
			}
		}
	}
	type forward struct {
		bind, dest string
		udp        bool
	}
	parse := func(flag string, specs []string) ([]forward, error) {
		var out []forward
		for _, spec := range specs {
			f := forward{}
			base, proto, _ := strings.Cut(spec, "/")
			switch proto {
			case "", "tcp":
			case "udp":
				f.udp = flag == "L"
			}
			if !(proto == "" || proto == "tcp" || f.udp) {
				return nil, fmt.Errorf("%w: -%s %s: want …/tcp%s", errUsage, flag, spec, map[bool]string{true: " or …/udp", false: ""}[flag == "L"])
			}
			var err error
			if f.bind, f.dest, err = parseLocalForward(base); err != nil {
				return nil, fmt.Errorf("%w: -%s %s: %v", errUsage, flag, spec, err)
			}
			out = append(out, f)
		}
		return out, nil
	}
	lfs, err := parse("L", locals)
	if err != nil {
		return err
	}
	rfs, err := parse("R", remotes)
	if err != nil {
		return err
	}
	if rc.fs.NArg() < 1 {
		return fmt.Errorf("%w: missing TARGET; see forward --help", errUsage)
	}
	// The chain is dialed once now (a bad chain fails the command) and
	// again, by the client, on the first connection after it broke.
	target := rc.fs.Arg(0)
	r, err := dialClient(ctx, target, &rc.idf, &rc.cf, stderr, func(o *hopwire.Options) {
		o.Redial = true
		o.OnRetry = func(err error) {
			fmt.Fprintf(stderr, "hopwire: %s: the route broke: %s; retrying\n", target, quoteName(err.Error()))
		}
	})
	if err != nil {
		return err
	}
	defer r.Close()
	var wg sync.WaitGroup
	var listeners []net.Listener
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
		wg.Wait()
	}()
	for _, f := range lfs {
		if f.udp {
			pc, err := net.ListenPacket("udp", f.bind)
			if err != nil {
				return err
			}
			defer pc.Close()
			fmt.Fprintf(stdout, "forwarding udp %s -> %s (from %s)\n", pc.LocalAddr(), f.dest, target)
			wg.Go(func() { forwardUDP(ctx, r, pc, f.dest, target, *udpIdle, stderr) })
			continue
		}
		ln, err := net.Listen("tcp", f.bind)
		if err != nil {
			return err
		}
		listeners = append(listeners, ln)
		fmt.Fprintf(stdout, "forwarding %s -> %s (from %s)\n", ln.Addr(), f.dest, target)
		wg.Go(func() {
			serveListener(ln, func(c net.Conn) { forwardConn(ctx, r, c, ln.Addr().String(), f.dest, target, stderr) })
		})
	}
	for _, bind := range socks {
		ln, err := net.Listen("tcp", bind)
		if err != nil {
			return err
		}
		listeners = append(listeners, ln)
		fmt.Fprintf(stdout, "SOCKS5 on %s (connections leave from %s)\n", ln.Addr(), target)
		srv := socksServer(r, ln.Addr().String(), target, stderr)
		srv.UDPIdle = *udpIdle
		if users != nil {
			srv.Auth = users.check
		}
		wg.Go(func() { serveListener(ln, func(c net.Conn) { srv.ServeConn(ctx, c) }) })
	}
	for _, bind := range httpProxies {
		ln, err := net.Listen("tcp", bind)
		if err != nil {
			return err
		}
		listeners = append(listeners, ln)
		fmt.Fprintf(stdout, "HTTP proxy on %s (connections leave from %s)\n", ln.Addr(), target)
		hs := &http.Server{Handler: httpProxy(r, ln.Addr().String(), target, users, stderr), ReadHeaderTimeout: 30 * time.Second}
		wg.Go(func() { hs.Serve(ln) })
		defer hs.Close()
	}
	failed := make(chan error, len(rfs))
	for _, f := range rfs {
		// The remote listener follows the route: when the chain breaks
		// and comes back, the client listens there again.
		ln, err := remoteListen(ctx, r, f.bind)
		if err != nil {
			return fmt.Errorf("remote forward %s on %s: %w", f.bind, target, err)
		}
		fmt.Fprintf(stdout, "remote forwarding %s (on %s) -> %s\n", ln.Addr(), target, f.dest)
		listeners = append(listeners, ln)
		wg.Go(func() {
			err := serveRemote(ln, f.dest, target, stderr)
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				failed <- fmt.Errorf("remote forward %s on %s: %w", f.bind, target, err)
			}
		})
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// remoteListen opens a remote listener on the client's current route.
func remoteListen(ctx context.Context, c *hopwire.Client, bind string) (net.Listener, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.Listen(dctx, "tcp", bind)
}

// serveRemote connects each connection a remote listener accepts to dest,
// from here, until the listener ends, and returns why it ended.
func serveRemote(ln net.Listener, dest, target string, stderr io.Writer) error {
	return serveListener(ln, func(c net.Conn) {
		st := c.(*session.Stream)
		local, err := net.DialTimeout("tcp", dest, 10*time.Second)
		if err != nil {
			fmt.Fprintf(stderr, "hopwire: remote forward %s (on %s) -> %s: %s\n", ln.Addr(), target, dest, quoteName(err.Error()))
			connect.Abort(st, err)
			return
		}
		connect.Splice(st, local)
	})
}

// forwardUDP relays the datagrams of pc's clients to dest from the
// target: one flow (a udp connection through the chain) a client, closed
// after idle without datagrams, until pc is closed.
func forwardUDP(ctx context.Context, cl *hopwire.Client, pc net.PacketConn, dest, target string, idle time.Duration, stderr io.Writer) {
	flows := &udpflow.Table{Idle: idle}
	defer flows.Close()
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		err = flows.Send(from.String(), buf[:n], func() (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return cl.DialContext(dctx, "udp", dest)
		}, func(b []byte) { pc.WriteTo(b, from) })
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(stderr, "hopwire: forward udp %s -> %s: %s\n", pc.LocalAddr(), dest, explainRefusal(err, target))
		}
	}
}

// forwardConn connects c to dest from the target and splices them: a
// clean end passes on as a half-close, a failure as a reset, both ways.
// A refusal is reported on stderr, one line.
func forwardConn(ctx context.Context, cl *hopwire.Client, c net.Conn, bind, dest, target string, stderr io.Writer) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	remote, err := cl.DialContext(dctx, "tcp", dest)
	if err != nil {
		fmt.Fprintf(stderr, "hopwire: forward %s -> %s: %s\n", bind, dest, explainRefusal(err, target))
		connect.Abort(c, err)
		return
	}
	connect.Splice(remote.(*session.Stream), c)
}

// socksServer is the SOCKS5 server of a -D listener at bind.
func socksServer(c *hopwire.Client, bind, target string, stderr io.Writer) *socks5.Server {
	return &socks5.Server{
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return c.DialContext(dctx, network, addr)
		},
		Denied: deniedByPolicy,
		Splice: spliceUpstream,
		Refused: func(dest string, _ byte, err error) {
			fmt.Fprintf(stderr, "hopwire: socks %s -> %s: %s\n", bind, quoteName(dest), explainRefusal(err, target))
		},
	}
}

// deniedByPolicy reports whether a proxy's dial was refused by the far
// side's policy (SOCKS5 "not allowed by ruleset", HTTP 403).
func deniedByPolicy(err error) bool { return errors.Is(err, session.ErrDenied) }

// spliceUpstream joins a proxy client and its connection through the
// route: a clean end passes on as a half-close, a failure as a reset.
func spliceUpstream(client, upstream net.Conn) {
	if st, ok := upstream.(*session.Stream); ok {
		connect.Splice(st, client)
		return
	}
	client.Close()
	upstream.Close()
}

// explainRefusal says why a connection from target was refused, in one
// line: the far side's reason (which names the grant that would allow
// it), without the layers' prefixes.
func explainRefusal(err error, target string) string {
	var se *session.StreamError
	if errors.As(err, &se) && se.Remote && se.Reason != "" {
		why := strings.TrimPrefix(se.Reason, "relay: ")
		return "refused by " + target + ": " + quoteName(why)
	}
	return quoteName(err.Error())
}

// parseLocalForward parses [BIND:]PORT:HOST:PORT (BIND defaults to
// 127.0.0.1; HOST may be [IPv6]).
func parseLocalForward(s string) (bind, dest string, err error) {
	parts := splitForward(s)
	switch len(parts) {
	case 3:
		return net.JoinHostPort("127.0.0.1", parts[0]), net.JoinHostPort(parts[1], parts[2]), nil
	case 4:
		return net.JoinHostPort(parts[0], parts[1]), net.JoinHostPort(parts[2], parts[3]), nil
	}
	return "", "", errors.New("want [BIND:]PORT:HOST:PORT")
}

// splitForward splits at colons outside [brackets].
func splitForward(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				parts = append(parts, strings.Trim(s[start:i], "[]"))
				start = i + 1
			}
		}
	}
	return append(parts, strings.Trim(s[start:], "[]"))
}

// serveListener hands each accepted connection to handle, until Accept
// fails; it returns that error once every handler has returned.
func serveListener(ln net.Listener, handle func(net.Conn)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		wg.Go(func() { handle(c) })
	}
}

// forwardStdio is forward -W: one connection to dest leaving from the
// target, joined to stdin and stdout. stdin's end is passed on as a
// half-close; the command ends when the far side has closed its half (0)
// or the connection failed (an error naming why).
func forwardStdio(ctx context.Context, rc *routeCmd, dest string, stdin io.Reader, stdout, stderr io.Writer) error {
	if _, _, err := net.SplitHostPort(dest); err != nil {
		return fmt.Errorf("%w: -W %s: want HOST:PORT", errUsage, dest)
	}
	if rc.fs.NArg() < 1 {
		return fmt.Errorf("%w: missing TARGET; see forward --help", errUsage)
	}
	target := rc.fs.Arg(0)
	c, err := dialClient(ctx, target, &rc.idf, &rc.cf, stderr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := c.DialContext(dctx, "tcp", dest)
	cancel()
	if err != nil {
		return fmt.Errorf("-W %s: %s", dest, explainRefusal(err, target))
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() { done <- connect.JoinStdio(conn, stdin, stdout) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("-W %s (from %s): %s", dest, target, quoteName(err.Error()))
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// httpProxy is the HTTP proxy of a -H listener at bind.
func httpProxy(c *hopwire.Client, bind, target string, users proxyUsers, stderr io.Writer) *httpproxy.Handler {
	h := &httpproxy.Handler{
		Dial:   c.DialContext,
		Denied: deniedByPolicy,
		Splice: spliceUpstream,
		Refused: func(dest string, _ int, err error) {
			fmt.Fprintf(stderr, "hopwire: http proxy %s -> %s: %s\n", bind, quoteName(dest), explainRefusal(err, target))
		},
	}
	if users != nil {
		h.Auth = users.check
	}
	return h
}
