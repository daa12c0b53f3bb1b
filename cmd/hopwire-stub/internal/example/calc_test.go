package example_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/cmd/hopwire-stub/internal/example"
	"github.com/hopwire/hopwire/session"
)

// calculator implements example.Calc on the serving side.
type calculator struct {
	waiting chan struct{} // Wait closes it once it waits, if not nil
	waited  chan error    // Wait sends its context's error, if not nil
}

func (*calculator) Add(ctx context.Context, a, b int) (int, error) { return a + b, nil }

func (*calculator) Div(ctx context.Context, a, b int) (int, int, error) {
	if b == 0 {
		return 0, 0, fmt.Errorf("div %d by %d: %w", a, b, example.ErrDivByZero)
	}
	return a / b, a % b, nil
}

func (*calculator) Sum(ctx context.Context, xs ...int) (int, error) {
	sum := 0
	for _, x := range xs {
		sum += x
	}
	return sum, nil
}

func (*calculator) Map(ctx context.Context, xs []int, f func(context.Context, int) (int, error)) ([]int, error) {
	out := make([]int, len(xs))
	for i, x := range xs {
		y, err := f(ctx, x)
		if err != nil {
			return nil, err
		}
		out[i] = y
	}
	return out, nil
}

func (*calculator) Counter(ctx context.Context, start int) (any, error) {
	return session.ByRefAs[example.Counter](&counter{n: start}), nil
}

func (*calculator) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("contents of " + name)), nil
}

func (c *calculator) Wait(ctx context.Context) error {
	if c.waiting != nil {
		close(c.waiting)
	}
	<-ctx.Done()
	if c.waited != nil {
		c.waited <- ctx.Err()
	}
	return ctx.Err()
}

// Extra is not in Calc: ExposeAs keeps it from the peer.
func (*calculator) Extra(ctx context.Context) error { return nil }

// counter implements example.Counter.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Incr(ctx context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n, nil
}

// serve connects two sessions, exposes impl on one as "calc" through
// example.Calc, and returns a stub for it on the other.
func serve(t *testing.T, impl example.Calc) (example.Calc, *session.Conn) {
	t.Helper()
	client, server, err := connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	if err := session.ExposeAs[example.Calc](server, "calc", impl); err != nil {
		t.Fatal(err)
	}
	return example.NewCalcStub(client.Service("calc")), client
}

func TestStubResults(t *testing.T) {
	t.Parallel()
	calc, client := serve(t, &calculator{})
	ctx := t.Context()

	t.Run("embedded", func(t *testing.T) {
		if sum, err := calc.Add(ctx, 20, 22); sum != 42 || err != nil {
			t.Errorf("Add(20, 22) = %d, %v; want 42, nil", sum, err)
		}
	})
	t.Run("two results", func(t *testing.T) {
		if q, r, err := calc.Div(ctx, 17, 5); q != 3 || r != 2 || err != nil {
			t.Errorf("Div(17, 5) = %d, %d, %v; want 3, 2, nil", q, r, err)
		}
	})
	t.Run("variadic", func(t *testing.T) {
		for _, tc := range []struct {
			xs   []int
			want int
		}{{nil, 0}, {[]int{7}, 7}, {[]int{1, 2, 3, 4}, 10}} {
			if sum, err := calc.Sum(ctx, tc.xs...); sum != tc.want || err != nil {
				t.Errorf("Sum(%v...) = %d, %v; want %d, nil", tc.xs, sum, err, tc.want)
			}
		}
	})
	t.Run("stream", func(t *testing.T) {
		rc, err := calc.Open(ctx, "notes.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if string(b) != "contents of notes.txt" || err != nil {
			t.Errorf("Open: read %q, %v", b, err)
		}
	})
	t.Run("by reference", func(t *testing.T) {
		v, err := calc.Counter(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		ref, ok := v.(*session.Ref)
		if !ok {
			t.Fatalf("Counter returned a %T, want a *session.Ref", v)
		}
		counter := example.NewCounterStub(ref)
		for want := 11; want <= 12; want++ {
			if n, err := counter.Incr(ctx); n != want || err != nil {
				t.Errorf("Incr() = %d, %v; want %d, nil", n, err, want)
			}
		}
		ref.Release()
		if _, err := counter.Incr(ctx); !errors.Is(err, session.ErrUnknownRef) {
			t.Errorf("Incr after Release: %v, want ErrUnknownRef", err)
		}
	})
	t.Run("narrowed", func(t *testing.T) {
		// Only Calc's methods are exposed: Extra, which calculator has,
		// is not.
		_, err := client.Service("calc").Call(ctx, "Extra")
		if !errors.Is(err, session.ErrNoMethod) {
			t.Errorf("Extra: %v, want ErrNoMethod", err)
		}
	})
}

func TestStubError(t *testing.T) {
	t.Parallel()
	calc, _ := serve(t, &calculator{})
	q, r, err := calc.Div(t.Context(), 1, 0)
	if !errors.Is(err, example.ErrDivByZero) {
		t.Fatalf("Div(1, 0): %v, want ErrDivByZero", err)
	}
	var re *session.RemoteError
	if !errors.As(err, &re) {
		t.Errorf("Div(1, 0): %T, want a *session.RemoteError", err)
	}
	if q != 0 || r != 0 {
		t.Errorf("Div(1, 0) = %d, %d with an error; want zeros", q, r)
	}
}

func TestStubCallback(t *testing.T) {
	t.Parallel()
	calc, _ := serve(t, &calculator{})
	ctx := t.Context()
	square := func(ctx context.Context, x int) (int, error) { return x * x, nil }
	ys, err := calc.Map(ctx, []int{1, 2, 3}, square)
	if err != nil || fmt.Sprint(ys) != "[1 4 9]" {
		t.Errorf("Map(square) = %v, %v; want [1 4 9], nil", ys, err)
	}

	// A callback's error goes back through the server to the caller.
	errOdd := errors.New("odd")
	_, err = calc.Map(ctx, []int{2, 3}, func(ctx context.Context, x int) (int, error) {
		if x%2 == 1 {
			return 0, errOdd
		}
		return x, nil
	})
	if err == nil || !strings.Contains(err.Error(), "odd") {
		t.Errorf("Map(failing callback): %v, want the callback's error", err)
	}
}

func TestStubCancel(t *testing.T) {
	t.Parallel()
	impl := &calculator{waiting: make(chan struct{}), waited: make(chan error, 1)}
	calc, _ := serve(t, impl)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- calc.Wait(ctx) }()
	<-impl.waiting
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait: %v, want context.Canceled", err)
	}
	select {
	case err := <-impl.waited:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the handler's context ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancellation did not reach the handler")
	}
}

func TestStubDeadline(t *testing.T) {
	t.Parallel()
	impl := &calculator{waited: make(chan error, 1)}
	calc, _ := serve(t, impl)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := calc.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait: %v, want context.DeadlineExceeded", err)
	}
	select {
	case err := <-impl.waited:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("the handler's context ended with %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the deadline did not reach the handler")
	}
}
