package session

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// call is one outgoing call waiting for its reply.
type call struct {
	done      chan struct{}
	body      []byte // CBOR array of results
	homes     homes  // this side's own objects the results sent home
	err       error
	abandoned bool      // the caller gave up; the reply frees its slot (under Conn.mu)
	sent      time.Time // registered at, for the pacer
}

func newCall() *call { return &call{done: make(chan struct{})} }

// finish is called once, by whoever removed the call from the pending map.
func (cl *call) finish(body []byte, err error) {
	cl.body, cl.err = body, err
	close(cl.done)
}

// Ref is a proxy for a remote object: a service of the peer
// ([Conn.Service]), an object the peer returned by reference, or a remote
// function. Its methods are called by name with [Ref.Call] or [Ref.Go], or
// through a typed stub ([Ref.Bind]). A Ref is safe for concurrent use.
//
// A Ref for a referenced object is released (the peer drops the object)
// by [Ref.Release], when the session ends, or when the Ref and every copy
// of it have become unreachable and are garbage collected.
type Ref struct {
	c       *Conn
	service string
	id      uint64
	fn      bool      // a remote func: its method name is ""
	st      *refState // shared by the copies of a proxy; nil for a service
}

// refState is what a proxy of a referenced object shares with every copy
// of it (a copied Ref value, a func or stub bound to it): whether the
// reference was released. The garbage collector's cleanup is attached to
// it, so the peer is told only once no copy is left.
type refState struct {
	// released is set once, by Release or by the cleanup, whichever
	// comes first; only that one tells the peer. It is an allocation of
	// its own: the cleanup holds it, and must not hold the refState.
	released *atomic.Bool
}

func (st *refState) isReleased() bool { return st != nil && st.released.Load() }

// Service returns a proxy for the peer's service of that name. It does not
// contact the peer: an unknown service fails at the first call with
// ErrNoService.
func (c *Conn) Service(name string) *Ref { return &Ref{c: c, service: name} }

// String describes the reference.
func (r *Ref) String() string {
	if r.id == 0 {
		return "service " + r.service
	}
	return fmt.Sprintf("ref %016x", r.id)
}

// Release tells the peer to drop the referenced object now. It is final:
// once Release has returned, no call through r, through a copy of r or
// through a func or stub bound to it reaches the object; such calls fail
// at once with an error matching ErrUnknownRef, without a message to the
// peer. Calls that were already sent still run. (A call that races with
// Release on another goroutine either runs or fails with ErrUnknownRef.)
//
// Release does not wait for the peer: the release message takes its place
// in this session's message order before Release returns, so the peer
// drops the object before it reads anything this side sends afterwards.
// Releasing again, or releasing a service proxy, does nothing.
func (r *Ref) Release() {
	switch {
	case r.id == 0:
	case r.st == nil:
		r.c.postRelease(r.id)
	case r.st.released.CompareAndSwap(false, true):
		r.c.postRelease(r.id)
	}
}

// Call invokes method on the remote object with args and waits for the
// results. ctx's deadline and cancellation reach the remote handler; when
// ctx ends first, Call returns ctx.Err() at once and the peer is told to
// cancel.
//
// Arguments travel by value (CBOR) except func values (the peer receives
// a proxy that calls back here), values wrapped with [ByRef], and
// io.Reader and io.Writer values that are not plain data, which are
// streamed on their own data streams.
func (r *Ref) Call(ctx context.Context, method string, args ...any) (Result, error) {
	return r.c.call(ctx, r, method, args)
}

// Go starts a call and returns at once with a handle to its result, like
// RPyC's async_. The call is governed by ctx as with Call.
func (r *Ref) Go(ctx context.Context, method string, args ...any) *Async {
	a := &Async{done: make(chan struct{})}
	go func() {
		res, err := r.c.call(ctx, r, method, args)
		a.complete(res, err)
	}()
	return a
}

// Call is a typed shortcut: it calls method and decodes its single result
// into a T.
func Call[T any](ctx context.Context, r *Ref, method string, args ...any) (T, error) {
	var v T
	res, err := r.Call(ctx, method, args...)
	if err != nil {
		return v, err
	}
	err = res.Decode(&v)
	return v, err
}

