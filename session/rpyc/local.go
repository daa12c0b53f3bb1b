package rpyc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// Namespace is an object whose attributes are its entries. Served as
// Options.Root it offers several services at once: a Python client calls
// conn.root.calc.add(1, 2). It always travels by reference.
type Namespace map[string]any

// boundMethod is a Go method bound to its receiver: what GETATTR of a
// method name returns, so the peer can call it.
type boundMethod struct {
	owner  idPack
	name   string
	fn     reflect.Value
	params []string // names from the receiver's RPyCParams, if any
}

type methodKey struct {
	owner idPack
	name  string
}

// namePack is the module.Class name the peer sees for a Go value. Funcs
// and bound methods use the names Python knows, so a Python proxy of
// them is callable without an INSPECT round trip.
func namePack(v any) string {
	switch v.(type) {
	case nil:
		return "builtins.NoneType"
	case *boundMethod:
		return "builtins.method"
	case *pyIter:
		return "builtins.list_iterator"
	}
	if c, ok := containerOf(v); ok {
		return containerName(c)
	}
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Func {
		return "builtins.function"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return "hopwire." + t.Kind().String()
	}
	return "hopwire." + t.Name()
}

// identityKey makes repeated sends of the same Go object share one id.
func identityKey(v any) any {
	if m, ok := v.(*boundMethod); ok {
		if m.owner == (idPack{}) { // a receiver sent by value: no identity
			return nil
		}
		return methodKey{m.owner, m.name}
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.UnsafePointer:
		return struct {
			t reflect.Type
			p uintptr
		}{rv.Type(), rv.Pointer()}
	}
	return nil
}

// export stores v in the object table (or counts one more send of it)
// and returns its id pack.
func (c *Conn) export(v any) idPack { return c.exportNamed(v, "") }

func (c *Conn) exportNamed(v any, name string) idPack {
	key := identityKey(v)
	c.omu.Lock()
	defer c.omu.Unlock()
	if key != nil {
		if id, ok := c.byKey[key]; ok {
			if s := c.objects[id]; s != nil {
				s.n++
				return id
			}
		}
	}
	t := reflect.TypeOf(v)
	cls, ok := c.classes[t]
	if !ok {
		cls = int64(len(c.classes) + 1)
		c.classes[t] = cls
	}
	c.nextID++
	if name == "" {
		name = namePack(v)
	}
	id := idPack{name, cls, c.nextID}
	c.objects[id] = &slot{obj: v, key: key}
	if key != nil {
		c.byKey[key] = id
	}
	return id
}

// decref handles DEL: the peer's proxy saw count sends of the object.
func (c *Conn) decref(id idPack, count int64) {
	c.omu.Lock()
	defer c.omu.Unlock()
	s := c.objects[id]
	if s == nil || s.pinned {
		return
	}
	if s.n < count {
		delete(c.objects, id)
		if s.key != nil {
			delete(c.byKey, s.key)
		}
		return
	}
	s.n -= count
}

func (c *Conn) idOf(obj any) (idPack, bool) {
	key := identityKey(obj)
	if key == nil {
		return idPack{}, false
	}
	c.omu.Lock()
	defer c.omu.Unlock()
	id, ok := c.byKey[key]
	return id, ok
}

