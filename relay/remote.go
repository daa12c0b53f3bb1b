package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/hopwire/hopwire/session/connect"
)

// ListenRemote listens on bind (HOST:PORT) on this node for the caller —
// a remote forward, ssh -R — if a forward-remote grant covers the address.
// Every connection accepted is sent back to the caller as a connect stream
// back ([connect.Reverse] of tag). It returns when the caller cancels the call or the
// session ends.
//
// ready, if given (newer clients give one), is called with the address
// listened on once the listener is up, so the caller knows the forward
// stands before its first connection (hop.Route.Listen).
func (n *nodeService) ListenRemote(ctx context.Context, bind, tag string, ready ...func(string)) error {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	ap, err := netip.ParseAddrPort(bind)
	if err != nil {
		return fmt.Errorf("relay: remote forward: bind %s: want IP:PORT", clip(bind))
	}
	_, err = n.s.pol().AllowAddr(n.peer, CapForwardRemote, ap.Addr(), ap.Port())
	n.s.metrics.decide(CapForwardRemote, err)
	if err != nil {
		n.s.log.Warn("remote forward denied", "bind", bind, "peer", n.peer.Principal, "err", err)
		return err
	}
	if strings.ContainsAny(tag, " \n") || len(tag) > 64 {
		return fmt.Errorf("relay: remote forward: bad tag %s", clip(tag))
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return err
	}
	n.s.log.Info("remote forward", "bind", ln.Addr().String(), "peer", n.peer.Principal)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	if len(ready) > 0 && ready[0] != nil {
		ready[0](ln.Addr().String())
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return ctx.Err()
		}
		n.s.wg.Add(1)
		go func() {
			defer n.s.wg.Done()
			// The client accepts each connection (or refuses it: its
			// local service is down) before any byte flows.
			st, err := connect.Open(ctx, n.conn.Link(), connect.Reverse(tag))
			if err != nil {
				n.s.log.Info("remote forward: the client refused a connection", "bind", bind, "peer", n.peer.Principal, "err", err)
				connect.Abort(c, err)
				return
			}
			key := &forwardEntry{peer: n.peer, network: "remote", dest: shown(c.RemoteAddr().String()) + " → " + ln.Addr().String(), remote: true}
			key.tcp, _ = c.(*net.TCPConn)
			n.s.book.forwardStart(key, key)
			r := connect.SpliceCounted(st, c)
			n.s.book.forwardEnd(key)
			n.s.metrics.relayed(r.ToStream, r.ToConn) // up: from whoever connected to bind, to the caller's side
		}()
	}
}
