package benchcmp

import (
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string) *Set {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParse(t *testing.T) {
	for _, file := range []string{"synthetic.txt", "synthetic-v.txt"} {
		t.Run(file, func(t *testing.T) {
			s := parseFile(t, file)
			if s.Env["cpu"] != "AMD EPYC" || s.Env["pkg"] != "x" || s.Env["goos"] != "linux" {
				t.Errorf("env %v", s.Env)
			}
			if got := len(s.Values("BenchmarkA/ours", "ns/op")); got != 2 {
				t.Errorf("BenchmarkA/ours: %d runs, want 2", got)
			}
			if v := s.Values("BenchmarkA/ours", "relay-MiB"); !slices.Equal(v, []float64{3.5, 3.5}) {
				t.Errorf("reported metric: %v", v)
			}
			if v := s.Values("BenchmarkA/ref", "MB/s"); len(v) != 2 || v[0] <= 0 {
				t.Errorf("MB/s: %v", v)
			}
			// BenchmarkB's figures come after its own output.
			if v := s.Values("BenchmarkB", "ns/op"); len(v) != 2 {
				t.Errorf("BenchmarkB split by noise: %v", v)
			}
			for _, r := range s.Results {
				if r.Procs != 2 || r.Iters != 100 || r.Pkg != "x" {
					t.Errorf("%+v", r)
				}
			}
			if strings.HasSuffix(file, "-v.txt") {
				o := s.Outcomes["BenchmarkA/gone"]
				if o.Status != "skip" || !strings.Contains(o.Note, "needs sshd") {
					t.Errorf("skip outcome %+v", o)
				}
				o = s.Outcomes["BenchmarkC/broken"]
				if o.Status != "fail" || !strings.Contains(o.Note, "3 of 10 failed") || !strings.Contains(o.Note, "1× reset") {
					t.Errorf("fail outcome %+v", o)
				}
			}
		})
	}
}

func TestParseSession(t *testing.T) {
	s := parseFile(t, "session-v.txt")
	if got := s.Values("BenchmarkNullCall/hopwire", "ns/op"); !slices.Equal(got, []float64{90094, 128626}) {
		t.Errorf("NullCall/hopwire %v", got)
	}
	if got := s.Values("BenchmarkParallel64/netrpc", "allocs/op"); !slices.Equal(got, []float64{14, 14}) {
		t.Errorf("allocs %v", got)
	}
	// calls/s is derived from ns/op when not reported.
	if got := s.Values("BenchmarkParallel64/hopwire", "calls/s"); len(got) != 2 || math.Abs(got[0]-1e9/39009) > 1e-6 {
		t.Errorf("calls/s %v", got)
	}
	if len(s.Outcomes) != 0 {
		t.Errorf("outcomes %v", s.Outcomes)
	}
}

func TestSplitProcs(t *testing.T) {
	for _, c := range []struct {
		in    string
		name  string
		procs int
	}{
		{"BenchmarkX-8", "BenchmarkX", 8},
		{"BenchmarkX", "BenchmarkX", 1},
		{"BenchmarkChainRTT/openssh-1jump-2", "BenchmarkChainRTT/openssh-1jump", 2},
		{"BenchmarkChainRTT/openssh-1jump", "BenchmarkChainRTT/openssh-1jump", 1},
		{"BenchmarkLinkThroughput/bare-tls-16", "BenchmarkLinkThroughput/bare-tls", 16},
		{"Benchmark-x/y", "Benchmark-x/y", 1},
	} {
		if n, p := splitProcs(c.in); n != c.name || p != c.procs {
			t.Errorf("splitProcs(%q) = %q, %d", c.in, n, p)
		}
	}
}

func TestParseResultOnFollowingLine(t *testing.T) {
	out := "pkg: p\nBenchmarkY/a-2   \t2026/11/25 23:39:36 some warning\n       1\t 1678968149 ns/op\t  39.97 MB/s\nok p 1s\n"
	s, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Values("BenchmarkY/a", "MB/s"); !slices.Equal(v, []float64{39.97}) {
		t.Fatalf("%v", v)
	}
}
