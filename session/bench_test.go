package session

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/rpc"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the RPC session against net/rpc and plain TCP. Every pair
// runs over loopback TCP without TLS, both sides in this process. Paired
// sub-benchmarks (hopwire/netrpc, hopwire/tcp, hopwire/null) sit in one
// function so that a script can divide their ns/op.

// benchHeapProfile, when set, names a prefix for heap profiles written at
// the measuring points of BenchmarkIdleSession (PREFIX.idle) and
// BenchmarkInflight10k (PREFIX.inflight), while the sessions or calls are
// alive. Use it with -test.memprofilerate=1 for exact small objects:
//
//	go test -run '^$' -bench 'IdleSession|Inflight10k' -benchtime=1x \
//	    -memprofilerate=1 -args -benchheapprofile=/tmp/heap
//	go tool pprof -sample_index=inuse_space -top session.test /tmp/heap.idle
var benchHeapProfile = flag.String("benchheapprofile", "", "write heap profiles at the measuring points of the memory benchmarks to `prefix`.idle and .inflight")

func writeBenchHeapProfile(tb testing.TB, suffix string) {
	if *benchHeapProfile == "" {
		return
	}
	f, err := os.Create(*benchHeapProfile + "." + suffix)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

// benchSvc is the hopwire service of the benchmarks.
type benchSvc struct {
	hold atomic.Pointer[holdRound] // for Hold: the current BenchmarkInflight10k round
}

func (s *benchSvc) Null(x int) int { return x }

func (s *benchSvc) Echo(b []byte) []byte { return b }

func (s *benchSvc) Apply(ctx context.Context, f func(context.Context, int) (int, error), x int) (int, error) {
	return f(ctx, x)
}

func (s *benchSvc) Sink(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }

// holdRound makes Hold calls wait until all of a round have arrived.
type holdRound struct {
	want    int64
	arrived atomic.Int64
	all     chan struct{} // closed by the last to arrive
	release chan struct{} // closed by the benchmark
}

func (s *benchSvc) Hold(ctx context.Context, x int) (int, error) {
	r := s.hold.Load()
	if r.arrived.Add(1) == r.want {
		close(r.all)
	}
	select {
	case <-r.release:
		return x, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// NetRPCSvc is the net/rpc service of the benchmarks.
type NetRPCSvc struct{}

func (NetRPCSvc) Null(args int, reply *int) error {
	*reply = args
	return nil
}

func (NetRPCSvc) Echo(args []byte, reply *[]byte) error {
	*reply = args
	return nil
}

// hopwirePair returns a client Conn whose peer exposes benchSvc as "bench",
// closed at the end of the benchmark.
func hopwirePair(b *testing.B, sopts *Options) (*Conn, *benchSvc) {
	b.Helper()
	cc, sc := rpcPair(b, "tcp", nil, sopts)
	svc := &benchSvc{}
	if err := sc.Expose("bench", svc); err != nil {
		b.Fatal(err)
	}
	return cc, svc
}

// netrpcPair returns a net/rpc client whose server serves NetRPCSvc over
// loopback TCP; both are closed, and the server waited for, at the end of
// the benchmark.
func netrpcPair(b *testing.B) *rpc.Client {
	b.Helper()
	a, s := connPair(b, "tcp")
	srv := rpc.NewServer()
	if err := srv.RegisterName("NetRPCSvc", NetRPCSvc{}); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeConn(s) // returns when the client closes; closes s
	}()
	cl := rpc.NewClient(a)
	b.Cleanup(func() {
		cl.Close()
		<-done
	})
	return cl
}

func benchHopwireNull(b *testing.B) {
	cc, _ := hopwirePair(b, nil)
	svc := cc.Service("bench")
	ctx := context.Background()
	if _, err := Call[int](ctx, svc, "Null", 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n, err := Call[int](ctx, svc, "Null", i)
		if err != nil || n != i {
			b.Fatalf("Null(%d) = %d, %v", i, n, err)
		}
	}
}

func BenchmarkNullCall(b *testing.B) {
	b.Run("hopwire", benchHopwireNull)
	b.Run("netrpc", func(b *testing.B) {
		cl := netrpcPair(b)
		var reply int
		if err := cl.Call("NetRPCSvc.Null", 1, &reply); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := cl.Call("NetRPCSvc.Null", i, &reply); err != nil || reply != i {
				b.Fatalf("Null(%d) = %d, %v", i, reply, err)
			}
		}
	})
}

func BenchmarkCall1KiB(b *testing.B) {
	payload := bytes.Repeat([]byte{0xa5}, 1024)
	b.Run("hopwire", func(b *testing.B) {
		cc, _ := hopwirePair(b, nil)
		svc := cc.Service("bench")
		ctx := context.Background()
		if _, err := Call[[]byte](ctx, svc, "Echo", payload); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		b.ResetTimer()
		for range b.N {
			got, err := Call[[]byte](ctx, svc, "Echo", payload)
			if err != nil || len(got) != len(payload) {
				b.Fatalf("Echo = %d bytes, %v", len(got), err)
			}
		}
	})
	b.Run("netrpc", func(b *testing.B) {
		cl := netrpcPair(b)
		var reply []byte
		if err := cl.Call("NetRPCSvc.Echo", payload, &reply); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		b.ResetTimer()
		for range b.N {
			reply = nil
			if err := cl.Call("NetRPCSvc.Echo", payload, &reply); err != nil || len(reply) != len(payload) {
				b.Fatalf("Echo = %d bytes, %v", len(reply), err)
			}
		}
	})
}

// parallel64 sets b.RunParallel up for at least 64 callers.
func parallel64(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((64 + procs - 1) / procs)
}

// BenchmarkParallel64 runs 64 concurrent callers (GOMAXPROCS times
// ceil(64/GOMAXPROCS)) on one session or one net/rpc client; ns/op is per
// call, so calls/s is 1e9/ns_op.
func BenchmarkParallel64(b *testing.B) {
	b.Run("hopwire", func(b *testing.B) {
		cc, _ := hopwirePair(b, nil)
		svc := cc.Service("bench")
		ctx := context.Background()
		if _, err := Call[int](ctx, svc, "Null", 1); err != nil {
			b.Fatal(err)
		}
		parallel64(b)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				n, err := Call[int](ctx, svc, "Null", i)
				if err != nil || n != i {
					b.Errorf("Null(%d) = %d, %v", i, n, err)
					return
				}
			}
		})
	})
	b.Run("netrpc", func(b *testing.B) {
		cl := netrpcPair(b)
		var reply int
		if err := cl.Call("NetRPCSvc.Null", 1, &reply); err != nil {
			b.Fatal(err)
		}
		parallel64(b)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			var reply int
			for pb.Next() {
				i++
				if err := cl.Call("NetRPCSvc.Null", i, &reply); err != nil || reply != i {
					b.Errorf("Null(%d) = %d, %v", i, reply, err)
					return
				}
			}
		})
	})
}

