package relay

import (
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/session"
)

// A forward whose client ended cleanly, to an upstream that never reads,
// never sends and never closes (a tarpit: review F8, poc/holder.py), is let
// go of: within the half-close timeout while the client's link stays up,
// and at once when that link goes away. Either way the relay resets the
// upstream connection and returns to its baseline of goroutines and
// descriptors. It used to keep both for as long as the upstream kept
// silent.
func TestSpliceUpstreamIgnoringFIN(t *testing.T) {
	for _, tc := range []struct {
		name      string
		halfClose time.Duration
		closeLink bool // the client's link ends right after the forward
	}{
		{"half-close-timeout", 300 * time.Millisecond, false},
		{"link-end", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			held := make(chan net.Conn, 1)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				c, err := ln.Accept()
				if err == nil {
					held <- c
				}
			}()
			client := newIdentity(t, "client")
			node := startNodeWith(t, "r", "tls://127.0.0.1:0", []*certs.Identity{client},
				func(o *Options) { o.Link = &session.LinkConfig{HalfCloseTimeout: tc.halfClose} },
				"client:connect="+ln.Addr().String())
			var upstream net.Conn
			// Registered after the node's: runs before it, so that a relay
			// that still holds the splice is not waited for in vain.
			t.Cleanup(func() {
				if upstream != nil {
					upstream.Close()
				}
			})

			ctx := t.Context()
			// One link: the baseline below is taken before the first
			// connection, which would otherwise open the route's data link.
			d := dialer(client, node)
			d.OneLink = true
			route, err := d.Dial(ctx, nil, mustAddr(t, node.url))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { route.Close() })
			// The baseline is the node with the client's session up (the
			// node registers it a moment after the client's Dial returns).
			waitUntil(t, "the client's session at the node", func() bool { return node.srv.State().Sessions == 1 },
				func() string { return fmt.Sprintf("%+v", node.srv.State()) })
			base := node.srv.State()

			c, err := route.DialContext(ctx, "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil { // a clean end
				t.Fatal(err)
			}
			select {
			case upstream = <-held:
			case <-time.After(10 * time.Second):
				t.Fatal("the relay never connected upstream")
			}
			start := time.Now()
			if tc.closeLink {
				route.Close()
			}
			limit := tc.halfClose + 3*time.Second
			if tc.closeLink {
				limit = 3 * time.Second
			}
			for tcpState(t, upstream) != tcpClose {
				if time.Since(start) > limit {
					t.Fatalf("the upstream connection is still open (tcp state %d) %v after the client's clean end", tcpState(t, upstream), limit)
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("upstream reset after %v", time.Since(start))
			if !tc.closeLink && time.Since(start) < tc.halfClose/2 {
				t.Errorf("upstream reset after %v, before the half-close timeout %v", time.Since(start), tc.halfClose)
			}
			// One descriptor more than the baseline: upstream, the test's
			// own end of the connection.
			waitUntil(t, "the relay back to its baseline", func() bool {
				s := node.srv.State()
				return s.FDs <= base.FDs+1 && s.Goroutines <= base.Goroutines
			}, func() string { return fmt.Sprintf("baseline %+v, now %+v", base, node.srv.State()) })
		})
	}
}

// tcpClose is TCP_CLOSE of the kernel's tcp_states.h: the state a socket
// is in after a reset (after only a FIN it is in CLOSE_WAIT).
const tcpClose = 7

// tcpState returns the kernel's TCP state of c.
func tcpState(t *testing.T, c net.Conn) uint8 {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	cerr := rc.Control(func(fd uintptr) {
		info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if cerr != nil || err != nil {
		t.Fatal(cerr, err)
	}
	return info.State
}
