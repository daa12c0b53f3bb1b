package rpyc

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Go maps and slices served to the peer as Python dicts and lists.
//
// RPyC passes dicts and lists by reference, so a Python client expects a
// service's result to index, iterate, answer len() and in, and have the
// methods of a dict or a list. What a Go handler returns (its results,
// an attribute's value, a callback's result) goes that way: a map or a
// slice (other than []byte, Tuple and FrozenSet) is served by reference
// under the name pack builtins.dict or builtins.list, which a Python
// peer proxies with its ready-made netref class of that builtin (no
// INSPECT; isinstance(x, dict) holds), and whose methods the handlers
// below carry out on the Go value:
//
//   - A map or slice returned by value is copied first: the client gets
//     its own dict or list, as from a Python function that returns a new
//     one, and its changes (x["k"] = v, append) stay in that copy.
//   - A pointer to a map or a slice (*map[K]V, *[]T) is the service's
//     own: the client's reads see the service's current contents and its
//     changes are made to it (append assigns the grown slice through the
//     pointer). The peers' accesses are serialized; the service's own
//     code touches it inside [Guard].
//
// Keys and values the peer sends are converted to the Go key and element
// types (TypeError when they do not fit; `in` is then False, a lookup a
// KeyError). Iteration, keys(), values() and items() see a snapshot
// taken when they start, in sorted key order for string, integer and
// float keys (a Go map has no order); keys(), values() and items() are
// tuples. Arguments a Go client passes to the peer stay tuples: a by-value
// copy costs one message where a reference costs one per item.

// containerMethods are the dict and list methods served, for dir().
var (
	dictMethods = []string{"__contains__", "__delitem__", "__getitem__", "__iter__", "__len__", "__setitem__",
		"clear", "copy", "get", "items", "keys", "pop", "setdefault", "update", "values"}
	listMethods = []string{"__contains__", "__delitem__", "__getitem__", "__iadd__", "__iter__", "__len__",
		"__reversed__", "__setitem__", "append", "clear", "copy", "count", "extend", "index", "insert", "pop",
		"remove", "reverse"}
)

// asContainer returns the copy of a map or slice sent by value as a
// dict or list: a pointer to a fresh copy. ok is false for other values.
func asContainer(v any) (any, bool) {
	switch v.(type) {
	case Tuple, FrozenSet, Namespace, Kw, []byte:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		p := reflect.New(rv.Type())
		if !rv.IsNil() {
			p.Elem().Set(copyMap(rv))
		}
		return p.Interface(), true
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return nil, false
		}
		p := reflect.New(rv.Type())
		p.Elem().Set(reflect.AppendSlice(reflect.MakeSlice(rv.Type(), 0, rv.Len()), rv))
		return p.Interface(), true
	}
	return nil, false
}

func copyMap(m reflect.Value) reflect.Value {
	out := reflect.MakeMapWithSize(m.Type(), m.Len())
	for it := m.MapRange(); it.Next(); {
		out.SetMapIndex(it.Key(), it.Value())
	}
	return out
}

// containerOf returns the map or slice a served *map or *[]T points at
// (settable), and whether obj is one.
func containerOf(obj any) (reflect.Value, bool) {
	if obj == nil {
		return reflect.Value{}, false
	}
	if _, ok := obj.(*[]byte); ok {
		return reflect.Value{}, false
	}
	rv := reflect.ValueOf(obj)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return reflect.Value{}, false
	}
	if k := rv.Elem().Kind(); k == reflect.Map || k == reflect.Slice {
		return rv.Elem(), true
	}
	return reflect.Value{}, false
}

// containerName is the name pack of a container: builtins.dict or
// builtins.list.
func containerName(c reflect.Value) string {
	if c.Kind() == reflect.Map {
		return "builtins.dict"
	}
	return "builtins.list"
}

// pyIter is an iterator over a snapshot, served as a Python
// list_iterator: __next__ raises StopIteration at the end.
type pyIter struct {
	mu    sync.Mutex
	items []any
	i     int
}

