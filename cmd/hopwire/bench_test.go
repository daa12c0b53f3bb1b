package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchList(t *testing.T) {
	out, errOut, code := runCmd(t, "bench", "-list", "-only", "chains")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"BenchmarkChainThroughput/openssh", "BenchmarkForward10k", "go test -run '^$' -bench", "./relay/"} {
		if !strings.Contains(out, want) {
			t.Errorf("-list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "BenchmarkNullCall") {
		t.Errorf("-only chains kept an RPC figure:\n%s", out)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-count", "0"}, {"bench", "-only", "("}, {"bench", "-only", "no-such-figure-xyz"}, {"bench", "extra"},
	} {
		if _, errOut, code := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

func TestBenchNeedsSourceTree(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	err := run(t.Context(), []string{"bench", "-src", t.TempDir()}, nil, io.Discard, io.Discard)
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "not hopwire's source tree") {
		t.Fatalf("err = %v", err)
	}
}

func TestBenchNeedsGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := run(t.Context(), []string{"bench"}, nil, io.Discard, io.Discard)
	if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "needs the go command") {
		t.Fatalf("err = %v", err)
	}
}

// TestBenchTable runs the command end to end on a stand-in source tree
// whose session package has tiny benchmarks under the catalogue's names:
// a measured row, a skipped one and one not in the tree.
func TestBenchTable(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	src := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module github.com/hopwire/hopwire\n\ngo 1.26\n")
	write("session/x_test.go", `package session

import "testing"

func BenchmarkNullCall(b *testing.B) {
	b.Run("hopwire", func(b *testing.B) {
		for range b.N {
		}
	})
	b.Run("netrpc", func(b *testing.B) {
		for range b.N {
		}
	})
}

func BenchmarkCall1KiB(b *testing.B) {
	b.Run("hopwire", func(b *testing.B) { b.Skip("skipped: not today") })
	b.Run("netrpc", func(b *testing.B) {})
}
`)
	out, errOut, code := runCmd(t, "bench", "-src", src, "-count", "2", "-benchtime", "10x", "-q", "-only", "^RPC.*(null call|1 KiB)|RPyC 5 null call, latency")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// Interleaved rounds pair the same figures.
	outI, errOut, code := runCmd(t, "bench", "-src", src, "-count", "2", "-benchtime", "10x", "-q", "-interleave", "-only", "^RPC.*null call, latency")
	if code != 0 || !strings.Contains(outI, "2 interleaved rounds of -count 1") || !strings.Contains(outI, "| null call, latency ") {
		t.Fatalf("-interleave: exit %d\n%s\n%s", code, outI, errOut)
	}
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	t.Log("\n" + out)
	lines := strings.Split(out, "\n")
	row := func(name string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, "| "+name+" ") {
				return l
			}
		}
		t.Fatalf("no row %q in\n%s", name, out)
		return ""
	}
	if r := row("null call, latency"); !strings.Contains(r, "Go net/rpc") || strings.Contains(r, "skipped") || strings.Count(r, "|") != 9 {
		t.Errorf("measured row: %s", r)
	}
	if r := row("1 KiB echo call, latency"); !strings.Contains(r, "skipped: not today") {
		t.Errorf("skipped row: %s", r)
	}
	for _, want := range []string{"**RPyC 5**", "skipped (not available)", "2 runs each (-count 2, -benchtime 10x)", "linux/"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
