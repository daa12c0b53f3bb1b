package rpyc

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"sync"
)

// Ref is a proxy of an object that lives on the peer. There is one Ref
// per remote object per connection; the owner keeps the object while the
// Ref is reachable here. Release gives it back at once; otherwise the
// owner is told when the garbage collector finds the Ref unreachable.
type Ref struct {
	c  *Conn
	id idPack
	st *refState
}

// refState is a proxy's bookkeeping, shared with its cleanup.
type refState struct {
	c        *Conn
	id       idPack
	mu       sync.Mutex
	count    int64 // receipts of this id since the proxy was made
	released bool
}

func (s *refState) addReceipt() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return false
	}
	s.count++
	return true
}

// release marks the proxy gone and returns its receipt count, once.
func (s *refState) release() (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		return 0, false
	}
	s.released = true
	return s.count, true
}

func (s *refState) isReleased() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.released
}

// Conn returns the connection the proxy belongs to.
func (r *Ref) Conn() *Conn { return r.c }

// TypeName is the owner's name of the object's type, e.g. "builtins.list".
func (r *Ref) TypeName() string { return r.id.name }

func (r *Ref) String() string {
	return fmt.Sprintf("<rpyc proxy %s %d>", r.id.name, r.id.inst)
}

// Release gives the object back to its owner now. The Ref is unusable
// afterwards (ErrReleased); receiving the object again makes a new Ref.
func (r *Ref) Release() {
	if n, ok := r.st.release(); ok {
		r.c.queueRelease(r.st, n)
	}
}

func (r *Ref) live() error {
	if r.st.isReleased() {
		return ErrReleased
	}
	return nil
}

func (r *Ref) do(ctx context.Context, handler int, args ...any) (any, error) {
	if err := r.live(); err != nil {
		return nil, err
	}
	return r.c.syncRequest(ctx, handler, append(Tuple{r}, args...))
}

func (r *Ref) async(handler int, args ...any) *Async {
	if err := r.live(); err != nil {
		a := newAsync(r.c)
		a.complete(nil, err)
		return a
	}
	return r.c.request(handler, append(Tuple{r}, args...))
}

// splitArgs separates a trailing Kw from the positional arguments.
func splitArgs(args []any) (Tuple, Tuple) {
	if n := len(args); n > 0 {
		if kw, ok := args[n-1].(Kw); ok {
			return Tuple(args[:n-1]), kwTuple(kw)
		}
	}
	return Tuple(args), Tuple{}
}

// Getattr returns the attribute name of the remote object: a brine value,
// or a *Ref for anything else.
func (r *Ref) Getattr(ctx context.Context, name string) (any, error) {
	return r.do(ctx, hGetattr, name)
}

// Attr follows a dotted path of attributes ("path.sep").
func (r *Ref) Attr(ctx context.Context, path string) (any, error) {
	var cur any = r
	for _, name := range strings.Split(path, ".") {
		ref, ok := cur.(*Ref)
		if !ok {
			return nil, fmt.Errorf("rpyc: %q: %s is a value, not an object", path, pyRepr(cur))
		}
		v, err := ref.Getattr(ctx, name)
		if err != nil {
			return nil, err
		}
		cur = v
	}
	return cur, nil
}

// Setattr sets the attribute name of the remote object.
func (r *Ref) Setattr(ctx context.Context, name string, value any) error {
	_, err := r.do(ctx, hSetattr, name, value)
	return err
}

// Delattr deletes the attribute name of the remote object.
func (r *Ref) Delattr(ctx context.Context, name string) error {
	_, err := r.do(ctx, hDelattr, name)
	return err
}

// Call calls the remote object. A trailing Kw argument holds keyword
// arguments. Go funcs among the arguments reach the peer as callables
// that call back here.
func (r *Ref) Call(ctx context.Context, args ...any) (any, error) {
	pos, kw := splitArgs(args)
	return r.do(ctx, hCall, pos, kw)
}

// CallAttr calls the method name of the remote object in one round trip.
func (r *Ref) CallAttr(ctx context.Context, name string, args ...any) (any, error) {
	pos, kw := splitArgs(args)
	return r.do(ctx, hCallattr, name, pos, kw)
}

// Go starts Call without waiting for its result.
func (r *Ref) Go(args ...any) *Async {
	pos, kw := splitArgs(args)
	return r.async(hCall, pos, kw)
}

// GoAttr starts CallAttr without waiting for its result.
func (r *Ref) GoAttr(name string, args ...any) *Async {
	pos, kw := splitArgs(args)
	return r.async(hCallattr, name, pos, kw)
}

// Repr returns the remote repr() of the object.
func (r *Ref) Repr(ctx context.Context) (string, error) { return r.text(ctx, hRepr) }

// Str returns the remote str() of the object.
func (r *Ref) Str(ctx context.Context) (string, error) { return r.text(ctx, hStr) }

func (r *Ref) text(ctx context.Context, h int) (string, error) {
	v, err := r.do(ctx, h)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: str/repr answered %T", ErrProtocol, v)
	}
	return s, nil
}

// Dir returns the remote dir() of the object.
func (r *Ref) Dir(ctx context.Context) ([]string, error) {
	v, err := r.do(ctx, hDir)
	if err != nil {
		return nil, err
	}
	return As[[]string](v)
}

