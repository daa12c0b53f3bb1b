package directory

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkDirectoryLookup is issue 20's directory benchmark: 10,000 agents
// registered across 3 relays of one fleet on a real nats-server (over
// loopback); each op looks up a random agent from a random relay. It
// reports the latency percentiles p50-ns and p99-ns besides ns/op.
func BenchmarkDirectoryLookup(b *testing.B) {
	const agents, relays = 10_000, 3
	srv := startNATS(b)
	ds := make([]Directory, relays)
	for i := range ds {
		id := fmt.Sprintf("R%d", i)
		d, err := Open(ctxFor(b, 10*time.Second), srv.URL, RelayInfo{ID: id, Addr: "tls://" + id + ":7443"},
			&Options{Fleet: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		ds[i] = d
	}
	names := make([]string, agents)
	for i := range names {
		names[i] = fmt.Sprintf("agent-%05d.example", i)
	}
	ctx := b.Context()
	start := time.Now()
	var wg sync.WaitGroup
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < agents; i += workers {
				if err := ds[i%relays].Register(ctx, names[i], fp(names[i])); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.Logf("registered %d agents in %v", agents, time.Since(start).Round(time.Millisecond))

	rng := rand.New(rand.NewPCG(1, 2))
	var lat []time.Duration
	for b.Loop() {
		i := rng.IntN(agents)
		t0 := time.Now()
		e, err := ds[rng.IntN(relays)].Lookup(ctx, names[i])
		lat = append(lat, time.Since(t0))
		if err != nil || e.Relay != fmt.Sprintf("R%d", i%relays) {
			b.Fatalf("Lookup(%s) = %+v, %v", names[i], e, err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}
