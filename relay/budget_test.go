package relay

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session/connect"
)

// One key may hold MaxLinksPerPeer links at a node; its next link is
// refused with an error it reads, while another key still gets in and
// works (security review F6: a peer with no grant held ~35 MiB per link,
// on as many links as it opened).
func TestLinksPerPeerCapped(t *testing.T) {
	alice := newIdentity(t, "alice")
	bob := newIdentity(t, "bob")
	n := startNodeWith(t, "node", "tls://127.0.0.1:0", []*certs.Identity{alice, bob},
		func(o *Options) { o.MaxLinksPerPeer = 3 }, "bob:exec=/bin/echo hi")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	target := mustAddr(t, n.url)
	da := dialer(alice, n)
	var routes []*hop.Route
	for range 3 {
		r, err := da.Dial(ctx, nil, target)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		routes = append(routes, r)
	}
	_, err := da.Dial(ctx, nil, target)
	if err == nil || !strings.Contains(err.Error(), "too many links from "+alice.Fingerprint()+" (cap 3 per key)") {
		t.Fatalf("alice's fourth link: %v", err)
	}

	// Bob is not held up by alice's links: he pings and execs.
	rb, err := dialer(bob, n).Dial(ctx, nil, target)
	if err != nil {
		t.Fatalf("bob: %v", err)
	}
	defer rb.Close()
	if _, err := rb.Target().Ping(ctx); err != nil {
		t.Fatalf("bob's ping: %v", err)
	}
	st, err := connect.Open(ctx, rb.Target().Link(), &connect.Request{Network: connect.Exec, Address: "/bin/echo", Args: []string{"hi"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(st)
	st.Close()
	if err != nil || string(out) != "hi\n" {
		t.Fatalf("bob's exec: %q %v", out, err)
	}

	// The cap counts open links: once one of alice's ends, she may open
	// another.
	routes[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := da.Dial(ctx, nil, target)
		if err == nil {
			r.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice after closing a link: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := n.srv.State().Drops["link"]; got < 1 {
		t.Errorf("refused links counted: %d", got)
	}
}
