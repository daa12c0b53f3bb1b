package relay

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay/directory"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
)

// A fleet is relays that share a directory (package directory): each
// records there the agents registered with it, so that a client may ask
// any relay of the fleet for any agent. The relay asked (the entry
// relay) looks the agent up and opens an agent stream to it through a
// mesh link to the agent's relay (its home relay), which it splices to
// the client's stream as it would a local agent's. The client's TLS
// handshake with the agent runs through both relays, which see only
// ciphertext: end-to-end authentication is unchanged.
//
// Trust between relays: the entry relay dials the home relay pinned to
// the key the directory names for it (a forged directory entry can send
// a client to the wrong relay, never to the wrong agent: the client
// authenticates the agent itself); the home relay accepts the entry
// relay by its own trust (the fleet's CA, or the authorized file) and
// serves its agent requests only if it holds the relay capability, and
// then only from its own agents, so a request crosses one mesh link at
// most. Mesh links are opened on demand and closed when idle.
type fleet struct {
	s   *Server
	dir directory.Directory
	id  string // this relay's ID in the fleet: its key's fingerprint

	mu      sync.Mutex
	mesh    map[string]*meshLink // by relay ID
	pending map[string]string    // agent name → fingerprint: registered here, not yet in the directory

	lookups       *prometheus.CounterVec // result: found, missing, error
	lookupSeconds prometheus.Histogram
	evictions     prometheus.Counter
	dirErrors     prometheus.Counter
	meshDials     *prometheus.CounterVec // result
}

// meshLink is the link to another relay of the fleet: a Redialer, so
// that one dial runs at a time and a broken link is dialed again on next
// use. up and entry are read and set under fleet.mu (idle too).
type meshLink struct {
	rd    *hop.Redialer
	entry directory.Entry // where the directory last said the relay is
	up    *hop.Route      // the route last dialed (nil: none yet)
	idle  int             // janitor rounds seen with no stream open
}

const (
	// meshIdleRounds × fleetTick is how long a mesh link with no agent
	// stream open stays up.
	meshIdleRounds = 4
	// fleetTick is how often the fleet looks for idle mesh links.
	fleetTick = 15 * time.Second
	// pendingRetry is how often registrations the directory missed (it
	// was unavailable) are tried again: the agents they name are
	// reachable through their own relay only until then.
	pendingRetry = 2 * time.Second
	// meshDialTimeout bounds a mesh link's setup.
	meshDialTimeout = 10 * time.Second
)

func newFleet(s *Server, dir directory.Directory, id string) *fleet {
	f := &fleet{s: s, dir: dir, id: id, mesh: map[string]*meshLink{}, pending: map[string]string{}}
	f.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopwire_fleet_lookups_total",
		Help: "Directory lookups of agents not registered at this relay, by result (found, missing, error).",
	}, []string{"result"})
	for _, r := range []string{"found", "missing", "error"} {
		f.lookups.WithLabelValues(r)
	}
	f.lookupSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "hopwire_fleet_lookup_duration_seconds",
		Help:    "Time a directory lookup took.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 2.5},
	})
	f.evictions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hopwire_fleet_evictions_total",
		Help: "Stale directory entries (their relay's lease had expired) this relay removed.",
	})
	f.dirErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hopwire_fleet_directory_errors_total",
		Help: "Operations on the fleet's directory that failed (the store was unreachable or refused them).",
	})
	f.meshDials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopwire_fleet_mesh_dials_total",
		Help: "Mesh links this relay dialed to other relays of the fleet, by result (ok, error).",
	}, []string{"result"})
	f.meshDials.WithLabelValues(resultOK)
	f.meshDials.WithLabelValues(resultError)
	s.metrics.reg.MustRegister(f.lookups, f.lookupSeconds, f.evictions, f.dirErrors, f.meshDials,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hopwire_fleet_mesh_links",
			Help: "Mesh links this relay holds open to other relays of the fleet.",
		}, func() float64 { return float64(f.meshLinks()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hopwire_fleet_relays",
			Help: "Relays of the fleet whose lease is alive, this one included (0 while the directory is unavailable).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			rs, err := f.dir.Relays(ctx)
			if err != nil {
				return 0
			}
			return float64(len(rs))
		}))
	return f
}