func (it *pyIter) next(n int) Tuple {
	it.mu.Lock()
	defer it.mu.Unlock()
	end := min(it.i+n, len(it.items))
	out := Tuple(it.items[it.i:end:end])
	it.i = end
	return out
}

// iterMethod returns the method name of a pyIter.
func iterMethod(it *pyIter, name string) (any, bool) {
	switch name {
	case "__next__":
		return func() (any, error) {
			if t := it.next(1); len(t) == 1 {
				return t[0], nil
			}
			return nil, ErrStopIteration
		}, true
	case "__iter__":
		return func() any { return it }, true
	case "__length_hint__":
		return func() int {
			it.mu.Lock()
			defer it.mu.Unlock()
			return len(it.items) - it.i
		}, true
	}
	return nil, false
}

// sortedKeys returns the keys of map m, sorted when their kind orders.
func sortedKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	switch m.Type().Key().Kind() {
	case reflect.String:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Int(), b.Int()) })
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Uint(), b.Uint()) })
	case reflect.Float32, reflect.Float64:
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Float(), b.Float()) })
	}
	return keys
}

func keyError(k any) error {
	return &RemoteError{Module: "builtins", Type: "KeyError", Args: Tuple{brineOrRepr(k)}}
}

func indexError(what string) error {
	return &RemoteError{Module: "builtins", Type: "IndexError", Args: Tuple{what}}
}

func pyTypeError(format string, args ...any) error {
	return &RemoteError{Module: "builtins", Type: "TypeError", Args: Tuple{fmt.Sprintf(format, args...)}}
}

// containerMethod returns the method name of the container c (a
// settable map or slice inside the served object obj), as a Go func the
// peer calls; ok is false if it has none of that name.
func containerMethod(obj any, c reflect.Value, name string) (any, bool) {
	if c.Kind() == reflect.Map {
		f := dictMethod(c, name)
		return f, f != nil
	}
	f := listMethod(obj, c, name)
	return f, f != nil
}

// method is the shape of the container methods: positional arguments
// only, as received.
type method = func(ctx context.Context, args ...any) (any, error)

// arity checks the number of arguments of a container method.
func arity(name string, args []any, lo, hi int) error {
	if len(args) < lo || len(args) > hi {
		if lo == hi {
			return pyTypeError("%s() takes exactly %d argument(s) (%d given)", name, lo, len(args))
		}
		return pyTypeError("%s() takes from %d to %d arguments (%d given)", name, lo, hi, len(args))
	}
	return nil
}

