package session

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime/debug"
	"strings"
	"time"
	"unicode"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// method is one callable: an exported method of an exposed value, or a
// function passed by reference.
type method struct {
	fn       reflect.Value
	hasCtx   bool
	in       []reflect.Type // parameters after the context
	nout     int            // results before the error
	hasErr   bool
	variadic bool
	owner    reflect.Type // the type whose method this is; nil for a func
	name     string       // the method's name
}

// export is an object in this side's reference table.
type export struct {
	methods map[string]*method // for objects; "" for a func
	val     any                // the value exported, which a peer can send home
	view    reflect.Type       // the interface it is exported through (ByRefAs); nil for all its methods
	fwd     *Ref               // a forwarder (a proxy passed on): calls go on through it; methods is nil
}

// newExport describes v's callable surface. For a func, the method is
// named "".
func newExport(v reflect.Value, isFunc bool) (*export, error) {
	if !v.IsValid() {
		return nil, errors.New("nil value")
	}
	if isFunc {
		m, err := newMethod(v)
		if err != nil {
			return nil, err
		}
		return &export{methods: map[string]*method{"": m}, val: v.Interface()}, nil
	}
	t := v.Type()
	if err := checkReceivers(t); err != nil {
		return nil, err
	}
	ms := make(map[string]*method)
	for i := 0; i < t.NumMethod(); i++ {
		mt := t.Method(i)
		if !mt.IsExported() {
			continue
		}
		m, err := newMethod(v.Method(i))
		if err != nil {
			continue // not eligible: not callable remotely
		}
		m.owner, m.name = t, mt.Name
		ms[mt.Name] = m
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%v has no exported methods with eligible signatures", t)
	}
	return &export{methods: ms, val: v.Interface()}, nil
}

