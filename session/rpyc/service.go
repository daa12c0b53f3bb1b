package rpyc

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
)

// hiddenMethods are the optional methods of a service that Options.Root
// describes (OnConnect, OnDisconnect, RPyCAliases, RPyCParams): this
// side calls them, the peer cannot.
var hiddenMethods = map[string]bool{
	"OnConnect": true, "OnDisconnect": true, "RPyCAliases": true, "RPyCParams": true,
}

type connectHook interface {
	OnConnect(ctx context.Context, c *Conn) error
}

type disconnectHook interface {
	OnDisconnect(c *Conn)
}

type aliaser interface{ RPyCAliases() []string }

type paramNamer interface{ RPyCParams() map[string][]string }

// startHooks runs the root's OnConnect (the peer's requests wait for
// it) and arranges its OnDisconnect.
func (c *Conn) startHooks(root any) {
	var connected atomic.Bool
	if h, ok := root.(connectHook); ok {
		c.ready = make(chan struct{})
		c.spoke = make(chan struct{})
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer close(c.ready)
			if c.opts.Dialect == DialectAuto {
				// Talk to the peer only in its own dialect: after its
				// first message.
				select {
				case <-c.spoke:
				case <-c.done:
					return
				}
			}
			connected.Store(true)
			err := func() (err error) {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("panicked: %v", p)
					}
				}()
				return h.OnConnect(c.ctx, c)
			}()
			if err != nil {
				c.shutdown(fmt.Errorf("rpyc: OnConnect: %w", err))
			}
		}()
	}
	if h, ok := root.(disconnectHook); ok {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			<-c.done
			if c.ready != nil {
				<-c.ready
				if !connected.Load() {
					return
				}
			}
			h.OnDisconnect(c)
		}()
	}
}

// serviceAliases are the RPyC service names of root, the first being
// get_service_name().
func serviceAliases(root any) Tuple {
	if a, ok := root.(aliaser); ok {
		if names := a.RPyCAliases(); len(names) > 0 {
			out := make(Tuple, len(names))
			for i, n := range names {
				out[i] = strings.ToUpper(n)
			}
			return out
		}
	}
	t := reflect.TypeOf(root)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := strings.ToUpper(t.Name())
	if name == "" {
		name = strings.ToUpper(t.Kind().String())
	}
	if n, ok := strings.CutSuffix(name, "SERVICE"); ok && n != "" {
		name = n
	}
	return Tuple{name}
}

// serviceAttr returns what RPyC's Service and Python's objects offer
// beyond the Go methods and fields: get_service_name and
// get_service_aliases on the root, __enter__ on an io.Closer (with obj
// as x: … closes it at the end).
func (c *Conn) serviceAttr(obj any, name string) (any, bool) {
	switch name {
	case "get_service_name", "get_service_aliases":
		c.omu.Lock()
		root := c.objects[c.rootID]
		c.omu.Unlock()
		if root == nil || reflect.TypeOf(root.obj) != reflect.TypeOf(obj) {
			return nil, false
		}
		aliases := serviceAliases(obj)
		if name == "get_service_name" {
			return func() any { return aliases[0] }, true
		}
		return func() Tuple { return aliases }, true
	case "__enter__":
		if _, ok := obj.(io.Closer); ok {
			return func() any { return obj }, true
		}
	}
	return nil, false
}

// ctxExit is CTXEXIT, the end of a with block: an io.Closer is closed
// (its error raised in the peer); the block's exception, if any, goes
// on (False).
func ctxExit(obj any) (any, error) {
	cl, ok := obj.(io.Closer)
	if !ok {
		return nil, noAttr(obj, "__exit__")
	}
	if err := cl.Close(); err != nil {
		return nil, err
	}
	return false, nil
}

// versionString is the _remote_version of the exceptions this side
// raises in the peer.
func (c *Conn) versionString() string {
	if c.opts.DenyVersion {
		return "<version denied>"
	}
	if c.Dialect() == Dialect6 {
		return "6.0 (hopwire)"
	}
	return "5.3 (hopwire)"
}

// Keyword arguments.