// Hash returns the remote hash() of the object.
func (r *Ref) Hash(ctx context.Context) (int64, error) {
	v, err := r.do(ctx, hHash)
	if err != nil {
		return 0, err
	}
	return As[int64](v)
}

// Cmp compares the remote object with other using a Python comparison
// method of its type: "__eq__", "__ne__", "__lt__", "__le__", "__gt__" or
// "__ge__". The answer may be NotImplemented.
func (r *Ref) Cmp(ctx context.Context, other any, op string) (any, error) {
	return r.do(ctx, hCmp, other, op)
}

// Methods lists the methods of the remote object's type, as RPyC's
// INSPECT answers them (name and docstring).
func (r *Ref) Methods(ctx context.Context) (map[string]string, error) {
	if err := r.live(); err != nil {
		return nil, err
	}
	v, err := r.c.syncRequest(ctx, hInspect, Tuple{r.id.tuple()})
	if err != nil {
		return nil, err
	}
	items, ok := v.(Tuple)
	if !ok {
		return nil, fmt.Errorf("%w: INSPECT answered %T", ErrProtocol, v)
	}
	out := make(map[string]string, len(items))
	for _, it := range items {
		pair, ok := it.(Tuple)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("%w: INSPECT item %s", ErrProtocol, pyRepr(it))
		}
		name, _ := pair[0].(string)
		doc, _ := pair[1].(string)
		out[name] = doc
	}
	return out, nil
}

// Exit leaves a remote context manager entered with
// CallAttr(ctx, "__enter__"), as a with block that ended normally does.
func (r *Ref) Exit(ctx context.Context) (any, error) {
	return r.do(ctx, hCtxExit, nil)
}

// iterBatch is how many items one BUFFITER round trip asks for.
const iterBatch = 256

// Iter iterates the remote object (Python's iter()), fetching items in
// batches. An error ends the sequence with (nil, err).
func (r *Ref) Iter(ctx context.Context) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		v, err := r.CallAttr(ctx, "__iter__")
		if err != nil {
			yield(nil, err)
			return
		}
		it, ok := v.(*Ref)
		if !ok {
			yield(nil, fmt.Errorf("%w: __iter__ returned %s", ErrProtocol, pyRepr(v)))
			return
		}
		defer it.Release()
		for {
			v, err := it.do(ctx, hBuffiter, int64(iterBatch))
			if err != nil {
				yield(nil, err)
				return
			}
			items, ok := v.(Tuple)
			if !ok {
				yield(nil, fmt.Errorf("%w: BUFFITER answered %T", ErrProtocol, v))
				return
			}
			if len(items) == 0 {
				return
			}
			for _, x := range items {
				if !yield(x, nil) {
					return
				}
			}
		}
	}
}

// Items collects Iter into a Tuple (e.g. the contents of a remote list).
func (r *Ref) Items(ctx context.Context) (Tuple, error) {
	var out Tuple
	for v, err := range r.Iter(ctx) {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Async is the pending result of a request (RPyC's AsyncResult).
type Async struct {
	c    *Conn
	seq  int64
	done chan struct{}
	val  any
	err  error
	mu   sync.Mutex
	fin  bool
	cbs  []func(*Async)
}

func newAsync(c *Conn) *Async { return &Async{c: c, seq: -1, done: make(chan struct{})} }

func (a *Async) complete(v any, err error) {
	a.mu.Lock()
	if a.fin {
		a.mu.Unlock()
		return
	}
	a.fin = true
	a.val, a.err = v, err
	cbs := a.cbs
	a.cbs = nil
	close(a.done)
	a.mu.Unlock()
	for _, f := range cbs {
		a.runCallback(f)
	}
}

// runCallback runs f on a goroutine of the connection, so that it may
// make requests of its own.
func (a *Async) runCallback(f func(*Async)) {
	a.c.wg.Add(1)
	go func() {
		defer a.c.wg.Done()
		f(a)
	}()
}

// Done is closed when the result has arrived (or the request failed).
func (a *Async) Done() <-chan struct{} { return a.done }

// Ready reports whether the result has arrived.
func (a *Async) Ready() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// OnReady runs f (on its own goroutine) once the result has arrived.
func (a *Async) OnReady(f func(*Async)) {
	a.mu.Lock()
	if !a.fin {
		a.cbs = append(a.cbs, f)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.runCallback(f)
}

// Result returns the value and error of a ready Async; before that it
// returns ErrNotReady.
func (a *Async) Result() (any, error) {
	if !a.Ready() {
		return nil, ErrNotReady
	}
	return a.val, a.err
}

// Wait waits for the result. When ctx ends first the request is
// abandoned (RPyC cannot cancel it on the peer) and ctx's error returned.
func (a *Async) Wait(ctx context.Context) (any, error) {
	select {
	case <-a.done:
		return a.val, a.err
	default:
	}
	select {
	case <-a.done:
		return a.val, a.err
	case <-ctx.Done():
		if a.seq >= 0 {
			a.c.forget(a.seq)
		}
		a.complete(nil, ctx.Err())
		<-a.done
		return a.val, a.err
	}
}
