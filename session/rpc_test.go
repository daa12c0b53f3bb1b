package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rpcPair returns a client and a server Conn over a fresh link.
func rpcPair(t testing.TB, kind string, copts, sopts *Options) (*Conn, *Conn) {
	t.Helper()
	cl, sl := linkPair(t, kind, nil, nil)
	ch := make(chan *Conn, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := NewConn(context.Background(), sl, sopts)
		if err != nil {
			errc <- err
			return
		}
		ch <- c
	}()
	cc, err := NewConn(context.Background(), cl, copts)
	if err != nil {
		t.Fatal(err)
	}
	var sc *Conn
	select {
	case sc = <-ch:
	case err := <-errc:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cc.Close()
		sc.Close()
	})
	return cc, sc
}

type calc struct {
	cancelled chan error
	counter   atomic.Int64
}

func (c *calc) Add(a, b int) int { return a + b }

func (c *calc) Div(a, b float64) (float64, error) {
	if b == 0 {
		return 0, errors.New("division by zero")
	}
	return a / b, nil
}

func (c *calc) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		if c.cancelled != nil {
			c.cancelled <- ctx.Err()
		}
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func (c *calc) Panic() { panic("boom") }

func (c *calc) Open(name string) error {
	return &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (c *calc) Apply(ctx context.Context, f func(context.Context, int) (int, error), x int) (int, error) {
	return f(ctx, x)
}

func (c *calc) Echo(v any) any { return v }

func (c *calc) EchoBytes(b []byte) []byte { return b }

type record struct {
	Name  string
	Size  int64
	When  time.Time
	Tags  []string
	Attrs map[string]int
	Raw   []byte
	OK    bool
	Ratio float64
}

func (c *calc) Record(r record) record {
	r.Size *= 2
	return r
}

func (c *calc) Sum(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func (c *calc) Head(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return string(b), err
}

func (c *calc) Produce(n int, w io.Writer) error {
	chunk := bytes.Repeat([]byte("x"), 1000)
	for i := 0; i < n; i++ {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

func (c *calc) Download(n int) io.Reader {
	return io.LimitReader(zeros{}, int64(n))
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type counter struct{ n int }

func (k *counter) Inc(by int) int { k.n += by; return k.n }

func (c *calc) NewCounter() Object { return ByRef(&counter{}) }

func (c *calc) MakeAdder(n int) func(int) int {
	return func(x int) int { return x + n }
}

func (c *calc) Count() int64 { return c.counter.Add(1) }

func (c *calc) Variadic(sep string, parts ...string) string { return strings.Join(parts, sep) }

func (c *calc) NotEligible(ch chan int) {}

//lint:ignore U1000 called by name: the test checks that unexported methods stay unexposed
func (c *calc) unexported() {}

func TestServiceCalls(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			if err := sc.Expose("calc", &calc{}); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			calc := cc.Service("calc")
			sum, err := Call[int](ctx, calc, "Add", 2, 3)
			if err != nil || sum != 5 {
				t.Fatalf("Add = %d, %v", sum, err)
			}
			q, err := Call[float64](ctx, calc, "Div", 1, 4)
			if err != nil || q != 0.25 {
				t.Fatalf("Div = %v, %v", q, err)
			}
			joined, err := Call[string](ctx, calc, "Variadic", "-", "a", "b", "c")
			if err != nil || joined != "a-b-c" {
				t.Fatalf("Variadic = %q, %v", joined, err)
			}
			for _, tc := range []struct {
				name   string
				svc    string
				method string
				args   []any
				want   error
			}{
				{"unexposed-method", "calc", "unexported", nil, ErrNoMethod},
				{"ineligible-method", "calc", "NotEligible", []any{1}, ErrNoMethod},
				{"unknown-method", "calc", "Nope", nil, ErrNoMethod},
				{"unknown-service", "nope", "Add", []any{1, 2}, ErrNoService},
				{"wrong-arg-count", "calc", "Add", []any{1}, ErrBadArgs},
				{"wrong-arg-type", "calc", "Add", []any{"x", 2}, ErrBadArgs},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := cc.Service(tc.svc).Call(ctx, tc.method, tc.args...)
					var re *RemoteError
					if !errors.Is(err, tc.want) || !errors.As(err, &re) {
						t.Fatalf("err = %v, want %v", err, tc.want)
					}
				})
			}
		})
	}
}