func dictMethod(m reflect.Value, name string) method {
	mt := m.Type()
	key := func(ctx context.Context, k any) (reflect.Value, bool) {
		kv, err := convert(ctx, k, mt.Key())
		return kv, err == nil
	}
	lookup := func(ctx context.Context, k any) (any, bool) {
		kv, ok := key(ctx, k)
		if !ok {
			return nil, false
		}
		fieldMu.RLock()
		defer fieldMu.RUnlock()
		v := m.MapIndex(kv)
		if !v.IsValid() {
			return nil, false
		}
		return detach(v), true
	}
	set := func(ctx context.Context, k, v any) error {
		kv, err := convert(ctx, k, mt.Key())
		if err != nil {
			return err
		}
		vv, err := convert(ctx, v, mt.Elem())
		if err != nil {
			return err
		}
		fieldMu.Lock()
		defer fieldMu.Unlock()
		if m.IsNil() {
			m.Set(reflect.MakeMap(mt))
		}
		m.SetMapIndex(kv, vv)
		return nil
	}
	snapshot := func(pick func(k, v reflect.Value) any) Tuple {
		fieldMu.RLock()
		defer fieldMu.RUnlock()
		keys := sortedKeys(m)
		out := make(Tuple, len(keys))
		for i, k := range keys {
			out[i] = pick(k, m.MapIndex(k))
		}
		return out
	}
	keyOf := func(k, _ reflect.Value) any { return k.Interface() }
	switch name {
	case "__getitem__":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 1); err != nil {
				return nil, err
			}
			if v, ok := lookup(ctx, args[0]); ok {
				return v, nil
			}
			return nil, keyError(args[0])
		}
	case "get":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 2); err != nil {
				return nil, err
			}
			if v, ok := lookup(ctx, args[0]); ok {
				return v, nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return nil, nil
		}
	case "__contains__":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 1); err != nil {
				return nil, err
			}
			_, ok := lookup(ctx, args[0])
			return ok, nil
		}
	case "__len__":
		return func(ctx context.Context, args ...any) (any, error) {
			fieldMu.RLock()
			defer fieldMu.RUnlock()
			return m.Len(), nil
		}
	case "__iter__":
		return func(ctx context.Context, args ...any) (any, error) {
			return &pyIter{items: snapshot(keyOf)}, nil
		}
	case "keys":
		return func(ctx context.Context, args ...any) (any, error) { return snapshot(keyOf), nil }
	case "values":
		return func(ctx context.Context, args ...any) (any, error) {
			return snapshot(func(_, v reflect.Value) any { return detach(v) }), nil
		}
	case "items":
		return func(ctx context.Context, args ...any) (any, error) {
			return snapshot(func(k, v reflect.Value) any { return Tuple{k.Interface(), detach(v)} }), nil
		}
	case "__setitem__":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 2, 2); err != nil {
				return nil, err
			}
			return nil, set(ctx, args[0], args[1])
		}
	case "setdefault":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 2); err != nil {
				return nil, err
			}
			if v, ok := lookup(ctx, args[0]); ok {
				return v, nil
			}
			var def any
			if len(args) == 2 {
				def = args[1]
			}
			return def, set(ctx, args[0], def)
		}
	case "__delitem__", "pop":
		return func(ctx context.Context, args ...any) (any, error) {
			hi := 1
			if name == "pop" {
				hi = 2
			}
			if err := arity(name, args, 1, hi); err != nil {
				return nil, err
			}
			kv, ok := key(ctx, args[0])
			fieldMu.Lock()
			var v reflect.Value
			if ok {
				if v = m.MapIndex(kv); v.IsValid() {
					m.SetMapIndex(kv, reflect.Value{})
				}
			}
			fieldMu.Unlock()
			switch {
			case v.IsValid():
				if name == "pop" {
					return detach(v), nil
				}
				return nil, nil
			case len(args) == 2:
				return args[1], nil
			}
			return nil, keyError(args[0])
		}
	case "update":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 0, 1); err != nil || len(args) == 0 {
				return nil, err
			}
			other, err := convertMap(ctx, args[0], mt)
			if err != nil {
				return nil, err
			}
			fieldMu.Lock()
			defer fieldMu.Unlock()
			if m.IsNil() {
				m.Set(reflect.MakeMap(mt))
			}
			for it := other.MapRange(); it.Next(); {
				m.SetMapIndex(it.Key(), it.Value())
			}
			return nil, nil
		}
	case "clear":
		return func(ctx context.Context, args ...any) (any, error) {
			fieldMu.Lock()
			defer fieldMu.Unlock()
			if !m.IsNil() {
				m.Clear()
			}
			return nil, nil
		}
	case "copy":
		return func(ctx context.Context, args ...any) (any, error) {
			fieldMu.RLock()
			defer fieldMu.RUnlock()
			return copyMap(m).Interface(), nil
		}
	}
	return nil
}

// index turns a Python index into a position in a list of n items.
func index(i any, n int, name string) (int, error) {
	x, ok := bigToInt64(i)
	if !ok {
		if b, isBool := i.(bool); isBool {
			x, ok = 0, true
			if b {
				x = 1
			}
		}
	}
	if !ok {
		return 0, pyTypeError("list indices must be integers or slices, not %s", pyTypeName(i))
	}
	if x < 0 {
		x += int64(n)
	}
	if x < 0 || x >= int64(n) {
		return 0, indexError("list " + name + " out of range")
	}
	return int(x), nil
}

