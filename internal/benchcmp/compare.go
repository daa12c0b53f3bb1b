package benchcmp

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Figure is one row of the comparison: a hopwire benchmark beside its
// reference, measured by the same `go test` run, or beside a fixed bound.
type Figure struct {
	Group string // "RPC", "Links", "Chains", …
	Name  string // what is measured, for the table
	Pkg   string // package directory relative to the module root: "session"
	Bench string // the full benchmark name: "BenchmarkNullCall/hopwire"
	Unit  string // "ns/op", "MB/s", "calls/s" (reported, or derived from ns/op) or a b.ReportMetric unit

	// Ref is the reference benchmark (same package), named RefName in
	// the table; or, when Ref is empty, Bound is the reference value.
	Ref     string
	RefName string
	Bound   float64

	// Goal is the ratio (Bench ÷ reference, in Unit) the issues ask
	// for: "≥2", "≤0.5", or "" for none. It is informational: the table
	// marks it met or not, nothing fails.
	Goal string
}

// Row is a Figure with its measurements.
type Row struct {
	Figure
	Ours, Refs []float64 // per run, in Unit
	Ratios     []float64 // Ours[i] ÷ Refs[i] (or ÷ Bound)
	Status     string    // "" when measured; else why not: "skipped (not available)", "skipped: …", "failed: …"
}

// NotAvailable is the status of a row whose benchmark does not exist in
// the tree (yet).
const NotAvailable = "skipped (not available)"