// onRequest runs a request from the peer: the cheap, non-blocking
// handlers here on the read loop, the rest on a goroutine of their own.
func (c *Conn) onRequest(seq int64, body any) error {
	t, ok := body.(Tuple)
	if !ok || len(t) != 2 {
		return fmt.Errorf("%w: request body %s", ErrProtocol, pyRepr(body))
	}
	handler, ok := t[0].(int64)
	if !ok {
		return fmt.Errorf("%w: handler %s", ErrProtocol, pyRepr(t[0]))
	}
	if handler == hClose {
		c.shutdown(ErrClosed)
		return nil
	}
	if handler == hDel {
		// Applied here, in the order it arrived: a request the peer sends
		// after its DEL sees the object gone. The object may be gone
		// already; DEL never fails.
		if id, n, ok := delArgs(t[1]); ok {
			c.decref(id, n)
		}
		return c.reply(seq, nil, nil)
	}
	v, err := c.unbox(t[1])
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			return err
		}
		return c.reply(seq, nil, err)
	}
	args, ok := v.(Tuple)
	if !ok {
		return fmt.Errorf("%w: request arguments are %T, want a tuple", ErrProtocol, v)
	}
	// Until OnConnect has returned, requests wait for it off the loop.
	waiting := false
	if c.ready != nil {
		select {
		case <-c.ready:
		default:
			waiting = true
		}
	}
	switch handler {
	case hPing, hGetroot, hGetattr, hDir, hHash, hInspect, hPickle, hOldSlicing, hInstanceCheck, hDelattr:
		if !waiting {
			res, err := c.handle(c.ctx, handler, args)
			return c.reply(seq, res, err)
		}
	}
	if c.inflight.Add(1) > int64(c.opts.MaxInflight) {
		c.inflight.Add(-1)
		return c.reply(seq, nil, &RemoteError{Module: "builtins", Type: "RuntimeError",
			Args: Tuple{fmt.Sprintf("too many requests in flight (limit %d)", c.opts.MaxInflight)}})
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.inflight.Add(-1)
		if waiting {
			select {
			case <-c.ready:
			case <-c.done:
				return
			}
		}
		res, err := c.handle(c.ctx, handler, args)
		c.reply(seq, res, err)
	}()
	return nil
}

// delArgs reads the boxed arguments of DEL, (proxy, count), without
// unboxing the proxy (which would fail for an object already gone): both
// dialects send a TUPLE box holding the proxy as a LOCAL_REF and the
// count as a VALUE, (2, ((3, id pack), (1, count))). A missing count is
// 1, as in Python's handler; a count below 1 releases nothing.
func delArgs(boxed any) (id idPack, count int64, ok bool) {
	b, isTuple := boxed.(Tuple)
	if !isTuple || len(b) != 2 || b[0] != int64(labelTuple) {
		return idPack{}, 0, false
	}
	items, isTuple := b[1].(Tuple)
	if !isTuple || len(items) < 1 || len(items) > 2 {
		return idPack{}, 0, false
	}
	ref, isTuple := items[0].(Tuple)
	if !isTuple || len(ref) != 2 || ref[0] != int64(labelLocalRef) {
		return idPack{}, 0, false
	}
	id, err := toIDPack(ref[1])
	if err != nil {
		return idPack{}, 0, false
	}
	count = 1
	if len(items) == 2 {
		if count, ok = bigToInt64(unboxValue(items[1])); !ok || count < 1 {
			return idPack{}, 0, false
		}
	}
	return id, count, true
}

func unboxValue(v any) any {
	if t, ok := v.(Tuple); ok && len(t) == 2 {
		if l, _ := t[0].(int64); l == labelValue {
			return t[1]
		}
	}
	return nil
}

// reply sends the result of a request, or its exception.
func (c *Conn) reply(seq int64, res any, err error) error {
	if err == nil {
		b := c.newMessage(msgReply, seq)
		b2, berr := c.boxResult(b, res)
		if berr == nil {
			c.send(b2)
			return nil
		}
		err = fmt.Errorf("%w: result cannot be sent: %v", ErrBadArgs, berr)
	}
	b := c.newMessage(msgException, seq)
	if c.opts.DenyTraceback {
		err = tracebackDenied{err}
	}
	b = dumpException(b, err, c.versionString())
	c.send(b)
	return nil
}

func argErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadArgs}, args...)...)
}