// structParam reports whether a func takes a single struct (or pointer
// to struct) argument after its context, whose fields keywords fill.
func structParam(ft reflect.Type, first, np int) (reflect.Type, bool) {
	if np-first != 1 || ft.IsVariadic() {
		return nil, false
	}
	t := ft.In(first)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t, t.Kind() == reflect.Struct && t != reflect.TypeFor[Slice]()
}

// structFields lists the fields a struct parameter takes, in order,
// with the name each answers to.
type structField struct {
	index []int
	name  string // the rpyc tag, or the Go name
	tag   bool
}

func structFields(t reflect.Type) []structField {
	var out []structField
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		sf := structField{index: f.Index, name: f.Name}
		if tag, ok := f.Tag.Lookup("rpyc"); ok {
			if tag == "-" {
				continue
			}
			sf.name, sf.tag = tag, true
		}
		out = append(out, sf)
	}
	return out
}

func (f structField) matches(kw string) bool {
	if f.tag {
		return kw == f.name
	}
	return strings.EqualFold(kw, f.name) || kw == snake(f.name)
}

// fillStruct builds the struct argument of fn from positional arguments
// (the fields in order) and keywords (fields by name).
func fillStruct(ctx context.Context, fname string, pt reflect.Type, pos Tuple, kw Kw) (reflect.Value, error) {
	st := pt
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if len(pos) == 1 && len(kw) == 0 && pos[0] != nil && reflect.TypeOf(pos[0]).AssignableTo(pt) {
		return reflect.ValueOf(pos[0]), nil
	}
	fields := structFields(st)
	if len(pos) > len(fields) {
		return reflect.Value{}, argErr("%s() takes %d positional arguments but %d were given", fname, len(fields), len(pos))
	}
	out := reflect.New(st).Elem()
	set := make([]bool, len(fields))
	for i, a := range pos {
		v, err := convert(ctx, a, st.FieldByIndex(fields[i].index).Type)
		if err != nil {
			return reflect.Value{}, fmt.Errorf("argument '%s': %w", fields[i].name, err)
		}
		out.FieldByIndex(fields[i].index).Set(v)
		set[i] = true
	}
	for _, k := range sortedKw(kw) {
		i := -1
		for j, f := range fields {
			if f.matches(k) {
				i = j
				break
			}
		}
		if i < 0 {
			return reflect.Value{}, argErr("%s() got an unexpected keyword argument '%s'", fname, k)
		}
		if set[i] {
			return reflect.Value{}, argErr("%s() got multiple values for argument '%s'", fname, k)
		}
		v, err := convert(ctx, kw[k], st.FieldByIndex(fields[i].index).Type)
		if err != nil {
			return reflect.Value{}, fmt.Errorf("argument '%s': %w", k, err)
		}
		out.FieldByIndex(fields[i].index).Set(v)
		set[i] = true
	}
	if pt.Kind() == reflect.Pointer {
		return out.Addr(), nil
	}
	return out, nil
}

func sortedKw(kw Kw) []string {
	keys := make([]string, 0, len(kw))
	for k := range kw {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

// placeKeywords puts keyword arguments into the positions names gives
// them, after the positional ones.
func placeKeywords(fname string, names []string, pos Tuple, kw Kw) (Tuple, error) {
	if len(pos) > len(names) {
		return nil, argErr("%s() takes %d positional arguments but %d were given", fname, len(names), len(pos))
	}
	out := make(Tuple, len(names))
	copy(out, pos)
	have := make([]bool, len(names))
	for i := range pos {
		have[i] = true
	}
	for _, k := range sortedKw(kw) {
		i := -1
		for j, n := range names {
			if n == k {
				i = j
				break
			}
		}
		if i < 0 {
			return nil, argErr("%s() got an unexpected keyword argument '%s'", fname, k)
		}
		if have[i] {
			return nil, argErr("%s() got multiple values for argument '%s'", fname, k)
		}
		out[i], have[i] = kw[k], true
	}
	var missing []string
	for i, ok := range have {
		if !ok {
			missing = append(missing, "'"+names[i]+"'")
		}
	}
	if len(missing) > 0 {
		return nil, argErr("%s() missing %d required argument(s): %s", fname, len(missing), strings.Join(missing, ", "))
	}
	return out, nil
}

func sortStrings(s []string) { sort.Strings(s) }