// pyTypeName is the Python type name of a received value.
func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case Tuple:
		return "tuple"
	case *Ref:
		return strings.TrimPrefix(x.TypeName(), "builtins.")
	}
	return strings.TrimPrefix(namePack(v), "hopwire.")
}

// sliceBounds resolves a Python slice against n items (step 1 only).
func sliceBounds(s Slice, n int) (lo, hi int, err error) {
	if s.Step != nil {
		if st, ok := bigToInt64(s.Step); !ok || st != 1 {
			return 0, 0, pyTypeError("Go lists take slices with step 1 only")
		}
	}
	bound := func(v any, def int) (int, error) {
		if v == nil {
			return def, nil
		}
		x, ok := bigToInt64(v)
		if !ok {
			return 0, pyTypeError("slice indices must be integers or None")
		}
		if x < 0 {
			x += int64(n)
		}
		return int(min(max(x, 0), int64(n))), nil
	}
	if lo, err = bound(s.Start, 0); err != nil {
		return 0, 0, err
	}
	if hi, err = bound(s.Stop, n); err != nil {
		return 0, 0, err
	}
	return lo, max(lo, hi), nil
}

func listMethod(obj any, l reflect.Value, name string) method {
	et := l.Type().Elem()
	elem := func(ctx context.Context, v any) (reflect.Value, error) { return convert(ctx, v, et) }
	// find returns the position of the first item equal to v, or -1.
	find := func(ctx context.Context, v any) int {
		ev, err := elem(ctx, v)
		if err != nil {
			return -1
		}
		fieldMu.RLock()
		defer fieldMu.RUnlock()
		for i := range l.Len() {
			if reflect.DeepEqual(l.Index(i).Interface(), ev.Interface()) {
				return i
			}
		}
		return -1
	}
	items := func(ctx context.Context, v any) (reflect.Value, error) {
		if o, ok := containerOf(v); ok && o.Kind() == reflect.Slice && o.Type() == l.Type() {
			fieldMu.RLock()
			defer fieldMu.RUnlock()
			return reflect.AppendSlice(reflect.MakeSlice(l.Type(), 0, o.Len()), o), nil
		}
		return convert(ctx, v, l.Type())
	}
	snapshot := func(reverse bool) Tuple {
		fieldMu.RLock()
		defer fieldMu.RUnlock()
		out := make(Tuple, l.Len())
		for i := range out {
			out[i] = detach(l.Index(i))
		}
		if reverse {
			slices.Reverse(out)
		}
		return out
	}
	switch name {
	case "__getitem__":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 1); err != nil {
				return nil, err
			}
			fieldMu.RLock()
			defer fieldMu.RUnlock()
			if s, ok := args[0].(Slice); ok {
				lo, hi, err := sliceBounds(s, l.Len())
				if err != nil {
					return nil, err
				}
				return reflect.AppendSlice(reflect.MakeSlice(l.Type(), 0, hi-lo), l.Slice(lo, hi)).Interface(), nil
			}
			i, err := index(args[0], l.Len(), "index")
			if err != nil {
				return nil, err
			}
			return detach(l.Index(i)), nil
		}
	case "__setitem__":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 2, 2); err != nil {
				return nil, err
			}
			ev, err := elem(ctx, args[1])
			if err != nil {
				return nil, err
			}
			fieldMu.Lock()
			defer fieldMu.Unlock()
			i, err := index(args[0], l.Len(), "assignment index")
			if err != nil {
				return nil, err
			}
			l.Index(i).Set(ev)
			return nil, nil
		}
	case "__delitem__", "pop":
		return func(ctx context.Context, args ...any) (any, error) {
			lo := 1
			if name == "pop" {
				lo = 0
			}
			if err := arity(name, args, lo, 1); err != nil {
				return nil, err
			}
			fieldMu.Lock()
			defer fieldMu.Unlock()
			var at any = int64(-1)
			if len(args) == 1 {
				at = args[0]
			}
			what := "assignment index"
			if name == "pop" {
				what = "index"
				if l.Len() == 0 {
					return nil, indexError("pop from empty list")
				}
			}
			i, err := index(at, l.Len(), what)
			if err != nil {
				return nil, err
			}
			v := detach(l.Index(i))
			reflect.Copy(l.Slice(i, l.Len()), l.Slice(i+1, l.Len()))
			l.Index(l.Len() - 1).SetZero()
			l.Set(l.Slice(0, l.Len()-1))
			if name == "pop" {
				return v, nil
			}
			return nil, nil
		}
	case "__len__":
		return func(ctx context.Context, args ...any) (any, error) {
			fieldMu.RLock()
			defer fieldMu.RUnlock()
			return l.Len(), nil
		}
	case "__iter__", "__reversed__":
		return func(ctx context.Context, args ...any) (any, error) {
			return &pyIter{items: snapshot(name == "__reversed__")}, nil
		}
	case "__contains__":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 1); err != nil {
				return nil, err
			}
			return find(ctx, args[0]) >= 0, nil
		}
	case "index", "remove":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 1); err != nil {
				return nil, err
			}
			i := find(ctx, args[0])
			if i < 0 {
				return nil, &RemoteError{Module: "builtins", Type: "ValueError", Args: Tuple{pyRepr(brineOrRepr(args[0])) + " is not in list"}}
			}
			if name == "index" {
				return i, nil
			}
			fieldMu.Lock()
			defer fieldMu.Unlock()
			if i < l.Len() {
				l.Set(reflect.AppendSlice(l.Slice(0, i), l.Slice(i+1, l.Len())))
			}
			return nil, nil
		}
	case "count":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 1); err != nil {
				return nil, err
			}
			ev, err := elem(ctx, args[0])
			if err != nil {
				return 0, nil
			}
			fieldMu.RLock()
			defer fieldMu.RUnlock()
			n := 0
			for i := range l.Len() {
				if reflect.DeepEqual(l.Index(i).Interface(), ev.Interface()) {
					n++
				}
			}
			return n, nil
		}
	case "append":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 1); err != nil {
				return nil, err
			}
			ev, err := elem(ctx, args[0])
			if err != nil {
				return nil, err
			}
			fieldMu.Lock()
			defer fieldMu.Unlock()
			l.Set(reflect.Append(l, ev))
			return nil, nil
		}
	case "insert":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 2, 2); err != nil {
				return nil, err
			}
			at, ok := bigToInt64(args[0])
			if !ok {
				return nil, pyTypeError("'%s' object cannot be interpreted as an integer", pyTypeName(args[0]))
			}
			ev, err := elem(ctx, args[1])
			if err != nil {
				return nil, err
			}
			fieldMu.Lock()
			defer fieldMu.Unlock()
			n := int64(l.Len())
			if at < 0 {
				at += n
			}
			i := int(min(max(at, 0), n))
			l.Set(reflect.Append(l, reflect.Zero(et)))
			reflect.Copy(l.Slice(i+1, l.Len()), l.Slice(i, l.Len()-1))
			l.Index(i).Set(ev)
			return nil, nil
		}
	case "extend", "__iadd__":
		return func(ctx context.Context, args ...any) (any, error) {
			if err := arity(name, args, 1, 1); err != nil {
				return nil, err
			}
			more, err := items(ctx, args[0])
			if err != nil {
				return nil, err
			}
			fieldMu.Lock()
			l.Set(reflect.AppendSlice(l, more))
			fieldMu.Unlock()
			if name == "__iadd__" {
				return obj, nil // l += x is l
			}
			return nil, nil
		}
	case "clear":
		return func(ctx context.Context, args ...any) (any, error) {
			fieldMu.Lock()
			defer fieldMu.Unlock()
			l.Set(l.Slice(0, 0))
			return nil, nil
		}
	case "reverse":
		return func(ctx context.Context, args ...any) (any, error) {
			fieldMu.Lock()
			defer fieldMu.Unlock()
			swap := reflect.Swapper(l.Interface())
			for i, j := 0, l.Len()-1; i < j; i, j = i+1, j-1 {
				swap(i, j)
			}
			return nil, nil
		}
	case "copy":
		return func(ctx context.Context, args ...any) (any, error) {
			fieldMu.RLock()
			defer fieldMu.RUnlock()
			return reflect.AppendSlice(reflect.MakeSlice(l.Type(), 0, l.Len()), l).Interface(), nil
		}
	}
	return nil
}

