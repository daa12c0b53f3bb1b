package procs

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The policy goes to every P after a sustained core's worth of CPU, not
// after a spike, and back to one after a sustained lull, not after a dip.
func TestPolicy(t *testing.T) {
	p := NewPolicy(4)
	steps := []struct {
		cores float64
		want  int
	}{
		{0.1, 1}, {0.95, 1}, {0.2, 1}, // a spike is not load
		{0.9, 1}, {1.0, 4}, // sustained: every P
		{1.6, 4}, {0.3, 4}, {0.7, 4}, // a dip is not a lull
	}
	for range downSamples - 1 {
		steps = append(steps, struct {
			cores float64
			want  int
		}{0.2, 4})
	}
	steps = append(steps, struct {
		cores float64
		want  int
	}{0.2, 1}, struct {
		cores float64
		want  int
	}{0.95, 1})
	for i, s := range steps {
		if got := p.Sample(s.cores); got != s.want {
			t.Fatalf("sample %d (%.2f cores): %d Ps, want %d", i, s.cores, got, s.want)
		}
	}
	one := NewPolicy(1)
	for range upSamples + 1 {
		if one.Sample(2) != 1 {
			t.Fatal("a one-P process grew")
		}
	}
}

// Adapt starts a process on one P, gives a busy one every P, and leaves
// the runtime's default when it ends; GOMAXPROCS in the environment turns
// it off.
func TestAdapt(t *testing.T) {
	max := runtime.GOMAXPROCS(0)
	if max < 2 {
		t.Skip("needs 2 CPUs")
	}
	t.Setenv("GOMAXPROCS", "")
	// The process's CPU time, as a busy process would use it: a core's
	// worth per second of wall time once busy is set (a stand-in, so a
	// loaded test machine cannot starve the test of the CPU it measures).
	var busy atomic.Bool
	var mu sync.Mutex
	var used time.Duration
	last := time.Now()
	processCPU = func() (time.Duration, bool) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if busy.Load() {
			used += now.Sub(last)
		}
		last = now
		return used, true
	}
	defer func() { processCPU = cpuTime }()
	ctx, cancel := context.WithCancel(t.Context())
	changed := make(chan int, 8)
	Adapt(ctx, func(n int, _ float64) { changed <- n })
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("started with %d Ps", n)
	}
	busy.Store(true)
	select {
	case n := <-changed:
		if n != max {
			t.Fatalf("a busy process got %d Ps, want %d", n, max)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a busy process stayed on one P")
	}
	busy.Store(false)
	cancel()
	for deadline := time.Now().Add(5 * time.Second); runtime.GOMAXPROCS(0) != max; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the default was not restored")
		}
	}
	t.Setenv("GOMAXPROCS", "2")
	Adapt(t.Context(), nil)
	if n := runtime.GOMAXPROCS(0); n != max {
		t.Fatalf("with GOMAXPROCS set, Adapt changed it to %d", n)
	}
}
