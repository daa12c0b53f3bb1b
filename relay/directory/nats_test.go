package directory

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	self := RelayInfo{ID: "A", Addr: addrOf("A")}
	cases := []struct {
		name, url string
		self      RelayInfo
		opts      *Options
		want      []string
	}{
		{"etcd", "etcd://10.0.0.1:2379", self, nil, []string{"etcd is not implemented", "nats://"}},
		{"other scheme", "redis://10.0.0.1", self, nil, []string{`unsupported scheme "redis"`, "nats://"}},
		{"no scheme", "10.0.0.1:4222", self, nil, []string{"nats://"}},
		{"one bad of several", "nats://a:4222,redis://b:4222", self, nil, []string{`unsupported scheme "redis"`}},
		{"mixed schemes", "nats://a:4222,tls://b:4222", self, nil, []string{"mixes nats:// and tls://"}},
		{"no credentials file", "nats://h:4222", self, &Options{Credentials: "/nonexistent/relay.creds"}, []string{"credentials file", "/nonexistent/relay.creds"}},
		{"password masked", "etcd://u:secret@h:1", self, nil, []string{"u:xxxxx@h"}},
		{"short lease", "nats://h:4222", self, &Options{Lease: 10 * time.Millisecond}, []string{"lease 10ms is too short"}},
		{"bad fleet", "nats://h:4222", self, &Options{Fleet: "a.b"}, []string{"bad fleet name"}},
		{"no relay ID", "nats://h:4222", RelayInfo{Addr: "tls://x:1"}, nil, []string{"ID and address are required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Open(t.Context(), c.url, c.self, c.opts)
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestOpenNoServer: nothing listens at the URL.
func TestOpenNoServer(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	srv.kill()
	start := time.Now()
	_, err := Open(ctxFor(t, 5*time.Second), srv.URL, RelayInfo{ID: "A", Addr: addrOf("A")}, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("Open = %v, want ErrUnavailable naming %s", err, srv.URL)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

// TestOpenNoJetStream: the server runs without -js.
func TestOpenNoJetStream(t *testing.T) {
	t.Parallel()
	srv := startNATSWith(t, false)
	_, err := Open(ctxFor(t, 5*time.Second), srv.URL, RelayInfo{ID: "A", Addr: addrOf("A")}, nil)
	if err == nil || !strings.Contains(err.Error(), "nats-server -js") || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("Open = %v, want a hint about -js naming %s", err, srv.URL)
	}
}

// TestServerDown kills the NATS server for longer than the lease: calls fail
// promptly with a one-line ErrUnavailable naming the server, and when the
// server is back (same port, same store) everything works again with the
// entries intact, none evicted.
func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	var evicted, failed atomic.Int32
	var failedOps sync.Map
	opts := &Options{Lease: time.Second, Fleet: "down", Logger: testLogger(t), Metrics: Metrics{
		Evicted: func() { evicted.Add(1) },
		Failed:  func(op string, err error) { failed.Add(1); failedOps.Store(op, true) },
	}}
	open := func(id string) Directory {
		d, err := Open(ctxFor(t, 10*time.Second), srv.URL, RelayInfo{ID: id, Addr: addrOf(id)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	a, b := open("A"), open("B")
	ctx := t.Context()
	if err := a.Register(ctx, "agent-a", fp("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(ctx, "agent-b", fp("b")); err != nil {
		t.Fatal(err)
	}

	srv.kill()
	// Relays answers from the relay's own view of the fleet until its
	// connection notices the server gone (the kill's EOF reaches it a
	// moment later): wait for that, then every call must fail promptly.
	eventually(t, 2*time.Second, "both clients noticing the server gone", func() bool {
		_, errA := a.Relays(ctx)
		_, errB := b.Relays(ctx)
		return errors.Is(errA, ErrUnavailable) && errors.Is(errB, ErrUnavailable)
	})
	calls := map[string]func(context.Context) error{
		"lookup":   func(ctx context.Context) error { _, err := a.Lookup(ctx, "agent-b"); return err },
		"register": func(ctx context.Context) error { return a.Register(ctx, "agent-c", fp("c")) },
		"list":     func(ctx context.Context) error { _, err := b.List(ctx); return err },
		"relays":   func(ctx context.Context) error { _, err := b.Relays(ctx); return err },
	}
	const bound = 2 * time.Second
	for name, call := range calls {
		start := time.Now()
		err := call(ctxFor(t, bound))
		took := time.Since(start)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s with the server down = %v, want ErrUnavailable", name, err)
		}
		if msg := err.Error(); !strings.Contains(msg, srv.URL) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q is not one line naming %s", name, msg, srv.URL)
		}
		if took > bound+500*time.Millisecond {
			t.Errorf("%s took %v, beyond its ctx's %v", name, took, bound)
		}
		t.Logf("%s failed after %v: %v", name, took.Round(time.Millisecond), err)
	}
	if _, ok := failedOps.Load("lookup"); !ok {
		t.Error("the Failed hook did not see the lookup")
	}

	time.Sleep(2 * time.Second) // down longer than the lease: the heartbeats expire
	srv.start()
	back := time.Now()
	eventually(t, 10*time.Second, "lookups work again", func() bool {
		_, err1 := a.Lookup(ctx, "agent-b")
		_, err2 := b.Lookup(ctx, "agent-a")
		return err1 == nil && err2 == nil
	})
	t.Logf("working again %v after the server came back", time.Since(back).Round(time.Millisecond))
	if err := a.Register(ctx, "agent-c", fp("c")); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Lookup(ctx, "agent-c"); err != nil || e.Relay != "A" {
		t.Fatalf("Lookup(agent-c) = %+v, %v", e, err)
	}
	// Both relays renew again: after a lease with neither gone, both are
	// listed and every entry is alive.
	eventually(t, 5*time.Second, "both relays renew", func() bool {
		rs, err := a.Relays(ctx)
		return err == nil && len(rs) == 2
	})
	time.Sleep(opts.Lease + 200*time.Millisecond)
	list, err := b.List(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %+v, %v; want 3 entries", list, err)
	}
	if n := evicted.Load(); n != 0 {
		t.Errorf("%d entries evicted across the outage", n)
	}
}

// TestRestartSupersedes: when a relay restarts, the entries of its previous
// run are gone as soon as the new run's heartbeat is seen, not a lease later.
func TestRestartSupersedes(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	f := &natsTestFleet{srv: srv, fleet: "restart", l: 30 * time.Second}
	a, b := f.join(t, "A"), f.join(t, "B")
	ctx := t.Context()
	if err := a.Register(ctx, "db1", fp("db1")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	f.join(t, "A")
	start := time.Now()
	eventually(t, 3*time.Second, "db1 of A's previous run is gone", func() bool {
		_, err := b.Lookup(ctx, "db1")
		return errors.Is(err, ErrNotFound)
	})
	t.Logf("gone %v after the restart (lease %v)", time.Since(start).Round(time.Millisecond), f.l)
}

// TestFleetLease: the lease is the fleet's, set by the first relay.
func TestFleetLease(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	first := &natsTestFleet{srv: srv, fleet: "lease", l: 2 * time.Second}
	first.join(t, "A")
	other := &natsTestFleet{srv: srv, fleet: "lease", l: 5 * time.Second}
	if got := other.join(t, "B").(*natsDir).lease; got != 2*time.Second {
		t.Errorf("the second relay's lease = %v, want the fleet's 2s", got)
	}
}

// TestReassert: after an outage, a relay writes again those of its entries
// the store lost (another relay evicted them before it could renew), and
// leaves alone a name someone else took meanwhile.
func TestReassert(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	f := &natsTestFleet{srv: srv, fleet: "reassert", l: time.Second}
	a, b := f.join(t, "A").(*natsDir), f.join(t, "B")
	ctx := t.Context()
	for _, n := range []string{"db1", "db2", "gone"} {
		if err := a.Register(ctx, n, fp(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Unregister(ctx, "gone", fp("gone")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"db1", "db2"} {
		if err := a.agents.Delete(ctx, encodeKey(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Register(ctx, "db2", fp("other")); err != nil {
		t.Fatal(err)
	}
	if err := a.reassert(ctx); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Lookup(ctx, "db1"); err != nil || e.Relay != "A" || e.Fingerprint != fp("db1") {
		t.Errorf("db1 = %+v, %v; want it back at A", e, err)
	}
	if e, err := b.Lookup(ctx, "db2"); err != nil || e.Relay != "B" {
		t.Errorf("db2 = %+v, %v; want B's registration kept", e, err)
	}
	if _, err := b.Lookup(ctx, "gone"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unregistered agent came back: %v", err)
	}
}

// TestMetricsHooks: lookups are timed, evictions counted.
func TestMetricsHooks(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	var lookups, notFound, evicted atomic.Int32
	var mu sync.Mutex
	var total time.Duration
	hooks := Metrics{
		Lookup: func(d time.Duration, err error) {
			lookups.Add(1)
			if errors.Is(err, ErrNotFound) {
				notFound.Add(1)
			}
			mu.Lock()
			total += d
			mu.Unlock()
		},
		Evicted: func() { evicted.Add(1) },
	}
	open := func(id string) Directory {
		d, err := Open(ctxFor(t, 10*time.Second), srv.URL, RelayInfo{ID: id, Addr: addrOf(id)},
			&Options{Lease: time.Second, Fleet: "hooks", Metrics: hooks})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	a, b := open("A"), open("B")
	ctx := t.Context()
	for _, n := range []string{"x", "y"} {
		if err := a.Register(ctx, n, fp(n)); err != nil {
			t.Fatal(err)
		}
	}
	b.Lookup(ctx, "x")
	b.Lookup(ctx, "nobody")
	a.Close()
	closed := time.Now()
	eventually(t, 3*time.Second, "x expires", func() bool {
		_, err := b.Lookup(ctx, "x")
		return errors.Is(err, ErrNotFound)
	})
	// y was written after x: its lease may end a little later (an
	// entry's lease runs from its relay's last heartbeat or its own
	// write, whichever is later). Both are over one lease after A's
	// last heartbeat, which was before Close returned.
	time.Sleep(time.Until(closed.Add(time.Second + 300*time.Millisecond)))
	if _, err := b.List(ctx); err != nil { // evicts y
		t.Fatal(err)
	}
	if lookups.Load() < 3 || notFound.Load() < 2 || total <= 0 {
		t.Errorf("lookups %d, not found %d, total time %v", lookups.Load(), notFound.Load(), total)
	}
	if n := evicted.Load(); n != 2 {
		t.Errorf("evicted %d, want 2 (x by Lookup, y by List)", n)
	}
}

// TestPurgeMarkers: the delete markers unregistrations leave in the
// agents bucket are purged once old, and a purge never removes an entry
// written for the name after its marker.
func TestPurgeMarkers(t *testing.T) {
	t.Parallel()
	srv := startNATS(t)
	dir, err := Open(ctxFor(t, 10*time.Second), srv.URL, RelayInfo{ID: "A", Addr: addrOf("A")}, &Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	d := dir.(*natsDir)
	ctx := ctxFor(t, 20*time.Second)
	for _, name := range []string{"gone", "back", "kept"} {
		if err := d.Register(ctx, name, fp(name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"gone", "back"} {
		if err := d.Unregister(ctx, name, fp(name)); err != nil {
			t.Fatal(err)
		}
	}
	if old, err := d.oldMarkers(ctx, time.Hour); err != nil || len(old) != 0 {
		t.Fatalf("markers older than an hour: %d, %v; want none", len(old), err)
	}
	old, err := d.oldMarkers(ctx, 0)
	if err != nil || len(old) != 2 {
		t.Fatalf("markers: %d, %v; want 2 (gone, back)", len(old), err)
	}
	// "back" registers again between the scan and the purge.
	if err := d.Register(ctx, "back", fp("back")); err != nil {
		t.Fatal(err)
	}
	for _, m := range old {
		if err := d.purgeUpTo(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.agents.History(ctx, encodeKey("gone")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("gone's marker: History = %v, want ErrKeyNotFound (purged)", err)
	}
	for _, name := range []string{"back", "kept"} {
		if e, err := d.Lookup(ctx, name); err != nil || e.Fingerprint != fp(name) {
			t.Errorf("%s after the purge: %+v, %v", name, e, err)
		}
	}
	if n, err := d.purgeMarkers(ctx, 0); err != nil || n != 0 {
		t.Errorf("a second purge: %d, %v; want nothing left to purge", n, err)
	}
}

// TestClusterReplicas: with Replicas 3 on a three-server NATS cluster the
// fleet's buckets are kept by all three. (That the directory then
// outlives a server is TestSoakClusterFailover's, under -tags soak:
// NATS 2.9's elections on a loaded 2-core machine sometimes take over a
// minute, which the default run cannot wait for.)
func TestClusterReplicas(t *testing.T) {
	t.Parallel()
	_, d := openOnCluster(t)
	ctx := ctxFor(t, 30*time.Second)
	for _, b := range []string{"hopwire-agents", "hopwire-relays"} {
		st, err := d.js.Stream(ctx, "KV_"+b)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("bucket %s has %d replicas, want 3", b, r)
		}
	}
	if err := d.Register(ctx, "db1", fp("db1")); err != nil {
		t.Fatal(err)
	}
	if e, err := d.Lookup(ctx, "db1"); err != nil || e.Fingerprint != fp("db1") {
		t.Fatalf("Lookup on the cluster: %+v, %v", e, err)
	}
}

// openOnCluster starts a three-server cluster and opens a directory on it
// with Replicas 3; t.Cleanup closes both.
func openOnCluster(t *testing.T) (*natsCluster, *natsDir) {
	t.Helper()
	c := startNATSCluster(t, 3)
	self := RelayInfo{ID: "A", Addr: addrOf("A")}
	var dir Directory
	// The cluster elects its JetStream leader after its servers are up.
	eventually(t, 30*time.Second, "the directory opened on the cluster", func() bool {
		// A lease longer than the cluster's elections can take on a loaded
		// machine: this is about the store surviving, not about leases.
		d, err := Open(ctxFor(t, 5*time.Second), c.URL, self, &Options{Replicas: 3, Lease: time.Minute, Logger: testLogger(t)})
		if err != nil {
			t.Logf("open: %v", err)
			return false
		}
		dir = d
		return true
	})
	t.Cleanup(func() { dir.Close() })
	return c, dir.(*natsDir)
}
