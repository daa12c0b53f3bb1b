package hopwire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startNode runs a node on loopback TLS for the client whose home is home
// (its identity created there, named "client"): o's Name, Identity, Trust
// and Listen are filled in when empty, and the grants added to o.Policy.
// The client's known_nodes binds the node's key to the address it bound,
// as "hopwire trust --known FP node --addr HOST:PORT" records it. It
// returns the node's tls:// address; the node stops when t ends.
func startNode(t *testing.T, home string, o *hopwire.ServeOptions, grants ...string) string {
	t.Helper()
	client, err := certs.LoadOrCreate(home, "client")
	if err != nil {
		t.Fatal(err)
	}
	if o == nil {
		o = &hopwire.ServeOptions{}
	}
	if o.Identity == nil {
		if o.Identity, err = certs.LoadOrCreate(t.TempDir(), "node"); err != nil {
			t.Fatal(err)
		}
	}
	if o.Name == "" {
		o.Name = "node"
	}
	if o.Trust.Store == nil {
		o.Trust = certs.Trust{Store: certs.StoreOf(client)}
	}
	if len(o.Listen) == 0 {
		o.Listen = []string{"tls://127.0.0.1:0"}
	}
	var gs []*relay.Grant
	for _, g := range grants {
		pg, err := relay.ParseGrant(g)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, pg)
	}
	if o.Policy == nil || len(gs) > 0 {
		o.Policy = relay.NewPolicy(gs)
	}
	node, err := hopwire.Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	addr := node.Addrs()[0]
	if err := certs.AddEntry(filepath.Join(home, certs.KnownNodesFile), certs.Entry{Fingerprint: o.Identity.Fingerprint(), Name: "node", Addrs: []string{strings.TrimPrefix(addr, "tls://")}}); err != nil {
		t.Fatal(err)
	}
	return addr
}

