package rpyc

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// BenchmarkInterop measures null calls (echo of a small int) in one run:
//
//	go-client→py-server            Go's CallAttr (one round trip)
//	go-client-getattr→py-server    Go doing what Python's proxy does: GETATTR, CALL, then DEL
//	py-client→py-server            Python's own client, the reference
//	py-client→go-server            Python's client against a Go service
//	ratios                         py-ns/go-ns (≥ 1: Go's client adds nothing),
//	                               go-server/py-server calls/s (target ≥ 1.5) and
//	                               bound-go-server/py-server (see below)
//
// The Python runs report the script's own timing of its loop as calls/s;
// their ns/op include the interpreter's start and mean nothing. They also
// report client-cpu-µs/call, the CPU the Python client itself burns per
// call (time.process_time over the loop). A call cannot finish faster than
// its client can issue it, so 1/client-cpu is the calls/s any server could
// reach with this client, and bound-go-server/py-server — that rate over
// the Python server's — is the highest go-server/py-server ratio possible
// in this run, whatever the server does.
func BenchmarkInterop(b *testing.B) {
	rpyctest.Python(b)
	pyAddr := rpyctest.StartServer(b, "service")
	goAddr := serveGo(b, &goSvc{Name: "bench"})
	var goNs, goGetattrNs, pyPyRate, pyGoRate, pyGoCPU float64

	b.Run("go-client→py-server", func(b *testing.B) {
		c, root := benchConn(b, pyAddr)
		defer c.Close()
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			if _, err := root.CallAttr(ctx, "echo", i); err != nil {
				b.Fatal(err)
			}
		}
		goNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(1e9/goNs, "calls/s")
	})
	b.Run("go-client-getattr→py-server", func(b *testing.B) {
		c, root := benchConn(b, pyAddr)
		defer c.Close()
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			m, err := root.Getattr(ctx, "echo")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.(*Ref).Call(ctx, i); err != nil {
				b.Fatal(err)
			}
			m.(*Ref).Release()
		}
		goGetattrNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(1e9/goGetattrNs, "calls/s")
	})
	b.Run("py-client→py-server", func(b *testing.B) {
		pyPyRate, _ = pyBench(b, pyAddr)
	})
	b.Run("py-client→go-server", func(b *testing.B) {
		pyGoRate, pyGoCPU = pyBench(b, goAddr)
	})
	b.Run("ratios", func(b *testing.B) {
		for range b.N {
		}
		// Only the ratios whose runs were selected by -bench.
		report := func(num, den float64, unit string) {
			if num > 0 && den > 0 {
				b.ReportMetric(num/den, unit)
			}
		}
		pyNs := 0.0
		if pyPyRate > 0 {
			pyNs = 1e9 / pyPyRate
		}
		report(pyNs, goNs, "py-ns/go-ns")
		report(pyNs, goGetattrNs, "py-ns/go-getattr-ns")
		report(pyGoRate, pyPyRate, "go-server/py-server")
		if pyGoCPU > 0 {
			report(1/pyGoCPU, pyPyRate, "bound-go-server/py-server")
		}
	})
}

func benchConn(b *testing.B, addr string) (*Conn, *Ref) {
	c, err := Dial(context.Background(), addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	root, err := c.Root(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return c, root
}

// pyBench runs b.N calls from the Python client script and reports the
// rate it measured and the client's own CPU seconds per call.
func pyBench(b *testing.B, addr string) (rate, cpu float64) {
	out := runPyClient(b, addr, "bench", strconv.Itoa(b.N))
	f := strings.Fields(out)
	var err1, err2 error
	if len(f) == 2 {
		rate, err1 = strconv.ParseFloat(f[0], 64)
		cpu, err2 = strconv.ParseFloat(f[1], 64)
	}
	if len(f) != 2 || err1 != nil || err2 != nil || rate <= 0 || cpu <= 0 {
		b.Fatalf("pyclient said %q, want calls/s and CPU seconds per call", out)
	}
	b.ReportMetric(rate, "calls/s")
	b.ReportMetric(cpu*1e6, "client-cpu-µs/call")
	return rate, cpu
}

// BenchmarkBrine is the codec alone: a request-sized tuple.
func BenchmarkBrine(b *testing.B) {
	v := Tuple{int64(1), int64(12345), Tuple{int64(8), Tuple{"echo", Tuple{"hello", 3.5, int64(1) << 40}, Tuple{}}}}
	b.ReportAllocs()
	for range b.N {
		p, err := Encode(v)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}
