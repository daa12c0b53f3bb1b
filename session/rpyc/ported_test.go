package rpyc

import (
	"context"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// The ports of RPyC's own test modules (testdata/ported/test_*.py) run
// against the Go services below, each the equivalent of the Python
// service of its module.

// asyncSvc: test_async's classic time.sleep and builtins.int.
type asyncSvc struct{}

func (asyncSvc) Sleep(ctx context.Context, secs float64) error {
	select {
	case <-time.After(time.Duration(secs * float64(time.Second))):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (asyncSvc) Int(x any) (int, error) {
	if s, ok := x.(string); ok {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, &RemoteError{Module: "builtins", Type: "ValueError",
				Args: Tuple{fmt.Sprintf("invalid literal for int() with base 10: %s", pyRepr(s))}}
		}
		return n, nil
	}
	return As[int](x)
}

// excSvc: test_remote_exception's MyService.
type excSvc struct{}

func (excSvc) RemoteAssert(val any) error {
	if v, ok := val.(bool); ok && !v || val == nil {
		return &RemoteError{Module: "builtins", Type: "AssertionError"}
	}
	return nil
}

// ctxSvc: test_context_managers's MyService.
type ctxSvc struct{ enter, exit atomic.Bool }

type ctxMgr struct {
	svc   *ctxSvc
	Value int
}

func (s *ctxSvc) Context(y int) *ctxMgr {
	s.enter.Store(true)
	s.exit.Store(false)
	return &ctxMgr{svc: s, Value: 17 + y}
}

func (m *ctxMgr) Close() error { m.svc.exit.Store(true); return nil }

func (s *ctxSvc) Flags() map[string]bool {
	return map[string]bool{"context_enter": s.enter.Load(), "context_exit": s.exit.Load()}
}

// MyService: test_custom_service's (get_service_name() is "MY", as the
// original's).
type MyService struct {
	connects, disconnects atomic.Int32
	aboutToClose          atomic.Bool
}

func (s *MyService) OnConnect(ctx context.Context, c *Conn) error { s.connects.Add(1); return nil }
func (s *MyService) OnDisconnect(c *Conn)                         { s.disconnects.Add(1) }
func (s *MyService) OnAboutToClose()                              { s.aboutToClose.Store(true) }
func (s *MyService) Reset()                                       { s.aboutToClose.Store(false) }
func (s *MyService) Flags() map[string]any {
	return map[string]any{"connects": s.connects.Load(), "disconnects": s.disconnects.Load(), "about_to_close": s.aboutToClose.Load()}
}

func (s *MyService) Distance(p1, p2 []float64) (float64, error) {
	if len(p1) != 2 || len(p2) != 2 {
		return 0, argErr("points have two coordinates")
	}
	return math.Hypot(p2[0]-p1[0], p2[1]-p1[1]), nil
}
func (s *MyService) Getlist() []int { return []int{1, 2, 3} }

//lint:ignore U1000 not exposed, as in the original
func (s *MyService) foobar()                      {}
func (s *MyService) Getmeta() *ctxMgr             { return &ctxMgr{Value: 5} }
func (s *MyService) GetDecorated() string         { return "decorated" }
func (s *MyService) MyClass(a, b string) *myClass { return &myClass{a, b} }

// Instance answers isinstance(inst, cls) as far as a Go service can: by
// the Python class name its value has on the wire.
func (s *MyService) Instance(inst any, cls *Ref) bool {
	return namePack(inst) == cls.TypeName()
}

type myClass struct{ a, b string }

func (m *myClass) Foo() string { return m.a + m.b }

// attrSvc: test_attr_access's MyService.
type attrSvc struct{}

type restricted struct{}

func (restricted) Foo() string    { return "foo" }
func (restricted) Bar() string    { return "bar" }
func (restricted) Foobar() string { return "Fee Fie Foe Foo" }

type attrClass struct{}

func (attrClass) Foobar() string { return "Fee Fie Foe Foo" }

// Unexported, so not exposed, as the original's non-exposed methods.
//
//lint:ignore U1000 not exposed
func (attrClass) foo() string { return "foo" }

//lint:ignore U1000 not exposed
func (attrClass) bar() string { return "bar" }

//lint:ignore U1000 not exposed
func (attrClass) spam() string { return "spam" }

func (attrSvc) GetOne() *restricted { return &restricted{} }
func (attrSvc) MyClass() *attrClass { return &attrClass{} }

// pickleSvc: test_service_pickle's MyService, less pickling.
type pickleSvc struct{ connects atomic.Int32 }

func (s *pickleSvc) OnConnect(ctx context.Context, c *Conn) error { s.connects.Add(1); return nil }
func (s *pickleSvc) WriteData(b []byte) int                       { return len(b) }
func (s *pickleSvc) Ping() string                                 { return "pong" }
func (s *pickleSvc) Flags() map[string]any                        { return map[string]any{"connects": s.connects.Load()} }

// portedModules: each ported module, a fresh root for it, and how many
// of its tests pass and are skipped (with the reason in the module).
var portedModules = []struct {
	file          string
	root          func() any
	pass, skipped int
}{
	{"test_async.py", func() any { return asyncSvc{} }, 5, 0},
	{"test_remote_exception.py", func() any { return excSvc{} }, 2, 0},
	{"test_context_managers.py", func() any { return &ctxSvc{} }, 2, 0},
	{"test_custom_service.py", func() any { return &MyService{} }, 7, 0},
	{"test_attributes.py", func() any { return attrSvc{} }, 0, 1},
	{"test_attr_access.py", func() any { return attrSvc{} }, 2, 7},
	{"test_service_pickle.py", func() any { return &pickleSvc{} }, 1, 1},
}

var (
	ranRE     = regexp.MustCompile(`(?m)^Ran (\d+) tests? in`)
	skippedRE = regexp.MustCompile(`skipped=(\d+)`)
)

// TestPortedRPyCTests runs the ports of RPyC's own test modules with
// Python's unittest, with the client of each RPyC line, against Go
// servers, and checks how many tests pass and are skipped.
func TestPortedRPyCTests(t *testing.T) {
	var mu sync.Mutex
	totals := map[string][3]int{} // line → ran, passed, skipped
	t.Cleanup(func() {
		for line, n := range totals {
			t.Logf("RPyC %s client: %d tests ran, %d passed, %d skipped", line, n[0], n[1], n[2])
		}
	})
	for _, line := range rpyctest.Lines {
		for _, m := range portedModules {
			t.Run(line+"/"+m.file, func(t *testing.T) {
				t.Parallel()
				p := rpyctest.For(t, line)
				root := m.root()
				addr := serveGoWith(t, &Options{Root: root})
				denied := serveGoWith(t, &Options{Root: root, DenyVersion: true, DenyTraceback: true})
				port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
				ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
				defer cancel()
				cmd := p.Command(ctx, "-m", "unittest", "-v", strings.TrimSuffix(m.file, ".py"))
				cmd.Dir = rpyctest.Testdata("ported")
				cmd.Env = append(cmd.Env, "HOPWIRE_PORT="+port(addr), "HOPWIRE_PORT_DENIED="+port(denied))
				out, err := cmd.CombinedOutput() // err: a test failed, or python did not run
				ran, skipped := 0, 0
				if sm := ranRE.FindSubmatch(out); sm != nil {
					ran, _ = strconv.Atoi(string(sm[1]))
				}
				if sm := skippedRE.FindSubmatch(out); sm != nil {
					skipped, _ = strconv.Atoi(string(sm[1]))
				}
				passed := ran - skipped
				if err != nil {
					passed = -1
				}
				if err != nil || passed != m.pass || skipped != m.skipped {
					t.Fatalf("%s (rpyc %s): %d ran, %d passed, %d skipped, want %d passed, %d skipped (%v)\n%s",
						m.file, p.Version, ran, passed, skipped, m.pass, m.skipped, err, out)
				}
				t.Logf("%s (rpyc %s): %d ran, %d passed, %d skipped", m.file, p.Version, ran, passed, skipped)
				mu.Lock()
				n := totals[line]
				totals[line] = [3]int{n[0] + ran, n[1] + passed, n[2] + skipped}
				mu.Unlock()
			})
		}
	}
}
