package rpyc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// idiomSvc is the Go service testdata/pyidioms.py uses as a Python
// programmer would: dicts, lists, keywords, context managers, hooks.
type idiomSvc struct {
	inventory map[string]int // handed out by pointer: shared
	log       []string       // likewise
	closed    atomic.Int32
	connects  atomic.Int32
	left      atomic.Int32
	mu        sync.Mutex
	client    string // the client's whoami, asked by OnConnect
}

func newIdiomSvc() *idiomSvc { return &idiomSvc{inventory: map[string]int{"pears": 1}} }

func (s *idiomSvc) Table() map[string]int { return map[string]int{"one": 1, "two": 2} }
func (s *idiomSvc) Words() []string       { return []string{"a", "b", "c"} }
func (s *idiomSvc) Nested() map[string][]int {
	return map[string][]int{"evens": {0, 2, 4}, "odds": {1, 3}}
}
func (s *idiomSvc) Inventory() *map[string]int { return &s.inventory }
func (s *idiomSvc) Log() *[]string             { return &s.log }
func (s *idiomSvc) CountWords(w []string) int  { return len(w) }
func (s *idiomSvc) Total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// AddArgs: keywords fill its fields, by name (a=, b= or A=, B=).
type AddArgs struct{ A, B int }

func (s *idiomSvc) Add(p AddArgs) int { return p.A + p.B }

// ScaleArgs: fields named by rpyc tags.
type ScaleArgs struct {
	Value  float64 `rpyc:"value"`
	Factor float64 `rpyc:"by"`
}

func (s *idiomSvc) Scale(ctx context.Context, p *ScaleArgs) float64 { return p.Value * p.Factor }

// Sub's parameter names come from RPyCParams; Mul has none.
func (s *idiomSvc) Sub(a, b int) int { return a - b }
func (s *idiomSvc) Mul(a, b int) int { return a * b }
func (s *idiomSvc) Half(n int) int   { return n / 2 }

func (s *idiomSvc) RPyCParams() map[string][]string {
	return map[string][]string{"Sub": {"a", "b"}}
}
func (s *idiomSvc) RPyCAliases() []string { return []string{"idioms", "go-idioms"} }

func (s *idiomSvc) OnConnect(ctx context.Context, c *Conn) error {
	s.connects.Add(1)
	root, err := c.Root(ctx)
	if err != nil {
		return err
	}
	who, err := root.CallAttr(ctx, "whoami")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.client, _ = who.(string)
	s.mu.Unlock()
	return nil
}
func (s *idiomSvc) OnDisconnect(c *Conn) { s.left.Add(1) }
func (s *idiomSvc) Client() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// Journal is an io.Closer: with root.open(...) as j: closes it.
type Journal struct {
	svc    *idiomSvc
	mu     sync.Mutex
	lines  []string
	closed bool
}

func (s *idiomSvc) Open(name string) *Journal { return &Journal{svc: s} }
func (s *idiomSvc) Closed() int               { return int(s.closed.Load()) }

func (j *Journal) Write(line string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return fmt.Errorf("journal: write: %w", os.ErrClosed)
	}
	j.lines = append(j.lines, line)
	return nil
}

func (j *Journal) Lines() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.lines)
}

func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.closed {
		j.closed = true
		j.svc.closed.Add(1)
	}
	return nil
}

func (s *idiomSvc) Fail() error { return errors.New("go says no") }

// CallLater calls f with no deadline of its own: SyncRequestTimeout.
func (s *idiomSvc) CallLater(f func() (any, error)) (any, error) { return f() }

// CallWithin calls f with the caller's deadline.
func (s *idiomSvc) CallWithin(ctx context.Context, secs float64, f func(context.Context) (any, error)) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs*float64(time.Second)))
	defer cancel()
	return f(ctx)
}

// TestPythonIdioms runs testdata/pyidioms.py, a Python client of both
// RPyC lines written as for a Python service, against idiomSvc, then
// checks what its changes did on the Go side.
func TestPythonIdioms(t *testing.T) {
	for _, line := range rpyctest.Lines {
		t.Run(line, func(t *testing.T) {
			p := rpyctest.For(t, line)
			svc := newIdiomSvc()
			addr := serveGoWith(t, &Options{Root: svc, SyncRequestTimeout: 500 * time.Millisecond})
			_, port, _ := net.SplitHostPort(addr)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			out, err := p.Command(ctx, rpyctest.Testdata("pyidioms.py"), port, p.Line).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "OK" {
				t.Fatalf("pyidioms.py (rpyc %s): %v\n%s", p.Version, err, out)
			}
			fieldMu.RLock()
			inv, log := fmt.Sprint(svc.inventory), fmt.Sprint(svc.log)
			fieldMu.RUnlock()
			if inv != "map[apples:3 pears:3]" || log != "[hello world]" {
				t.Errorf("after the client: inventory %s, log %s", inv, log)
			}
			if n := svc.Closed(); n != 2 {
				t.Errorf("%d journals closed, want 2", n)
			}
			deadline := time.Now().Add(10 * time.Second)
			for svc.left.Load() != 1 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if svc.connects.Load() != 1 || svc.left.Load() != 1 {
				t.Errorf("OnConnect ran %d times, OnDisconnect %d, want 1 and 1", svc.connects.Load(), svc.left.Load())
			}
		})
	}
}

