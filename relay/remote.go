package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/hopwire/hopwire/session"
)

// ReversePrefix starts the address of a connect stream a node opens back
// to a client for a remote forward (-R): "reverse:" and the client's tag.
const ReversePrefix = "reverse:"

// ListenRemote listens on bind (HOST:PORT) on this node for the caller —
// a remote forward, ssh -R — if a forward-remote grant covers the address.
// Every connection accepted is sent back to the caller as a connect stream
// to "reverse:TAG". It returns when the caller cancels the call or the
// session ends.
func (n *nodeService) ListenRemote(ctx context.Context, bind, tag string) error {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	ap, err := netip.ParseAddrPort(bind)
	if err != nil {
		return fmt.Errorf("relay: remote forward: bind %s: want IP:PORT", clip(bind))
	}
	peer := Peer{Name: n.peer.Principal, Fingerprint: n.peer.Fingerprint}
	if _, err := n.s.policy.AllowAddr(peer, CapForwardRemote, ap.Addr(), ap.Port()); err != nil {
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
	hdr, err := (&session.ConnectRequest{Network: session.ConnectTCP, Address: ReversePrefix + tag}).Encode()
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return ctx.Err()
		}
		st, err := n.conn.Link().OpenStream(ctx, session.KindConnect, hdr)
		if err != nil {
			c.Close()
			return err
		}
		n.s.wg.Add(1)
		go func() {
			defer n.s.wg.Done()
			Splice(st, c)
		}()
	}
}