// handle runs one request on the local objects; a panic in Go code
// becomes a RuntimeError for the peer.
func (c *Conn) handle(ctx context.Context, handler int64, args Tuple) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, &RemoteError{Module: "builtins", Type: "RuntimeError", Args: Tuple{fmt.Sprintf("Go handler panicked: %v", p)}}
		}
	}()
	need := func(n int) error {
		if len(args) < n {
			return argErr("handler %d wants %d arguments, got %d", handler, n, len(args))
		}
		return nil
	}
	switch handler {
	case hPing:
		if err := need(1); err != nil {
			return nil, err
		}
		return args[0], nil
	case hGetroot:
		c.omu.Lock()
		root := c.objects[c.rootID]
		c.omu.Unlock()
		if root == nil {
			return nil, ErrClosed
		}
		return root.obj, nil
	case hGetattr:
		if err := need(2); err != nil {
			return nil, err
		}
		return c.getattr(args[0], args[1])
	case hSetattr:
		if err := need(3); err != nil {
			return nil, err
		}
		if !c.opts.AllowSetattr {
			return nil, attrRefused("set", args[1], "AllowSetattr")
		}
		return nil, c.setattr(ctx, args[0], args[1], args[2])
	case hDelattr:
		if err := need(2); err != nil {
			return nil, err
		}
		if !c.opts.AllowDelattr {
			return nil, attrRefused("delete", args[1], "AllowDelattr")
		}
		return nil, c.delattr(args[0], args[1])
	case hCall:
		if err := need(1); err != nil {
			return nil, err
		}
		pos, kw := callArgs(args[1:])
		return c.call(ctx, args[0], pos, kw)
	case hCallattr:
		if err := need(2); err != nil {
			return nil, err
		}
		fn, err := c.getattr(args[0], args[1])
		if err != nil {
			return nil, err
		}
		pos, kw := callArgs(args[2:])
		return c.call(ctx, fn, pos, kw)
	case hRepr:
		if err := need(1); err != nil {
			return nil, err
		}
		if cv, ok := containerOf(args[0]); ok {
			return containerRepr(cv), nil
		}
		return goRepr(args[0]), nil
	case hStr:
		if err := need(1); err != nil {
			return nil, err
		}
		if s, ok := args[0].(fmt.Stringer); ok {
			return s.String(), nil
		}
		if cv, ok := containerOf(args[0]); ok {
			return containerRepr(cv), nil
		}
		return goRepr(args[0]), nil
	case hCmp:
		if err := need(2); err != nil {
			return nil, err
		}
		op := "__cmp__"
		if len(args) > 2 {
			op, _ = args[2].(string)
		}
		same := identityKey(args[0]) != nil && identityKey(args[0]) == identityKey(args[1])
		if cv, ok := containerOf(args[0]); ok && !same && (op == "__eq__" || op == "__ne__") {
			same = containerEqual(ctx, cv, args[1])
		}
		switch op {
		case "__eq__":
			return same, nil
		case "__ne__":
			return !same, nil
		}
		return NotImplemented, nil
	case hHash:
		if err := need(1); err != nil {
			return nil, err
		}
		if id, ok := c.idOf(args[0]); ok {
			return id.inst, nil
		}
		return nil, &RemoteError{Module: "builtins", Type: "TypeError", Args: Tuple{"unhashable Go value"}}
	case hDir:
		if err := need(1); err != nil {
			return nil, err
		}
		return Tuple(anyStrings(attrNames(args[0]))), nil
	case hInspect:
		if err := need(1); err != nil {
			return nil, err
		}
		id, err := toIDPack(args[0])
		if err != nil {
			return nil, argErr("%v", err)
		}
		c.omu.Lock()
		s := c.objects[id]
		c.omu.Unlock()
		if s == nil {
			return nil, &RemoteError{Module: "builtins", Type: "KeyError", Args: Tuple{id.tuple()}}
		}
		return inspect(s.obj), nil
	case hBuffiter:
		if err := need(2); err != nil {
			return nil, err
		}
		it, ok := args[0].(*pyIter)
		n, ok2 := bigToInt64(args[1])
		if !ok || !ok2 || n < 0 {
			return nil, &RemoteError{Module: "builtins", Type: "TypeError", Args: Tuple{"Go object is not an iterator"}}
		}
		return it.next(int(min(n, 1<<16))), nil
	case hPickle:
		return nil, &RemoteError{Module: "builtins", Type: "ValueError", Args: Tuple{"pickling is disabled"}}
	case hCtxExit:
		if err := need(1); err != nil {
			return nil, err
		}
		return ctxExit(args[0])
	case hOldSlicing:
		return nil, &RemoteError{Module: "builtins", Type: "AttributeError", Args: Tuple{"not supported by Go objects"}}
	case hInstanceCheck:
		return false, nil
	}
	return nil, &RemoteError{Module: "builtins", Type: "ValueError", Args: Tuple{fmt.Sprintf("unknown handler %d", handler)}}
}