// An HTTP server reachable only from the node is fetched through the
// route with net/http, using the Client's DialContext.
func TestDialHTTPThroughRoute(t *testing.T) {
	home := t.TempDir()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from behind the node")
	}))
	defer web.Close()
	node := startNode(t, home, nil, "client:connect="+web.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := hopwire.Dial(ctx, node, &hopwire.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tr := &http.Transport{DialContext: c.DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(web.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from behind the node" {
		t.Fatalf("got %q", body)
	}
	// Anything else is refused by the node's policy.
	conn, err := c.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", "9"))
	if err == nil {
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if !errors.Is(err, session.ErrStreamAborted) || !strings.Contains(err.Error(), "denied by policy") {
		t.Fatalf("ungranted destination: %v", err)
	}

	// A broken route stays broken without Redial …
	c.Conn().Close()
	<-c.Done()
	if _, err := c.DialContext(ctx, "tcp", web.Listener.Addr().String()); err == nil {
		t.Fatal("a broken client dialed")
	}
	// … and comes back on the next dial with it.
	rc, err := hopwire.Dial(ctx, node, &hopwire.Options{Home: home, Redial: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	first := rc.Conn()
	first.Close()
	<-first.Done()
	tr2 := &http.Transport{DialContext: rc.DialContext}
	defer tr2.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr2}).Get(web.URL)
	if err != nil {
		t.Fatalf("after the break, with Redial: %v", err)
	}
	resp.Body.Close()
	if rc.Conn() == first {
		t.Fatal("Conn still returns the broken session")
	}
}

// With Redial, a remote listener follows the route: after the chain
// breaks, Accept redials and the node listens on the same address again.
func TestListenFollowsRedial(t *testing.T) {
	home := t.TempDir()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	node := startNode(t, home, nil, "client:forward-remote="+addr)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := hopwire.Dial(ctx, node, &hopwire.Options{Home: home, Redial: true,
		OnRetry: func(err error) { t.Log("retry:", err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln, err := c.Listen(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	roundTrip := func(round string) {
		t.Helper()
		accepted := make(chan net.Conn, 1)
		go func() {
			a, err := ln.Accept()
			if err != nil {
				t.Error(round, "accept:", err)
			}
			accepted <- a
		}()
		// Right after a break the node's old listener may still take a
		// connection (and drop it): dial until the new one accepts.
		var a, d net.Conn
		for a == nil {
			if d != nil {
				d.Close()
			}
			if d, err = net.Dial("tcp", addr); err != nil {
				if ctx.Err() != nil {
					t.Fatal(round, err)
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			select {
			case a = <-accepted:
				if a == nil {
					t.FailNow()
				}
			case <-time.After(time.Second):
			case <-ctx.Done():
				t.Fatal(round, "nothing accepted")
			}
		}
		defer d.Close()
		defer a.Close()
		d.Write([]byte(round))
		buf := make([]byte, len(round))
		if _, err := io.ReadFull(a, buf); err != nil || string(buf) != round {
			t.Fatalf("%s: got %q, %v", round, buf, err)
		}
	}
	roundTrip("before")
	c.Conn().Close() // the chain breaks
	roundTrip("after")
	// Any refusal is final: another address is not granted.
	if _, err := c.Listen(ctx, "tcp", "127.0.0.1:1"); !errors.Is(err, session.ErrDenied) {
		t.Fatalf("ungranted listen: %v", err)
	}
}

// errOutOfStock is an application sentinel both sides register.
var errOutOfStock = errors.New("out of stock")

type shop struct{}

func (shop) Buy(ctx context.Context, item string) error {
	return fmt.Errorf("buying %s: %w", item, errOutOfStock)
}

// Checkout asks the caller's own wallet service to pay: a node's service
// calling back into what the client exposed (Options.Services).
func (shop) Checkout(ctx context.Context, total int) (string, error) {
	return session.Call[string](ctx, session.ConnFrom(ctx).Service("wallet"), "Pay", total)
}

type wallet struct{}

func (wallet) Pay(total int) string { return fmt.Sprintf("paid %d", total) }

// Start binds port 0 and says where (Addrs); an application's sentinel
// registered on both sides (Options.Errors, the node's Session.Errors)
// keeps errors.Is across the wire; the node stops when its ctx ends.
func TestStartAndAppErrors(t *testing.T) {
	home := t.TempDir()
	client, err := certs.LoadOrCreate(home, "client")
	if err != nil {
		t.Fatal(err)
	}
	nodeID, err := certs.LoadOrCreate(t.TempDir(), "node")
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]error{"shop.out-of-stock": errOutOfStock}
	nctx, stop := context.WithCancel(t.Context())
	node, err := hopwire.Start(nctx, &hopwire.ServeOptions{Name: "node", Identity: nodeID,
		Trust: certs.Trust{Store: certs.StoreOf(client)}, Listen: []string{"tls://127.0.0.1:0"},
		Session:  &session.Options{Errors: codes},
		Services: func(session.Peer) map[string]any { return map[string]any{"shop": shop{}} }})
	if err != nil {
		t.Fatal(err)
	}
	addr := node.Addrs()[0]
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addrs = %q: the bound port is unknown", addr)
	}
	if err := certs.AddEntry(filepath.Join(home, certs.KnownNodesFile), certs.Entry{Fingerprint: nodeID.Fingerprint(), Name: "node", Addrs: []string{strings.TrimPrefix(addr, "tls://")}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := hopwire.Dial(ctx, addr, &hopwire.Options{Home: home, Errors: codes,
		Services: map[string]any{"wallet": wallet{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.Peer(); p.Fingerprint != nodeID.Fingerprint() || p.Name != "node" || p.Version == "" {
		t.Fatalf("Peer = %+v", p)
	}
	_, err = c.Conn().Service("shop").Call(ctx, "Buy", "tea")
	if !errors.Is(err, errOutOfStock) {
		t.Fatalf("Buy: %v, want errors.Is(err, errOutOfStock)", err)
	}
	if got, err := session.Call[string](ctx, c.Conn().Service("shop"), "Checkout", 7); err != nil || got != "paid 7" {
		t.Fatalf("Checkout (a callback into the client's wallet): %q, %v", got, err)
	}
	stop() // the node ends with its context
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the node outlived its context")
	}
}
