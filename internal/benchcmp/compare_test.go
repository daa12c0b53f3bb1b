package benchcmp

import (
	"math"
	"regexp"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	s := parseFile(t, "synthetic-v.txt")
	figs := []Figure{
		{Group: "G", Name: "a vs ref", Pkg: "x", Bench: "BenchmarkA/ours", Ref: "BenchmarkA/ref", RefName: "ref", Unit: "ns/op", Goal: "≤100"},
		{Group: "G", Name: "bound", Pkg: "x", Bench: "BenchmarkA/ours", Bound: 7, RefName: "7 MiB", Unit: "relay-MiB", Goal: "≤1"},
		{Group: "G", Name: "skipped", Pkg: "x", Bench: "BenchmarkA/gone", Ref: "BenchmarkA/ref", Unit: "ns/op"},
		{Group: "H", Name: "failed", Pkg: "x", Bench: "BenchmarkC/broken", Ref: "BenchmarkA/ref", Unit: "ns/op"},
		{Group: "H", Name: "missing", Pkg: "x", Bench: "BenchmarkNope/hopwire", Ref: "BenchmarkNope/ref", Unit: "ns/op"},
	}
	rows := Compare(s, figs)
	if r := rows[0]; len(r.Ratios) != 2 || r.Status != "" {
		t.Errorf("row 0: %+v", r)
	} else {
		ours, refs := s.Values("BenchmarkA/ours", "ns/op"), s.Values("BenchmarkA/ref", "ns/op")
		if r.Ratios[1] != ours[1]/refs[1] {
			t.Errorf("ratio pairs run i with run i: %v", r.Ratios)
		}
	}
	if r := rows[1]; len(r.Ratios) != 2 || r.Ratios[0] != 0.5 {
		t.Errorf("bound row: %+v", r)
	}
	if got := rows[2].Status; got != "skipped: needs sshd (openssh-server)" {
		t.Errorf("skipped row: %q", got)
	}
	if got := rows[3].Status; !strings.HasPrefix(got, "failed: 3 of 10 failed: 2× timeout; 1× reset") {
		t.Errorf("failed row: %q", got)
	}
	if got := rows[4].Status; got != NotAvailable {
		t.Errorf("missing row: %q", got)
	}
	var b strings.Builder
	if err := Format(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2+2+len(figs) { // header, separator, 2 groups
		t.Fatalf("%d lines", len(lines))
	}
	width := len([]rune(lines[0]))
	for _, l := range lines {
		if len([]rune(l)) != width || !strings.HasPrefix(l, "|") || !strings.HasSuffix(l, "|") {
			t.Errorf("ragged line %q", l)
		}
	}
	for _, want := range []string{"**G**", "| bound ", "0.50", "≤1 ✓", "≤100 ✓", NotAvailable, "3.5 MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}

func TestStats(t *testing.T) {
	lo, med, hi := Stats([]float64{3, 1, 2, 10})
	if lo != 1 || med != 2.5 || hi != 10 {
		t.Errorf("%v %v %v", lo, med, hi)
	}
	if _, med, _ := Stats(nil); !math.IsNaN(med) {
		t.Error("empty median")
	}
}

func TestMet(t *testing.T) {
	for _, c := range []struct {
		goal    string
		x       float64
		met, ok bool
	}{
		{"≥2", 2.1, true, true}, {"≥2", 1.9, false, true}, {">=0.5", 0.5, true, true},
		{"≤0.5", 0.4, true, true}, {"<=1", 1.2, false, true}, {"", 1, false, false}, {"≥x", 1, false, false},
	} {
		if met, ok := Met(c.goal, c.x); met != c.met || ok != c.ok {
			t.Errorf("Met(%q, %v) = %v %v", c.goal, c.x, met, ok)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{453210, "ns/op", "453 µs"}, {378000, "p50-ns", "378 µs"}, {570e6, "ns/op", "570 ms"}, {25.5, "ns/op", "25.5 ns"}, {1.5e9, "ns/op", "1.5 s"},
		{1234.567, "MB/s", "1230 MB/s"}, {45678, "calls/s", "45.7k calls/s"}, {307.8, "relay-MiB", "308 MiB"}, {26.8, "peakheapMiB", "26.8 MiB"}, {106000, "heapB/session", "104 KiB/session"},
		{math.NaN(), "MB/s", "—"},
	} {
		if got := FormatValue(c.v, c.unit); got != c.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

func TestPlan(t *testing.T) {
	runs := Plan([]Figure{
		{Pkg: "session", Bench: "BenchmarkNullCall/hopwire", Ref: "BenchmarkNullCall/netrpc"},
		{Pkg: "relay", Bench: "BenchmarkForward10k"},
		{Pkg: "session", Bench: "BenchmarkCallback/hopwire", Ref: "BenchmarkCallback/null"},
		{Pkg: "relay", Bench: "BenchmarkChainRTT/hopwire", Ref: "BenchmarkChainRTT/openssh-1jump"},
		{Pkg: "session/rpyc", Bench: "BenchmarkInterop/go-client→py-server"},
	})
	want := []Run{
		{"session", `^(BenchmarkNullCall|BenchmarkCallback)$/^(hopwire|netrpc|null)$`},
		{"relay", `^(BenchmarkChainRTT)$/^(hopwire|openssh-1jump)$`},
		{"relay", `^(BenchmarkForward10k)$`},
		{"session/rpyc", `^(BenchmarkInterop)$/^(go-client→py-server)$`},
	}
	if len(runs) != len(want) {
		t.Fatalf("%v", runs)
	}
	for i := range want {
		if runs[i] != want[i] {
			t.Errorf("run %d = %+v, want %+v", i, runs[i], want[i])
		}
	}
}

// Every figure of the catalogue names a benchmark, a unit, and a
// reference or a bound, and its goal can be read.
func TestFigures(t *testing.T) {
	for _, f := range Figures {
		if f.Group == "" || f.Name == "" || f.Pkg == "" || !strings.HasPrefix(f.Bench, "Benchmark") || f.Unit == "" {
			t.Errorf("incomplete figure %+v", f)
		}
		if (f.Ref == "") == (f.Bound == 0) {
			t.Errorf("%s: wants exactly one of Ref and Bound", f.Name)
		}
		if f.Ref != "" && !strings.HasPrefix(f.Ref, "Benchmark") {
			t.Errorf("%s: reference %q", f.Name, f.Ref)
		}
		if _, ok := Met(f.Goal, 1); f.Goal != "" && !ok {
			t.Errorf("%s: unreadable goal %q", f.Name, f.Goal)
		}
	}
	if got := Filter(Figures, regexp.MustCompile("(?i)openssh")); len(got) == 0 || len(got) == len(Figures) {
		t.Errorf("Filter openssh: %d of %d", len(got), len(Figures))
	}
}
