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

// dialPython connects to a fresh Python server of the given mode.
func dialPython(t testing.TB, mode string, opts *Options) *Conn {
	t.Helper()
	addr := rpyctest.StartServer(t, mode)
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
