package relay_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay/relaytest"
	"github.com/hopwire/hopwire/session/rpyc"
	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// TestRPyCThroughChain drives a Python RPyC classic server reached
// through two hopwire relays (the TCP connection leaves from r2): a
// module attribute, a directory listing, and a missing file that comes
// back as fs.ErrNotExist. The whole stack, so it lives here rather than
// in session/rpyc.
func TestRPyCThroughChain(t *testing.T) {
	pyAddr := rpyctest.StartServer(t, "classic")
	client, err := certs.LoadOrCreate(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	r2srv, r2id := relaytest.Start(t, "r2", client, "client:connect="+pyAddr)
	r2, err := hop.Parse(r2srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	r1srv, r1id := relaytest.Start(t, "r1", client, "client:connect="+r2.HostPort())
	r1, err := hop.Parse(r1srv.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
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

	k, err := rpyc.NewClassic(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := k.Module(ctx, "sys")
	if err != nil {
		t.Fatal(err)
	}
	pv, err := sys.Getattr(ctx, "path")
	if err != nil {
		t.Fatal(err)
	}
	items, err := pv.(*rpyc.Ref).Items(ctx)
	if err != nil || len(items) == 0 {
		t.Fatalf("sys.path: %v, %v", items, err)
	}
	dir := t.TempDir()
	for _, n := range []string{"a.txt", "b.bin"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	osm, err := k.Module(ctx, "os")
	if err != nil {
		t.Fatal(err)
	}
	lv, err := osm.CallAttr(ctx, "listdir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range mustItems(ctx, t, lv) {
		s, _ := n.(string)
		names = append(names, s)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"a.txt", "b.bin"}) {
		t.Fatalf("listdir = %q", names)
	}
	bi, err := k.Builtins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bi.CallAttr(ctx, "open", filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open(missing) = %v, want fs.ErrNotExist", err)
	}
}

func mustItems(ctx context.Context, t *testing.T, v any) []any {
	t.Helper()
	r, ok := v.(*rpyc.Ref)
	if !ok {
		t.Fatalf("%#v is not a remote object", v)
	}
	items, err := r.Items(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return items
}
