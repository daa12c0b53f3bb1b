package directory

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testFleet makes the directories of the relays of one fleet, for the
// conformance tests every implementation passes.
type testFleet interface {
	// join opens the directory of relay id; the test's cleanup closes it.
	join(t *testing.T, id string) Directory
	// lease is how long a closed relay's entries may still read as alive.
	lease() time.Duration
}

// memTestFleet is a fleet of Memory directories.
type memTestFleet struct{ first *Memory }

func (f *memTestFleet) join(t *testing.T, id string) Directory {
	self := RelayInfo{ID: id, Addr: addrOf(id)}
	var m *Memory
	if f.first == nil {
		m = NewMemory(self)
		f.first = m
	} else {
		m = f.first.Join(self)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func (f *memTestFleet) lease() time.Duration { return 0 }

// natsTestFleet is a fleet on a NATS server, in buckets of its own.
type natsTestFleet struct {
	srv   *natsServer
	fleet string
	l     time.Duration
}

func (f *natsTestFleet) join(t *testing.T, id string) Directory {
	t.Helper()
	d, err := Open(ctxFor(t, 10*time.Second), f.srv.URL, RelayInfo{ID: id, Addr: addrOf(id)},
		&Options{Lease: f.l, Fleet: f.fleet, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func (f *natsTestFleet) lease() time.Duration { return f.l }

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// addrOf is the hop address of the test relay id.
func addrOf(id string) string { return "tls://" + strings.ToLower(id) + ".example:7443" }

// fp makes a fingerprint-shaped string for test key n.
func fp(n string) string { return "SHA256:" + n + "+key/fingerprint" }

// TestConformance runs one suite over every implementation. Each case gets
// a fleet of its own; the NATS cases share one server, in buckets of their
// own.
func TestConformance(t *testing.T) {
	t.Parallel()
	impls := map[string]func(t *testing.T) func() testFleet{
		"memory": func(*testing.T) func() testFleet {
			return func() testFleet { return &memTestFleet{} }
		},
		"nats": func(t *testing.T) func() testFleet {
			srv := startNATS(t)
			var n atomic.Int32
			return func() testFleet {
				return &natsTestFleet{srv: srv, fleet: fmt.Sprintf("t%d", n.Add(1)), l: time.Second}
			}
		},
	}
	for name, fleets := range impls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			next := fleets(t)
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, next())
				})
			}
		})
	}
}

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, f testFleet)
}{
	{"register and lookup", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		before := time.Now()
		if err := a.Register(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		for _, d := range []Directory{a, b} {
			e, err := d.Lookup(ctx, "db1")
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != "db1" || e.Fingerprint != fp("db1") || e.Relay != "A" || e.Addr != addrOf("A") {
				t.Errorf("Lookup = %+v", e)
			}
			if e.Since.Before(before.Add(-time.Second)) || e.Since.After(time.Now().Add(time.Second)) {
				t.Errorf("Since = %v, want about %v", e.Since, before)
			}
		}
		if _, err := b.Lookup(ctx, "db2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(db2) = %v, want ErrNotFound", err)
		}
	}},
	{"names", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		good := []string{"x", "a.b", "a..b", "a.", "-x-", "_", strings.Repeat("z", 64), "A_b-C.9"}
		for _, n := range good {
			if err := a.Register(ctx, n, fp(n)); err != nil {
				t.Errorf("Register(%q) = %v", n, err)
			}
		}
		for _, n := range good {
			if e, err := b.Lookup(ctx, n); err != nil || e.Name != n {
				t.Errorf("Lookup(%q) = %+v, %v", n, e, err)
			}
		}
		for _, n := range []string{"", "a b", "a/b", "a=b", "é", strings.Repeat("z", 65), "a*", "a>"} {
			if err := a.Register(ctx, n, fp("x")); err == nil || errors.Is(err, ErrTaken) || errors.Is(err, ErrUnavailable) {
				t.Errorf("Register(%q) = %v, want a bad-name error", n, err)
			}
		}
		if err := a.Register(ctx, "ok", ""); err == nil {
			t.Error("Register with an empty fingerprint succeeded")
		}
	}},
	{"unregister only ours", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		if err := a.Register(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		for _, u := range []struct {
			d  Directory
			fp string
		}{{b, fp("db1")}, {a, fp("other")}} {
			if err := u.d.Unregister(ctx, "db1", u.fp); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Lookup(ctx, "db1"); err != nil {
				t.Fatalf("an Unregister that was not the holder's removed the entry: %v", err)
			}
		}
		if err := a.Unregister(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Lookup(ctx, "db1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after Unregister: %v", err)
		}
		if err := a.Unregister(ctx, "db1", fp("db1")); err != nil {
			t.Fatalf("Unregister of an absent name: %v", err)
		}
		// Free again: another key may take it.
		if err := b.Register(ctx, "db1", fp("other")); err != nil {
			t.Fatal(err)
		}
	}},
	{"taken by another key", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		if err := a.Register(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		if err := a.Register(ctx, "db1", fp("db1")); err != nil {
			t.Fatalf("registering again: %v", err)
		}
		for _, d := range []Directory{a, b} {
			if err := d.Register(ctx, "db1", fp("impostor")); !errors.Is(err, ErrTaken) {
				t.Errorf("Register with another key = %v, want ErrTaken", err)
			}
		}
		if e, err := b.Lookup(ctx, "db1"); err != nil || e.Fingerprint != fp("db1") || e.Relay != "A" {
			t.Errorf("Lookup = %+v, %v; want the first holder", e, err)
		}
	}},
	{"same key moves", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		if err := a.Register(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		if err := b.Register(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		if e, err := a.Lookup(ctx, "db1"); err != nil || e.Relay != "B" || e.Addr != addrOf("B") {
			t.Fatalf("after the move, Lookup = %+v, %v", e, err)
		}
		// The old relay notices the agent's link is gone and unregisters:
		// the new registration stays.
		if err := a.Unregister(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		if e, err := a.Lookup(ctx, "db1"); err != nil || e.Relay != "B" {
			t.Fatalf("the old relay's Unregister removed the moved entry: %+v, %v", e, err)
		}
	}},
	{"list and relays", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		want := map[string]string{}
		for i := range 20 {
			d, home := a, "A"
			if i%2 == 1 {
				d, home = b, "B"
			}
			n := fmt.Sprintf("agent%02d", i)
			if err := d.Register(ctx, n, fp(n)); err != nil {
				t.Fatal(err)
			}
			want[n] = home
		}
		for _, d := range []Directory{a, b} {
			list, err := d.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != len(want) {
				t.Fatalf("List has %d entries, want %d", len(list), len(want))
			}
			if !slices.IsSortedFunc(list, func(x, y Entry) int { return strings.Compare(x.Name, y.Name) }) {
				t.Error("List is not sorted by name")
			}
			for _, e := range list {
				if want[e.Name] != e.Relay || e.Fingerprint != fp(e.Name) || e.Addr != addrOf(e.Relay) {
					t.Errorf("List entry %+v", e)
				}
			}
		}
		// The view of relays follows a watch: the other relay's first
		// heartbeat may take a moment to arrive.
		eventually(t, 5*time.Second, "both relays listed", func() bool {
			rs, err := a.Relays(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return len(rs) == 2 && rs[0].ID == "A" && rs[1].ID == "B" &&
				rs[0].Addr == addrOf("A") && !rs[0].Since.IsZero()
		})
	}},
	{"racing registrations", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		const names = 20
		type result struct {
			name string
			errA error
			errB error
		}
		results := make([]result, names)
		var wg sync.WaitGroup
		for i := range names {
			n := fmt.Sprintf("race%02d", i)
			results[i].name = n
			wg.Go(func() { results[i].errA = a.Register(ctx, n, fp("a"+n)) })
			wg.Go(func() { results[i].errB = b.Register(ctx, n, fp("b"+n)) })
		}
		wg.Wait()
		for _, r := range results {
			var winner string
			switch {
			case r.errA == nil && errors.Is(r.errB, ErrTaken):
				winner = fp("a" + r.name)
			case r.errB == nil && errors.Is(r.errA, ErrTaken):
				winner = fp("b" + r.name)
			default:
				t.Errorf("%s: A got %v, B got %v; want exactly one winner", r.name, r.errA, r.errB)
				continue
			}
			if e, err := a.Lookup(ctx, r.name); err != nil || e.Fingerprint != winner {
				t.Errorf("%s: Lookup = %+v, %v; want the winner %s", r.name, e, err, winner)
			}
		}
	}},
	{"lease expiry", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		if err := a.Register(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		if err := b.Register(ctx, "db1", fp("impostor")); !errors.Is(err, ErrTaken) {
			t.Fatalf("Register = %v, want ErrTaken while A lives", err)
		}
		closed := time.Now()
		a.Close()
		within := f.lease() + time.Second
		eventually(t, within, "A's entry expires", func() bool {
			_, err := b.Lookup(ctx, "db1")
			return errors.Is(err, ErrNotFound)
		})
		t.Logf("A's entry expired %v after Close (lease %v)", time.Since(closed).Round(time.Millisecond), f.lease())
		if err := b.Register(ctx, "db1", fp("impostor")); err != nil {
			t.Fatalf("after A's lease expired, Register = %v", err)
		}
		eventually(t, within, "A leaves the relays", func() bool {
			rs, err := b.Relays(ctx)
			return err == nil && len(rs) == 1 && rs[0].ID == "B"
		})
		if _, err := a.Lookup(ctx, "db1"); !errors.Is(err, ErrClosed) {
			t.Errorf("Lookup after Close = %v, want ErrClosed", err)
		}
		if err := a.Register(ctx, "db2", fp("db2")); !errors.Is(err, ErrClosed) {
			t.Errorf("Register after Close = %v, want ErrClosed", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	}},
	{"restart replaces", func(t *testing.T, f testFleet) {
		a, b := f.join(t, "A"), f.join(t, "B")
		ctx := t.Context()
		for _, n := range []string{"db1", "db2"} {
			if err := a.Register(ctx, n, fp(n)); err != nil {
				t.Fatal(err)
			}
		}
		a.Close()
		a2 := f.join(t, "A") // the same relay, started again
		// db1 reconnects to the restarted relay; db2 does not come back.
		if err := a2.Register(ctx, "db1", fp("db1")); err != nil {
			t.Fatal(err)
		}
		eventually(t, f.lease()+time.Second, "db2 of A's previous run expires", func() bool {
			_, err := b.Lookup(ctx, "db2")
			return errors.Is(err, ErrNotFound)
		})
		if e, err := b.Lookup(ctx, "db1"); err != nil || e.Relay != "A" {
			t.Fatalf("Lookup(db1) = %+v, %v", e, err)
		}
	}},
}