// checkReceivers refuses a value (not a pointer) whose pointer type has
// exported methods that could be called remotely and that the value
// lacks: methods with pointer receivers. Exposing such a value would
// silently leave them out (the methods of a copy are those of its type);
// the fix is to expose a pointer, or to say which methods to expose with
// an interface (ExposeAs, ByRefAs).
func checkReceivers(t reflect.Type) error {
	if t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface {
		return nil
	}
	pv := reflect.New(t)
	var lost []string
	for i := 0; i < pv.NumMethod(); i++ {
		name := pv.Type().Method(i).Name
		if _, ok := t.MethodByName(name); ok {
			continue
		}
		if _, err := newMethod(pv.Method(i)); err == nil {
			lost = append(lost, name)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	return fmt.Errorf("%v is not a pointer, and methods %s have pointer receivers: "+
		"a %v value does not have them (pass a *%v, or name the methods to expose with an interface: ExposeAs, ByRefAs)",
		t, strings.Join(lost, ", "), t, t)
}

// newView describes the callable surface of v seen through the interface
// view: its methods, every one of which must be callable remotely.
func newView(v any, view reflect.Type) (*export, error) {
	if view.Kind() != reflect.Interface {
		return nil, fmt.Errorf("%v is not an interface type", view)
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil, errors.New("nil value")
	}
	iv := reflect.New(view).Elem()
	iv.Set(rv) // v is an I: it implements view
	ms := make(map[string]*method)
	for i := 0; i < view.NumMethod(); i++ {
		mt := view.Method(i)
		if !mt.IsExported() {
			continue
		}
		m, err := newMethod(iv.Method(i))
		if err != nil {
			return nil, fmt.Errorf("method %s of %v cannot be called remotely: %w", mt.Name, view, err)
		}
		m.owner, m.name = rv.Type(), mt.Name
		ms[mt.Name] = m
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%v has no exported methods", view)
	}
	return &export{methods: ms, val: v, view: view}, nil
}

// export describes the callable surface of the value o wraps.
func (o Object) export() (*export, error) {
	if o.view != nil {
		return newView(o.v, o.view)
	}
	return newExport(reflect.ValueOf(o.v), false)
}

// newMethod checks a signature: an optional leading context.Context, then
// any parameters; any results, the last of which may be an error. Channel
// and unsafe pointer parameters are not eligible.
func newMethod(fn reflect.Value) (*method, error) {
	t := fn.Type()
	m := &method{fn: fn, variadic: t.IsVariadic()}
	for i := 0; i < t.NumIn(); i++ {
		pt := t.In(i)
		if i == 0 && pt == typeContext {
			m.hasCtx = true
			continue
		}
		if !eligible(pt) {
			return nil, fmt.Errorf("parameter %d of type %v cannot cross the wire", i, pt)
		}
		m.in = append(m.in, pt)
	}
	m.nout = t.NumOut()
	if m.nout > 0 && t.Out(m.nout-1) == typeError {
		m.hasErr = true
		m.nout--
	}
	for i := 0; i < m.nout; i++ {
		if !eligible(t.Out(i)) {
			return nil, fmt.Errorf("result %d of type %v cannot cross the wire", i, t.Out(i))
		}
	}
	return m, nil
}

func eligible(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Chan, reflect.UnsafePointer:
		return false
	}
	return true
}

// Expose makes v's exported methods callable by the peer as the service
// name. Eligible methods take an optional leading context.Context (the
// caller's deadline and cancellation reach it) and return any results,
// optionally ending in an error. Other methods are not callable. Exposing
// a name again replaces the service.
//
// v should be a pointer. A value that is not one is refused if its
// pointer type has eligible methods it lacks (methods with pointer
// receivers), since they would silently not be callable. To expose only
// some methods, use [ExposeAs]. v may also be an [Object] (from ByRef or
// ByRefAs): what it wraps is exposed, through the interface ByRefAs
// named, so that Options.Services can hold narrowed services.
func (c *Conn) Expose(name string, v any) error {
	if name == "" {
		return errors.New("session: empty service name")
	}
	o, ok := v.(Object)
	if !ok {
		o = Object{v: v}
	}
	ex, err := o.export()
	if err != nil {
		return fmt.Errorf("session: expose %s: %w", name, err)
	}
	c.mu.Lock()
	c.services[name] = ex
	c.mu.Unlock()
	return nil
}

// ExposeAs exposes v as the service name through the interface I: the
// peer can call I's methods, and a call to any other method of v fails
// with ErrNoMethod, as for a method v does not have. A service can so
// hand out a narrow view of a rich object (a read-only view of a store,
// say) without writing a wrapper type, and the view is checked by the
// compiler: v must implement I. Every method of I must be callable
// remotely (see Expose), else ExposeAs fails; I must be an interface
// type. ExposeAs(c, name, v) is c.Expose(name, ByRefAs[I](v)).
//
// Generic functions rather than an option on Expose: the interface is a
// type, so it is a type parameter, and the compiler checks v against it.
func ExposeAs[I any](c *Conn, name string, v I) error {
	return c.Expose(name, ByRefAs[I](v))
}

// addExport puts ex in the reference table under a fresh random id.
func (c *Conn) addExport(ex *export) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.exports) >= c.opts.MaxRefs {
		return 0, fmt.Errorf("%w (limit %d)", ErrTooManyRefs, c.opts.MaxRefs)
	}
	select {
	case <-c.done:
		return 0, c.err
	default:
	}
	for {
		id := c.newID()
		if _, dup := c.exports[id]; !dup {
			c.exports[id] = ex
			return id, nil
		}
	}
}

// NumExports returns how many references this side exports to the peer.
func (c *Conn) NumExports() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.exports)
}