// BenchmarkCallback: a call whose handler calls a func the caller passed
// (one nested round trip the other way) against the null call, measured in
// the same run.
func BenchmarkCallback(b *testing.B) {
	b.Run("hopwire", func(b *testing.B) {
		cc, _ := hopwirePair(b, nil)
		svc := cc.Service("bench")
		ctx := context.Background()
		inc := func(ctx context.Context, x int) (int, error) { return x + 1, nil }
		if _, err := Call[int](ctx, svc, "Apply", inc, 1); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			n, err := Call[int](ctx, svc, "Apply", inc, i)
			if err != nil || n != i+1 {
				b.Fatalf("Apply(inc, %d) = %d, %v", i, n, err)
			}
		}
	})
	b.Run("null", benchHopwireNull)
}

type benchZeros struct{}

func (benchZeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

const streamSize = 256 << 20

// BenchmarkStream256MiB: one op moves 256 MiB, through an io.Reader
// argument of a call or through a plain loopback TCP connection; both
// sides copy with io.Copy (32 KiB writes, io.Discard on the far side).
func BenchmarkStream256MiB(b *testing.B) {
	b.Run("hopwire", func(b *testing.B) {
		cc, _ := hopwirePair(b, nil)
		svc := cc.Service("bench")
		ctx := context.Background()
		b.SetBytes(streamSize)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			n, err := Call[int64](ctx, svc, "Sink", io.LimitReader(benchZeros{}, streamSize))
			if err != nil || n != streamSize {
				b.Fatalf("Sink = %d, %v", n, err)
			}
		}
	})
	b.Run("tcp", func(b *testing.B) {
		a, s := connPair(b, "tcp")
		type res struct {
			n   int64
			err error
		}
		start := make(chan struct{})
		got := make(chan res, 1)
		go func() {
			defer s.Close()
			for range start {
				n, err := io.CopyN(io.Discard, s, streamSize)
				got <- res{n, err}
			}
		}()
		b.Cleanup(func() {
			close(start)
			a.Close()
		})
		b.SetBytes(streamSize)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			start <- struct{}{}
			if _, err := io.Copy(a, io.LimitReader(benchZeros{}, streamSize)); err != nil {
				b.Fatal(err)
			}
			if r := <-got; r.err != nil || r.n != streamSize {
				b.Fatalf("far side read %d, %v", r.n, r.err)
			}
		}
	})
}

