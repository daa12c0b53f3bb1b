// Package procs sizes the Go scheduler of a hopwire process to its load.
//
// A hopwire node or forwarder spends its time handing small messages
// between goroutines (a stream's reader, smux's shaper and send loop, the
// link's reader) and the kernel. Measured on real processes (hopwire
// serve and hopwire forward, each its own process, a 64-byte ping-pong
// through them), with the default GOMAXPROCS of 2 on a 2-core machine
// every hand-off that finds the other P idle wakes a parked thread (a
// futex wake, and in a VM an idle vCPU), which spins, finds nothing, and
// parks again, on the CPU the other processes of the chain need: round
// trips took 1.4–1.5× as long as with GOMAXPROCS=1, and a bulk transfer
// used 25% more CPU for less throughput. One P is right for a process
// that uses less than a core; a relay that is busy needs more.
//
// Adapt therefore starts a process on one P and watches its CPU time: a
// process that keeps one core busy gets every P the runtime would have
// given it (runtime.GOMAXPROCS's default, which follows the CPU quota),
// and goes back to one when its load falls well below a core again. An
// explicit GOMAXPROCS in the environment turns it off: the user decides.
package procs

import (
	"context"
	"os"
	"runtime"
	"time"
)

const (
	// interval is how often the process's CPU time is sampled.
	interval = 250 * time.Millisecond
	// up: at one P, this many cores' worth of CPU (user and system) for
	// upSamples samples in a row is a process that wants more.
	up        = 0.85
	upSamples = 2
	// down: at more than one P, less than this for downSamples samples in
	// a row is a process one P serves.
	down        = 0.5
	downSamples = 12
)

// Policy is the decision of Adapt: it is given each sample's CPU use (in
// cores) and returns the GOMAXPROCS to run with.
type Policy struct {
	Max  int // the most Ps (the runtime's default)
	cur  int
	high int // samples in a row at or above up (at one P)
	low  int // samples in a row below down (above one P)
}

// NewPolicy returns the policy of a process that may use up to max Ps;
// it starts at one.
func NewPolicy(max int) *Policy { return &Policy{Max: max, cur: 1} }

// Procs is the current number of Ps.
func (p *Policy) Procs() int { return p.cur }

// Sample takes one sample of CPU use, in cores, and returns the number of
// Ps to run with from now on.
func (p *Policy) Sample(cores float64) int {
	if p.cur == 1 {
		p.low = 0
		if cores >= up {
			p.high++
		} else {
			p.high = 0
		}
		if p.high >= upSamples && p.Max > 1 {
			p.cur, p.high = p.Max, 0
		}
		return p.cur
	}
	p.high = 0
	if cores < down {
		p.low++
	} else {
		p.low = 0
	}
	if p.low >= downSamples {
		p.cur, p.low = 1, 0
	}
	return p.cur
}

// processCPU is cpuTime, or a test's stand-in.
var processCPU = cpuTime

// Adapt runs the policy on this process until ctx ends (then restores the
// runtime's default), unless GOMAXPROCS is set in the environment or the
// process may use only one P anyway. changed, if not nil, hears each
// change.
func Adapt(ctx context.Context, changed func(procs int, cores float64)) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	max := runtime.GOMAXPROCS(0)
	if max <= 1 {
		return
	}
	cpu, ok := processCPU()
	if !ok {
		return
	}
	p := NewPolicy(max)
	runtime.GOMAXPROCS(1)
	go func() {
		defer runtime.GOMAXPROCS(max)
		t := time.NewTicker(interval)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				c, _ := processCPU()
				cores := (c - cpu).Seconds() / now.Sub(last).Seconds()
				cpu, last = c, now
				before := p.Procs()
				if n := p.Sample(cores); n != before {
					runtime.GOMAXPROCS(n)
					if changed != nil {
						changed(n, cores)
					}
				}
			}
		}
	}()
}