func callArgs(rest Tuple) (Tuple, Tuple) {
	var pos, kw Tuple
	if len(rest) > 0 {
		pos, _ = rest[0].(Tuple)
	}
	if len(rest) > 1 {
		kw, _ = rest[1].(Tuple)
	}
	return pos, kw
}

func anyStrings(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func goRepr(v any) string {
	switch x := v.(type) {
	case *boundMethod:
		return fmt.Sprintf("<bound Go method %s>", x.name)
	case *voidService:
		return "<hopwire void service>"
	}
	if reflect.TypeOf(v).Kind() == reflect.Func {
		return fmt.Sprintf("<Go func %T>", v)
	}
	return fmt.Sprintf("<Go %T>", v)
}

// typeInfo is the peer-visible surface of a Go type: its exported methods
// and, for structs, exported fields, each under its Go name and its
// snake_case form.
type typeInfo struct {
	methods map[string]int // name → method index
	fields  map[string][]int
	names   []string // Go names, sorted
}

var typeInfos sync.Map // reflect.Type → *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{methods: map[string]int{}, fields: map[string][]int{}}
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		if !m.IsExported() || hiddenMethods[m.Name] {
			continue
		}
		ti.methods[m.Name] = i
		ti.methods[snake(m.Name)] = i
		ti.names = append(ti.names, m.Name)
	}
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if st.Kind() == reflect.Struct {
		for _, f := range reflect.VisibleFields(st) {
			if !f.IsExported() || f.Anonymous {
				continue
			}
			ti.fields[f.Name] = f.Index
			ti.fields[snake(f.Name)] = f.Index
			ti.names = append(ti.names, f.Name)
		}
	}
	sort.Strings(ti.names)
	typeInfos.Store(t, ti)
	return ti
}

// snake turns a Go name into Python's style: GetPath → get_path.
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func attrNames(obj any) []string {
	if obj == nil {
		return nil
	}
	if ns, ok := obj.(Namespace); ok {
		names := make([]string, 0, len(ns))
		for k := range ns {
			names = append(names, k)
		}
		sort.Strings(names)
		return names
	}
	names := infoOf(reflect.TypeOf(obj)).names
	if c, ok := containerOf(obj); ok {
		extra := listMethods
		if c.Kind() == reflect.Map {
			extra = dictMethods
		}
		names = append(slices.Clip(names), extra...)
	}
	if _, ok := obj.(io.Closer); ok {
		names = append(slices.Clip(names), "__enter__", "__exit__")
	}
	return names
}

func noAttr(obj any, name string) error {
	return &RemoteError{Module: "builtins", Type: "AttributeError",
		Args: Tuple{fmt.Sprintf("'%s' object has no attribute '%s'", strings.TrimPrefix(namePack(obj), "hopwire."), name)}}
}

func (c *Conn) getattr(obj any, nameV any) (any, error) {
	name, ok := nameV.(string)
	if !ok {
		if p, isBytes := nameV.([]byte); isBytes {
			name = string(p)
		} else {
			return nil, &RemoteError{Module: "builtins", Type: "TypeError", Args: Tuple{"name must be a string"}}
		}
	}
	if obj == nil {
		return nil, noAttr(obj, name)
	}
	switch name {
	case "__doc__":
		return nil, nil
	case "__name__":
		if m, ok := obj.(*boundMethod); ok {
			return m.name, nil
		}
	}
	name = strings.TrimPrefix(name, "exposed_")
	if ns, ok := obj.(Namespace); ok {
		if v, ok := ns[name]; ok {
			return v, nil
		}
		return nil, noAttr(obj, name)
	}
	if it, ok := obj.(*pyIter); ok {
		if m, ok := iterMethod(it, name); ok {
			return m, nil
		}
		return nil, noAttr(obj, name)
	}
	rv := reflect.ValueOf(obj)
	ti := infoOf(rv.Type())
	if i, ok := ti.methods[name]; ok {
		owner, _ := c.idOf(obj)
		bm := &boundMethod{owner: owner, name: rv.Type().Method(i).Name, fn: rv.Method(i)}
		if pn, ok := obj.(paramNamer); ok {
			bm.params = pn.RPyCParams()[bm.name]
		}
		return bm, nil
	}
	if cv, ok := containerOf(obj); ok {
		if m, ok := containerMethod(obj, cv, name); ok {
			return m, nil
		}
	}
	if m, ok := c.serviceAttr(obj, name); ok {
		return m, nil
	}
	if idx, ok := ti.fields[name]; ok {
		sv := rv
		if sv.Kind() == reflect.Pointer {
			sv = sv.Elem()
		}
		fieldMu.RLock()
		defer fieldMu.RUnlock()
		return sv.FieldByIndex(idx).Interface(), nil
	}
	return nil, noAttr(obj, name)
}