// containerEqual answers == between a served container and what the
// peer compares it with (its own dict or list, fetched, or one of ours).
func containerEqual(ctx context.Context, c reflect.Value, other any) bool {
	var ov reflect.Value
	if o, ok := containerOf(other); ok {
		ov = o
	} else if _, isRef := other.(*Ref); isRef || c.Kind() == reflect.Map {
		v, err := convert(ctx, other, c.Type())
		if err != nil {
			return false
		}
		ov = v
	} else {
		return false // a list is never equal to a tuple
	}
	if ov.Type() != c.Type() {
		return false
	}
	fieldMu.RLock()
	defer fieldMu.RUnlock()
	if c.Len() != ov.Len() {
		return false
	}
	if c.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(c.Interface(), ov.Interface())
}

// containerRepr is Python's repr of a served dict or list.
func containerRepr(c reflect.Value) string {
	fieldMu.RLock()
	defer fieldMu.RUnlock()
	return reprLocked(c)
}

func reprLocked(c reflect.Value) string {
	item := func(v reflect.Value) string {
		x := v.Interface()
		if _, err := appendBrine(nil, x); err == nil {
			return pyRepr(x)
		}
		if x != nil && (reflect.TypeOf(x).Kind() == reflect.Map || reflect.TypeOf(x).Kind() == reflect.Slice) {
			return reprLocked(reflect.ValueOf(x))
		}
		return goRepr(x)
	}
	var parts []string
	if c.Kind() == reflect.Map {
		for _, k := range sortedKeys(c) {
			parts = append(parts, item(k)+": "+item(c.MapIndex(k)))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	for i := range c.Len() {
		parts = append(parts, item(c.Index(i)))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// copyContainer copies a served container into a value of type t, if it
// is assignable.
func copyContainer(c reflect.Value, t reflect.Type) (reflect.Value, bool) {
	if !c.Type().AssignableTo(t) {
		return reflect.Value{}, false
	}
	fieldMu.RLock()
	defer fieldMu.RUnlock()
	out := reflect.New(t).Elem()
	if c.Kind() == reflect.Map {
		out.Set(copyMap(c))
	} else {
		out.Set(reflect.AppendSlice(reflect.MakeSlice(c.Type(), 0, c.Len()), c))
	}
	return out, true
}

// containerItems is a served list's items, or a served dict's (key,
// value) pairs, as a Tuple.
func containerItems(c reflect.Value) Tuple {
	fieldMu.RLock()
	defer fieldMu.RUnlock()
	items := make(Tuple, 0, c.Len())
	if c.Kind() == reflect.Map {
		for _, k := range sortedKeys(c) {
			items = append(items, Tuple{k.Interface(), c.MapIndex(k).Interface()})
		}
		return items
	}
	for i := range c.Len() {
		items = append(items, c.Index(i).Interface())
	}
	return items
}

// Guard runs f while no peer of this package reads or writes what is
// served by pointer: the exported fields the peers may set
// (Options.AllowSetattr) and the maps and slices handed out as
// *map[K]V or *[]T, which the peers change through their dict and list
// proxies. A service touches what it shares with its peers inside f.
// Guard is one lock for the whole process; f must not call a peer.
func Guard(f func()) {
	fieldMu.Lock()
	defer fieldMu.Unlock()
	f()
}

// detach returns an item of a served container for the peer, taken while
// the container is locked: a map or slice in it as a copy (which goes as
// the peer's own dict or list), so that nothing read later races with
// the service.
func detach(v reflect.Value) any {
	x := v.Interface()
	if b, ok := x.([]byte); ok {
		return bytes.Clone(b)
	}
	if c, ok := asContainer(x); ok {
		return c
	}
	return x
}
