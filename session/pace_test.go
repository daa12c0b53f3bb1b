package session

import (
	"io"
	"testing"
	"time"
)

// fakeClock is a pacer's clock moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakePacer() (*pacer, *fakeClock) {
	c := &fakeClock{t: time.Unix(1e9, 0)}
	p := newPacer()
	p.now = c.now
	return p, c
}

// TestPacerIdle: with no calls, a paced link's writes never wait, however
// fast they come.
func TestPacerIdle(t *testing.T) {
	p, clk := newFakePacer()
	for range 1000 {
		p.wait(64 << 10)
		clk.add(time.Microsecond)
	}
	if n := p.paced.Load(); n != 0 {
		t.Fatalf("%d writes waited with no calls running", n)
	}
	// Calls that ended long ago do not pace either.
	sent := clk.t
	p.callStarted(p.now())
	clk.add(100 * time.Microsecond)
	p.callEnded(sent)
	clk.add(paceActive)
	p.wait(1 << 20)
	if n := p.paced.Load(); n != 0 {
		t.Fatalf("%d writes waited %v after the last call", n, paceActive)
	}
}

// TestPacerCutsAndGrows: while calls take far longer than the best round
// trip, the rate falls, never below paceMinRate; once they are back near
// it, the rate grows again.
func TestPacerCutsAndGrows(t *testing.T) {
	p, clk := newFakePacer()
	const base = 100 * time.Microsecond
	call := func(rtt time.Duration) {
		p.wait(1) // the transfer goes on beside the call
		sent := clk.t
		p.callStarted(p.now())
		clk.add(rtt)
		p.callEnded(sent)
	}
	// Idle calls set the reference.
	for range 10 {
		sent := clk.t
		p.callStarted(p.now())
		clk.add(base)
		p.callEnded(sent)
		clk.add(paceQuiet)
	}
	clk.add(paceActive)
	// A transfer at 500 MB/s runs unpaced while no calls run, then calls
	// start beside it: the pacer takes its rate from what it measured.
	for range 200 {
		p.wait(50 << 10)
		clk.add(100 * time.Microsecond)
	}
	if n := p.paced.Load(); n != 0 {
		t.Fatalf("%d writes waited with no calls running", n)
	}
	p.callStarted(p.now())
	p.wait(1)
	start := p.rate
	if start < 300e6 || start > 700e6 {
		t.Fatalf("rate %0.f B/s at the start, want the measured ~500 MB/s", start)
	}
	// The calls are slowed tenfold: the rate falls.
	for range 200 {
		call(10 * base)
	}
	if p.rate > start/10 {
		t.Fatalf("rate %.0f B/s after slowed calls, from %.0f", p.rate, start)
	}
	for range 2000 {
		call(10 * base)
	}
	// The floor: a sixteenth of the unpaced rate.
	if floor := start / paceFloor; p.rate != floor {
		t.Fatalf("rate %.0f B/s, want the floor %.0f", p.rate, floor)
	}
	floor := p.rate
	// The calls are fast again for a second: the rate grows (doubling
	// every paceDouble).
	for range 10000 {
		call(base)
	}
	if p.rate < 10*floor {
		t.Fatalf("rate %.0f B/s after fast calls, want it grown from the floor", p.rate)
	}
}

// TestPacerCallsBeforeTransfer: calls that were running before the
// transfer started still get it paced, from its rate measured over its
// first ~10 ms.
func TestPacerCallsBeforeTransfer(t *testing.T) {
	p, clk := newFakePacer()
	for range 200 {
		p.callStarted(clk.t)
		p.wait(50 << 10)
		clk.add(100 * time.Microsecond)
	}
	if p.rate < 300e6 || p.rate > 700e6 {
		t.Fatalf("rate %.0f B/s, want the transfer's ~500 MB/s to start from", p.rate)
	}
}

// TestPacerPaces: while calls run, writes beyond the burst wait for the
// rate.
func TestPacerPaces(t *testing.T) {
	p, _ := newFakePacer()
	p.now = time.Now
	p.callStarted(p.now())
	p.rate = 10 << 20 // 10 MiB/s
	start := time.Now()
	for range 10 {
		p.callStarted(p.now()) // calls keep running
		p.wait(64 << 10)
	}
	// 640 KiB at 10 MiB/s, less one burst: at least ~56 ms.
	if took := time.Since(start); took < 40*time.Millisecond || p.paced.Load() == 0 {
		t.Fatalf("10 paced writes of 64 KiB took %v (%d waited)", took, p.paced.Load())
	}
}

// TestYieldTo: a link that yields to a Conn's calls is paced while the
// Conn makes calls, and only then, through Write and ReadFrom alike; the
// Conn's own RPC stream is not paced.
func TestYieldTo(t *testing.T) {
	for _, c := range []struct{ kind, via string }{{"pipe", "Write"}, {"tcp", "Write"}, {"tcp", "ReadFrom"}} {
		via := c.via
		t.Run(c.kind+"/"+via, func(t *testing.T) {
			cc, sc := rpcPair(t, c.kind, nil, nil)
			if err := sc.Expose("calc", &calc{}); err != nil {
				t.Fatal(err)
			}
			dl, ds := linkPair(t, c.kind, nil, nil)
			dl.YieldTo(cc)
			ctx := t.Context()
			s, err := dl.OpenStream(ctx, KindConnect, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			peer, err := ds.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			go io.Copy(io.Discard, peer)

			buf := make([]byte, 32<<10)
			// move writes for d and returns the bytes it moved.
			move := func(d time.Duration) int64 {
				var n int64
				for end := time.Now().Add(d); time.Now().Before(end); {
					var err error
					if via == "Write" {
						var w int
						w, err = s.Write(buf)
						n += int64(w)
					} else {
						var w int64
						w, err = s.ReadFrom(io.LimitReader(zeros{}, int64(len(buf))))
						n += w
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				return n
			}
			free := move(300 * time.Millisecond)
			if n := cc.pace.paced.Load(); n != 0 {
				t.Fatalf("%d writes paced with no calls", n)
			}

			// Calls run beside the transfer; the rate is set low (the
			// controller that finds it is TestPacerCutsAndGrows').
			calls := make(chan struct{})
			callsDone := make(chan error, 1)
			go func() {
				calc := cc.Service("calc")
				for {
					select {
					case <-calls:
						callsDone <- nil
						return
					default:
					}
					if _, err := Call[int](ctx, calc, "Add", 1, 2); err != nil {
						callsDone <- err
						return
					}
				}
			}()
			time.Sleep(10 * time.Millisecond)
			p := cc.pace
			p.mu.Lock()
			p.rate = paceMinRate
			p.mu.Unlock()
			// (100 ms, scaled to 300: the rate doubles every paceDouble
			// while the calls are as fast as with no transfer beside
			// them, and a cut lifts it to a sixteenth of the unpaced
			// rate.)
			paced := 3 * move(100*time.Millisecond)
			close(calls)
			if err := <-callsDone; err != nil {
				t.Fatal(err)
			}
			if p.paced.Load() == 0 || paced > free/4 {
				t.Fatalf("beside calls the link moved %d bytes in 300 ms (%d writes paced), %d with none", paced, p.paced.Load(), free)
			}
			// The calls stopped: full speed again.
			time.Sleep(2 * paceActive)
			if again := move(300 * time.Millisecond); again < 2*paced {
				t.Fatalf("after the calls the link moved %d bytes in 300 ms, %d beside them", again, paced)
			}
			t.Logf("300 ms: %d MB alone, %d beside calls", free>>20, paced>>20)
		})
	}
}
