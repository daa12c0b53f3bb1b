package relay

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
)

// Twenty targets behind one relay, dialed at once with shared prefixes:
// the relay sees one link from the client, not twenty; each route is
// still its own end to end (its target authenticated, its calls its
// own); the shared link closes with the last route, and a relay link
// that broke is dialed anew by the next route.
func TestPrefixesShareTheRelay(t *testing.T) {
	client := newIdentity(t, "client")
	const n = 20
	targets := make([]*testNode, n)
	grants := make([]string, n)
	for i := range targets {
		targets[i] = startNodeWith(t, fmt.Sprintf("t%d", i), "tls://127.0.0.1:0", []*certs.Identity{client}, withEcho)
		grants[i] = "client:connect=" + hostPort(t, targets[i].url)
	}
	relay := startNode(t, "relay", "tls://127.0.0.1:0", []*certs.Identity{client}, grants...)
	d := dialer(client, append([]*testNode{relay}, targets...)...)
	d.Prefixes = hop.NewPrefixes()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	via := []hop.Addr{mustAddr(t, relay.url)}

	routes := make([]*hop.Route, n)
	var wg sync.WaitGroup
	for i := range targets {
		wg.Go(func() {
			r, err := d.Dial(ctx, via, mustAddr(t, targets[i].url))
			if err != nil {
				t.Error(err)
				return
			}
			routes[i] = r
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if got := relay.srv.State().Sessions; got != 1 {
		t.Fatalf("the relay holds %d sessions for %d routes, want 1", got, n)
	}
	for i, r := range routes {
		if name := r.Hops[1].Peer.Name; name != fmt.Sprintf("t%d", i) {
			t.Fatalf("route %d reached %q", i, name)
		}
		if s, err := session.Call[string](ctx, r.Target().Service("echo"), "Hello", "x"); err != nil || s != "hello x" {
			t.Fatalf("route %d: %q, %v", i, s, err)
		}
	}
	// Closing routes leaves the shared link up for the others…
	for _, r := range routes[:n-1] {
		r.Close()
	}
	if _, err := routes[n-1].Target().Ping(ctx); err != nil {
		t.Fatalf("the last route after the others closed: %v", err)
	}
	if got := relay.srv.State().Sessions; got != 1 {
		t.Fatalf("the relay holds %d sessions with one route left, want 1", got)
	}
	// …and the last one takes it down.
	routes[n-1].Close()
	for deadline := time.Now().Add(10 * time.Second); relay.srv.State().Sessions != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the shared relay link outlived its last route")
		}
	}

	// A new route dials the relay again; one through a broken relay link
	// does too.
	r1, err := d.Dial(ctx, via, mustAddr(t, targets[0].url))
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r1.Hops[0].Conn.Close() // the shared relay link breaks
	<-r1.Done()
	r2, err := d.Dial(ctx, via, mustAddr(t, targets[1].url))
	if err != nil {
		t.Fatalf("a route after the shared link broke: %v", err)
	}
	defer r2.Close()
	if _, err := r2.Target().Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
