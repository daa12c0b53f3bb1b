// Package relaytest starts hopwire nodes for tests in other packages.
package relaytest

import (
	"context"
	"testing"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/relay"
)

// Start runs a node named name on loopback TLS with a fresh identity; it
// trusts client and applies grants. t.Cleanup closes it.
func Start(t testing.TB, name string, client *certs.Identity, grants ...string) (*relay.Server, *certs.Identity) {
	t.Helper()
	id, err := certs.LoadOrCreate(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	var gs []*relay.Grant
	for _, g := range grants {
		pg, err := relay.ParseGrant(g)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, pg)
	}
	srv, err := relay.New(&relay.Options{Name: name, Identity: id, Trust: certs.Trust{Store: certs.StoreOf(client)},
		Policy: relay.NewPolicy(gs), Listen: []string{"tls://127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, id
}
