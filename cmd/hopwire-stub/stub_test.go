package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// TestGolden generates the stubs of the testdata packages and compares
// them with the golden files beside them (go test -update rewrites
// those). Each output has passed the generator's own type check: it
// compiles in its package and the stubs implement their interfaces.
func TestGolden(t *testing.T) {
	t.Parallel()
	needGo(t)
	for _, tc := range []struct {
		dir, types, golden string
	}{
		// Plain values, several results, variadics (...int, ...any),
		// unnamed and clashing parameter names, an unexported interface.
		{"basic", "Calc,pinger", "calc_stub.go.golden"},
		// Embedded interfaces, of this package and of another; two
		// interfaces in one file; a package that already uses the stubs.
		{"embed", "Store,Reader", "store_stub.go.golden"},
		// *session.Ref, funcs, io.ReadCloser, io.Reader, time, this
		// package's types, composite types, and imports renamed to avoid
		// clashes (html/template and text/template; a package-level
		// session).
		{"types", "Kinds", "kinds_stub.go.golden"},
		// A stub file that no longer compiles is replaced.
		{"stale", "Calc", "calc_stub.go.golden"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", tc.dir)
			out := filepath.Join(t.TempDir(), "out.go")
			var stderr bytes.Buffer
			if err := run([]string{"-type", tc.types, "-output", out, dir}, &stderr); err != nil {
				t.Fatalf("%v\n%s", err, &stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join(dir, tc.golden)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the output differs from %s (go test -update rewrites it):\n%s", golden, diff(string(want), string(got)))
			}
		})
	}
}

// TestRefuse checks that each rule is enforced with a one-line error
// that names the method and the rule.
func TestRefuse(t *testing.T) {
	t.Parallel()
	needGo(t)
	p, err := load(filepath.Join("testdata", "refuse"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join("testdata", "refuse", "refuse.go")
	for _, tc := range []struct{ types, want string }{
		{"NoCtx", "NoCtx.Add: the first parameter must be a context.Context"},
		{"CtxSecond", "CtxSecond.Add: the first parameter must be a context.Context"},
		{"NoErr", "NoErr.Add: the last result must be an error"},
		{"ErrFirst", "ErrFirst.Add: the last result must be an error"},
		{"NoResults", "NoResults.Ping: the last result must be an error"},
		{"Embeds", "Embeds.Close (from io.Closer): the first parameter must be a context.Context"},
		{"Unexported", "Unexported.get: an unexported method cannot be called remotely"},
		{"Chan", "Chan.Feed: parameter c is a channel, which cannot cross the wire"},
		{"ChanResult", "ChanResult.Watch: result 1 is a channel, which cannot cross the wire"},
		{"VariadicChan", "VariadicChan.Feed: parameter cs is a channel, which cannot cross the wire"},
		{"Unsafe", "Unsafe.Peek: parameter p is an unsafe.Pointer, which cannot cross the wire"},
		{"Generic", "Generic: generic interfaces are not supported"},
		{"Constraint", "Constraint: a constraint (an interface with a type set) cannot be called remotely"},
		{"Empty", "Empty: an interface without methods"},
		{"NotIface", "NotIface: not an interface type"},
		{"NotAType", "NotAType: not a type"},
		{"Nope", "Nope: no such type in package refuse"},
		{"Broken", "Broken.Get: " + src + ":69:28: undefined: Missing"},
		{"Taken", "Taken: the package already declares NewTakenStub (" + src + ":76:6)"},
		{"NoCtx2,NoCtx2", "NoCtx2: named twice"},
		{"NoCtx2,noCtx2", "NoCtx2 and noCtx2 would both have a stub type noCtx2Stub"},
		// The first refusal stops the run: nothing is written for the
		// interfaces before it either.
		{"NoCtx2,NoErr", "NoErr.Add: the last result must be an error"},
	} {
		t.Run(tc.types, func(t *testing.T) {
			src, err := p.generate(strings.Split(tc.types, ","), "out.go")
			if err == nil {
				t.Fatalf("generated:\n%s", src)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
			if src != nil {
				t.Error("an error, and output too")
			}
		})
	}
}

// diff shows where want and got first differ, with a few lines around.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	for j := max(0, i-3); j < i; j++ {
		fmt.Fprintf(&b, "  %4d  %s\n", j+1, w[j])
	}
	for j := i; j < min(len(w), i+5); j++ {
		fmt.Fprintf(&b, "- %4d  %s\n", j+1, w[j])
	}
	for j := i; j < min(len(g), i+5); j++ {
		fmt.Fprintf(&b, "+ %4d  %s\n", j+1, g[j])
	}
	return b.String()
}