// benchPair is rpcPair without cleanup: the caller closes both Conns.
func benchPair(tb testing.TB) (*Conn, *Conn) {
	tb.Helper()
	a, s := connPair(tb, "tcp")
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		l, err := NewLink(s, Server, nil)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		c, err := NewConn(context.Background(), l, nil)
		ch <- res{c, err}
	}()
	l, err := NewLink(a, Client, nil)
	if err != nil {
		<-ch
		tb.Fatal(err)
	}
	cc, err := NewConn(context.Background(), l, nil)
	r := <-ch
	if err != nil || r.err != nil {
		if cc != nil {
			cc.Close()
		}
		if r.c != nil {
			r.c.Close()
		}
		tb.Fatal(err, r.err)
	}
	return cc, r.c
}

func heapAfterGC() runtime.MemStats {
	// Twice, so that sync.Pool contents (kept one cycle as victims) go.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// BenchmarkIdleSession builds idleSessions idle sessions (Link and Conn at
// both ends, over loopback TCP) per op and reports the live heap each
// session side holds (heapB/session: both ends are in this process, so the
// delta is divided by 2N), with its goroutine stacks and goroutines
// alongside. ns/op is the time to set up idleSessions sessions.
func BenchmarkIdleSession(b *testing.B) {
	const idleSessions = 100
	var heap, stack, gor float64
	for range b.N {
		b.StopTimer()
		before := heapAfterGC()
		g0 := runtime.NumGoroutine()
		b.StartTimer()
		conns := make([]*Conn, 0, 2*idleSessions)
		for range idleSessions {
			cc, sc := benchPair(b)
			conns = append(conns, cc, sc)
		}
		b.StopTimer()
		after := heapAfterGC()
		g1 := runtime.NumGoroutine()
		writeBenchHeapProfile(b, "idle")
		sides := float64(2 * idleSessions)
		heap += (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / sides
		stack += (float64(after.StackInuse) - float64(before.StackInuse)) / sides
		gor += float64(g1-g0) / sides
		for _, c := range conns {
			c.Close()
		}
		runtime.KeepAlive(conns)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(heap/n, "heapB/session")
	b.ReportMetric(stack/n, "stackB/session")
	b.ReportMetric(gor/n, "goroutines/session")
}

// heapSampler samples the heap (the runtime/metrics equivalent of
// MemStats.HeapAlloc, which needs no stop-the-world) and the goroutine
// stacks every millisecond until stopped, keeping the peaks.
type heapSampler struct {
	stop       chan struct{}
	done       chan struct{}
	peakHeap   uint64
	peakStacks uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
	}
	read := func() {
		metrics.Read(samples)
		h.peakHeap = max(h.peakHeap, samples[0].Value.Uint64())
		h.peakStacks = max(h.peakStacks, samples[1].Value.Uint64())
	}
	go func() {
		defer close(h.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-h.stop:
				read()
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) finish() { close(h.stop); <-h.done }

// BenchmarkInflight10k: one op is 10,000 concurrent calls on one session,
// all in flight at once (the server's MaxCalls is 10,000 and every handler
// waits until all have arrived). It reports the peak heap of the process
// during the op (peakheapMiB, HeapAlloc including garbage not yet
// collected), the live heap with all 10k in flight (liveheapMiB, after a
// forced GC at that moment), both measured against a process baseline
// (baseheapMiB, after GC before the op) and the peak goroutine stacks.
func BenchmarkInflight10k(b *testing.B) {
	const calls = 10000
	cc, svc := hopwirePair(b, &Options{MaxCalls: calls})
	ref := cc.Service("bench")
	ctx := context.Background()
	if _, err := Call[int](ctx, ref, "Null", 1); err != nil {
		b.Fatal(err)
	}
	var peak, live, base, stacks float64
	const mib = 1 << 20
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		base0 := heapAfterGC().HeapAlloc
		round := &holdRound{want: calls, all: make(chan struct{}), release: make(chan struct{})}
		svc.hold.Store(round)
		h := startHeapSampler()
		b.StartTimer()
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if n, err := Call[int](ctx, ref, "Hold", i); err != nil || n != i {
					if failed.Add(1) == 1 {
						b.Errorf("Hold(%d) = %d, %v", i, n, err)
					}
				}
			}()
		}
		select {
		case <-round.all:
		case <-time.After(time.Minute):
			b.Fatalf("only %d of %d calls arrived", round.arrived.Load(), calls)
		}
		b.StopTimer()
		live0 := heapAfterGC().HeapAlloc
		writeBenchHeapProfile(b, "inflight")
		b.StartTimer()
		close(round.release)
		wg.Wait()
		b.StopTimer()
		h.finish()
		if failed.Load() > 0 {
			b.Fatalf("%d calls failed", failed.Load())
		}
		peak = max(peak, float64(h.peakHeap)/mib)
		live = max(live, float64(live0)/mib)
		base = max(base, float64(base0)/mib)
		stacks = max(stacks, float64(h.peakStacks)/mib)
		b.StartTimer()
	}
	b.ReportMetric(peak, "peakheapMiB")
	b.ReportMetric(live, "liveheapMiB")
	b.ReportMetric(base, "baseheapMiB")
	b.ReportMetric(stacks, "peakstackMiB")
}

// BenchmarkIdleStream measures the heap an open, idle stream costs: 1,000
// streams are opened on one TCP link, each has carried one byte each way
// (so both ends hold it as they would in use), and then sit idle. The
// figure is per stream per side (issue 3: an idle stream ≤ 2 KiB).
func BenchmarkIdleStream(b *testing.B) {
	const n = 1000
	var perSide float64
	for range b.N {
		b.StopTimer()
		cl, sl := linkPair(b, "tcp", &LinkConfig{MaxStreams: 2 * n}, &LinkConfig{MaxStreams: 2 * n, AcceptBacklog: 2 * n})
		accepted := make(chan []*Stream, 1)
		go func() {
			ss := make([]*Stream, 0, n)
			one := make([]byte, 1)
			for range n {
				s, err := sl.AcceptStream(context.Background())
				if err != nil {
					break
				}
				if _, err := io.ReadFull(s, one); err != nil {
					break
				}
				s.Write(one)
				ss = append(ss, s)
			}
			accepted <- ss
		}()
		before := heapAfterGC()
		b.StartTimer()
		cs := make([]*Stream, 0, n)
		one := []byte{1}
		for range n {
			s, err := cl.OpenStream(context.Background(), KindData, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Write(one); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(s, one); err != nil {
				b.Fatal(err)
			}
			cs = append(cs, s)
		}
		ss := <-accepted
		b.StopTimer()
		if len(ss) != n {
			b.Fatalf("%d of %d streams accepted", len(ss), n)
		}
		after := heapAfterGC()
		perSide += (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / (2 * n)
		for _, s := range append(cs, ss...) {
			s.Close()
		}
		cl.Close()
		sl.Close()
		b.StartTimer()
	}
	b.ReportMetric(perSide/float64(b.N), "heapB/stream-side")
}