// Compare pairs each figure's runs with its reference's: the i-th run of
// the benchmark with the i-th run of the reference.
func Compare(s *Set, figs []Figure) []Row {
	rows := make([]Row, 0, len(figs))
	for _, f := range figs {
		r := Row{Figure: f, Ours: s.Values(f.Bench, f.Unit)}
		if f.Ref != "" {
			r.Refs = s.Values(f.Ref, f.Unit)
		} else {
			for range r.Ours {
				r.Refs = append(r.Refs, f.Bound)
			}
		}
		for i := range min(len(r.Ours), len(r.Refs)) {
			if r.Refs[i] != 0 {
				r.Ratios = append(r.Ratios, r.Ours[i]/r.Refs[i])
			}
		}
		if len(r.Ratios) == 0 {
			r.Status = NotAvailable
			for _, name := range []string{f.Bench, f.Ref} {
				if o, ok := s.Outcomes[name]; ok && name != "" {
					r.Status = outcomeStatus(o)
					break
				}
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func outcomeStatus(o Outcome) string {
	note := o.Note
	if o.Status == "skip" {
		note = strings.TrimPrefix(note, "skipped: ")
		if note == "" {
			return "skipped"
		}
		return "skipped: " + clip(stripFileLine(note), 90)
	}
	if note == "" {
		return "failed"
	}
	return "failed: " + clip(stripFileLine(note), 90)
}

var fileLine = regexp.MustCompile(`^[\w.-]+\.go:\d+: `)

// stripFileLine drops the "file_test.go:12: " prefix of a log line.
func stripFileLine(s string) string {
	s = fileLine.ReplaceAllString(s, "")
	return strings.TrimPrefix(s, "skipped: ")
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// Stats returns the minimum, median and maximum of v (NaNs when empty).
func Stats(v []float64) (lo, med, hi float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return s[0], med, s[n-1]
}

// Met reports whether ratio satisfies goal ("≥2", "<=0.5", …); ok is
// false when there is no goal or it cannot be read.
func Met(goal string, ratio float64) (met, ok bool) {
	g := strings.TrimSpace(goal)
	var ge bool
	switch {
	case strings.HasPrefix(g, "≥"):
		ge, g = true, strings.TrimPrefix(g, "≥")
	case strings.HasPrefix(g, ">="):
		ge, g = true, g[2:]
	case strings.HasPrefix(g, "≤"):
		g = strings.TrimPrefix(g, "≤")
	case strings.HasPrefix(g, "<="):
		g = g[2:]
	default:
		return false, false
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(g), 64)
	if err != nil || math.IsNaN(ratio) {
		return false, false
	}
	if ge {
		return ratio >= x, true
	}
	return ratio <= x, true
}

// Format writes rows as one Markdown table (aligned, so it reads in a
// terminal too), grouped by Figure.Group in the order given.
func Format(w io.Writer, rows []Row) error {
	header := []string{"figure", "hopwire", "reference", "ref. value", "ratio min", "median", "max", "goal"}
	table := [][]string{header}
	group := ""
	for _, r := range rows {
		if r.Group != group {
			group = r.Group
			table = append(table, []string{"**" + group + "**", "", "", "", "", "", "", ""})
		}
		refName := r.RefName
		if r.Ref == "" && refName == "" {
			refName = "bound"
		}
		if r.Status != "" {
			table = append(table, []string{r.Name, r.Status, refName, "", "", "", "", r.Goal})
			continue
		}
		_, ours, _ := Stats(r.Ours)
		_, ref, _ := Stats(r.Refs)
		lo, med, hi := Stats(r.Ratios)
		goal := r.Goal
		if met, ok := Met(r.Goal, med); ok {
			if met {
				goal += " ✓"
			} else {
				goal += " ✗"
			}
		}
		table = append(table, []string{r.Name, FormatValue(ours, r.Unit), refName, FormatValue(ref, r.Unit),
			ratio(lo), ratio(med), ratio(hi), goal})
	}
	widths := make([]int, len(header))
	for _, row := range table {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	line := func(cells []string) string {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i >= 1 && i != 2 && i != 7 && !strings.HasPrefix(c, "skipped") && !strings.HasPrefix(c, "failed") {
				b.WriteString(" " + pad + c + " |") // numbers to the right
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		return b.String() + "\n"
	}
	var b strings.Builder
	b.WriteString(line(header))
	seps := make([]string, len(header))
	for i, wd := range widths {
		if i >= 1 && i != 2 && i != 7 {
			seps[i] = strings.Repeat("-", wd-1) + ":"
		} else {
			seps[i] = strings.Repeat("-", wd)
		}
	}
	b.WriteString(line(seps))
	for _, row := range table[1:] {
		b.WriteString(line(row))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ratio(x float64) string {
	switch {
	case math.IsNaN(x):
		return "—"
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// FormatValue writes v in unit for people: durations for ns/op and for
// percentiles of a duration (p50-ns, p99-ns), three significant digits
// otherwise.
func FormatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "—"
	}
	if strings.HasSuffix(unit, "-ns") {
		unit = "ns/op"
	}
	switch unit {
	case "ns/op":
		switch {
		case v >= 1e9:
			return fmt.Sprintf("%.3g s", v/1e9)
		case v >= 1e6:
			return fmt.Sprintf("%.3g ms", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.3g µs", v/1e3)
		}
		return fmt.Sprintf("%.3g ns", v)
	case "calls/s":
		if v >= 1e3 {
			return fmt.Sprintf("%.3gk calls/s", v/1e3)
		}
	}
	// Memory metrics (relay-MiB, peakheapMiB, heapB/session, heapB/stream-side): the row
	// says whose.
	switch {
	case strings.HasSuffix(unit, "MiB"):
		unit = "MiB"
	case strings.HasSuffix(unit, "B/session"):
		v, unit = v/1024, "KiB/session"
	case strings.HasSuffix(unit, "B/stream-side"):
		v, unit = v/1024, "KiB/stream"
	}
	return strconv.FormatFloat(sig3(v), 'f', -1, 64) + " " + unit
}

// sig3 rounds v to three significant digits.
func sig3(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// Run is one `go test` invocation of a plan: a package and the -bench
// pattern that selects its figures' benchmarks.
type Run struct {
	Pkg     string // directory relative to the module root
	Pattern string // for go test -bench
}

// Plan groups the benchmarks figs need by package, in the order the
// packages first appear: one run for the top-level benchmarks named with
// sub-benchmarks and one for those named alone. go test matches a pattern
// level by level, so the first pattern is the top-level names, then the
// sub-benchmark names: it may select a sub-benchmark no figure needs when
// two top-level benchmarks share a package, never miss one. (A benchmark
// without sub-benchmarks that a two-level pattern matches runs once and
// reports nothing, hence the second run.)
func Plan(figs []Figure) []Run {
	type levels struct{ top, sub, alone []string }
	var order []string
	byPkg := map[string]*levels{}
	for _, f := range figs {
		l := byPkg[f.Pkg]
		if l == nil {
			l = &levels{}
			byPkg[f.Pkg] = l
			order = append(order, f.Pkg)
		}
		for _, name := range []string{f.Bench, f.Ref} {
			if name == "" {
				continue
			}
			top, sub, _ := strings.Cut(name, "/")
			if sub == "" {
				if !slices.Contains(l.alone, top) {
					l.alone = append(l.alone, top)
				}
				continue
			}
			if !slices.Contains(l.top, top) {
				l.top = append(l.top, top)
			}
			if !slices.Contains(l.sub, sub) {
				l.sub = append(l.sub, sub)
			}
		}
	}
	var runs []Run
	for _, pkg := range order {
		l := byPkg[pkg]
		if len(l.top) > 0 {
			runs = append(runs, Run{Pkg: pkg, Pattern: "^(" + quoteAll(l.top) + ")$/^(" + quoteAll(l.sub) + ")$"})
		}
		if len(l.alone) > 0 {
			runs = append(runs, Run{Pkg: pkg, Pattern: "^(" + quoteAll(l.alone) + ")$"})
		}
	}
	return runs
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = regexp.QuoteMeta(n)
	}
	return strings.Join(q, "|")
}

// Filter returns the figures whose group, name, package or benchmark
// names match re.
func Filter(figs []Figure, re *regexp.Regexp) []Figure {
	var out []Figure
	for _, f := range figs {
		if re.MatchString(f.Group + " " + f.Name + " " + f.Pkg + " " + f.Bench + " " + f.Ref + " " + f.RefName) {
			out = append(out, f)
		}
	}
	return out
}