// directoryMetrics are the hooks through which s's directory reports
// into s's metrics and log (lookups are timed by the fleet itself).
func directoryMetrics(s *Server) directory.Metrics {
	return directory.Metrics{
		Evicted: func() {
			if f := s.fleet.Load(); f != nil {
				f.evictions.Inc()
			}
		},
		// The directory logs an outage itself, once; each failed
		// operation of it is only counted here.
		Failed: func(op string, err error) {
			if f := s.fleet.Load(); f != nil {
				f.dirErrors.Inc()
			}
		},
	}
}

// register records a local agent in the directory. A name another key
// holds in the fleet is refused; while the directory is unavailable the
// agent is reachable here only, and the registration is retried.
func (f *fleet) register(ctx context.Context, name, fp string) error {
	err := f.dir.Register(ctx, name, fp)
	switch {
	case err == nil:
		f.mu.Lock()
		delete(f.pending, name)
		f.mu.Unlock()
		return nil
	case errors.Is(err, directory.ErrTaken):
		return fmt.Errorf("relay: agent name %q is taken in the fleet by another key", name)
	}
	f.mu.Lock()
	f.pending[name] = fp
	f.mu.Unlock()
	f.s.log.Warn("agent registered here only: the fleet's directory did not record it; retrying", "agent", name, "err", err, "every", pendingRetry)
	return nil
}

// unregister removes a local agent that left.
func (f *fleet) unregister(name, fp string) {
	f.mu.Lock()
	delete(f.pending, name)
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(f.s.ctx, 5*time.Second)
	defer cancel()
	if err := f.dir.Unregister(ctx, name, fp); err != nil && !errors.Is(err, directory.ErrClosed) {
		f.s.log.Info("fleet directory: the agent's entry stays until this relay's lease ends", "agent", name, "err", err)
	}
}

// run retries pending registrations and closes idle mesh links until
// the node stops.
func (f *fleet) run() {
	idle := time.NewTicker(fleetTick)
	defer idle.Stop()
	retry := time.NewTicker(pendingRetry)
	defer retry.Stop()
	for {
		select {
		case <-f.s.ctx.Done():
			f.closeMesh()
			return
		case <-retry.C:
			f.retryPending()
		case <-idle.C:
			f.closeIdle()
		}
	}
}

func (f *fleet) retryPending() {
	f.mu.Lock()
	todo := maps.Clone(f.pending)
	f.mu.Unlock()
	recorded := 0
	defer func() {
		if recorded > 0 {
			f.s.log.Info("agents recorded in the fleet's directory after it came back", "agents", recorded)
		}
	}()
	for name, fp := range todo {
		ctx, cancel := context.WithTimeout(f.s.ctx, 5*time.Second)
		err := f.dir.Register(ctx, name, fp)
		cancel()
		f.mu.Lock()
		if f.pending[name] == fp && (err == nil || errors.Is(err, directory.ErrTaken)) {
			delete(f.pending, name)
		}
		f.mu.Unlock()
		switch {
		case errors.Is(err, directory.ErrTaken):
			// Another key took the name while the directory could not
			// hear of this one: the first holder keeps it, so the local
			// agent goes.
			f.s.log.Warn("agent name taken in the fleet by another key while the directory was unavailable; closing this agent's link", "agent", name)
			f.s.dropAgent(name, fp)
		case err == nil:
			recorded++
		}
	}
}

// isRelay reports whether fp is the key of a live relay of the fleet
// (false while the directory cannot say: the peer is then served as a
// client, which reaches nothing beyond this relay's own agents either,
// since lookups fail too).
func (f *fleet) isRelay(ctx context.Context, fp string) bool {
	if fp == "" || fp == f.id {
		return fp != ""
	}
	rs, err := f.dir.Relays(ctx)
	if err != nil {
		return false
	}
	for _, r := range rs {
		if r.ID == fp {
			return true
		}
	}
	return false
}

// reach opens an agent stream to name at its home relay.
func (f *fleet) reach(ctx context.Context, name string) (net.Conn, error) {
	start := time.Now()
	e, err := f.dir.Lookup(ctx, name)
	f.lookupSeconds.Observe(time.Since(start).Seconds())
	switch {
	case errors.Is(err, directory.ErrNotFound):
		f.lookups.WithLabelValues("missing").Inc()
		return nil, fmt.Errorf("relay: no agent %q registered in the fleet", name)
	case err != nil:
		f.lookups.WithLabelValues("error").Inc()
		// The directory's errors name it ("directory: nats://… unavailable: …").
		return nil, fmt.Errorf("relay: agent %q is not here and this relay cannot ask the fleet's %w", name, err)
	}
	f.lookups.WithLabelValues("found").Inc()
	if e.Relay == f.id {
		return nil, fmt.Errorf("relay: agent %q is registered at this relay but not connected to it", name)
	}
	l, err := f.link(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("relay: agent %q is at relay %s: %w", name, e.Addr, err)
	}
	return connect.Open(ctx, l, &connect.Request{Network: connect.Agent, Address: name})
}

