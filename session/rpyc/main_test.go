package rpyc

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// dialPython connects to a fresh Python server (RPyC 5.x) of the given
// mode.
func dialPython(t testing.TB, mode string, opts *Options) *Conn {
	t.Helper()
	return dialPythonOf(t, "5", mode, opts)
}

// dialPythonOf connects to a fresh Python server of the RPyC line and
// mode, with the dialect found by Dial.
func dialPythonOf(t testing.TB, line, mode string, opts *Options) *Conn {
	t.Helper()
	addr := rpyctest.For(t, line).StartServer(t, mode)
	forgetDialect(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// forLines runs f as a subtest for each RPyC line.
func forLines(t *testing.T, f func(t *testing.T, line string)) {
	for _, line := range rpyctest.Lines {
		t.Run(line, func(t *testing.T) { f(t, line) })
	}
}

// mustRoot returns c's root, failing t with the reason if there is none.
func mustRoot(t testing.TB, ctx context.Context, c *Conn) *Ref {
	t.Helper()
	root, err := c.Root(ctx)
	if err != nil {
		t.Fatalf("root: %v", err)
	}
	return root
}

// forgetDialect drops what this process remembers of the server that
// was at addr before: a test server often gets the port an earlier one
// of the other line had, and the cached dialect would then fail the
// first call (as documented for a server that changes its line).
func forgetDialect(addr string) {
	dialects.Delete("tcp " + addr)
	dialects.Delete("tls " + addr)
}
