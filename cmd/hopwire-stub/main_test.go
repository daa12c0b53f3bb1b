package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// needGo skips a test that loads packages when the go command, which
// go/build asks where a module's packages are, is not on PATH.
func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
}

// TestRun covers the command line: help, usage errors (which print the
// usage), and a refused type (which writes nothing).
func TestRun(t *testing.T) {
	t.Parallel()
	needGo(t)
	for _, tc := range []struct {
		name    string
		args    []string
		want    error  // matched with errors.Is, when not nil
		message string // in the error, when not empty
		stderr  string // in stderr, when not empty
	}{
		{name: "help", args: []string{"-h"}, want: flag.ErrHelp, stderr: "usage: hopwire-stub -type Name[,Name...] [-output file] [dir]"},
		{name: "no type", args: nil, want: errUsage, stderr: "hopwire-stub: -type is required\nusage:"},
		{name: "empty type", args: []string{"-type", " , "}, want: errUsage, stderr: "-type is required"},
		{name: "two dirs", args: []string{"-type", "Calc", "a", "b"}, want: errUsage, stderr: "at most one package directory"},
		{name: "unknown flag", args: []string{"-types", "Calc"}, want: errUsage, stderr: "flag provided but not defined: -types"},
		{name: "no such type", args: []string{"-type", "Nope", "testdata/basic"}, message: "Nope: no such type in package basic"},
		{name: "no such dir", args: []string{"-type", "Calc", "testdata/nonesuch"}, message: "nonesuch"},
		{name: "refused", args: []string{"-type", "NoCtx", "testdata/refuse"}, message: "NoCtx.Add: the first parameter must be a context.Context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.go")
			var stderr bytes.Buffer
			err := run(append([]string{"-output", out}, tc.args...), &stderr)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("run: %v, want %v", err, tc.want)
			}
			if tc.message != "" && !strings.Contains(err.Error(), tc.message) {
				t.Errorf("run: %q, want it to contain %q", err, tc.message)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", &stderr, tc.stderr)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed run wrote %s (%v)", out, err)
			}
		})
	}
}

// TestExampleUpToDate regenerates internal/example's stubs with the
// arguments of its go:generate line and compares them with the committed
// calc_stub.go, which must be what the generator writes today.
func TestExampleUpToDate(t *testing.T) {
	t.Parallel()
	needGo(t)
	dir := filepath.Join("internal", "example")
	src, err := os.ReadFile(filepath.Join(dir, "calc.go"))
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for line := range strings.Lines(string(src)) {
		if cmd, ok := strings.CutPrefix(line, "//go:generate go run github.com/hopwire/hopwire/cmd/hopwire-stub "); ok {
			args = strings.Fields(cmd)
		}
	}
	if args == nil {
		t.Fatal("calc.go has no go:generate line for hopwire-stub")
	}
	out := filepath.Join(t.TempDir(), "calc_stub.go")
	var stderr bytes.Buffer
	if err := run(append(args, "-output", out, dir), &stderr); err != nil {
		t.Fatalf("run %q: %v\n%s", args, err, &stderr)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(dir, "calc_stub.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Errorf("%s is out of date: run go generate ./cmd/hopwire-stub/internal/example\n%s", filepath.Join(dir, "calc_stub.go"), diff(string(committed), string(got)))
	}
}