func TestValues(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("calc", &calc{})
			ctx := t.Context()
			svc := cc.Service("calc")
			when := time.Date(2026, 11, 25, 10, 0, 0, 123, time.UTC)
			in := record{Name: "a", Size: 21, When: when, Tags: []string{"x", "y"}, Attrs: map[string]int{"k": 1}, Raw: []byte{0, 1, 2}, OK: true, Ratio: 0.5}
			out, err := Call[record](ctx, svc, "Record", in)
			if err != nil {
				t.Fatal(err)
			}
			if out.Size != 42 || !out.When.Equal(when) || out.Name != "a" || len(out.Tags) != 2 || out.Attrs["k"] != 1 || !bytes.Equal(out.Raw, in.Raw) || !out.OK || out.Ratio != 0.5 {
				t.Fatalf("record round trip: %+v", out)
			}
			big := make([]byte, 1<<20)
			rand.Read(big)
			got, err := Call[[]byte](ctx, svc, "EchoBytes", big)
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("1 MiB echo: %v", err)
			}
			v, err := Call[any](ctx, svc, "Echo", map[string]any{"a": "b", "n": 3})
			if m, ok := v.(map[string]any); err != nil || !ok || m["a"] != "b" {
				t.Fatalf("Echo any = %#v, %v", v, err)
			}
			res, err := svc.Call(ctx, "Div", 1, 2)
			if err != nil || res.Len() != 1 {
				t.Fatalf("Len: %v %v", res.Len(), err)
			}
		})
	}
}

func TestMessageSizeLimit(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, &Options{MaxMessageSize: 64 << 10})
			sc.Expose("calc", &calc{})
			_, err := cc.Service("calc").Call(t.Context(), "EchoBytes", make([]byte, 100<<10))
			if !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("err = %v, want ErrMessageTooLarge", err)
			}
			// The session survives.
			if sum, err := Call[int](t.Context(), cc.Service("calc"), "Add", 1, 1); err != nil || sum != 2 {
				t.Fatalf("after refusal: %d %v", sum, err)
			}
		})
	}
}

func TestRemoteErrors(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			sentinel := errors.New("app: quota exceeded")
			opts := &Options{Errors: map[string]error{"quota": sentinel}}
			cc, sc := rpcPair(t, kind, opts, opts)
			sc.Expose("calc", &calc{})
			sc.Expose("app", appSvc{sentinel})
			ctx := t.Context()
			_, err := cc.Service("calc").Call(ctx, "Div", 1, 0)
			var re *RemoteError
			if !errors.As(err, &re) || re.Message != "division by zero" || re.Type != "*errors.errorString" {
				t.Fatalf("Div by zero: %#v", err)
			}
			err = cc.Service("calc").Call2(ctx, "Open", "/nope")
			if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &re) || re.Type != "*fs.PathError" {
				t.Fatalf("Open: %v", err)
			}
			_, err = cc.Service("calc").Call(ctx, "Panic")
			if !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "boom") {
				t.Fatalf("Panic: %v", err)
			}
			// The server keeps serving after a panic.
			if _, err := Call[int](ctx, cc.Service("calc"), "Add", 1, 2); err != nil {
				t.Fatal(err)
			}
			_, err = cc.Service("app").Call(ctx, "Fail")
			if !errors.Is(err, sentinel) {
				t.Fatalf("app sentinel: %v", err)
			}
		})
	}
}

// Call2 is a test helper: a call whose results are ignored.
func (r *Ref) Call2(ctx context.Context, method string, args ...any) error {
	_, err := r.Call(ctx, method, args...)
	return err
}

type appSvc struct{ err error }

func (a appSvc) Fail() error { return fmt.Errorf("wrapped: %w", a.err) }

