package session

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Calls first: a link that carries a route's bulk connections can be told
// to yield to an RPC session's calls (Link.YieldTo). While the session is
// making calls, the link's writes are paced so that the calls' round trips
// stay near what they are with no transfer beside them; 20 ms after the
// last call the link runs unpaced again.
//
// Why pacing and not a priority queue: the calls and the bulk already ride
// different links (and so different streams at every relay, and different
// sockets on a direct path); what still slows a call beside a transfer is
// CPU. A transfer that saturates the machine keeps every process of the
// path busy, and a call that arrives at a process in the middle of a burst
// of frames waits for it to be worked off, in each process in turn
// (BenchmarkRPCUnderBulk: the p99 of null calls through two relays was
// 8–10× an idle session's; pacing the transfer by hand to a sixth of its
// speed brought it to 1.7×). No queue in this process can reorder work in
// the relays' and the target's. The rate is found, not configured: like a
// delay-based congestion controller (LEDBAT), it is cut while the calls
// take well over what they take on an idle path (their mean, or their
// tail) and grows while they are near it, so a machine with cores to
// spare paces little or not at all. The cost falls on the transfer only
// while calls run: a program that calls continuously beside a transfer
// gets the transfer at the rate its calls leave room for (through two
// relays on a 2-core machine, about a sixth of its full speed). Only
// what this side sends is paced: a transfer the peer sends (a download)
// is not.

// Pacing constants.
const (
	paceActive   = 20 * time.Millisecond  // calls count as running this long after the last one started or ended
	paceQuiet    = 5 * time.Millisecond   // a call sent this long after the last paced write is an idle one
	paceBurst    = 32 << 10               // bytes a paced link may send at once
	paceMinRate  = 1 << 20                // bytes per second a paced link is never held below...
	paceFloor    = 16                     // ...nor below its unpaced rate divided by this
	paceWindow   = 10 * time.Millisecond  // the calls are judged, and the rate changed, once per window
	paceSlowed   = 1.6                    // a window whose mean round trip is this many times the idle mean cuts the rate...
	paceTail     = 1.7                    // ...as does one with more than 1% of its calls this many times the idle 99th percentile...
	paceFast     = 1.3                    // ...and one whose mean is below this many times the idle mean raises it
	paceCut      = 0.8                    // the cut
	paceDouble   = 100 * time.Millisecond // the rise: the rate doubles in this while calls are near idle speed
	paceNoIdle   = 2.0                    // with no idle call seen yet, the least round trip times this stands in for the idle mean
	paceMaxSleep = 50 * time.Millisecond  // the longest one write waits
)

// pacer paces writes on the links that yield to one Conn's calls.
type pacer struct {
	now func() time.Time // time.Now; tests replace it

	mu        sync.Mutex
	started   atomic.Int64  // a call started (Unix ns)
	lastCall  time.Time     // a call ended
	lastWrite time.Time     // a yielding link wrote
	idle      time.Duration // mean round trip of calls with no transfer beside them (moving); 0: none yet
	idleTail  time.Duration // their 99th percentile, estimated as they come
	least     time.Duration // least round trip seen
	// The window being judged.
	winAt    time.Time
	winN     int
	winSum   time.Duration
	winSlow  int     // calls above paceTail × idleTail
	rate     float64 // bytes/s while calls run; 0: not known yet (starts at the measured rate)
	tokens   float64 // may go negative: a debt the next writer sleeps off
	tokAt    time.Time
	measured float64 // bytes/s the links moved lately while unpaced
	measAt   time.Time
	measN    float64

	paced atomic.Int64 // writes that slept, for tests and stats
}

func newPacer() *pacer { return &pacer{now: time.Now} }

// callStarted notes a call being sent at t (without the lock: callers
// on many goroutines call it).
func (p *pacer) callStarted(t time.Time) {
	p.started.Store(t.UnixNano())
}

