package rpyc_test

import (
	"context"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay/relaytest"
	"github.com/hopwire/hopwire/session/rpyc"
	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// startRelay runs a hopwire node on loopback TLS that trusts client and
// grants it the CONNECT rules given.
func startRelay(t *testing.T, name string, client *certs.Identity, grants ...string) (*certs.Identity, hop.Addr) {
	t.Helper()
	srv, id := relaytest.Start(t, name, client, grants...)
	a, err := hop.Parse(srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	return id, a
}

// TestSeedThroughChain runs the seed scenario against a Python classic
// server reached through two hopwire relays: the TCP connection to the
// server leaves from r2, the chain's last hop.
func TestSeedThroughChain(t *testing.T) {
	pyAddr := rpyctest.StartServer(t, "classic")
	client, err := certs.LoadOrCreate(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	r2id, r2 := startRelay(t, "r2", client, "client:connect="+pyAddr)
	r1id, r1 := startRelay(t, "r1", client, "client:connect="+r2.HostPort())
	fps := map[string]string{r1.HostPort(): r1id.Fingerprint(), r2.HostPort(): r2id.Fingerprint()}
	d := &hop.Dialer{Identity: client, Trust: func(a hop.Addr) certs.Trust {
		return certs.Trust{Pinned: []string{fps[a.HostPort()]}}
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	route, err := d.Dial(ctx, []hop.Addr{r1}, r2)
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	c, err := rpyc.Dial(ctx, pyAddr, &rpyc.Options{DialContext: route.DialContext})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rpyc.SeedScenario(t, c)
}