func TestCallbacks(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("calc", &calc{})
			ctx := t.Context()
			double := func(ctx context.Context, x int) (int, error) { return 2 * x, nil }
			got, err := Call[int](ctx, cc.Service("calc"), "Apply", double, 21)
			if err != nil || got != 42 {
				t.Fatalf("Apply = %d, %v", got, err)
			}
			failing := func(ctx context.Context, x int) (int, error) { return 0, fs.ErrPermission }
			_, err = cc.Service("calc").Call(ctx, "Apply", failing, 1)
			if !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("callback error: %v", err)
			}
		})
	}
}

// bouncer calls the peer's bouncer back until depth runs out.
type bouncer struct {
	c *Conn
}

func (b *bouncer) Bounce(ctx context.Context, n int) (int, error) {
	if n == 0 {
		return 0, nil
	}
	got, err := Call[int](ctx, b.c.Service("bounce"), "Bounce", n-1)
	return got + 1, err
}

// Nest calls f, which calls Nest again: callbacks nested through func
// values.
func (b *bouncer) Nest(ctx context.Context, n int, f func(context.Context, int) (int, error)) (int, error) {
	if n == 0 {
		return 0, nil
	}
	got, err := f(ctx, n-1)
	return got + 1, err
}

func TestNestedCallbacks(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			cc.Expose("bounce", &bouncer{c: cc})
			sc.Expose("bounce", &bouncer{c: sc})
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			// 100 calls alternate direction: 50 levels each way.
			got, err := Call[int](ctx, cc.Service("bounce"), "Bounce", 100)
			if err != nil || got != 100 {
				t.Fatalf("Bounce = %d, %v", got, err)
			}
			var f func(context.Context, int) (int, error)
			f = func(ctx context.Context, n int) (int, error) {
				return Call[int](ctx, cc.Service("bounce"), "Nest", n, f)
			}
			got, err = f(ctx, 60)
			if err != nil || got != 60 {
				t.Fatalf("Nest = %d, %v", got, err)
			}
		})
	}
}

func TestAsync(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("calc", &calc{})
			ctx := t.Context()
			a := cc.Service("calc").Go(ctx, "Sleep", 50*time.Millisecond)
			if a.Ready() {
				t.Fatal("ready before the call could finish")
			}
			fired := make(chan struct{})
			a.OnReady(func(a *Async) { close(fired) })
			if _, err := a.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-fired:
			case <-time.After(5 * time.Second):
				t.Fatal("OnReady callback did not fire")
			}
			if !a.Ready() {
				t.Fatal("not ready after Wait")
			}
			late := make(chan struct{})
			a.OnReady(func(*Async) { close(late) })
			<-late
			// Many calls in flight at once.
			var asyncs []*Async
			for i := range 200 {
				asyncs = append(asyncs, cc.Service("calc").Go(ctx, "Add", i, i))
			}
			for i, a := range asyncs {
				res, err := a.Wait(ctx)
				var v int
				if err == nil {
					err = res.Decode(&v)
				}
				if err != nil || v != 2*i {
					t.Fatalf("call %d: %d %v", i, v, err)
				}
			}
			// Wait's own context only stops the wait.
			slow := cc.Service("calc").Go(ctx, "Sleep", 200*time.Millisecond)
			short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
			defer cancel()
			if _, err := slow.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait with short ctx: %v", err)
			}
			if _, err := slow.Result(); err != nil {
				t.Fatalf("the call itself: %v", err)
			}
		})
	}
}

func TestCancellation(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			svc := &calc{cancelled: make(chan error, 2)}
			sc.Expose("calc", svc)
			// Deadline: the caller returns promptly, the handler sees it.
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := cc.Service("calc").Call(ctx, "Sleep", time.Minute)
			if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
				t.Fatalf("err = %v after %v", err, time.Since(start))
			}
			select {
			case err := <-svc.cancelled:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("handler saw %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("handler did not see the deadline")
			}
			// Cancel.
			ctx2, cancel2 := context.WithCancel(t.Context())
			go func() {
				time.Sleep(50 * time.Millisecond)
				cancel2()
			}()
			_, err = cc.Service("calc").Call(ctx2, "Sleep", time.Minute)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			select {
			case err := <-svc.cancelled:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("handler saw %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("handler did not see the cancel")
			}
		})
	}
}

