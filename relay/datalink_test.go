package relay

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
)

// linksFrom counts the sessions n holds with peer id.
func linksFrom(n *testNode, id *certs.Identity) int {
	k := 0
	for _, c := range n.srv.sessions() {
		if c.Link().Peer().Fingerprint == id.Fingerprint() {
			k++
		}
	}
	return k
}

// waitLinks waits until n holds want sessions with id.
func waitLinks(t *testing.T, n *testNode, id *certs.Identity, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for linksFrom(n, id) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d links from the client, want %d", n.srv.opts.Name, linksFrom(n, id), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func echoThrough(t *testing.T, ctx context.Context, route *hop.Route, addr string) {
	t.Helper()
	c, err := route.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the route: %q %v", buf, err)
	}
}

// A route's connections ride a second link with the target, opened by
// the first DialContext through the same relays and closed with the
// route; RPC stays on the first. Dialer.OneLink keeps one link, and a
// target that refuses the second link leaves the connections on the
// first. The second link gives way to the first's calls unless the
// dialer puts bulk first.
func TestRouteDataLink(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := newIdentity(t, "client")
	echoAddr := echoServer(t)
	target := startNodeWith(t, "target", "tls://127.0.0.1:0", []*certs.Identity{client}, withEcho, "client:connect="+echoAddr)
	r1 := startNode(t, "r1", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+hostPort(t, target.url))
	via := []hop.Addr{mustAddr(t, r1.url)}

	t.Run("own link", func(t *testing.T) {
		route, err := dialer(client, r1, target).Dial(ctx, via, mustAddr(t, target.url))
		if err != nil {
			t.Fatal(err)
		}
		defer route.Close()
		waitLinks(t, target, client, 1)
		echoThrough(t, ctx, route, echoAddr)
		echoThrough(t, ctx, route, echoAddr) // the same data link again
		waitLinks(t, target, client, 2)
		// The connections give way to the route's calls.
		c, err := route.DialContext(ctx, "tcp", echoAddr)
		if err != nil {
			t.Fatal(err)
		}
		if dl := c.(*session.Stream).Link(); dl == route.Target().Link() || dl.YieldsTo() != route.Target() {
			t.Fatalf("the connection's link yields to %p, not the route's session %p", dl.YieldsTo(), route.Target())
		}
		c.Close()
		waitLinks(t, r1, client, 1) // through the relay's one link
		if s, err := session.Call[string](ctx, route.Target().Service("echo"), "Hello", "rpc"); err != nil || s != "hello rpc" {
			t.Fatalf("Hello = %q %v", s, err)
		}
		route.Close()
		waitLinks(t, target, client, 0)
	})

	t.Run("OneLink", func(t *testing.T) {
		d := dialer(client, r1, target)
		d.OneLink = true
		route, err := d.Dial(ctx, via, mustAddr(t, target.url))
		if err != nil {
			t.Fatal(err)
		}
		defer route.Close()
		echoThrough(t, ctx, route, echoAddr)
		waitLinks(t, target, client, 1)
	})

	t.Run("BulkFirst", func(t *testing.T) {
		d := dialer(client, r1, target)
		d.BulkFirst = true
		route, err := d.Dial(ctx, via, mustAddr(t, target.url))
		if err != nil {
			t.Fatal(err)
		}
		defer route.Close()
		c, err := route.DialContext(ctx, "tcp", echoAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if dl := c.(*session.Stream).Link(); dl == route.Target().Link() || dl.YieldsTo() != nil {
			t.Fatalf("with BulkFirst the connection's own link yields to %p", dl.YieldsTo())
		}
	})

	t.Run("refused", func(t *testing.T) {
		one := startNodeWith(t, "one", "tls://127.0.0.1:0", []*certs.Identity{client}, func(o *Options) { o.MaxLinksPerPeer = 1 }, "client:connect="+echoAddr)
		route, err := dialer(client, one).Dial(ctx, nil, mustAddr(t, one.url))
		if err != nil {
			t.Fatal(err)
		}
		defer route.Close()
		echoThrough(t, ctx, route, echoAddr) // on the RPC link
		echoThrough(t, ctx, route, echoAddr)
		waitLinks(t, one, client, 1)
	})
}