// admitCall registers an incoming call: it checks the limit on calls in
// flight and gives the call its context. A call over the limit is refused
// with ErrBusy (the caller learnt the limit from the hello, so only a peer
// that ignores it gets there).
func (c *Conn) admitCall(m *wire.Msg) (*callReq, bool) {
	if c.inflight.Add(1) > int64(c.opts.MaxCalls) {
		c.inflight.Add(-1)
		c.log.Warn("call refused", "reason", "busy", "limit", c.opts.MaxCalls)
		c.goSend(c.errorMsg(m.ID, fmt.Errorf("%w (limit %d)", ErrBusy, c.opts.MaxCalls)))
		return nil, false
	}
	toks, home := scanRefs(m.Body) // settled before the next message is read (see judge)
	var ctx context.Context
	var cancel context.CancelFunc
	if m.Timeout > 0 && m.Timeout <= math.MaxInt64 { // longer is no deadline at all
		ctx, cancel = context.WithTimeout(c.ctx, time.Duration(m.Timeout))
	} else {
		ctx, cancel = context.WithCancel(c.ctx)
	}
	c.mu.Lock()
	if _, dup := c.running[m.ID]; dup {
		c.mu.Unlock()
		cancel()
		c.inflight.Add(-1)
		c.violation("duplicate call id")
		return nil, false
	}
	c.running[m.ID] = cancel
	c.nameData(toks)
	hs := c.resolveHomes(home)
	// The target is resolved here, on the reader, in the order of the
	// wire: a call read before the release of its object runs, one read
	// after it finds nothing.
	var ex *export
	if m.Obj != 0 {
		ex = c.exports[m.Obj]
	} else {
		ex = c.services[m.Service]
	}
	c.mu.Unlock()
	if ex == nil && m.Obj == 0 && c.opts.Forward != nil {
		if r := c.opts.Forward(m.Service); r != nil {
			ex = &export{fwd: r}
		}
	}
	return &callReq{ctx: ctx, cancel: cancel, id: m.ID, obj: m.Obj, ex: ex, service: m.Service, method: m.Method, body: m.Body, tokens: toks, homes: hs}, true
}

type callReq struct {
	ctx     context.Context
	cancel  context.CancelFunc
	id      uint64
	obj     uint64
	ex      *export // the target, as it was when the call was read; nil if unknown
	service string
	method  string
	body    []byte
	tokens  []uint64 // the data streams the call names
	homes   homes    // this side's own objects the call sent home
}

func (c *Conn) serveCall(req *callReq) {
	start := time.Now()
	reply, enc := c.invoke(req.ctx, req)
	if c.opts.OnCall != nil {
		service, method := req.service, req.method
		switch {
		case req.ex == nil || req.ex.fwd == nil && req.ex.methods[req.method] == nil:
			service, method = "unknown", "unknown"
		case req.obj != 0:
			service = "ref"
		}
		c.opts.OnCall(service, method, time.Since(start), reply.Kind == wire.MsgError)
	}
	c.unname(req.tokens)
	// The slot is free before the reply leaves: the caller may reuse it
	// the moment the reply arrives.
	c.mu.Lock()
	delete(c.running, req.id)
	c.mu.Unlock()
	req.cancel()
	c.inflight.Add(-1)
	seq, err := c.sendSeq(reply)
	if err == nil && enc != nil {
		enc.start(seq)
	}
	if err != nil {
		if enc != nil {
			enc.abort() // its references and streams go nowhere
		}
		if c.Err() == nil {
			// The reply could not be encoded for the peer (too large):
			// tell the caller so.
			c.log.Warn("reply not sent", "method", req.method, "err", err)
			_ = c.send(c.errorMsg(req.id, err))
		}
	}
}

// handlerError is errorMsg for the error of a handler, with its stack
// when this side sends stacks (Options.ErrorStacks, and the peer reads
// them): stack, then the stack of a remote error that err wraps.
func (c *Conn) handlerError(id uint64, err error, stack string) *wire.Msg {
	msg := c.errorMsg(id, err)
	if !c.sendStacks {
		return msg
	}
	var re *RemoteError
	if errors.As(err, &re) && re.Stack != "" {
		from := re.PeerVersion
		if from == "" {
			from = "a peer"
		}
		stack += "\nremote stack (" + from + "):\n" + re.Stack
	}
	// The stack must not make the message too large for the peer.
	limit := min(maxStack, c.peerMaxMsg/4)
	if len(stack) > limit {
		stack = stack[:limit] + "\n…(truncated)\n"
	}
	msg.Stack = strings.ToValidUTF8(stack, "\uFFFD")
	return msg
}

func (c *Conn) errorMsg(id uint64, err error) *wire.Msg {
	code, typ, text := c.errs.encode(err)
	// The wire carries UTF-8 only (the peer would close the session):
	// an error about a file name in another encoding keeps its text, its
	// invalid bytes replaced.
	return &wire.Msg{Kind: wire.MsgError, ID: id, Code: code, Type: strings.ToValidUTF8(typ, "\uFFFD"), Text: strings.ToValidUTF8(text, "\uFFFD")}
}