// fieldMu orders the peers' reads and writes of exported fields and of
// the maps and slices served by pointer; the service's own code takes it
// through Guard.
var fieldMu sync.RWMutex

// attrRefused is the AttributeError of a SETATTR or DELATTR the service
// does not allow, as Python's allow_setattr=False raises it.
func attrRefused(verb string, nameV any, option string) error {
	name, _ := nameV.(string)
	return &RemoteError{Module: "builtins", Type: "AttributeError",
		Args: Tuple{fmt.Sprintf("cannot %s attribute '%s': the service does not allow it (rpyc.Options.%s)", verb, name, option)}}
}

// field returns the settable exported field name of obj, a pointer to a
// struct.
func field(obj, nameV any, verb string) (reflect.Value, error) {
	name, _ := nameV.(string)
	rv := reflect.ValueOf(obj)
	if obj == nil || rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, &RemoteError{Module: "builtins", Type: "AttributeError", Args: Tuple{fmt.Sprintf("cannot %s '%s'", verb, name)}}
	}
	idx, ok := infoOf(rv.Type()).fields[name]
	if !ok {
		return reflect.Value{}, noAttr(obj, name)
	}
	return rv.Elem().FieldByIndex(idx), nil
}

func (c *Conn) setattr(ctx context.Context, obj, nameV, value any) error {
	f, err := field(obj, nameV, "set")
	if err != nil {
		return err
	}
	nv, err := convert(ctx, value, f.Type())
	if err != nil {
		return err
	}
	fieldMu.Lock()
	f.Set(nv)
	fieldMu.Unlock()
	return nil
}

// delattr resets a field to its zero value: Go fields cannot be deleted.
func (c *Conn) delattr(obj, nameV any) error {
	f, err := field(obj, nameV, "delete")
	if err != nil {
		return err
	}
	fieldMu.Lock()
	f.SetZero()
	fieldMu.Unlock()
	return nil
}

// inspect lists (name, doc) of the methods a Python proxy of obj should
// have; __call__ for callables.
func inspect(obj any) Tuple {
	out := Tuple{}
	if obj == nil {
		return out
	}
	if _, ok := obj.(*boundMethod); ok || reflect.TypeOf(obj).Kind() == reflect.Func {
		out = append(out, Tuple{"__call__", nil})
	}
	rt := reflect.TypeOf(obj)
	for _, n := range infoOf(rt).names {
		if _, ok := rt.MethodByName(n); ok {
			out = append(out, Tuple{n, nil})
		}
	}
	if _, ok := obj.(io.Closer); ok {
		// with obj as x: needs __enter__ on the proxy's class (__exit__
		// every netref has).
		out = append(out, Tuple{"__enter__", nil})
	}
	var extra []string
	if c, ok := containerOf(obj); ok {
		extra = listMethods
		if c.Kind() == reflect.Map {
			extra = dictMethods
		}
	} else if _, ok := obj.(*pyIter); ok {
		extra = []string{"__iter__", "__length_hint__", "__next__"}
	}
	for _, n := range extra {
		out = append(out, Tuple{n, nil})
	}
	return out
}

var (
	ctxType = reflect.TypeFor[context.Context]()
	errType = reflect.TypeFor[error]()
)