// callEnded notes the answer to a call sent at sent, and once a window
// adjusts the rate.
//
// The reference is the calls' own round trip with no transfer beside
// them (from calls sent while the links had been quiet for paceQuiet):
// its mean and its tail, so the pacer aims at what the path gives an
// idle session, not at its best case. The calls are judged a window at
// a time, since a single slow call says little (an idle path has its
// tail too) and a cut shows only once what was sent at the old rate has
// gone through.
func (p *pacer) callEnded(sent time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.lastCall = now
	rtt := now.Sub(sent)
	if rtt <= 0 {
		return
	}
	if p.least == 0 || rtt < p.least {
		p.least = rtt
	}
	if sent.Sub(p.lastWrite) >= paceQuiet {
		if p.idle == 0 {
			p.idle, p.idleTail = rtt, rtt
		} else {
			p.idle += (rtt - p.idle) / 16
			// A streaming estimate of the 99th percentile: up by 99
			// steps for a call above it, down by one for one below.
			step := max(p.idleTail/1024, 1)
			if rtt > p.idleTail {
				p.idleTail += 99 * step
			} else {
				p.idleTail -= step
			}
		}
	}
	ref, tail := p.idle, p.idleTail
	if ref == 0 {
		ref = time.Duration(paceNoIdle * float64(p.least))
		tail = 3 * ref
	}
	if p.winAt.IsZero() {
		p.winAt = now
	}
	p.winN++
	p.winSum += rtt
	if float64(rtt) > paceTail*float64(tail) {
		p.winSlow++
	}
	if now.Sub(p.winAt) < paceWindow {
		return
	}
	mean := p.winSum / time.Duration(p.winN)
	slowed := float64(mean) > paceSlowed*float64(ref) || p.winSlow > max(1, p.winN/100)
	fast := float64(mean) < paceFast*float64(ref)
	span := min(now.Sub(p.winAt), paceDouble)
	p.winAt, p.winN, p.winSum, p.winSlow = now, 0, 0, 0
	if p.rate == 0 {
		return // not paced yet: nothing to adjust
	}
	switch {
	case slowed:
		// Never below a sixteenth of the unpaced rate: calls that stay
		// slow with the transfer held that low are slowed by something
		// else, which starving the transfer would not cure.
		p.rate = max(p.rate*paceCut, paceMinRate, p.measured/paceFloor)
	case fast:
		p.rate *= math.Exp2(span.Seconds() / paceDouble.Seconds())
	}
}

// active reports whether calls are running (under mu).
func (p *pacer) active(now time.Time) bool {
	last := p.lastCall
	if t := time.Unix(0, p.started.Load()); t.After(last) {
		last = t
	}
	return !last.IsZero() && now.Sub(last) < paceActive
}

// wait paces a write of n bytes: it returns at once while no calls run,
// and otherwise once the rate allows n more bytes.
func (p *pacer) wait(n int) {
	p.mu.Lock()
	now := p.now()
	p.lastWrite = now
	active := p.active(now)
	if !active || p.rate == 0 {
		// What the links move unpaced, over spans of ~10 ms: the rate
		// pacing starts from (calls may have started before the
		// transfer), and what sets its floor.
		if p.measAt.IsZero() {
			p.measAt = now
		}
		p.measN += float64(n)
		if d := now.Sub(p.measAt); d >= 10*time.Millisecond {
			r := p.measN / d.Seconds()
			if p.measured == 0 {
				p.measured = r
			} else {
				p.measured += (r - p.measured) / 4
			}
			p.measAt, p.measN = now, 0
		}
		if !active || p.measured == 0 {
			p.tokens, p.tokAt = paceBurst, now
			p.mu.Unlock()
			return
		}
		p.rate = max(p.measured, paceMinRate)
	}
	p.measAt, p.measN = time.Time{}, 0
	p.tokens = min(paceBurst, p.tokens+p.rate*now.Sub(p.tokAt).Seconds())
	p.tokAt = now
	p.tokens -= float64(n)
	var sleep time.Duration
	if p.tokens < 0 {
		// A large write's debt is slept off in parts (the next write
		// pays the rest), so that no write sleeps through much of a
		// deadline or a close.
		sleep = min(time.Duration(-p.tokens/p.rate*float64(time.Second)), paceMaxSleep)
	}
	p.mu.Unlock()
	if sleep > 0 {
		p.paced.Add(1)
		time.Sleep(sleep)
	}
}
