package rpyc

import (
	"math"
	"math/big"
	"os/exec"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

var point3 = func(a, b float64) float64 { return a + b }(0.1, 0.2)

// TestRepr compares Repr with Python's own repr, when python3 is around.
func TestRepr(t *testing.T) {
	vals := []any{nil, true, int64(-7), new(big.Int).Lsh(big.NewInt(1), 70), 3.0, point3, 1e15, 1e16, 1.5e-5,
		0.0001, math.Inf(-1), complex(0, 2), complex(1, -2.5), "it's", `say "hi"`, "tab\tnl\n\x01é",
		[]byte("a'\x00\xff"), Tuple{}, Tuple{int64(1)}, Tuple{"a", Tuple{nil}}, FrozenSet{}, Slice{int64(1), nil, nil},
		NotImplemented, Ellipsis}
	want := []string{"None", "True", "-7", "1180591620717411303424", "3.0", "0.30000000000000004", "1000000000000000.0",
		"1e+16", "1.5e-05", "0.0001", "-inf", "2j", "(1-2.5j)", `"it's"`, `'say "hi"'`, `'tab\tnl\n\x01é'`,
		`b"a'\x00\xff"`, "()", "(1,)", "('a', (None,))", "frozenset()", "slice(1, None, None)", "NotImplemented", "Ellipsis"}
	for i, v := range vals {
		if got := Repr(v); got != want[i] {
			t.Errorf("Repr(%#v) = %s, want %s", v, got, want[i])
		}
	}
	py := rpyctest.Path()
	if py == "" {
		return
	}
	// Python agrees with the table above.
	var src []string
	for _, v := range vals {
		src = append(src, Repr(v))
	}
	script := "import sys\ninf = float('inf')\nfor l in sys.stdin.read().split('\\x1e'): print(repr(eval(l)), end='\\x1e')"
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(src, "\x1e"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x1e"), "\x1e")
	for i := range src {
		if i < len(got) && got[i] != src[i] {
			t.Errorf("python repr of %s is %s", src[i], got[i])
		}
	}
}