// call calls a local callable with brine arguments converted to its
// parameter types. A leading context.Context parameter gets the
// connection's context. Keyword arguments go to a trailing Kw parameter,
// or fill the fields of a sole struct parameter, or take the places the
// receiver's RPyCParams names; otherwise they are a TypeError that says
// why. The error of a Go handler carries its name for the traceback.
func (c *Conn) call(ctx context.Context, obj any, pos, kw Tuple) (any, error) {
	res, err := c.callFunc(ctx, obj, pos, kw)
	if err != nil {
		where := "func"
		if m, ok := obj.(*boundMethod); ok {
			where = m.name
		}
		err = &handlerError{where: where, err: err}
	}
	return res, err
}

func (c *Conn) callFunc(ctx context.Context, obj any, pos, kw Tuple) (any, error) {
	var fn reflect.Value
	fname := "function"
	var params []string
	switch x := obj.(type) {
	case *boundMethod:
		fn, fname, params = x.fn, x.name, x.params
	default:
		if obj == nil || reflect.TypeOf(obj).Kind() != reflect.Func {
			return nil, &RemoteError{Module: "builtins", Type: "TypeError", Args: Tuple{fmt.Sprintf("'%s' object is not callable", namePack(obj))}}
		}
		fn = reflect.ValueOf(obj)
	}
	ft := fn.Type()
	var in []reflect.Value
	np := ft.NumIn()
	first := 0
	if np > 0 && ft.In(0) == ctxType {
		in = append(in, reflect.ValueOf(ctx))
		first = 1
	}
	kwv := Kw{}
	for _, p := range kw {
		pair, ok := p.(Tuple)
		if !ok || len(pair) != 2 {
			return nil, argErr("bad keyword argument %s", pyRepr(p))
		}
		k, _ := pair[0].(string)
		kwv[k] = pair[1]
	}
	if np > first && ft.In(np-1) == reflect.TypeFor[Kw]() && !ft.IsVariadic() {
		np--
		args, err := convertArgs(ctx, ft, first, np, pos)
		if err != nil {
			return nil, err
		}
		in = append(append(in, args...), reflect.ValueOf(kwv))
		return results(fn.Call(in))
	}
	if _, ok := structParam(ft, first, np); ok && (len(kwv) > 0 || len(pos) != 1 || !fitsStruct(pos[0], ft.In(first))) {
		v, err := fillStruct(ctx, fname, ft.In(first), pos, kwv)
		if err != nil {
			return nil, err
		}
		return results(fn.Call(append(in, v)))
	}
	if len(kwv) > 0 {
		if params == nil {
			return nil, argErr("%s() takes no keyword arguments here: Go keeps no parameter names (give the method one struct parameter, whose fields keywords fill, or name its parameters in the service's RPyCParams method)", fname)
		}
		if ft.IsVariadic() || len(params) != np-first {
			return nil, argErr("%s(): RPyCParams names %d parameters, the Go method has %d", fname, len(params), np-first)
		}
		var err error
		if pos, err = placeKeywords(fname, params, pos, kwv); err != nil {
			return nil, err
		}
	}
	args, err := convertArgs(ctx, ft, first, np, pos)
	if err != nil {
		return nil, err
	}
	return results(fn.Call(append(in, args...)))
}

// fitsStruct reports whether a sole positional argument is the struct
// parameter itself (a Go value of that type, sent back), not its first
// field.
func fitsStruct(v any, t reflect.Type) bool {
	return v != nil && reflect.TypeOf(v).AssignableTo(t)
}

