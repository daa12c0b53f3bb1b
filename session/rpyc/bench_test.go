package rpyc

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkInterop measures null calls (echo of a small int) in one run:
//
//	go-client→py-server            Go's CallAttr (one round trip)
//	go-client-getattr→py-server    Go doing what Python's proxy does: GETATTR, CALL, then DEL
//	py-client→py-server            Python's own client, the reference
//	py-client→go-server            Python's client against a Go service
//	ratios                         py-ns/go-ns (≥ 1: Go's client adds nothing) and
//	                               go-server/py-server calls/s (target ≥ 1.5)
//
// The Python runs report the script's own timing of its loop as calls/s;
// their ns/op include the interpreter's start and mean nothing.
func BenchmarkInterop(b *testing.B) {
	needPython(b)
	pyAddr := startPython(b, "service")
	goAddr := serveGo(b, &goSvc{Name: "bench"})
	var goNs, goGetattrNs, pyPyRate, pyGoRate float64

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
		pyPyRate = pyBench(b, pyAddr)
	})
	b.Run("py-client→go-server", func(b *testing.B) {
		pyGoRate = pyBench(b, goAddr)
	})
	b.Run("ratios", func(b *testing.B) {
		for range b.N {
		}
		pyNs := 1e9 / pyPyRate
		b.ReportMetric(pyNs/goNs, "py-ns/go-ns")
		b.ReportMetric(pyNs/goGetattrNs, "py-ns/go-getattr-ns")
		b.ReportMetric(pyGoRate/pyPyRate, "go-server/py-server")
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
// rate it measured.
func pyBench(b *testing.B, addr string) float64 {
	out := runPyClient(b, addr, "bench", strconv.Itoa(b.N))
	rate, err := strconv.ParseFloat(out, 64)
	if err != nil {
		b.Fatalf("pyclient said %q", out)
	}
	b.ReportMetric(rate, "calls/s")
	return rate
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
