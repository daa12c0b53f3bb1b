package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

// runForward: hopwire forward [-J chain] TARGET -L [BIND:]PORT:HOST:PORT... -D [BIND:]PORT...
// Local forwards (-L) and SOCKS5 proxies (-D, CONNECT) whose connections
// leave from TARGET, several at once, until interrupted. The chain is
// dialed again when it breaks, on the next connection.
func runForward(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("forward", stderr)
	var locals, socks, remotes multi
	rc.fs.Var(&locals, "L", "[BIND:]PORT:HOST:PORT: listen here, connect from TARGET (repeatable)")
	rc.fs.Var(&remotes, "R", "[BIND:]PORT:HOST:PORT: listen on TARGET (needs a forward-remote grant), connect from here (repeatable)")
	rc.fs.Var(&socks, "D", "[BIND:]PORT: a SOCKS5 proxy here whose connections leave from TARGET (repeatable)")
	if err := parseInterleaved(rc.fs, args); err != nil {
		return err
	}
	if len(locals)+len(socks)+len(remotes) == 0 {
		return fmt.Errorf("%w: forward needs -L, -R or -D", errUsage)
	}
	// Remote forwards: the target opens a stream back for each
	// connection it accepts, tagged with the forward's index.
	reverse := map[string]string{}
	var remoteBinds []string
	for i, spec := range remotes {
		bind, dest, err := parseLocalForward(spec)
		if err != nil {
			return fmt.Errorf("%w: -R %s: %v", errUsage, spec, err)
		}
		tag := strconv.Itoa(i)
		reverse[tag] = dest
		remoteBinds = append(remoteBinds, bind)
	}
	var streams sync.WaitGroup
	defer streams.Wait()
	sess := &session.Options{Accept: func(st *session.Stream) {
		req, err := session.ParseConnectRequest(st.Header())
		dest, ok := "", false
		if err == nil && strings.HasPrefix(req.Address, relay.ReversePrefix) {
			dest, ok = reverse[strings.TrimPrefix(req.Address, relay.ReversePrefix)]
		}
		if !ok {
			st.Abort(session.AbortRefused, "no such remote forward here")
			return
		}
		streams.Add(1)
		go func() {
			defer streams.Done()
			c, err := net.DialTimeout("tcp", dest, 10*time.Second)
			if err != nil {
				st.Abort(session.AbortUpstream, err.Error())
				return
			}
			splice(st, c)
		}()
	}}
	r := &reRoute{dial: func(ctx context.Context) (*hop.Route, error) {
		return dialTargetWith(ctx, rc.fs, &rc.idf, &rc.cf, stderr, sess)
	}}
	defer r.close()
	if _, err := r.get(ctx); err != nil { // fail early on a bad chain
		return err
	}
	var wg sync.WaitGroup
	var listeners []net.Listener
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
		wg.Wait()
	}()
	for _, spec := range locals {
		bind, dest, err := parseLocalForward(spec)
		if err != nil {
			return fmt.Errorf("%w: -L %s: %v", errUsage, spec, err)
		}
		ln, err := net.Listen("tcp", bind)
		if err != nil {
			return err
		}
		listeners = append(listeners, ln)
		fmt.Fprintf(stdout, "forwarding %s -> %s (from %s)\n", ln.Addr(), dest, rc.fs.Arg(0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveListener(ctx, ln, func(c net.Conn) { forwardConn(ctx, r, c, dest, stderr) })
		}()
	}
	for _, spec := range socks {
		bind := spec
		if !strings.Contains(bind, ":") {
			bind = "127.0.0.1:" + bind
		}
		ln, err := net.Listen("tcp", bind)
		if err != nil {
			return err
		}
		listeners = append(listeners, ln)
		fmt.Fprintf(stdout, "SOCKS5 on %s (connections leave from %s)\n", ln.Addr(), rc.fs.Arg(0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveListener(ctx, ln, func(c net.Conn) { serveSOCKS(ctx, r, c, stderr) })
		}()
	}
	for i, bind := range remoteBinds {
		fmt.Fprintf(stdout, "remote forwarding %s (on %s) -> %s\n", bind, rc.fs.Arg(0), reverse[strconv.Itoa(i)])
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The remote listener lives as long as this call; it is set
			// up again when the chain breaks and comes back.
			for ctx.Err() == nil {
				rt, err := r.get(ctx)
				if err == nil {
					_, err = rt.Target().Service("node").Call(ctx, "ListenRemote", bind, strconv.Itoa(i))
				}
				if ctx.Err() != nil {
					return
				}
				fmt.Fprintln(stderr, "hopwire: remote forward", bind+":", quoteName(fmt.Sprint(err)))
				if errors.Is(err, session.ErrDenied) {
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	<-ctx.Done()
	return nil
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

func serveListener(ctx context.Context, ln net.Listener, handle func(net.Conn)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			handle(c)
		}()
	}
}

// reRoute holds the current route and dials a new one when it broke.
type reRoute struct {
	dial func(ctx context.Context) (*hop.Route, error)
	mu   sync.Mutex
	r    *hop.Route
}

func (rr *reRoute) get(ctx context.Context) (*hop.Route, error) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.r != nil {
		select {
		case <-rr.r.Done():
			rr.r.Close()
			rr.r = nil
		default:
			return rr.r, nil
		}
	}
	r, err := rr.dial(ctx)
	if err != nil {
		return nil, err
	}
	rr.r = r
	return r, nil
}

func (rr *reRoute) close() {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.r != nil {
		rr.r.Close()
	}
}

// forwardConn connects c to dest from the target and copies both ways,
// passing half-closes and failures on.
func forwardConn(ctx context.Context, rr *reRoute, c net.Conn, dest string, stderr io.Writer) {
	defer c.Close()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := rr.get(dctx)
	if err != nil {
		fmt.Fprintln(stderr, "hopwire: forward:", quoteName(err.Error()))
		return
	}
	remote, err := r.DialContext(dctx, "tcp", dest)
	if err != nil {
		fmt.Fprintln(stderr, "hopwire: forward:", quoteName(err.Error()))
		return
	}
	splice(c, remote)
}

// splice copies both ways until both ends are done, passing a clean end
// on as a half-close.
func splice(a, b net.Conn) {
	defer b.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := io.Copy(b, a); err == nil {
			halfClose(b)
		} else {
			b.Close()
		}
	}()
	if _, err := io.Copy(a, b); err == nil {
		halfClose(a)
	} else {
		a.Close()
	}
	<-done
}

func halfClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// serveSOCKS serves one SOCKS5 client (no authentication, CONNECT) whose
// connection leaves from the target.
func serveSOCKS(ctx context.Context, rr *reRoute, c net.Conn, stderr io.Writer) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	if !containsByte(methods, 0) {
		c.Write([]byte{5, 0xff}) // no acceptable method
		return
	}
	c.Write([]byte{5, 0})
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[0] != 5 {
		return
	}
	var host string
	switch req[3] {
	case 1:
		var ip [4]byte
		if _, err := io.ReadFull(c, ip[:]); err != nil {
			return
		}
		host = net.IP(ip[:]).String()
	case 4:
		var ip [16]byte
		if _, err := io.ReadFull(c, ip[:]); err != nil {
			return
		}
		host = net.IP(ip[:]).String()
	case 3:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(c, name); err != nil {
			return
		}
		host = string(name)
	default:
		socksReply(c, 8) // address type not supported
		return
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return
	}
	if req[1] == 3 { // UDP ASSOCIATE
		c.SetDeadline(time.Time{})
		serveSOCKSUDP(ctx, rr, c, stderr)
		return
	}
	if req[1] != 1 { // CONNECT and UDP ASSOCIATE only
		socksReply(c, 7)
		return
	}
	dest := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:]))))
	r, err := rr.get(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "hopwire: socks:", quoteName(err.Error()))
		socksReply(c, 1)
		return
	}
	// A connect stream opens without a round trip, so success is
	// reported at once; a refusal by the target's policy reaches the
	// SOCKS client as the connection's abrupt end.
	remote, err := r.DialContext(ctx, "tcp", dest)
	if err != nil {
		fmt.Fprintln(stderr, "hopwire: socks:", quoteName(dest), quoteName(err.Error()))
		socksReply(c, 5) // connection refused
		return
	}
	socksReply(c, 0)
	c.SetDeadline(time.Time{})
	splice(c, remote)
}

