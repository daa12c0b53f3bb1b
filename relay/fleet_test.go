package relay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay/directory"
	"github.com/hopwire/hopwire/session"
)

// memFleet joins relays to one in-memory directory (Options.Fleet).
type memFleet struct {
	mu   sync.Mutex
	root *directory.Memory
}

func (m *memFleet) join(_ context.Context, self directory.RelayInfo, _ directory.Metrics) (directory.Directory, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.root == nil {
		m.root = directory.NewMemory(self)
		return m.root, nil
	}
	return m.root.Join(self), nil
}

// fleetDialer trusts relays by address and agents by name.
func fleetDialer(id *certs.Identity, relays []*testNode, agents map[string]*certs.Identity) *hop.Dialer {
	d := dialer(id, relays...)
	byAddr := d.Trust
	d.Trust = func(a hop.Addr) certs.Trust {
		if a.Scheme == "" {
			if ag, ok := agents[a.Name]; ok {
				return certs.Trust{Pinned: []string{ag.Fingerprint()}}
			}
		}
		return byAddr(a)
	}
	return d
}

// startFleetAgent runs an agent called name (with the echo service, for
// client) that registers at the first of relays it reaches.
func startFleetAgent(t *testing.T, id, client *certs.Identity, name string, relays ...*testNode) {
	t.Helper()
	agent, err := New(&Options{Name: name, Identity: id, Trust: certs.Trust{Store: certs.StoreOf(client)}, Services: withEchoServices})
	if err != nil {
		t.Fatal(err)
	}
	registerAgent(t, agent, id, name, relays...)
}

func withEchoServices(session.Peer) map[string]any { return map[string]any{"echo": echoSvc{}} }

// startFleetRelay starts a relay with identity id, trusting trusted, of a
// fleet whose directory join gives.
func startFleetRelay(t *testing.T, name string, id *certs.Identity, trusted []*certs.Identity,
	join func(context.Context, directory.RelayInfo, directory.Metrics) (directory.Directory, error), grants ...string) *testNode {
	t.Helper()
	return startNodeWith(t, name, "tls://127.0.0.1:0", trusted, func(o *Options) { o.Identity, o.Fleet = id, join }, grants...)
}