// TestGoClientIdioms: a Go client of a Go service gets its maps and
// slices as dict and list proxies too, and reads them with Items and
// CallAttr; keywords and the service name work as from Python.
func TestGoClientIdioms(t *testing.T) {
	svc := newIdiomSvc()
	addr := serveGoWith(t, &Options{Root: svc})
	ctx := testCtx(t)
	c, err := Dial(ctx, addr, &Options{Root: Namespace{"whoami": func() string { return "go-client" }}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, err := c.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := root.CallAttr(ctx, "words")
	if err != nil {
		t.Fatal(err)
	}
	w, ok := v.(*Ref)
	if !ok || w.TypeName() != "builtins.list" {
		t.Fatalf("words() = %#v", v)
	}
	if items, err := w.Items(ctx); err != nil || Repr(items) != "('a', 'b', 'c')" {
		t.Fatalf("Items = %v, %v", items, err)
	}
	if _, err := w.CallAttr(ctx, "append", "d"); err != nil {
		t.Fatal(err)
	}
	if s, err := w.Repr(ctx); err != nil || s != "['a', 'b', 'c', 'd']" {
		t.Fatalf("repr = %q, %v", s, err)
	}
	if n, err := root.CallAttr(ctx, "count_words", w); err != nil || n != int64(4) {
		t.Fatalf("count_words(the proxy) = %v, %v", n, err)
	}
	v, _ = root.CallAttr(ctx, "table")
	tbl := v.(*Ref)
	if x, err := tbl.CallAttr(ctx, "__getitem__", "two"); err != nil || x != int64(2) {
		t.Fatalf("table()['two'] = %v, %v", x, err)
	}
	if _, err := tbl.CallAttr(ctx, "__getitem__", "three"); !errors.Is(err, &RemoteError{Type: "KeyError"}) {
		t.Fatalf("table()['three']: %v", err)
	}
	if x, err := root.CallAttr(ctx, "add", Kw{"a": 40, "b": 2}); err != nil || x != int64(42) {
		t.Fatalf("add(a=40, b=2) = %v, %v", x, err)
	}
	if x, err := root.CallAttr(ctx, "half", 8.0); err != nil || x != int64(4) {
		t.Fatalf("half(8.0) = %v, %v", x, err)
	}
	if _, err := root.CallAttr(ctx, "half", 2.5); !errors.Is(err, &RemoteError{Type: "TypeError"}) {
		t.Fatalf("half(2.5): %v", err)
	}
	if x, err := root.CallAttr(ctx, "get_service_name"); err != nil || x != "IDIOMS" {
		t.Fatalf("get_service_name() = %v, %v", x, err)
	}
	if x, err := root.CallAttr(ctx, "client"); err != nil || x != "go-client" {
		t.Fatalf("client() = %v, %v (OnConnect asked the client)", x, err)
	}
}

// TestGoClientPythonIdioms: the same idioms from a Go client against a
// Python service of each line (keywords, dict results, a with block,
// get_service_name, _remote_version).
func TestGoClientPythonIdioms(t *testing.T) {
	for _, line := range rpyctest.Lines {
		t.Run(line, func(t *testing.T) {
			p := rpyctest.For(t, line)
			addr := p.StartServer(t, "service")
			forgetDialect(addr)
			ctx := testCtx(t)
			c, err := Dial(ctx, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			root, err := c.Root(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if x, err := root.CallAttr(ctx, "get_service_name"); err != nil || x != "TEST" {
				t.Fatalf("get_service_name() = %v, %v", x, err)
			}
			if x, err := root.CallAttr(ctx, "add", Kw{"a": 1, "b": 2}); err != nil || x != int64(3) {
				t.Fatalf("add(a=1, b=2) = %v, %v", x, err)
			}
			v, err := root.CallAttr(ctx, "table")
			if err != nil {
				t.Fatal(err)
			}
			d := v.(*Ref)
			if d.TypeName() != "builtins.dict" {
				t.Fatalf("table() is a %s", d.TypeName())
			}
			m, err := As[map[string]int](mustFetch(t, ctx, d))
			if err != nil || m["one"] != 1 || len(m) != 2 {
				t.Fatalf("table() = %v, %v", m, err)
			}
			v, err = root.CallAttr(ctx, "journal")
			if err != nil {
				t.Fatal(err)
			}
			j := v.(*Ref)
			if _, err := j.CallAttr(ctx, "__enter__"); err != nil {
				t.Fatal(err)
			}
			if _, err := j.Exit(ctx); err != nil {
				t.Fatal(err)
			}
			if closed, err := j.Getattr(ctx, "closed"); err != nil || closed != true {
				t.Fatalf("closed after the with block: %v, %v", closed, err)
			}
			_, err = root.CallAttr(ctx, "fail", "key")
			var re *RemoteError
			if !errors.As(err, &re) || !strings.HasPrefix(fmt.Sprint(re.Attrs["_remote_version"]), line+".") {
				t.Fatalf("fail: %#v", err)
			}
		})
	}
}

// mustFetch fetches a remote dict into (key, value) pairs.
func mustFetch(t *testing.T, ctx context.Context, d *Ref) Tuple {
	t.Helper()
	v, err := d.CallAttr(ctx, "items")
	if err != nil {
		t.Fatal(err)
	}
	items, err := v.(*Ref).Items(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// TestKeywordErrors: what a keyword call says when the Go side cannot
// place the keywords.
func TestKeywordErrors(t *testing.T) {
	a, b := net.Pipe()
	go io.Copy(io.Discard, b)
	c := NewConn(a, &Options{Root: newIdiomSvc()})
	defer b.Close()
	defer c.Close()
	svc := newIdiomSvc()
	for _, tc := range []struct {
		method string
		pos    Tuple
		kw     Kw
		want   string
	}{
		{"Mul", nil, Kw{"a": int64(1), "b": int64(2)}, "Mul() takes no keyword arguments here: Go keeps no parameter names"},
		{"Sub", Tuple{int64(1)}, Kw{"a": int64(2)}, "Sub() got multiple values for argument 'a'"},
		{"Sub", nil, Kw{"a": int64(2)}, "Sub() missing 1 required argument(s): 'b'"},
		{"Sub", nil, Kw{"a": int64(2), "c": int64(1)}, "Sub() got an unexpected keyword argument 'c'"},
		{"Add", Tuple{int64(1), int64(2), int64(3)}, nil, "Add() takes 2 positional arguments but 3 were given"},
		{"Add", nil, Kw{"c": int64(1)}, "Add() got an unexpected keyword argument 'c'"},
		{"Half", Tuple{2.5}, nil, "not an integral float"},
	} {
		m, err := c.getattr(svc, tc.method)
		if err != nil {
			t.Fatal(err)
		}
		var kw Tuple
		for k, v := range tc.kw {
			kw = append(kw, Tuple{k, v})
		}
		_, err = c.call(context.Background(), m, tc.pos, kw)
		if err == nil || !strings.Contains(err.Error(), tc.want) || goErrorToPy(err).Type != "TypeError" {
			t.Errorf("%s(%v, %v): %v, want a TypeError containing %q", tc.method, tc.pos, tc.kw, err, tc.want)
		}
	}
}

// sharedSvc hands out its slice and map by pointer, and reads them
// itself inside Guard while clients change them.
type sharedSvc struct {
	nums []int
	seen map[string]int
}

func (s *sharedSvc) Nums() *[]int          { return &s.nums }
func (s *sharedSvc) Seen() *map[string]int { return &s.seen }
func (s *sharedSvc) Sum() (n int) {
	Guard(func() {
		for _, x := range s.nums {
			n += x
		}
	})
	return n
}

// TestSharedContainers: many clients' appends and item sets through the
// proxies of a service's own slice and map, while the service reads them
// inside Guard (run with -race), and every list method on the way.
func TestSharedContainers(t *testing.T) {
	svc := &sharedSvc{}
	addr := serveGo(t, svc)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(ctx, addr, &Options{Dialect: Dialect6})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			root, err := c.Root(ctx)
			if err != nil {
				errs <- err
				return
			}
			nv, err := root.CallAttr(ctx, "nums")
			if err != nil {
				errs <- err
				return
			}
			sv, _ := root.CallAttr(ctx, "seen")
			for i := range 25 {
				if _, err := nv.(*Ref).CallAttr(ctx, "append", 1); err != nil {
					errs <- err
					return
				}
				if _, err := sv.(*Ref).CallAttr(ctx, "__setitem__", fmt.Sprintf("g%d", g), i); err != nil {
					errs <- err
					return
				}
				if _, err := root.CallAttr(ctx, "sum"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	Guard(func() {
		if len(svc.nums) != 200 || len(svc.seen) != 8 || svc.seen["g3"] != 24 {
			t.Fatalf("nums %d, seen %v", len(svc.nums), svc.seen)
		}
	})

	c, err := Dial(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root := mustRoot(t, ctx, c)
	v, _ := root.CallAttr(ctx, "nums")
	l := v.(*Ref)
	do := func(name string, args ...any) any {
		t.Helper()
		v, err := l.CallAttr(ctx, name, args...)
		if err != nil {
			t.Fatalf("%s%v: %v", name, args, err)
		}
		return v
	}
	do("clear")
	do("extend", Tuple{int64(3), int64(1), int64(2)})
	do("insert", 0, 9)
	do("insert", -1, 7)
	do("reverse")
	if s, _ := l.Repr(ctx); s != "[2, 7, 1, 3, 9]" {
		t.Fatalf("after insert and reverse: %s", s)
	}
	if do("pop") != int64(9) || do("pop", 0) != int64(2) || do("index", 3) != int64(2) || do("count", 7) != int64(1) {
		t.Fatal("pop, index, count")
	}
	do("remove", 7)
	do("__setitem__", -1, 5)
	do("__delitem__", 0)
	if s, _ := l.Repr(ctx); s != "[5]" || do("__len__") != int64(1) || do("__contains__", 5) != true || do("__contains__", "x") != false {
		t.Fatalf("after remove, set and del: %s", s)
	}
	if got := do("__getitem__", Slice{nil, nil, nil}); got.(*Ref).TypeName() != "builtins.list" {
		t.Fatalf("l[:] = %v", got)
	}
	for _, bad := range []struct {
		name string
		args []any
		typ  string
	}{
		{"__getitem__", []any{5}, "IndexError"},
		{"__getitem__", []any{"x"}, "TypeError"},
		{"append", []any{"x"}, "TypeError"},
		{"remove", []any{42}, "ValueError"},
		{"__getitem__", []any{Slice{nil, nil, int64(2)}}, "TypeError"},
	} {
		if _, err := l.CallAttr(ctx, bad.name, bad.args...); !errors.Is(err, &RemoteError{Type: bad.typ}) {
			t.Errorf("%s%v: %v, want %s", bad.name, bad.args, err, bad.typ)
		}
	}
	Guard(func() {
		if fmt.Sprint(svc.nums) != "[5]" {
			t.Fatalf("the service's slice: %v", svc.nums)
		}
	})
}

// hookSvc refuses connections while refuse is set.
type hookSvc struct {
	refuse        atomic.Bool
	connects, ups atomic.Int32
	downs         atomic.Int32
}

func (s *hookSvc) OnConnect(ctx context.Context, c *Conn) error {
	s.connects.Add(1)
	if s.refuse.Load() {
		return errors.New("not today")
	}
	s.ups.Add(1)
	return nil
}
func (s *hookSvc) OnDisconnect(c *Conn) { s.downs.Add(1) }
func (s *hookSvc) Ping() string         { return "pong" }

// TestHooks: OnConnect runs once per connection before its requests, an
// error from it closes the connection, and OnDisconnect runs (only after
// an OnConnect that ran) before Close returns.
func TestHooks(t *testing.T) {
	svc := &hookSvc{}
	ctx := testCtx(t)
	for _, d := range []Dialect{DialectAuto, Dialect5, Dialect6} {
		a, b := net.Pipe()
		server := NewConn(a, &Options{Root: svc, Dialect: d})
		client := NewConn(b, &Options{Dialect: Dialect6})
		root, err := client.Root(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := root.CallAttr(ctx, "ping"); err != nil || v != "pong" {
			t.Fatalf("ping: %v, %v", v, err)
		}
		if _, err := root.Getattr(ctx, "on_connect"); !errors.Is(err, &RemoteError{Type: "AttributeError"}) {
			t.Fatalf("on_connect reachable: %v", err)
		}
		client.Close()
		server.Close()
	}
	if svc.connects.Load() != 3 || svc.ups.Load() != 3 || svc.downs.Load() != 3 {
		t.Fatalf("connects %d, ups %d, downs %d", svc.connects.Load(), svc.ups.Load(), svc.downs.Load())
	}

	svc.refuse.Store(true)
	a, b := net.Pipe()
	server := NewConn(a, &Options{Root: svc})
	client := NewConn(b, nil)
	_, err := client.Root(ctx)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Root of a refusing service: %v", err)
	}
	<-server.Done()
	if !strings.Contains(server.Err().Error(), "OnConnect: not today") {
		t.Fatalf("server ended with %v", server.Err())
	}
	client.Close()
	server.Close()
	if svc.downs.Load() != 4 {
		t.Fatalf("downs %d after a refused connection, want 4 (its OnConnect ran)", svc.downs.Load())
	}

	// A connection that ends before the peer's first message runs no hook.
	a, b = net.Pipe()
	server = NewConn(a, &Options{Root: svc})
	b.Close()
	server.Close()
	if svc.connects.Load() != 4 || svc.downs.Load() != 4 {
		t.Fatalf("silent connection: connects %d, downs %d", svc.connects.Load(), svc.downs.Load())
	}
}
