package rpyc

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// goSvc is the Go service the Python client script calls.
type goSvc struct {
	Name   string
	shared Counter
}

func (s *goSvc) Echo(x any) any        { return x }
func (s *goSvc) Add(a, b int) int      { return a + b }
func (s *goSvc) Upper(x string) string { return strings.ToUpper(x) }
func (s *goSvc) Words() []string       { return []string{"a", "b", "c"} }
func (s *goSvc) Table() map[string]int {
	return map[string]int{"one": 1, "two": 2}
}
func (s *goSvc) Length(b []byte) int { return len(b) }
func (s *goSvc) Sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
func (s *goSvc) Keys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		keys = append(keys, fmt.Sprint(k, "=", v))
	}
	sort.Strings(keys)
	return keys
}
func (s *goSvc) Blob(n int) []byte { return make([]byte, n) }
func (s *goSvc) Divmod(a, b int) (int, int, error) {
	if b == 0 {
		return 0, 0, &RemoteError{Module: "builtins", Type: "ZeroDivisionError", Args: Tuple{"integer division or modulo by zero"}}
	}
	return a / b, a % b, nil
}
func (s *goSvc) Open(path string) error {
	f, err := os.Open(path)
	if err == nil {
		f.Close()
	}
	return err
}
func (s *goSvc) Fail(msg string) error { return fmt.Errorf("go says %s", msg) }
func (s *goSvc) Panic() int            { var a []int; return a[len(a)] } // an index-out-of-range panic
func (s *goSvc) Apply(ctx context.Context, f func(context.Context, any) (any, error), x any) (any, error) {
	return f(ctx, x)
}
func (s *goSvc) Whoami(ctx context.Context) (any, error) {
	root, err := FromContext(ctx).Root(ctx)
	if err != nil {
		return nil, err
	}
	return root.CallAttr(ctx, "whoami")
}
func (s *goSvc) NewCounter(start int) *Counter { return &Counter{Value: start} }
func (s *goSvc) Doubler() func(int) int        { return func(x int) int { return 2 * x } }
func (s *goSvc) Slow(secs float64, x any) any {
	time.Sleep(time.Duration(secs * float64(time.Second)))
	return x
}

// Objects is the size of the calling connection's object table.
func (s *goSvc) Objects(ctx context.Context) int { return FromContext(ctx).Stats().Objects }

// Shared returns the same object on every call.
func (s *goSvc) Shared() *Counter { return &s.shared }

// Counter is handed to Python by reference.
type Counter struct {
	mu    sync.Mutex
	Value int
}

func (c *Counter) Incr() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Value++
	return c.Value
}

// serveGo runs a Go service on loopback until the test ends.
func serveGo(t testing.TB, root any) string {
	t.Helper()
	return serveGoWith(t, &Options{Root: root})
}

// serveGoWith runs Serve with opts on loopback until the test ends.
func serveGoWith(t testing.TB, opts *Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	forgetDialect(ln.Addr().String())
	return ln.Addr().String()
}

func runPyClient(t testing.TB, addr string, args ...string) string {
	t.Helper()
	return runPyClientOf(t, rpyctest.For(t, "5"), addr, args...)
}

// runPyClientOf runs pyclient.py against addr with the peer's RPyC.
func runPyClientOf(t testing.TB, p *rpyctest.Peer, addr string, args ...string) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out, err := p.Command(ctx, append([]string{"testdata/pyclient.py", port}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pyclient %v (rpyc %s): %v\n%s", args, p.Version, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestPythonClientGoService(t *testing.T) {
	for _, line := range rpyctest.Lines {
		t.Run(line, func(t *testing.T) {
			p := rpyctest.For(t, line)
			addr := serveGo(t, &goSvc{Name: "go-svc"})
			if out := runPyClientOf(t, p, addr, "check"); out != "OK" {
				t.Fatalf("pyclient (rpyc %s): %s", p.Version, out)
			}
		})
	}
}

// TestPythonClientReleases: objects a Python client drops (del, then
// gc.collect()) leave the Go side's object table, which returns to its
// baseline; an object received several times goes with its one DEL,
// whose count covers every send.
func TestPythonClientReleases(t *testing.T) {
	for _, line := range rpyctest.Lines {
		t.Run(line, func(t *testing.T) {
			p := rpyctest.For(t, line)
			addr := serveGo(t, &goSvc{Name: "go-svc"})
			if out := runPyClientOf(t, p, addr, "release"); out != "2" { // the root and the bound method objects
				t.Fatalf("pyclient release (rpyc %s): %s", p.Version, out)
			}
		})
	}
}

// TestPythonClientSetattr: a Python client can neither set nor delete
// attributes of a Go service (AttributeError, nothing changed) unless
// the service allows it.
func TestPythonClientSetattr(t *testing.T) {
	for _, line := range rpyctest.Lines {
		for _, allowed := range []bool{false, true} {
			mode := map[bool]string{false: "refused", true: "allowed"}[allowed]
			t.Run(line+"/"+mode, func(t *testing.T) {
				p := rpyctest.For(t, line)
				svc := &goSvc{Name: "go-svc"}
				addr := serveGoWith(t, &Options{Root: svc, AllowSetattr: allowed, AllowDelattr: allowed})
				if out := runPyClientOf(t, p, addr, "setattr", mode); out != "OK" {
					t.Fatalf("pyclient setattr %s (rpyc %s): %s", mode, p.Version, out)
				}
				fieldMu.RLock()
				name := svc.Name
				fieldMu.RUnlock()
				if want := map[bool]string{false: "go-svc", true: "renamed"}[allowed]; name != want {
					t.Fatalf("Name = %q, want %q", name, want)
				}
			})
		}
	}
}