// TestFleet: three relays share a directory; an agent registered at one
// is reached through any of them (end to end with the agent, through a
// mesh link between the relays), a name is one key's fleet-wide, a
// relay's mesh requests are served from its own agents only, and an
// agent whose relay stops moves to the next of its list and is reached
// there.
func TestFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	client := newIdentity(t, "client")
	ids := map[string]*certs.Identity{}
	for _, n := range []string{"r1", "r2", "r3", "r4", "agent1", "agent2", "thief"} {
		ids[n] = newIdentity(t, n)
	}
	var mf memFleet
	trusted := []*certs.Identity{client, ids["r1"], ids["r2"], ids["r3"], ids["r4"], ids["agent1"], ids["agent2"], ids["thief"]}
	var relays []*testNode
	for _, n := range []string{"r1", "r2", "r3"} {
		relays = append(relays, startFleetRelay(t, n, ids[n], trusted, mf.join,
			"r1:relay", "r2:relay", "r3:relay", "agent1:register=a1", "agent2:register=a2", "thief:register", "client:agent"))
	}
	r1, r2, r3 := relays[0], relays[1], relays[2]
	startFleetAgent(t, ids["agent1"], client, "a1", r1)
	startFleetAgent(t, ids["agent2"], client, "a2", r2, r3)
	agents := map[string]*certs.Identity{"a1": ids["agent1"], "a2": ids["agent2"]}
	d := fleetDialer(client, relays, agents)
	hello := func(entry *testNode, agent string) error {
		route, err := d.Dial(ctx, []hop.Addr{mustAddr(t, entry.url)}, hop.Addr{Name: agent})
		if err != nil {
			return err
		}
		defer route.Close()
		if route.Target().Link().Peer().Fingerprint != agents[agent].Fingerprint() {
			t.Fatalf("reached %s, not %s", route.Target().Link().Peer().Principal, agent)
		}
		s, err := session.Call[string](ctx, route.Target().Service("echo"), "Hello", agent)
		if err == nil && s != "hello "+agent {
			t.Fatalf("Hello = %q", s)
		}
		return err
	}
	for _, entry := range relays {
		for _, agent := range []string{"a1", "a2"} {
			if err := hello(entry, agent); err != nil {
				t.Fatalf("%s through %s: %v", agent, entry.srv.opts.Name, err)
			}
		}
	}

	// What r2 counted: the fleet's three relays, a1 looked up and reached
	// through a mesh link it dialed to r1, a name nobody holds missing.
	if _, err := d.Dial(ctx, []hop.Addr{mustAddr(t, r2.url)}, hop.Addr{Name: "nobody"}); err == nil {
		t.Fatal("an agent nobody registered was reached")
	}
	m := gathered(t, r2)
	for name, least := range map[string]float64{
		"hopwire_fleet_relays":                          3,
		"hopwire_fleet_mesh_links":                      1,
		`hopwire_fleet_mesh_dials_total{result="ok"}`:   1,
		`hopwire_fleet_lookups_total{result="found"}`:   1,
		`hopwire_fleet_lookups_total{result="missing"}`: 1,
		"hopwire_fleet_lookup_duration_seconds_count":   2,
	} {
		if m[name] < least {
			t.Errorf("r2's %s = %v, want at least %v", name, m[name], least)
		}
	}

	// The fleet's agents, as `hopwire peers --fleet` lists them.
	route, err := d.Dial(ctx, nil, mustAddr(t, r3.url))
	if err != nil {
		t.Fatal(err)
	}
	list, err := session.Call[[]FleetAgent](ctx, route.Target().Service("node"), "Fleet")
	route.Close()
	if err != nil || len(list) != 2 || list[0].Name != "a1" || list[0].RelayAddr != r1.url || list[1].Name != "a2" || list[1].RelayAddr != r2.url {
		t.Fatalf("fleet list %+v %v", list, err)
	}

	// A name is one key's in the whole fleet: another key cannot take a1
	// at another relay.
	route, err = dialer(ids["thief"], r3).Dial(ctx, nil, mustAddr(t, r3.url))
	if err != nil {
		t.Fatal(err)
	}
	_, err = route.Target().Service("node").Call(ctx, "Register", "a1")
	route.Close()
	if err == nil || !strings.Contains(err.Error(), `agent name "a1" is taken in the fleet by another key`) {
		t.Fatalf("another key registering a1 at another relay: %v", err)
	}

	// A relay's own requests (the relay capability) are served from its
	// own agents only: r1 asking r2 for a1, which is at r1, is refused.
	rd := fleetDialer(ids["r1"], relays, agents)
	if _, err := rd.Dial(ctx, []hop.Addr{mustAddr(t, r2.url)}, hop.Addr{Name: "a1"}); err == nil || !strings.Contains(err.Error(), `no agent "a1" registered here`) {
		t.Fatalf("a relay's request for another relay's agent: %v", err)
	}

	// A relay of the fleet that its peers trust but do not grant the
	// relay capability (r4) is refused even the agents registered there,
	// and told which grant is missing; no request of its is forwarded.
	r4 := startFleetRelay(t, "r4", ids["r4"], trusted, mf.join)
	rd4 := fleetDialer(ids["r4"], append(relays, r4), agents)
	if _, err := rd4.Dial(ctx, []hop.Addr{mustAddr(t, r2.url)}, hop.Addr{Name: "a2"}); err == nil || !strings.Contains(err.Error(), "--grant 'r4:relay'") {
		t.Fatalf("an ungranted relay's request: %v", err)
	}

	// r2 stops: a2 moves to r3, and is reached through r1 again.
	r2.srv.Close()
	waitUntil(t, "a2 reachable through r1 after its relay stopped", func() bool { return hello(r1, "a2") == nil },
		func() string { return "a2 still unreachable" })
	if err := hello(r3, "a1"); err != nil {
		t.Fatalf("a1, whose relay stayed up: %v", err)
	}
}

// gathered is n's metrics by name and labels, as /metrics writes them.
func gathered(t *testing.T, n *testNode) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(n.srv.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return parseMetrics(t, rec.Body.Bytes())
}

// The directory's hooks count evictions and failed operations in the
// relay's metrics.
func TestFleetDirectoryMetrics(t *testing.T) {
	var mf memFleet
	r := startFleetRelay(t, "r1", newIdentity(t, "r1"), nil, mf.join)
	hooks := directoryMetrics(r.srv)
	hooks.Evicted()
	hooks.Evicted()
	hooks.Failed("lookup", errors.New("store unreachable"))
	m := gathered(t, r)
	if m["hopwire_fleet_evictions_total"] != 2 || m["hopwire_fleet_directory_errors_total"] != 1 {
		t.Fatalf("evictions %v (want 2), directory errors %v (want 1)", m["hopwire_fleet_evictions_total"], m["hopwire_fleet_directory_errors_total"])
	}
}