func convertArgs(ctx context.Context, ft reflect.Type, first, np int, pos Tuple) ([]reflect.Value, error) {
	want := np - first
	if ft.IsVariadic() {
		if len(pos) < want-1 {
			return nil, argErr("takes at least %d arguments, got %d", want-1, len(pos))
		}
	} else if len(pos) != want {
		return nil, argErr("takes %d arguments, got %d", want, len(pos))
	}
	out := make([]reflect.Value, 0, len(pos))
	for i, a := range pos {
		var t reflect.Type
		if ft.IsVariadic() && first+i >= np-1 {
			t = ft.In(np - 1).Elem()
		} else {
			t = ft.In(first + i)
		}
		v, err := convert(ctx, a, t)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// results turns Go results into one value: a trailing error is raised,
// no other result is None, one is itself, several are a tuple.
func results(out []reflect.Value) (any, error) {
	if n := len(out); n > 0 && out[n-1].Type() == errType {
		if e := out[n-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
		out = out[:n-1]
	}
	switch len(out) {
	case 0:
		return nil, nil
	case 1:
		return out[0].Interface(), nil
	}
	t := make(Tuple, len(out))
	for i, v := range out {
		t[i] = v.Interface()
	}
	return t, nil
}

// As converts a received value to T: ints and floats to any Go numeric
// type (with range checks), tuples to slices, str to string or []byte, a
// *Ref to a func type (calling it calls the remote object).
func As[T any](v any) (T, error) {
	var zero T
	//lint:ignore SA1012 a nil ctx tells convert not to fetch remote containers
	rv, err := convert(nil, v, reflect.TypeFor[T]())
	if err != nil {
		return zero, err
	}
	return rv.Interface().(T), nil
}

// convert turns a received value into a value of type t. With a non-nil
// ctx, a proxy of a remote sequence or mapping (a Python list, dict,
// set…) is fetched item by item into a Go slice or map.
func convert(ctx context.Context, v any, t reflect.Type) (reflect.Value, error) {
	if v == nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map, reflect.Func:
			return reflect.Zero(t), nil
		}
		return reflect.Value{}, argErr("None for a %s", t)
	}
	rv := reflect.ValueOf(v)
	if rv.Type().AssignableTo(t) {
		v := reflect.New(t).Elem()
		v.Set(rv)
		return v, nil
	}
	if cv, ok := containerOf(v); ok && (t.Kind() == reflect.Map || t.Kind() == reflect.Slice) {
		// One of the dicts or lists this side serves, sent back: a copy of
		// its contents.
		if out, ok := copyContainer(cv, t); ok {
			return out, nil
		}
		v = containerItems(cv)
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if f, isFloat := v.(float64); isFloat {
			// Python accepts an integral float where an int is wanted
			// (int(2.0)); 2.5 is a TypeError.
			if f != math.Trunc(f) || math.IsInf(f, 0) || f < math.MinInt64 || f >= math.MaxInt64 {
				return reflect.Value{}, argErr("%s for a %s: not an integral float", pyRepr(v), t)
			}
			v = int64(f)
		}
		i, ok := bigToInt64(v)
		if b, isBool := v.(bool); isBool {
			i, ok = 0, true
			if b {
				i = 1
			}
		}
		out := reflect.New(t).Elem()
		if !ok || out.OverflowInt(i) {
			return reflect.Value{}, argErr("%s for a %s", pyRepr(v), t)
		}
		out.SetInt(i)
		return out, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		out := reflect.New(t).Elem()
		var u uint64
		if f, isFloat := v.(float64); isFloat && f == math.Trunc(f) && f >= 0 && f < math.MaxUint64 {
			v = new(big.Int).SetUint64(uint64(f))
		}
		switch x := v.(type) {
		case int64:
			if x < 0 {
				return reflect.Value{}, argErr("%d for a %s", x, t)
			}
			u = uint64(x)
		case *big.Int:
			if !x.IsUint64() {
				return reflect.Value{}, argErr("%s for a %s", x, t)
			}
			u = x.Uint64()
		default:
			return reflect.Value{}, argErr("%s for a %s", pyRepr(v), t)
		}
		if out.OverflowUint(u) {
			return reflect.Value{}, argErr("%d for a %s", u, t)
		}
		out.SetUint(u)
		return out, nil
	case reflect.Float32, reflect.Float64:
		out := reflect.New(t).Elem()
		switch x := v.(type) {
		case float64:
			out.SetFloat(x)
		case int64:
			out.SetFloat(float64(x))
		case *big.Int:
			f, _ := new(big.Float).SetInt(x).Float64()
			out.SetFloat(f)
		default:
			return reflect.Value{}, argErr("%s for a %s", pyRepr(v), t)
		}
		return out, nil
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			if p, isBytes := v.([]byte); isBytes {
				s, ok = string(p), true
			}
		}
		if !ok {
			return reflect.Value{}, argErr("%s for a %s", pyRepr(v), t)
		}
		return reflect.ValueOf(s).Convert(t), nil
	case reflect.Map:
		return convertMap(ctx, v, t)
	case reflect.Slice:
		if r, ok := v.(*Ref); ok {
			if ctx == nil {
				return reflect.Value{}, argErr("%s for a %s (fetch it with Items first)", r, t)
			}
			items, err := r.Items(ctx)
			if err != nil {
				return reflect.Value{}, err
			}
			v = items
		}
		if t.Elem().Kind() == reflect.Uint8 {
			if s, ok := v.(string); ok {
				return reflect.ValueOf([]byte(s)).Convert(t), nil
			}
		}
		var items []any
		switch x := v.(type) {
		case Tuple:
			items = x
		case FrozenSet:
			items = x
		default:
			return reflect.Value{}, argErr("%s for a %s", pyRepr(v), t)
		}
		out := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			e, err := convert(ctx, it, t.Elem())
			if err != nil {
				return reflect.Value{}, err
			}
			out.Index(i).Set(e)
		}
		return out, nil
	case reflect.Func:
		r, ok := v.(*Ref)
		if !ok {
			return reflect.Value{}, argErr("%s for a %s", pyRepr(v), t)
		}
		return remoteFunc(r, t)
	}
	return reflect.Value{}, argErr("%s for a %s", pyRepr(v), t)
}