func TestStreamsAsValues(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("calc", &calc{})
			ctx := t.Context()
			data := make([]byte, 8<<20+13)
			rand.Read(data)
			want := sha256.Sum256(data)
			var n int64
			var sum string
			res, err := cc.Service("calc").Call(ctx, "Sum", bytes.NewReader(data))
			if err == nil {
				err = res.Decode(&n, &sum)
			}
			if err != nil || n != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
				t.Fatalf("Sum: n=%d err=%v", n, err)
			}
			// A handler that reads only part of the stream: the sender stops.
			head, err := Call[string](ctx, cc.Service("calc"), "Head", io.LimitReader(zeros{}, 1<<30), 5)
			if err != nil || head != "\x00\x00\x00\x00\x00" {
				t.Fatalf("Head = %q, %v", head, err)
			}
			// io.Writer argument: the data is all there when the call returns.
			var buf bytes.Buffer
			if err := cc.Service("calc").Call2(ctx, "Produce", 3000, &buf); err != nil || buf.Len() != 3_000_000 {
				t.Fatalf("Produce: %d bytes, %v", buf.Len(), err)
			}
			// io.Reader result.
			var r io.ReadCloser
			res, err = cc.Service("calc").Call(ctx, "Download", 5<<20)
			if err == nil {
				err = res.Decode(&r)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || len(got) != 5<<20 {
				t.Fatalf("Download: %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestReferences(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("calc", &calc{})
			ctx := t.Context()
			var ctr *Ref
			res, err := cc.Service("calc").Call(ctx, "NewCounter")
			if err == nil {
				err = res.Decode(&ctr)
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 3; i++ {
				n, err := Call[int](ctx, ctr, "Inc", 2)
				if err != nil || n != 2*i {
					t.Fatalf("Inc = %d, %v", n, err)
				}
			}
			if sc.NumExports() != 1 {
				t.Fatalf("server exports %d refs, want 1", sc.NumExports())
			}
			// A remote func as a result.
			var add5 func(int) int
			res, err = cc.Service("calc").Call(ctx, "MakeAdder", 5)
			if err == nil {
				err = res.Decode(&add5)
			}
			if err != nil || add5(10) != 15 {
				t.Fatalf("adder: %v", err)
			}
			// Released explicitly: later calls are refused and reach nothing.
			ctr.Release()
			waitFor(t, func() bool { return sc.NumExports() == 1 })
			if _, err := ctr.Call(ctx, "Inc", 1); !errors.Is(err, ErrUnknownRef) {
				t.Fatalf("call on released ref: %v", err)
			}
			// Released when unreachable.
			add5 = nil
			waitFor(t, func() bool {
				runtime.GC()
				return sc.NumExports() == 0
			})
			// Forged ids reach no object.
			forged := &Ref{c: cc, id: 0x1234}
			if _, err := forged.Call(ctx, "Inc", 1); !errors.Is(err, ErrUnknownRef) {
				t.Fatalf("forged ref: %v", err)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type calcStub struct {
	Add     func(ctx context.Context, a, b int) (int, error)
	Div     func(ctx context.Context, a, b float64) (float64, error)
	Divide  func(ctx context.Context, a, b float64) (float64, error) `hopwire:"Div"`
	Open    func(ctx context.Context, name string) error
	Skipped func() `hopwire:"-"`
}

func TestTypedStub(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("calc", &calc{})
			var c calcStub
			if err := cc.Service("calc").Bind(&c); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if n, err := c.Add(ctx, 1, 2); err != nil || n != 3 {
				t.Fatalf("Add = %d %v", n, err)
			}
			if q, err := c.Divide(ctx, 3, 2); err != nil || q != 1.5 {
				t.Fatalf("Divide = %v %v", q, err)
			}
			if err := c.Open(ctx, "x"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Open: %v", err)
			}
			if c.Skipped != nil {
				t.Fatal("skipped field bound")
			}
			if err := cc.Service("calc").Bind(c); err == nil {
				t.Fatal("Bind accepted a non-pointer")
			}
		})
	}
}

func TestConcurrentCallers(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("calc", &calc{})
			var wg sync.WaitGroup
			for g := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 50 {
						n, err := Call[int](t.Context(), cc.Service("calc"), "Add", g, i)
						if err != nil || n != g+i {
							t.Errorf("Add(%d,%d) = %d %v", g, i, n, err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

func TestCallLimit(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, &Options{MaxCalls: 4})
			sc.Expose("calc", &calc{})
			// The client learns the limit and queues: 20 slow calls all succeed.
			var wg sync.WaitGroup
			var failed atomic.Int64
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := cc.Service("calc").Call2(t.Context(), "Sleep", 10*time.Millisecond); err != nil {
						failed.Add(1)
					}
				}()
			}
			wg.Wait()
			if failed.Load() != 0 {
				t.Fatalf("%d calls failed", failed.Load())
			}
		})
	}
}

