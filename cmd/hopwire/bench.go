package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hopwire/hopwire/internal/benchcmp"
	"github.com/hopwire/hopwire/internal/shell"
)

const modulePath = "github.com/hopwire/hopwire"

// runBench runs hopwire's benchmarks beside their references (net/rpc,
// plain TCP, TCP splice proxies, the bare transport libraries, OpenSSH
// ssh -J, RPyC) with `go test` in hopwire's source tree, and prints one
// table of ratios: min/median/max over -count runs. Progress and go test's
// own output go to stderr, the table to stdout.
func runBench(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	count := fs.Int("count", 5, "runs of each benchmark and its reference (go test -count)")
	benchtime := fs.String("benchtime", "", "go test -benchtime for every benchmark, e.g. 2s or 1x (default: go test's 1s)")
	var only string
	fs.StringVar(&only, "only", "", "only the figures whose group, name, package or benchmark names match this regexp")
	fs.StringVar(&only, "filter", "", "same as -only")
	src := fs.String("src", "", "hopwire's source tree (default: the checkout around the working directory)")
	list := fs.Bool("list", false, "print the figures and the go test runs, run nothing")
	raw := fs.String("raw", "", "also write go test's raw output to this file (for benchstat)")
	timeout := fs.Duration("timeout", 2*time.Hour, "go test -timeout of each package")
	quiet := fs.Bool("q", false, "do not copy go test's output to stderr")
	interleave := fs.Bool("interleave", false, "run -count rounds of go test -count 1 instead of one go test -count N, so run i of a figure and of its reference are close in time (slower: a go test per round)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: bench takes flags only", errUsage)
	}
	if *count < 1 {
		return fmt.Errorf("%w: -count must be at least 1", errUsage)
	}
	figs := benchcmp.Figures
	if only != "" {
		re, err := regexp.Compile("(?i)" + only)
		if err != nil {
			return fmt.Errorf("%w: -only: %v", errUsage, err)
		}
		if figs = benchcmp.Filter(figs, re); len(figs) == 0 {
			return fmt.Errorf("%w: -only %q matches no figure (see hopwire bench -list)", errUsage, only)
		}
	}
	runs := benchcmp.Plan(figs)
	if *list {
		for _, f := range figs {
			ref := f.Ref
			if ref == "" {
				ref = strconv.FormatFloat(f.Bound, 'g', -1, 64) + " " + f.Unit
			}
			fmt.Fprintf(stdout, "%-20s %-52s ./%s %s vs %s (%s)\n", f.Group, f.Name, f.Pkg, f.Bench, ref, f.Unit)
		}
		for _, r := range runs {
			fmt.Fprintf(stdout, "go test -run '^$' -bench '%s' ./%s/\n", r.Pattern, r.Pkg)
		}
		return nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("bench runs go test in hopwire's source tree and needs the go command on PATH (https://go.dev/dl/)")
	}
	root, err := sourceTree(*src)
	if err != nil {
		return err
	}
	var rawOut io.Writer = io.Discard
	if *raw != "" {
		f, err := os.Create(*raw)
		if err != nil {
			return err
		}
		defer f.Close()
		rawOut = f
	}
	progress := stderr
	if *quiet {
		progress = io.Discard
	}
	set := &benchcmp.Set{Outcomes: map[string]benchcmp.Outcome{}, Env: map[string]string{}}
	start := time.Now()
	rounds, perRound := 1, *count
	if *interleave {
		rounds, perRound = *count, 1
	}
	for round := range rounds * len(runs) {
		r := runs[round%len(runs)]
		if ctx.Err() != nil {
			return ctx.Err()
		}
		dir := filepath.Join(root, filepath.FromSlash(r.Pkg))
		if _, err := os.Stat(dir); err != nil {
			if round < len(runs) {
				fmt.Fprintf(progress, "hopwire bench: ./%s is not in this tree: its figures are skipped\n", r.Pkg)
			}
			continue
		}
		if *interleave && round%len(runs) == 0 {
			fmt.Fprintf(progress, "hopwire bench: round %d of %d\n", round/len(runs)+1, rounds)
		}
		targs := []string{"test", "-run", "^$", "-bench", r.Pattern, "-count", strconv.Itoa(perRound),
			"-timeout", timeout.String(), "-v"}
		if *benchtime != "" {
			targs = append(targs, "-benchtime", *benchtime)
		}
		targs = append(targs, "./"+r.Pkg+"/")
		fmt.Fprintf(progress, "hopwire bench: go %s\n", shell.Join(targs))
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, goBin, targs...)
		cmd.Dir = root
		cmd.Stdout = io.MultiWriter(&out, progress, rawOut)
		cmd.Stderr = cmd.Stdout
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 30 * time.Second
		runErr := cmd.Run()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		got, err := benchcmp.Parse(&out)
		if err != nil {
			return err
		}
		if runErr != nil && len(got.Results) == 0 {
			// Nothing ran (a build failure, say): say so on every figure
			// of the package rather than "not available".
			for _, f := range figs {
				if f.Pkg == r.Pkg {
					if _, ok := got.Outcomes[f.Bench]; !ok {
						got.Outcomes[f.Bench] = benchcmp.Outcome{Status: "fail", Note: "go test: " + runErr.Error()}
					}
				}
			}
		}
		set.Merge(got)
	}
	fmt.Fprintf(stdout, "hopwire bench, %s: %s\n\n", time.Now().UTC().Format("2006-01-02"), machine(ctx, goBin, set.Env["cpu"]))
	how := fmt.Sprintf("-count %d", *count)
	if *interleave {
		how = fmt.Sprintf("%d interleaved rounds of -count 1", *count)
	}
	fmt.Fprintf(stdout, "Each figure beside its reference in the same `go test` run, %d runs each (%s%s), %s in all.\n",
		*count, how, benchtimeNote(*benchtime), time.Since(start).Round(time.Second))
	fmt.Fprintf(stdout, "ratio = hopwire ÷ reference, run i with run i: min / median / max. Times (µs, ms): below 1 is hopwire faster;\n")
	fmt.Fprintf(stdout, "MB/s and calls/s: above 1 is. Goals are the issues' (✓: met by the median); a bound row divides by the bound.\n\n")
	return benchcmp.Format(stdout, benchcmp.Compare(set, figs))
}

