package rpyc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestServiceValues(t *testing.T) {
	forLines(t, func(t *testing.T, line string) {
		c := dialPythonOf(t, line, "service", nil)
		ctx := testCtx(t)
		root, err := c.Root(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cases := []any{
			nil, true, false, int64(0), int64(-48), int64(159), int64(160), int64(-49),
			int64(1) << 62, "", "héllo", []byte{}, []byte("x"), []byte("abcdefgh"),
			3.25, complex(1, -2), Tuple{}, Tuple{int64(1), "two", Tuple{3.0}},
			FrozenSet{int64(7)}, Slice{int64(1), nil, int64(2)}, NotImplemented, Ellipsis,
		}
		for _, v := range cases {
			got, err := root.CallAttr(ctx, "echo", v)
			if err != nil {
				t.Fatalf("echo(%s): %v", pyRepr(v), err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", v) {
				t.Errorf("echo(%#v) = %#v", v, got)
			}
		}
		sum, err := root.CallAttr(ctx, "add", int64(1)<<62, int64(1)<<62)
		if err != nil {
			t.Fatal(err)
		}
		if s := fmt.Sprint(sum); s != "9223372036854775808" {
			t.Errorf("add = %v", s)
		}
		v, err := root.Getattr(ctx, "version")
		if err != nil || v != "svc-1" {
			t.Errorf("version = %v, %v", v, err)
		}
		kw, err := root.CallAttr(ctx, "kw", int64(1), Kw{"b": int64(5), "z": "zz"})
		if err != nil {
			t.Fatal(err)
		}
		if got := pyRepr(kw); got != "(1, 5, (('z', 'zz'),))" {
			t.Errorf("kw = %s", got)
		}
		// A Python list comes back by reference; str, repr and iteration work.
		lv, err := root.CallAttr(ctx, "listing")
		if err != nil {
			t.Fatal(err)
		}
		l := lv.(*Ref)
		if s, err := l.Str(ctx); err != nil || s != "['a', 'b', 3]" {
			t.Errorf("str(listing) = %q, %v", s, err)
		}
		if s, err := l.Repr(ctx); err != nil || s != "['a', 'b', 3]" {
			t.Errorf("repr(listing) = %q, %v", s, err)
		}
		if n, err := l.CallAttr(ctx, "__len__"); err != nil || n != int64(3) {
			t.Errorf("len = %v, %v", n, err)
		}
		if _, err := l.Dir(ctx); err != nil {
			t.Error(err)
		}
		if items, err := l.Items(ctx); err != nil || Repr(items) != "('a', 'b', 3)" {
			t.Errorf("Items = %v, %v", items, err)
		}
		l.Release()
		if _, err := l.Str(ctx); !errors.Is(err, ErrReleased) {
			t.Errorf("after Release: %v", err)
		}
	})
}

func TestServiceErrors(t *testing.T) {
	forLines(t, func(t *testing.T, line string) {
		c := dialPythonOf(t, line, "service", nil)
		ctx := testCtx(t)
		root := mustRoot(t, ctx, c)
		_, err := root.CallAttr(ctx, "fail", "key")
		var re *RemoteError
		if !errors.As(err, &re) || re.Type != "KeyError" || re.Module != "builtins" || !errors.Is(err, &RemoteError{Type: "LookupError"}) {
			t.Fatalf("fail(key) = %#v", err)
		}
		if re.Traceback == "" || !bytes.Contains([]byte(re.Traceback), []byte("exposed_fail")) {
			t.Errorf("traceback %q", re.Traceback)
		}
		_, err = root.CallAttr(ctx, "fail", "custom")
		if !errors.As(err, &re) || re.Type != "Boom" || re.Message() != "custom boom" {
			t.Fatalf("fail(custom) = %#v", err)
		}
		_, err = root.CallAttr(ctx, "no_such_method")
		if !errors.Is(err, &RemoteError{Type: "AttributeError"}) {
			t.Fatalf("no_such_method: %v", err)
		}
		// The connection still works after exceptions.
		if err := c.Ping(ctx, "still there"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCallbacksBothWays(t *testing.T) {
	forLines(t, func(t *testing.T, line string) {
		c := dialPythonOf(t, line, "service", nil)
		ctx := testCtx(t)
		root := mustRoot(t, ctx, c)
		var calls atomic.Int32
		double := func(x int) (int, error) {
			calls.Add(1)
			return 2 * x, nil
		}
		got, err := root.CallAttr(ctx, "apply_twice", double, 5)
		if err != nil || got != int64(20) || calls.Load() != 2 {
			t.Fatalf("apply_twice = %v, %v (calls %d)", got, err, calls.Load())
		}
		// A Go error raised in a callback reaches Python and comes back.
		failing := func(x int) (int, error) { return 0, fmt.Errorf("callback refused %d", x) }
		_, err = root.CallAttr(ctx, "apply", failing, 7)
		var re *RemoteError
		if !errors.As(err, &re) || re.Type != "RuntimeError" || re.Message() != "callback refused 7" {
			t.Fatalf("apply(failing) = %#v", err)
		}
		// Nested: the Go callback calls the server again while the server
		// waits on it.
		nested := func(ctx context.Context, x int) (int, error) {
			v, err := root.CallAttr(ctx, "add", x, 100)
			if err != nil {
				return 0, err
			}
			return As[int](v)
		}
		got, err = root.CallAttr(ctx, "apply", nested, 1)
		if err != nil || got != int64(101) {
			t.Fatalf("apply(nested) = %v, %v", got, err)
		}
		// A Python callable handed to Go: the server's own bound method.
		addFn, err := root.Getattr(ctx, "add")
		if err != nil {
			t.Fatal(err)
		}
		add, err := As[func(int, int) (int, error)](addFn)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := add(2, 3); err != nil || n != 5 {
			t.Fatalf("add via func = %v, %v", n, err)
		}
	})
}

func TestAsync(t *testing.T) {
	forLines(t, func(t *testing.T, line string) {
		c := dialPythonOf(t, line, "service", nil)
		ctx := testCtx(t)
		root := mustRoot(t, ctx, c)
		a := root.GoAttr("sleep", 0.2, "late")
		if a.Ready() {
			t.Fatal("ready at once")
		}
		if _, err := a.Result(); !errors.Is(err, ErrNotReady) {
			t.Fatal(err)
		}
		fired := make(chan any, 1)
		a.OnReady(func(a *Async) { v, _ := a.Result(); fired <- v })
		// The connection serves other requests meanwhile? Python's
		// ThreadedServer runs one request at a time per connection, so this
		// waits behind sleep; it must still succeed.
		v, err := a.Wait(ctx)
		if err != nil || v != "late" {
			t.Fatalf("Wait = %v, %v", v, err)
		}
		if got := <-fired; got != "late" {
			t.Fatalf("OnReady got %v", got)
		}
		// A Wait whose context ends abandons the request.
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err = root.GoAttr("sleep", 0.3, "x").Wait(short)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("short Wait = %v", err)
		}
		if v, err := root.CallAttr(ctx, "echo", "after"); err != nil || v != "after" {
			t.Fatalf("after abandon: %v, %v", v, err)
		}
	})
}

func TestLargeValues(t *testing.T) {
	forLines(t, func(t *testing.T, line string) {
		for _, compress := range []int{0, 3000} {
			t.Run(fmt.Sprintf("compress=%d", compress), func(t *testing.T) {
				c := dialPythonOf(t, line, "service", &Options{CompressThreshold: compress})
				ctx := testCtx(t)
				root := mustRoot(t, ctx, c)
				const n = 16 << 20
				v, err := root.CallAttr(ctx, "blob", n)
				if err != nil {
					t.Fatal(err)
				}
				b, ok := v.([]byte)
				if !ok || len(b) != n || b[n-1] != byte((n-1)%251) {
					t.Fatalf("blob: %T len %d", v, len(b))
				}
				sum, err := root.CallAttr(ctx, "checksum", b)
				if err != nil {
					t.Fatal(err)
				}
				if sum != int64(crc32.ChecksumIEEE(b)) {
					t.Fatalf("checksum %v", sum)
				}
			})
		}
	})
}

func TestConcurrentGoroutines(t *testing.T) {
	forLines(t, func(t *testing.T, line string) {
		c := dialPythonOf(t, line, "service", nil)
		ctx := testCtx(t)
		root := mustRoot(t, ctx, c)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					want := fmt.Sprintf("g%d-%d", g, i)
					v, err := root.CallAttr(ctx, "echo", want)
					if err != nil {
						errs <- err
						return
					}
					if v != want {
						errs <- fmt.Errorf("got %v, want %s", v, want)
						return
					}
					if i%5 == 0 {
						cb := func(x string) (string, error) { return x + "!", nil }
						v, err := root.CallAttr(ctx, "apply", cb, want)
						if err != nil || v != want+"!" {
							errs <- fmt.Errorf("apply: %v, %v", v, err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// TestProxyRelease: proxies dropped on the Go side are released on the
// Python side (DEL), and the server's object table shrinks back.
func TestProxyRelease(t *testing.T) {
	forLines(t, func(t *testing.T, line string) {
		c := dialPythonOf(t, line, "classic", nil)
		ctx := testCtx(t)
		k, err := NewClassic(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		count := func() int64 {
			conn, err := k.root.CallAttr(ctx, "getconn")
			if err != nil {
				t.Fatal(err)
			}
			d, err := conn.(*Ref).Attr(ctx, "_local_objects._dict")
			if err != nil {
				t.Fatal(err)
			}
			v, err := d.(*Ref).CallAttr(ctx, "__len__")
			if err != nil {
				t.Fatal(err)
			}
			return v.(int64)
		}
		before := count()
		bi, _ := k.Builtins(ctx)
		held := make([]any, 0, 50) // held until counted: a GC meanwhile must not release them
		for range 50 {
			l, err := bi.CallAttr(ctx, "list")
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, l)
		}
		if n := count(); n < before+50 {
			t.Fatalf("objects %d → %d: the lists are not held", before, n)
		}
		runtime.KeepAlive(held)
		held = nil
		deadline := time.Now().Add(10 * time.Second)
		for {
			runtime.GC()
			n := count()
			if n <= before+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("objects %d → %d: proxies not released", before, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