// invoke runs one call and builds its reply.
func (c *Conn) invoke(ctx context.Context, req *callReq) (*wire.Msg, *encoder) {
	ex := req.ex
	if ex == nil {
		c.rejectArgs(req.body)
		if req.obj != 0 {
			return c.errorMsg(req.id, localError(ErrUnknownRef, "no object %016x in this session (released, or never exported)", req.obj)), nil
		}
		return c.errorMsg(req.id, localError(ErrNoService, "%q", req.service)), nil
	}
	if ex.fwd != nil {
		return c.forward(ctx, req)
	}
	m := ex.methods[req.method]
	if m == nil {
		c.rejectArgs(req.body)
		return c.errorMsg(req.id, localError(ErrNoMethod, "%q", req.method)), nil
	}
	maxArgs := len(m.in)
	if m.variadic {
		maxArgs = maxResults
	}
	items, err := splitArray(req.body, maxArgs)
	if err != nil {
		c.rejectArgs(req.body)
		return c.errorMsg(req.id, localError(ErrBadArgs, "%v", err)), nil
	}
	args, err := c.decodeArgs(ctx, m, items, req.homes)
	if err != nil {
		c.releaseUnused(items)
		return c.errorMsg(req.id, err), nil
	}
	var out []reflect.Value
	var stack string
	func() {
		defer func() {
			if p := recover(); p != nil {
				c.log.Error("handler panicked", "method", req.method, "panic", p, "stack", string(debug.Stack()))
				err = &panicError{p}
				if c.sendStacks {
					stack = panicStack()
				}
			}
		}()
		if m.variadic {
			out = m.fn.CallSlice(args)
		} else {
			out = m.fn.Call(args)
		}
	}()
	closeArgStreams(args)
	if err != nil {
		return c.handlerError(req.id, err, stack), nil
	}
	if m.hasErr {
		if e, _ := out[m.nout].Interface().(error); e != nil {
			if c.sendStacks {
				stack = m.returnedBy()
			}
			return c.handlerError(req.id, e, stack), nil
		}
		out = out[:m.nout]
	}
	enc := c.newEncoder(c.ctx)
	enc.results = true
	b := appendArrayHeader(make([]byte, 0, 64), len(out))
	for i, v := range out {
		b, err = enc.encodeValue(b, v.Interface())
		if err != nil {
			enc.abort()
			return c.errorMsg(req.id, fmt.Errorf("session: result %d: %w", i, err)), nil
		}
	}
	return &wire.Msg{Kind: wire.MsgReply, ID: req.id, Body: b}, enc
}

// rejectArgs drops what the arguments of a call that will not run refer
// to: references are released and data streams aborted at once, so the
// caller's io.Writer copies end with the call instead of waiting for the
// unclaimed streams to time out.
func (c *Conn) rejectArgs(body []byte) {
	if items, err := splitArray(body, maxResults); err == nil {
		c.releaseUnused(items)
	}
}

// panicError is what a handler's panic becomes.
type panicError struct{ v any }

func (e *panicError) Error() string        { return fmt.Sprintf("panic: %v", e.v) }
func (e *panicError) Is(target error) bool { return target == ErrPanic }

// decodeArgs decodes a call's arguments into m's parameter types.
func (c *Conn) decodeArgs(ctx context.Context, m *method, items [][]byte, h homes) ([]reflect.Value, error) {
	n := len(m.in)
	if m.variadic {
		if len(items) < n-1 {
			return nil, localError(ErrBadArgs, "%d arguments, want at least %d", len(items), n-1)
		}
	} else if len(items) != n {
		return nil, localError(ErrBadArgs, "%d arguments, want %d", len(items), n)
	}
	args := make([]reflect.Value, 0, n+1)
	if m.hasCtx {
		args = append(args, reflect.ValueOf(ctx))
	}
	for i, raw := range items {
		var t reflect.Type
		if m.variadic && i >= n-1 {
			t = m.in[n-1].Elem()
		} else {
			t = m.in[i]
		}
		v, err := c.decodeValue(ctx, raw, t, h)
		if err != nil {
			closeArgStreams(args)
			return nil, localError(ErrBadArgs, "argument %d (%v): %v", i, t, err)
		}
		args = append(args, v)
	}
	if m.variadic {
		fixed := len(args) - (len(items) - (n - 1))
		rest := reflect.MakeSlice(m.in[n-1], 0, len(items)-(n-1))
		rest = reflect.Append(rest, args[fixed:]...)
		args = append(args[:fixed], rest)
	}
	return args, nil
}

