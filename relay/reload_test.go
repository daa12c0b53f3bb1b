package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/transport/dtls"
)

// echoOnce writes msg on c and reads it back.
func echoOnce(t *testing.T, c io.ReadWriter, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo: %q, %v", buf, err)
	}
}

// Grants replaced under live traffic: the connection up stays up, the
// next request is decided by the new grants, and a peer left with no
// grant at all loses its session.
func TestSetPolicyUnderTraffic(t *testing.T) {
	client := newIdentity(t, "client")
	echo1, echo2 := echoServer(t), echoServer(t)
	n := startNode(t, "node", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+echo1)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	route, err := dialer(client, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	live, err := route.DialContext(ctx, "tcp", echo1)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	echoOnce(t, live, "before")
	if _, err := route.DialContext(ctx, "tcp", echo2); !errors.Is(err, ErrDenied) {
		t.Fatalf("connect to echo2 before the reload: %v, want ErrDenied", err)
	}

	if closed := n.srv.SetPolicy(NewPolicy([]*Grant{mustGrant(t, "client:connect="+echo2)})); closed != 0 {
		t.Fatalf("SetPolicy closed %d sessions of a peer that still holds a grant", closed)
	}
	echoOnce(t, live, "during") // the connection allowed before stays up
	c2, err := route.DialContext(ctx, "tcp", echo2)
	if err != nil {
		t.Fatalf("connect to echo2 after the reload: %v", err)
	}
	echoOnce(t, c2, "new grant")
	c2.Close()
	if _, err := route.DialContext(ctx, "tcp", echo1); !errors.Is(err, ErrDenied) {
		t.Fatalf("connect to echo1 after its grant went: %v, want ErrDenied", err)
	}

	// No grant left: the session goes.
	// Both the route's links go: its RPC link and its connections' own
	// (which the node records once its side of the session is set up:
	// a loaded machine may run the client that far ahead of it).
	for deadline := time.Now().Add(5 * time.Second); len(n.srv.sessions()) != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the node has %d sessions, want the route's 2", len(n.srv.sessions()))
		}
	}
	if closed := n.srv.SetPolicy(NewPolicy(nil)); closed != 2 {
		t.Fatalf("SetPolicy without the client's grants closed %d sessions, want 2", closed)
	}
	select {
	case <-route.Target().Done():
	case <-ctx.Done():
		t.Fatal("the session of a peer without grants stayed up")
	}
}

// A re-issued certificate is presented from the next handshake on, over
// tls, quic and dtls; links up keep working.
func TestSetIdentityNextHandshake(t *testing.T) {
	client := newIdentity(t, "client")
	dir := t.TempDir()
	id1, err := certs.LoadOrCreate(dir, "node")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(&Options{Name: "node", Identity: id1, Trust: certs.Trust{Store: certs.StoreOf(client)},
		Listen: []string{"tls://127.0.0.1:0", "quic://127.0.0.1:0", "dtls://127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addrs := srv.Addrs()
	n := &testNode{id: id1, srv: srv, url: addrs[0]}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	route, err := dialer(client, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()

	// What the tls and dtls listeners present to a new handshake.
	presented := func() (tlsName, dtlsName string) {
		t.Helper()
		cfg, err := certs.ClientConfig(client, certs.Trust{Pinned: []string{id1.Fingerprint()}}, "")
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", hostPort(t, n.url), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		dc, err := dtls.Dial(t.Context(), hostPort(t, addrs[2]), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer dc.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, dc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if a, b := presented(); a != "node" || b != "node" {
		t.Fatalf("presented %q (tls), %q (dtls) before the rotation", a, b)
	}
	id2, err := certs.Rename(dir, "node-renewed") // a new certificate for the same key
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetIdentity(id2); err != nil {
		t.Fatal(err)
	}
	if a, b := presented(); a != "node-renewed" || b != "node-renewed" {
		t.Fatalf("presented %q (tls), %q (dtls) after the rotation, want the new certificate", a, b)
	}
	// The link made before still works, and so does a new one (pinned
	// to the key, which did not change), over tls and quic.
	if _, err := route.Target().Ping(ctx); err != nil {
		t.Fatalf("the link up before the rotation: %v", err)
	}
	for _, u := range addrs {
		r, err := dialer(client, &testNode{id: id2, url: u}).Dial(ctx, nil, mustAddr(t, u))
		if err != nil {
			t.Fatalf("%s after the rotation: %v", u, err)
		}
		r.Close()
	}
}