// link returns a mesh link to e's relay, dialing one if none is up.
func (f *fleet) link(ctx context.Context, e directory.Entry) (*session.Link, error) {
	for {
		f.mu.Lock()
		m := f.mesh[e.Relay]
		if m == nil {
			m = &meshLink{}
			m.rd = hop.NewRedialer(nil, func(ctx context.Context) (*hop.Route, error) { return f.dialMesh(ctx, m) })
			f.mesh[e.Relay] = m
		}
		m.entry, m.idle = e, 0
		f.mu.Unlock()
		r, err := m.rd.Route(ctx)
		if errors.Is(err, hop.ErrRedialerClosed) && f.s.ctx.Err() == nil {
			continue // retired as idle meanwhile: take a new one
		}
		if err != nil {
			return nil, err
		}
		return r.Target().Link(), nil
	}
}

// dialMesh is m's Redialer's dial: to where the directory last put the
// relay, counted and logged.
func (f *fleet) dialMesh(ctx context.Context, m *meshLink) (*hop.Route, error) {
	f.mu.Lock()
	e := m.entry
	f.mu.Unlock()
	r, err := f.dial(ctx, e)
	if err == nil && f.s.ctx.Err() != nil {
		r.Close()
		err = errors.New("the relay is stopping")
	}
	if err != nil {
		f.meshDials.WithLabelValues(resultError).Inc()
		return nil, err
	}
	f.mu.Lock()
	m.up = r
	f.mu.Unlock()
	f.meshDials.WithLabelValues(resultOK).Inc()
	f.s.log.Info("mesh link up", "relay", e.Addr, "fp", e.Relay)
	return r, nil
}

// dial dials e's relay, pinned to the key the directory names for it.
func (f *fleet) dial(ctx context.Context, e directory.Entry) (*hop.Route, error) {
	a, err := hop.Parse(e.Addr)
	if err != nil {
		return nil, fmt.Errorf("its address in the directory: %w", err)
	}
	a.Fingerprint = e.Relay
	id := f.s.Identity()
	if id == nil {
		return nil, errors.New("this relay has no identity to present")
	}
	d := &hop.Dialer{Identity: id, Link: f.s.opts.Link, Logger: f.s.opts.Logger, OneLink: true}
	ctx, cancel := context.WithTimeout(ctx, meshDialTimeout)
	defer cancel()
	r, err := d.Dial(ctx, nil, a)
	if err != nil {
		if hop.RefusedByPeer(err) {
			return nil, fmt.Errorf("%w (that relay must trust this one and grant it the relay capability: --grant 'PRINCIPAL:relay')", err)
		}
		return nil, err
	}
	return r, nil
}

// meshLinks counts the mesh links up.
func (f *fleet) meshLinks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.mesh {
		if live(m.up) {
			n++
		}
	}
	return n
}

// live reports whether r is a route that has not broken.
func live(r *hop.Route) bool {
	if r == nil {
		return false
	}
	select {
	case <-r.Done():
		return false
	default:
		return true
	}
}

// closeIdle retires the mesh links that carried no agent stream for
// meshIdleRounds rounds (a link's RPC stream is always open), and those
// that broke or never came up.
func (f *fleet) closeIdle() {
	var gone []*meshLink
	f.mu.Lock()
	for id, m := range f.mesh {
		if live(m.up) && m.up.Target().Link().NumStreams() > 1 {
			m.idle = 0
			continue
		}
		if m.idle++; m.idle >= meshIdleRounds {
			gone = append(gone, m)
			delete(f.mesh, id)
		}
	}
	f.mu.Unlock()
	for _, m := range gone {
		m.rd.Close()
	}
}

func (f *fleet) closeMesh() {
	f.mu.Lock()
	all := slices.Collect(maps.Values(f.mesh))
	clear(f.mesh)
	f.mu.Unlock()
	for _, m := range all {
		m.rd.Close()
	}
}

// FleetAgent is one agent of the fleet, as `hopwire peers --fleet` lists
// it.
type FleetAgent struct {
	Name        string
	Fingerprint string
	Relay       string // the home relay's ID (its key's fingerprint)
	RelayAddr   string // where the fleet reaches it
	Since       time.Time
}
