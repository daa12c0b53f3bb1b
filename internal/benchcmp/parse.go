package benchcmp

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// Result is one result line of `go test -bench`: one run of one
// benchmark.
type Result struct {
	Pkg   string // import path, from the "pkg:" line before it
	Name  string // full name without the GOMAXPROCS suffix: "BenchmarkChainRTT/openssh"
	Procs int    // the GOMAXPROCS suffix ("-2"); 1 when there is none
	Iters int    // b.N
	// Values holds the measurements by unit: "ns/op", "MB/s", "B/op",
	// "allocs/op" and any unit of b.ReportMetric.
	Values map[string]float64
}

// Outcome is how a benchmark that printed no result ended: skipped or
// failed, with what it logged.
type Outcome struct {
	Status string // "skip" or "fail"
	Note   string // the benchmark's log lines, joined by "; " (by " " after a colon)
}

// Set is what Parse read from one or more `go test -bench` outputs.
type Set struct {
	Results  []Result
	Outcomes map[string]Outcome // by full benchmark name (without suffix)
	// Env holds the header lines of the last package: goos, goarch, pkg,
	// cpu.
	Env map[string]string
}

// Parse reads `go test -bench` output (with or without -v). It is
// tolerant: lines it does not know are skipped, a result split from its
// name by a benchmark's own output (the name, then noise, then the
// figures on a line of their own) is joined back, and with -v the log
// lines of a skipped or failed benchmark become its Outcome.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{Outcomes: map[string]Outcome{}, Env: map[string]string{}}
	p := parser{set: s}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.line(sc.Text())
	}
	p.flushLog()
	return s, sc.Err()
}

// Merge adds the results and outcomes of o to s.
func (s *Set) Merge(o *Set) {
	s.Results = append(s.Results, o.Results...)
	for k, v := range o.Outcomes {
		s.Outcomes[k] = v
	}
	for k, v := range o.Env {
		s.Env[k] = v
	}
}

// Values returns the values of unit in every run of the benchmark name, in
// order. The unit "calls/s", when no run reported it, is derived from
// ns/op.
func (s *Set) Values(name, unit string) []float64 {
	var out []float64
	for _, r := range s.Results {
		if r.Name != name {
			continue
		}
		if v, ok := r.Values[unit]; ok {
			out = append(out, v)
		} else if unit == "calls/s" {
			if ns, ok := r.Values["ns/op"]; ok && ns > 0 {
				out = append(out, 1e9/ns)
			}
		}
	}
	return out
}

type parser struct {
	set     *Set
	pkg     string
	pending string   // a benchmark name printed without its figures
	logName string   // the benchmark whose log lines are being collected
	log     []string // indented lines after a name (go test -v)
	outcome string   // "skip"/"fail" when the log follows a --- line
}

func (p *parser) line(l string) {
	if k, v, ok := strings.Cut(l, ": "); ok && !strings.HasPrefix(l, " ") {
		switch k {
		case "goos", "goarch", "cpu":
			p.set.Env[k] = v
			return
		case "pkg":
			p.pkg = v
			p.set.Env[k] = v
			p.pending = ""
			return
		}
	}
	if p.pending != "" {
		if r, ok := parseFigures(strings.Fields(l)); ok {
			name, procs := splitProcs(p.pending)
			p.add(name, procs, r)
			p.pending = ""
			return
		}
	}
	switch {
	case strings.HasPrefix(l, "--- SKIP: "), strings.HasPrefix(l, "--- FAIL: "):
		status := "skip"
		if strings.HasPrefix(l, "--- FAIL: ") {
			status = "fail"
		}
		name := strings.Fields(l[len("--- SKIP: "):])
		if len(name) == 0 {
			return
		}
		if p.logName == name[0] && len(p.log) > 0 && p.outcome == "" {
			// go test -v: the log came first, then this line.
			p.outcome = status
			p.flushLog()
			return
		}
		p.flushLog()
		p.logName, p.outcome = name[0], status
		return
	case strings.HasPrefix(l, "    ") && p.logName != "":
		p.log = append(p.log, strings.TrimSpace(l))
		return
	case strings.HasPrefix(l, "Benchmark"):
		p.flushLog()
		f := strings.Fields(l)
		name, procs := splitProcs(f[0])
		if r, ok := parseFigures(f[1:]); ok {
			p.add(name, procs, r)
			p.pending = ""
			return
		}
		// A name alone (go test -v prints one before running it), or a
		// name whose figures come after the benchmark's own output.
		p.pending = f[0]
		p.logName = name
	}
}

// flushLog records the collected log lines as the outcome of their
// benchmark, when it skipped or failed.
func (p *parser) flushLog() {
	if p.logName != "" && p.outcome != "" {
		var note strings.Builder
		for i, l := range p.log {
			if i > 0 {
				if strings.HasSuffix(note.String(), ":") {
					note.WriteString(" ")
				} else {
					note.WriteString("; ")
				}
			}
			note.WriteString(l)
		}
		p.set.Outcomes[p.logName] = Outcome{Status: p.outcome, Note: note.String()}
	}
	p.logName, p.log, p.outcome = "", nil, ""
}

func (p *parser) add(name string, procs int, r Result) {
	r.Pkg, r.Name, r.Procs = p.pkg, name, procs
	p.set.Results = append(p.set.Results, r)
	delete(p.set.Outcomes, name)
}

// splitProcs splits the "-N" GOMAXPROCS suffix off a benchmark name. (A
// name whose last element itself ends in "-digits" is ambiguous at
// GOMAXPROCS=1, where go test adds no suffix; hopwire's names avoid that.)
func splitProcs(s string) (string, int) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 || strings.LastIndexByte(s, '/') > i {
		return s, 1
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 1 {
		return s, 1
	}
	return s[:i], n
}

// parseFigures parses "N  v1 unit1  v2 unit2 ...".
func parseFigures(f []string) (Result, bool) {
	if len(f) < 3 || len(f)%2 == 0 {
		return Result{}, false
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return Result{}, false
	}
	r := Result{Iters: n, Values: map[string]float64{}}
	for i := 1; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		r.Values[f[i+1]] = v
	}
	return r, true
}