func socksReply(c net.Conn, code byte) {
	c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0})
}

func containsByte(b []byte, x byte) bool {
	for _, c := range b {
		if c == x {
			return true
		}
	}
	return false
}

// serveSOCKSUDP serves a UDP ASSOCIATE: a local UDP socket takes the SOCKS
// client's datagrams (each with its SOCKS header naming the destination)
// and every destination gets a connect udp stream that leaves from the
// target; answers come back with the header naming their source. The
// association lasts as long as the client's TCP connection.
func serveSOCKSUDP(ctx context.Context, rr *reRoute, ctrl net.Conn, stderr io.Writer) {
	host, _, _ := net.SplitHostPort(ctrl.LocalAddr().String())
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		socksReply(ctrl, 1)
		return
	}
	defer pc.Close()
	laddr := pc.LocalAddr().(*net.UDPAddr)
	reply := []byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	if ip4 := laddr.IP.To4(); ip4 != nil {
		copy(reply[4:8], ip4)
	}
	binary.BigEndian.PutUint16(reply[8:], uint16(laddr.Port))
	ctrl.Write(reply)
	go func() {
		io.Copy(io.Discard, ctrl) // the association ends with the TCP connection
		pc.Close()
	}()
	var mu sync.Mutex
	flows := map[string]net.Conn{}
	defer func() {
		mu.Lock()
		for _, f := range flows {
			f.Close()
		}
		mu.Unlock()
	}()
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		dest, payload, ok := parseSOCKSUDP(buf[:n])
		if !ok {
			continue // fragments and malformed datagrams are dropped, as RFC 1928 allows
		}
		mu.Lock()
		flow := flows[dest]
		mu.Unlock()
		if flow == nil {
			r, err := rr.get(ctx)
			if err != nil {
				fmt.Fprintln(stderr, "hopwire: socks udp:", quoteName(err.Error()))
				continue
			}
			if flow, err = r.DialContext(ctx, "udp", dest); err != nil {
				fmt.Fprintln(stderr, "hopwire: socks udp:", quoteName(dest), quoteName(err.Error()))
				continue
			}
			mu.Lock()
			flows[dest] = flow
			mu.Unlock()
			go func(flow net.Conn, dest string, client net.Addr) {
				hdr := socksUDPHeader(dest)
				b := make([]byte, 65535)
				for {
					n, err := flow.Read(b)
					if err != nil {
						return
					}
					pc.WriteTo(append(append([]byte(nil), hdr...), b[:n]...), client)
				}
			}(flow, dest, from)
		}
		flow.Write(payload)
	}
}