func TestRefLimit(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, &Options{MaxRefs: 2})
			sc.Expose("calc", &calc{})
			var refs []*Ref
			for range 2 {
				var r *Ref
				res, err := cc.Service("calc").Call(t.Context(), "NewCounter")
				if err == nil {
					err = res.Decode(&r)
				}
				if err != nil {
					t.Fatal(err)
				}
				refs = append(refs, r)
			}
			_, err := cc.Service("calc").Call(t.Context(), "NewCounter")
			if !errors.Is(err, ErrTooManyRefs) {
				t.Fatalf("third ref: %v", err)
			}
			runtime.KeepAlive(refs)
		})
	}
}

func TestCloseWithCallsInFlight(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			svc := &calc{cancelled: make(chan error, 10)}
			sc.Expose("calc", svc)
			var asyncs []*Async
			for range 5 {
				asyncs = append(asyncs, cc.Service("calc").Go(t.Context(), "Sleep", time.Minute))
			}
			time.Sleep(50 * time.Millisecond)
			sc.Close()
			for _, a := range asyncs {
				_, err := a.Wait(t.Context())
				if !errors.Is(err, ErrLinkClosed) {
					t.Fatalf("pending call got %v, want ErrLinkClosed", err)
				}
			}
			for range 5 {
				select {
				case <-svc.cancelled:
				case <-time.After(5 * time.Second):
					t.Fatal("handler context not cancelled on close")
				}
			}
			if _, err := cc.Service("calc").Call(t.Context(), "Add", 1, 2); !errors.Is(err, ErrLinkClosed) {
				t.Fatalf("call after close: %v", err)
			}
			if n := sc.NumExports(); n != 0 {
				t.Fatalf("%d references survive the session", n)
			}
		})
	}
}

func TestPing(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, _ := rpcPair(t, kind, nil, nil)
			if d, err := cc.Ping(t.Context()); err != nil || d <= 0 {
				t.Fatalf("Ping = %v, %v", d, err)
			}
		})
	}
}

// A call that cannot run (no such service or method) drops the data
// streams of its io.Reader/io.Writer arguments at once: the caller gets
// the error, not a wait for the unclaimed streams to time out.
func TestRejectedCallDropsItsStreams(t *testing.T) {
	cc, sc := rpcPair(t, "pipe", nil, &Options{StreamWait: time.Hour, Services: map[string]any{"calc": &calc{}}})
	_ = sc
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		ref  *Ref
		want error
	}{
		{cc.Service("nope"), ErrNoService},
		{cc.Service("calc"), ErrNoMethod},
		{cc.Service("calc"), ErrBadArgs}, // Produce takes two
	} {
		method := "Produce"
		if errors.Is(tc.want, ErrNoMethod) {
			method = "NoSuchMethod"
		}
		var out bytes.Buffer
		_, err := tc.ref.Call(ctx, method, 10, &out, strings.NewReader("in"))
		if !errors.Is(err, tc.want) {
			t.Fatalf("call: %v, want %v (not a wait for the streams)", err, tc.want)
		}
	}
}