func (c *Conn) call(ctx context.Context, r *Ref, method string, args []any) (Result, error) {
	if r.c != c {
		return Result{}, errors.New("session: reference of another session")
	}
	if r.st.isReleased() {
		return Result{}, fmt.Errorf("session: call %s on %v: released here: %w", method, r, ErrUnknownRef)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	select {
	case c.callSem <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-c.done:
		return Result{}, c.err
	}
	keepSlot := false
	defer func() {
		if !keepSlot {
			<-c.callSem
		}
	}()

	enc := c.newEncoder(ctx)
	body, err := enc.encodeList(args)
	if err != nil {
		enc.abort()
		return Result{}, fmt.Errorf("session: call %s: %w", method, err)
	}
	m := wire.Msg{Kind: wire.MsgCall, ID: c.nextID.Add(1), Obj: r.id, Service: r.service, Method: method, Body: body}
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		if d <= 0 {
			enc.abort()
			return Result{}, context.DeadlineExceeded
		}
		m.Timeout = uint64(d)
	}
	cl := newCall()
	if err := c.register(m.ID, cl); err != nil {
		enc.abort()
		return Result{}, err
	}
	seq, err := c.sendSeq(&m)
	if err != nil {
		c.unregister(m.ID)
		enc.abort()
		if c.Err() != nil {
			return Result{}, c.Err()
		}
		return Result{}, fmt.Errorf("session: call %s: %w", method, err)
	}
	enc.start(seq)
	select {
	case <-cl.done:
	case <-ctx.Done():
		c.mu.Lock()
		_, mine := c.pending[m.ID]
		if mine {
			// The handler still runs on the far side: the slot stays
			// taken until its reply arrives (and is dropped), so that
			// this side never exceeds the peer's limit.
			cl.abandoned = true
			keepSlot = true
		}
		c.mu.Unlock()
		if mine {
			// A deadline fires on the far side by itself (the call
			// carried it); only a cancel needs a message.
			if ctx.Err() == context.Canceled {
				c.goSendCancel(m.ID)
			}
			enc.abort()
			return Result{}, ctx.Err()
		}
		<-cl.done // the reply won the race
	}
	// Data the handler wrote to our io.Writer arguments is delivered
	// before the call returns.
	if werr := enc.wait(ctx); werr != nil && cl.err == nil {
		cl.err = werr
	}
	if cl.err != nil {
		return Result{}, cl.err
	}
	return Result{c: c, body: cl.body, ctx: c.ctx, homes: cl.homes}, nil
}

func (c *Conn) goSendCancel(id uint64) {
	if !c.rejoin() {
		return // the session is ending: no message leaves it anyway
	}
	go func() {
		defer c.wg.Done()
		_ = c.send(&wire.Msg{Kind: wire.MsgCancel, ID: id})
	}()
}

// Async is the handle of a call started with [Ref.Go]: RPyC's AsyncResult.
// It is safe for concurrent use.
type Async struct {
	done chan struct{}
	res  Result
	err  error

	mu        sync.Mutex
	callbacks []func(*Async)
	fired     bool
}

func (a *Async) complete(res Result, err error) {
	a.res, a.err = res, err
	close(a.done)
	a.mu.Lock()
	cbs := a.callbacks
	a.callbacks = nil
	a.fired = true
	a.mu.Unlock()
	for _, f := range cbs {
		f(a)
	}
}

// Done is closed when the result is ready.
func (a *Async) Done() <-chan struct{} { return a.done }

// Ready reports, without blocking, whether the result is ready.
func (a *Async) Ready() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// Wait waits for the result or for ctx to end. Ending ctx stops the wait
// only; the call itself is governed by the context given to Go.
func (a *Async) Wait(ctx context.Context) (Result, error) {
	select {
	case <-a.done:
		return a.res, a.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// OnReady arranges for f to run once the result is ready (at once, on
// this goroutine, if it already is). f runs on the goroutine that
// completed the call and should not block for long.
func (a *Async) OnReady(f func(*Async)) {
	a.mu.Lock()
	if !a.fired {
		a.callbacks = append(a.callbacks, f)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	f(a)
}

// Result returns the result and error of a ready call; it blocks until
// the call is ready.
func (a *Async) Result() (Result, error) {
	<-a.done
	return a.res, a.err
}

// Result holds the results of a call, still encoded. Decode them into
// typed values; values sent by reference decode into func types, *Ref,
// io.Reader or io.ReadCloser.
type Result struct {
	c     *Conn
	body  []byte
	ctx   context.Context
	homes homes
}

// Len returns the number of results.
func (res Result) Len() int {
	if res.c == nil {
		return 0
	}
	items, err := splitArray(res.body, maxResults)
	if err != nil {
		return 0
	}
	return len(items)
}

// Decode decodes the results into dst, one pointer per result, in order.
// Passing fewer pointers than results ignores the rest (references among
// them are released).
func (res Result) Decode(dst ...any) error {
	if res.c == nil {
		if len(dst) == 0 {
			return nil
		}
		return errors.New("session: decode of an empty result")
	}
	items, err := splitArray(res.body, maxResults)
	if err != nil {
		return fmt.Errorf("session: decode results: %w", err)
	}
	if len(dst) > len(items) {
		res.c.releaseUnused(items)
		return fmt.Errorf("session: %d results, %d destinations", len(items), len(dst))
	}
	var first error
	for i, raw := range items {
		if i >= len(dst) {
			res.c.releaseUnused(items[i:])
			break
		}
		rv := reflect.ValueOf(dst[i])
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return fmt.Errorf("session: destination %d is not a non-nil pointer", i)
		}
		v, err := res.c.decodeValue(res.ctx, raw, rv.Elem().Type(), res.homes)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("session: result %d: %w", i, err)
			}
			continue
		}
		rv.Elem().Set(v)
	}
	return first
}