// parseSOCKSUDP splits a SOCKS5 UDP datagram: RSV(2) FRAG(1) ATYP ADDR
// PORT DATA.
func parseSOCKSUDP(b []byte) (dest string, payload []byte, ok bool) {
	if len(b) < 4 || b[2] != 0 { // fragmentation is not supported
		return "", nil, false
	}
	var host string
	rest := b[4:]
	switch b[3] {
	case 1:
		if len(rest) < 4 {
			return "", nil, false
		}
		host, rest = net.IP(rest[:4]).String(), rest[4:]
	case 4:
		if len(rest) < 16 {
			return "", nil, false
		}
		host, rest = net.IP(rest[:16]).String(), rest[16:]
	case 3:
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return "", nil, false
		}
		host, rest = string(rest[1:1+int(rest[0])]), rest[1+int(rest[0]):]
	default:
		return "", nil, false
	}
	if len(rest) < 2 {
		return "", nil, false
	}
	port := binary.BigEndian.Uint16(rest)
	return net.JoinHostPort(host, strconv.Itoa(int(port))), rest[2:], true
}

// socksUDPHeader is the header of an answer from dest.
func socksUDPHeader(dest string) []byte {
	host, port, _ := net.SplitHostPort(dest)
	p, _ := strconv.Atoi(port)
	h := []byte{0, 0, 0}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		h = append(h, 1)
		h = append(h, ip.To4()...)
	} else if ip != nil {
		h = append(h, 4)
		h = append(h, ip.To16()...)
	} else {
		h = append(h, 3, byte(len(host)))
		h = append(h, host...)
	}
	return binary.BigEndian.AppendUint16(h, uint16(p))
}