func benchtimeNote(bt string) string {
	if bt == "" {
		return ""
	}
	return ", -benchtime " + bt
}

// sourceTree returns hopwire's module root: dir when given, else the
// nearest directory upwards from the working directory whose go.mod is
// hopwire's.
func sourceTree(dir string) (string, error) {
	isRoot := func(d string) bool {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err != nil {
			return false
		}
		m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(b)
		return m != nil && string(m[1]) == modulePath
	}
	if dir != "" {
		if !isRoot(dir) {
			return "", fmt.Errorf("-src %s: not hopwire's source tree (no go.mod of %s there)", dir, modulePath)
		}
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isRoot(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("bench needs hopwire's source tree: run it inside a checkout of %s, or give -src DIR", modulePath)
		}
	}
}

// machine describes where the figures were measured: platform, CPU,
// toolchain and the versions of the references.
func machine(ctx context.Context, goBin, cpu string) string {
	parts := []string{runtime.GOOS + "/" + runtime.GOARCH}
	if cpu != "" {
		parts = append(parts, fmt.Sprintf("%s (%d CPUs)", cpu, runtime.NumCPU()))
	} else {
		parts = append(parts, fmt.Sprintf("%d CPUs", runtime.NumCPU()))
	}
	if v := firstLine(ctx, goBin, "env", "GOVERSION"); v != "" {
		parts = append(parts, v)
	}
	if v := firstLine(ctx, "ssh", "-V"); v != "" {
		parts = append(parts, strings.Fields(v)[0])
	} else {
		parts = append(parts, "no OpenSSH")
	}
	// The python the RPyC benchmarks use (session/rpyc): $HOPWIRE_PYTHON,
	// else the system's, where Debian's python3-rpyc lives.
	py := os.Getenv("HOPWIRE_PYTHON")
	if py == "" {
		py = "python3"
		if _, err := os.Stat("/usr/bin/python3"); err == nil {
			py = "/usr/bin/python3"
		}
	}
	if v := firstLine(ctx, py, "-c", "import rpyc; print(rpyc.__version__)"); v != "" {
		parts = append(parts, "RPyC "+v)
	} else {
		parts = append(parts, "no RPyC")
	}
	return strings.Join(parts, ", ")
}

// firstLine runs a command briefly and returns the first line it printed
// (on either stream), or "" when it failed.
func firstLine(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return ""
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(l)
}