// closeArgStreams ends the data streams a handler received: a reader the
// handler did not finish is aborted (the caller stops sending), a writer
// is closed cleanly (the caller gets what was written).
func closeArgStreams(args []reflect.Value) {
	for _, a := range args {
		if !a.IsValid() || a.Kind() != reflect.Interface || a.IsNil() {
			continue
		}
		switch x := a.Interface().(type) {
		case *Stream:
			if x.readDone() {
				x.Close()
			} else {
				x.Abort(AbortLocal, "handler returned before reading all")
			}
		case streamWriter:
			x.Close()
			x.s.Close()
		}
	}
}

// makeFunc builds a func of type t that calls method on r. If t takes no
// leading context, calls use bound. If t returns no error, a failed call
// panics with it (inside a handler, the panic reaches the caller as an
// error).
func (r *Ref) makeFunc(bound context.Context, t reflect.Type, method string) (reflect.Value, error) {
	hasCtx := t.NumIn() > 0 && t.In(0) == typeContext
	nout := t.NumOut()
	hasErr := nout > 0 && t.Out(nout-1) == typeError
	if hasErr {
		nout--
	}
	outTypes := make([]reflect.Type, nout)
	for i := range outTypes {
		outTypes[i] = t.Out(i)
	}
	return reflect.MakeFunc(t, func(in []reflect.Value) []reflect.Value {
		ctx := bound
		if hasCtx {
			ctx = in[0].Interface().(context.Context)
			in = in[1:]
		}
		if ctx == nil {
			ctx = context.Background()
		}
		if t.IsVariadic() && len(in) > 0 {
			last := in[len(in)-1]
			in = in[:len(in)-1]
			for i := 0; i < last.Len(); i++ {
				in = append(in, last.Index(i))
			}
		}
		args := make([]any, len(in))
		for i, v := range in {
			args[i] = v.Interface()
		}
		res, err := r.Call(ctx, method, args...)
		out := make([]reflect.Value, t.NumOut())
		if err == nil {
			ptrs := make([]any, nout)
			for i, ot := range outTypes {
				p := reflect.New(ot)
				ptrs[i] = p.Interface()
			}
			err = res.Decode(ptrs...)
			for i := range ptrs {
				out[i] = reflect.ValueOf(ptrs[i]).Elem()
			}
		}
		for i, ot := range outTypes {
			if !out[i].IsValid() || err != nil {
				out[i] = reflect.Zero(ot)
			}
		}
		if hasErr {
			ev := reflect.Zero(typeError)
			if err != nil {
				ev = reflect.ValueOf(&err).Elem()
			}
			out[nout] = ev
		} else if err != nil {
			panic(err)
		}
		return out
	}), nil
}

// Bind fills stub, a pointer to a struct of func fields, with functions
// that call the remote object's methods: field Add of type
// func(context.Context, int, int) (int, error) calls method "Add". A
// `hopwire:"Name"` tag names the method explicitly and `hopwire:"-"` skips
// the field. Each func field should end with an error result; a field
// without one panics when its call fails.
func (r *Ref) Bind(stub any) error {
	pv := reflect.ValueOf(stub)
	if pv.Kind() != reflect.Pointer || pv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("session: Bind wants a pointer to a struct, got %T", stub)
	}
	sv := pv.Elem()
	st := sv.Type()
	for i := 0; i < st.NumField(); i++ {
		f := st.Field(i)
		name := f.Name
		if tag, ok := f.Tag.Lookup("hopwire"); ok {
			if tag == "-" {
				continue
			}
			if tag == "" {
				return fmt.Errorf("session: Bind: field %s has an empty hopwire tag", f.Name)
			}
			name = tag
		}
		if f.Type.Kind() != reflect.Func || !f.IsExported() {
			continue
		}
		if !unicode.IsUpper([]rune(name)[0]) {
			return fmt.Errorf("session: Bind: field %s names unexported method %q", f.Name, name)
		}
		fn, err := r.makeFunc(context.Background(), f.Type, name)
		if err != nil {
			return fmt.Errorf("session: Bind: field %s: %w", f.Name, err)
		}
		sv.Field(i).Set(fn)
	}
	return nil
}