// remoteFunc makes a Go func of type t that calls the remote callable r.
// t must return an error last; a leading context.Context is the call's.
func remoteFunc(r *Ref, t reflect.Type) (reflect.Value, error) {
	if t.NumOut() == 0 || t.Out(t.NumOut()-1) != errType || t.NumOut() > 2 {
		return reflect.Value{}, argErr("callback type %s must return (T, error) or error", t)
	}
	return reflect.MakeFunc(t, func(in []reflect.Value) []reflect.Value {
		ctx := r.c.ctx // the connection's: Options.SyncRequestTimeout applies
		var args []any
		for i, a := range in {
			if i == 0 && t.In(0) == ctxType {
				if c, ok := a.Interface().(context.Context); ok && c != nil {
					ctx = c
				}
				continue
			}
			if t.IsVariadic() && i == len(in)-1 {
				for j := 0; j < a.Len(); j++ {
					args = append(args, a.Index(j).Interface())
				}
				continue
			}
			args = append(args, a.Interface())
		}
		res, err := r.Call(ctx, args...)
		out := make([]reflect.Value, t.NumOut())
		for i := range out {
			out[i] = reflect.Zero(t.Out(i))
		}
		if err == nil && t.NumOut() == 2 {
			var v reflect.Value
			v, err = convert(ctx, res, t.Out(0))
			if err == nil {
				out[0] = v
			}
		}
		if err != nil {
			out[len(out)-1] = reflect.ValueOf(&err).Elem()
		}
		return out
	}), nil
}

// convertMap fills a Go map from a tuple of (key, value) pairs, or from a
// proxy of a remote mapping (its keys, then each value).
func convertMap(ctx context.Context, v any, t reflect.Type) (reflect.Value, error) {
	var pairs Tuple
	switch x := v.(type) {
	case Tuple:
		pairs = x
	case *Ref:
		if ctx == nil {
			return reflect.Value{}, argErr("%s for a %s (fetch it with Items first)", x, t)
		}
		keys, err := x.Items(ctx)
		if err != nil {
			return reflect.Value{}, err
		}
		for _, k := range keys {
			val, err := x.CallAttr(ctx, "__getitem__", k)
			if err != nil {
				return reflect.Value{}, err
			}
			pairs = append(pairs, Tuple{k, val})
		}
	default:
		return reflect.Value{}, argErr("%s for a %s", pyRepr(v), t)
	}
	out := reflect.MakeMapWithSize(t, len(pairs))
	for _, p := range pairs {
		kv, ok := p.(Tuple)
		if !ok || len(kv) != 2 {
			return reflect.Value{}, argErr("%s is not a (key, value) pair", pyRepr(p))
		}
		k, err := convert(ctx, kv[0], t.Key())
		if err != nil {
			return reflect.Value{}, err
		}
		e, err := convert(ctx, kv[1], t.Elem())
		if err != nil {
			return reflect.Value{}, err
		}
		out.SetMapIndex(k, e)
	}
	return out, nil
}
