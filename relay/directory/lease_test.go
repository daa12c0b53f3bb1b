package directory

import (
	"testing"
	"time"
)

// TestViewState checks the lease rules on a view fed by hand, with the
// store's clock at t0 + now.
func TestViewState(t *testing.T) {
	t.Parallel()
	const lease = 10 * time.Second
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	inc1, inc2 := at(-3600), at(-60) // two runs of relay R
	type beat struct {
		inc time.Time
		at  int
	}
	cases := []struct {
		name    string
		beats   []beat
		base    int // the watch restarted then; 0: the first watch
		inc     time.Time
		written int
		now     int
		want    liveness
	}{
		{"renewed within the lease", []beat{{inc1, 95}}, 0, inc1, 0, 100, live},
		{"renewal just over a lease ago", []beat{{inc1, 90}}, 0, inc1, 0, 100, dead},
		{"never seen, old entry", nil, 0, inc1, 0, 100, dead},
		{"never seen, entry newer than a lease", nil, 0, inc1, 95, 100, unknown},
		{"watch restarted less than a lease ago", []beat{{inc1, 50}}, 95, inc1, 0, 100, unknown},
		{"watch restarted a lease ago", []beat{{inc1, 50}}, 90, inc1, 0, 100, dead},
		{"a newer run of the relay is alive", []beat{{inc1, 99}, {inc2, 99}}, 0, inc1, 0, 100, dead},
		{"the newer run is alive, entry of the newer run", []beat{{inc1, 99}, {inc2, 99}}, 0, inc2, 0, 100, live},
		{"an older run's beats do not matter", []beat{{inc1, 99}}, 0, inc2, 98, 100, unknown},
		{"a dead newer run does not supersede", []beat{{inc1, 99}, {inc2, 80}}, 0, inc1, 0, 100, live},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newView(lease, "self")
			for _, b := range c.beats {
				v.beat(heartbeat{info: RelayInfo{ID: "R", Since: b.inc}, at: at(b.at)}, at(b.at))
			}
			if c.base != 0 {
				v.restarted(at(c.base))
			}
			if got := v.state("R", c.inc.UnixNano(), at(c.written), at(c.now)); got != c.want {
				t.Errorf("state = %v, want %v", got, c.want)
			}
		})
	}
}

func TestViewLiveAndSkew(t *testing.T) {
	t.Parallel()
	v := newView(10*time.Second, "self")
	store := time.Now().Add(-time.Hour) // the store's clock is an hour behind
	v.beat(heartbeat{info: RelayInfo{ID: "self", Addr: "a", Since: store.Add(-time.Minute)}, at: store}, time.Now())
	v.beat(heartbeat{info: RelayInfo{ID: "old", Since: store.Add(-time.Hour)}, at: store.Add(-11 * time.Second)}, time.Now())
	v.beat(heartbeat{info: RelayInfo{ID: "R", Addr: "r1", Since: store.Add(-2 * time.Minute)}, at: store.Add(-time.Second)}, time.Now())
	v.beat(heartbeat{info: RelayInfo{ID: "R", Addr: "r2", Since: store.Add(-time.Minute)}, at: store.Add(-time.Second)}, time.Now())
	if d := v.now().Sub(store); d < 0 || d > time.Second {
		t.Errorf("the estimated store clock is off by %v", d)
	}
	got := v.live(v.now())
	if len(got) != 2 || got[0].ID != "R" || got[0].Addr != "r2" || got[1].ID != "self" {
		t.Errorf("live = %+v, want R (its newer run) and self", got)
	}
	if v.stuck(time.Now()) {
		t.Error("stuck right after its own heartbeat")
	}
	if !v.stuck(time.Now().Add(11 * time.Second)) {
		t.Error("not stuck a lease after its own heartbeat")
	}
}
