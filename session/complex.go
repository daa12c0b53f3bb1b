package session

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Complex numbers cross the wire as tag 43000 around the array [real,
// imaginary]: two float64s for a complex128, two float32s for a
// complex64 (CBOR floats, so NaN and infinities keep their meaning; a
// NaN's payload does not survive).
//
// The CBOR library has no complex kinds, so a value whose type holds
// complex numbers is encoded through a mirror type: the same type built
// again with reflect, with wireComplex128 and wireComplex64 (which encode
// themselves) where the complex kinds were. Struct fields keep their names
// and tags, so the library's rules (names, omitempty, toarray, embedded
// structs flattened) apply unchanged. Interfaces are `any` in a mirror:
// what they hold is converted by value. Decoding goes the other way: into
// the mirror, then copied into the real type.
const complexTag = 43000

// complexTagHead is how an encoded complex number starts.
var complexTagHead = [3]byte{0xd9, complexTag >> 8, complexTag & 0xff}

type (
	wireComplex128 complex128
	wireComplex64  complex64
)

func (z wireComplex128) MarshalCBOR() ([]byte, error) {
	return appendComplex(nil, complex128(z), false)
}

func (z *wireComplex128) UnmarshalCBOR(b []byte) error {
	v, err := parseComplex(b, false)
	*z = wireComplex128(v)
	return err
}

func (z wireComplex64) MarshalCBOR() ([]byte, error) {
	return appendComplex(nil, complex128(z), true)
}

func (z *wireComplex64) UnmarshalCBOR(b []byte) error {
	v, err := parseComplex(b, true)
	*z = wireComplex64(v)
	return err
}

// appendComplex appends z as tag 43000 around [re, im], in float32s for
// a complex64.
func appendComplex(b []byte, z complex128, single bool) ([]byte, error) {
	b = append(appendHead(b, 6, complexTag), 0x82)
	for _, part := range [2]float64{real(z), imag(z)} {
		var enc []byte
		var err error
		if single {
			enc, err = encMode.Marshal(float32(part))
		} else {
			enc, err = encMode.Marshal(part)
		}
		if err != nil {
			return nil, err
		}
		b = append(b, enc...)
	}
	return b, nil
}

// parseComplex decodes tag 43000 around [re, im]. For a complex64, parts
// beyond float32's range are an error, as they are for a float32.
func parseComplex(b []byte, single bool) (complex128, error) {
	var tag cbor.RawTag
	if err := decMode.Unmarshal(b, &tag); err != nil {
		return 0, fmt.Errorf("a complex number is tag %d around [re, im]: %w", complexTag, err)
	}
	if tag.Number != complexTag {
		return 0, fmt.Errorf("a complex number is tag %d around [re, im], not tag %d", complexTag, tag.Number)
	}
	var parts []float64
	if err := decMode.Unmarshal(tag.Content, &parts); err != nil || len(parts) != 2 {
		return 0, fmt.Errorf("a complex number is tag %d around [re, im] (%v)", complexTag, err)
	}
	if single {
		for _, p := range parts {
			if !math.IsInf(p, 0) && !math.IsNaN(p) && math.Abs(p) > math.MaxFloat32 {
				return 0, fmt.Errorf("complex part %g overflows complex64", p)
			}
		}
	}
	return complex(parts[0], parts[1]), nil
}

// complexFromAny turns tag 43000 decoded into an interface (a cbor.Tag
// holding [re, im]) into a complex128; ok is false for anything else.
func complexFromAny(x any) (complex128, bool) {
	tag, ok := x.(cbor.Tag)
	if !ok || tag.Number != complexTag {
		return 0, false
	}
	parts, ok := tag.Content.([]any)
	if !ok || len(parts) != 2 {
		return 0, false
	}
	var f [2]float64
	for i, p := range parts {
		switch n := p.(type) {
		case float64:
			f[i] = n
		case uint64:
			f[i] = float64(n)
		case int64:
			f[i] = float64(n)
		default:
			return 0, false
		}
	}
	return complex(f[0], f[1]), true
}

// fixAny replaces the complex numbers in a value decoded into an
// interface (maps, slices, tags) with complex128s.
func fixAny(x any, depth int) any {
	if depth > maxScanDepth {
		return x
	}
	switch v := x.(type) {
	case cbor.Tag:
		if z, ok := complexFromAny(v); ok {
			return z
		}
		v.Content = fixAny(v.Content, depth+1)
		return v
	case []any:
		for i := range v {
			v[i] = fixAny(v[i], depth+1)
		}
	case map[string]any:
		for k, e := range v {
			v[k] = fixAny(e, depth+1)
		}
	case map[any]any:
		for k, e := range v {
			v[k] = fixAny(e, depth+1)
		}
	}
	return x
}

// fixValue replaces the complex numbers decoded into the interfaces
// inside v (settable) with complex128s.
func fixValue(v reflect.Value, depth int) {
	if depth > maxScanDepth || !kindsOf(v.Type()).iface {
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			if x := reflect.ValueOf(fixAny(v.Interface(), depth)); x.Type().AssignableTo(v.Type()) {
				v.Set(x)
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			fixValue(v.Elem(), depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			fixValue(v.Index(i), depth+1)
		}
	case reflect.Map:
		et := v.Type().Elem()
		it := v.MapRange()
		for it.Next() {
			e := reflect.New(et).Elem()
			e.Set(it.Value())
			fixValue(e, depth+1)
			v.SetMapIndex(it.Key(), e)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fixValue(f, depth+1)
			}
		}
	}
}

// marshalData encodes a value that travels by value.
func marshalData(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	k := kindsOf(rv.Type())
	if k.complex {
		return marshalMirrored(rv)
	}
	enc, err := encMode.Marshal(v)
	var ute *cbor.UnsupportedTypeError
	if err != nil && k.iface && errors.As(err, &ute) {
		// An interface holds what the library cannot encode: perhaps
		// complex numbers.
		return marshalMirrored(rv)
	}
	return enc, err
}

func marshalMirrored(rv reflect.Value) ([]byte, error) {
	m, err := mirrorOf(rv.Type())
	if err != nil {
		return nil, err
	}
	mv, err := m.out(rv, 0)
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(mv.Interface())
}

// unmarshalData decodes a value that travels by value into a new value
// of type t.
func unmarshalData(raw []byte, t reflect.Type) (reflect.Value, error) {
	k := kindsOf(t)
	if k.complex {
		m, err := mirrorOf(t)
		if err != nil {
			return reflect.Value{}, err
		}
		p := reflect.New(m.typ)
		if err := decMode.Unmarshal(raw, p.Interface()); err != nil {
			return reflect.Value{}, err
		}
		v := reflect.New(t).Elem()
		if err := m.in(v, p.Elem(), 0); err != nil {
			return reflect.Value{}, err
		}
		return v, nil
	}
	p := reflect.New(t)
	if err := decMode.Unmarshal(raw, p.Interface()); err != nil {
		return reflect.Value{}, err
	}
	if k.iface && bytes.Contains(raw, complexTagHead[:]) {
		fixValue(p.Elem(), 0)
	}
	return p.Elem(), nil
}

// typeKinds says what a type can hold that the CBOR library does not
// encode by itself.
type typeKinds struct {
	complex bool // complex numbers, in the type itself
	iface   bool // interfaces, whose values might hold complex numbers
}

var kindsCache sync.Map // reflect.Type → typeKinds

func kindsOf(t reflect.Type) typeKinds {
	if k, ok := kindsCache.Load(t); ok {
		return k.(typeKinds)
	}
	var k typeKinds
	seen := make(map[reflect.Type]bool)
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if seen[t] || opaque(t) {
			return
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Complex64, reflect.Complex128:
			k.complex = true
		case reflect.Interface:
			k.iface = true
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem())
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				if f := t.Field(i); f.IsExported() || f.Anonymous {
					walk(f.Type)
				}
			}
		}
	}
	walk(t)
	kindsCache.Store(t, k)
	return k
}

var (
	typeCBORMarshaler     = reflect.TypeFor[cbor.Marshaler]()
	typeCBORUnmarshaler   = reflect.TypeFor[cbor.Unmarshaler]()
	typeBinaryMarshaler   = reflect.TypeFor[encoding.BinaryMarshaler]()
	typeBinaryUnmarshaler = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	typeAny               = reflect.TypeFor[any]()
)

// opaque reports whether the CBOR library encodes t by its own rules
// (a marshaler, time.Time, big.Int, a tag): a mirror leaves it alone.
func opaque(t reflect.Type) bool {
	switch t {
	case reflect.TypeFor[big.Int](), reflect.TypeFor[cbor.Tag](), reflect.TypeFor[cbor.RawTag]():
		return true
	}
	pt := reflect.PointerTo(t)
	return pt.Implements(typeCBORMarshaler) || pt.Implements(typeCBORUnmarshaler) ||
		pt.Implements(typeBinaryMarshaler) || pt.Implements(typeBinaryUnmarshaler)
}

// mirror is the stand-in of a type that holds complex numbers or
// interfaces, and how values convert to and from it.
type mirror struct {
	t, typ    reflect.Type
	key, elem *mirror       // nil: the key or element is used as is
	fields    []mirrorField // of a struct
}

type mirrorField struct {
	from, to int     // field index in t, and in typ
	m        *mirror // nil: the field is used as is
}

type mirrorEntry struct {
	once sync.Once
	m    *mirror
	err  error
}

var mirrorCache sync.Map // reflect.Type → *mirrorEntry

func mirrorOf(t reflect.Type) (*mirror, error) {
	e, _ := mirrorCache.LoadOrStore(t, &mirrorEntry{})
	ent := e.(*mirrorEntry)
	ent.once.Do(func() {
		defer func() {
			if p := recover(); p != nil { // reflect refused a type it builds
				ent.m, ent.err = nil, fmt.Errorf("cannot encode %v: %v", t, p)
			}
		}()
		b := mirrorBuilder{building: make(map[reflect.Type]bool)}
		ent.m, ent.err = b.build(t, false)
		if ent.err == nil && ent.m == nil {
			ent.m = &mirror{t: t, typ: t}
		}
	})
	return ent.m, ent.err
}

type mirrorBuilder struct {
	building map[reflect.Type]bool
}

// build returns t's mirror, or nil when t is used as is. flat builds a
// struct again even when it holds nothing to convert: an embedded struct
// (reflect cannot embed a type with methods in a struct it builds).
func (b *mirrorBuilder) build(t reflect.Type, flat bool) (*mirror, error) {
	k := kindsOf(t)
	if !k.complex && !k.iface && !(flat && t.Kind() == reflect.Struct) {
		return nil, nil
	}
	if b.building[t] {
		return nil, fmt.Errorf("cannot encode %v: a recursive type holding complex numbers or interfaces", t)
	}
	b.building[t] = true
	defer delete(b.building, t)
	m := &mirror{t: t}
	var err error
	switch t.Kind() {
	case reflect.Complex128:
		m.typ = reflect.TypeFor[wireComplex128]()
	case reflect.Complex64:
		m.typ = reflect.TypeFor[wireComplex64]()
	case reflect.Interface:
		m.typ = typeAny
	case reflect.Pointer, reflect.Slice, reflect.Array:
		if m.elem, err = b.build(t.Elem(), flat && t.Kind() == reflect.Pointer); err != nil {
			return nil, err
		}
		et := t.Elem()
		if m.elem != nil {
			et = m.elem.typ
		}
		switch t.Kind() {
		case reflect.Pointer:
			m.typ = reflect.PointerTo(et)
		case reflect.Slice:
			m.typ = reflect.SliceOf(et)
		default:
			m.typ = reflect.ArrayOf(t.Len(), et)
		}
	case reflect.Map:
		if m.key, err = b.build(t.Key(), false); err != nil {
			return nil, err
		}
		if m.elem, err = b.build(t.Elem(), false); err != nil {
			return nil, err
		}
		kt, et := t.Key(), t.Elem()
		if m.key != nil {
			kt = m.key.typ
		}
		if m.elem != nil {
			et = m.elem.typ
		}
		m.typ = reflect.MapOf(kt, et)
	case reflect.Struct:
		if err := b.buildStruct(m); err != nil {
			return nil, err
		}
	default:
		return nil, nil
	}
	return m, nil
}

// buildStruct builds a struct's mirror: the fields the CBOR library
// encodes, with their names and tags, and the special "_" field that
// carries struct options (toarray).
func (b *mirrorBuilder) buildStruct(m *mirror) error {
	t := m.t
	var fields []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("cbor")
		if !ok {
			tag = f.Tag.Get("json")
		}
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		sf := reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag}
		var fm *mirror
		var err error
		switch {
		case f.Name == "_":
			sf.PkgPath = reflect.TypeFor[mirror]().PkgPath()
		case f.Anonymous && name == "" && indirect(f.Type).Kind() == reflect.Struct:
			// Embedded: the library promotes its fields.
			if !f.IsExported() {
				return fmt.Errorf("cannot encode %v: it embeds unexported %v beside complex numbers or interfaces", t, f.Type)
			}
			if fm, err = b.build(f.Type, true); err != nil {
				return err
			}
			sf.Name = "Hopwire_embedded_" + strconv.Itoa(i)
			sf.Anonymous = true
		case !f.IsExported():
			continue
		default:
			if fm, err = b.build(f.Type, false); err != nil {
				return err
			}
		}
		if fm != nil {
			sf.Type = fm.typ
		}
		m.fields = append(m.fields, mirrorField{from: i, to: len(fields), m: fm})
		fields = append(fields, sf)
	}
	m.typ = reflect.StructOf(fields)
	return nil
}

func indirect(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// errTooDeep stops the conversion of a value nested deeper than the
// decoder accepts (or cyclic, through interfaces).
var errTooDeep = errors.New("value nested too deeply")

// maxConvertDepth bounds the nesting of a conversion to or from a mirror:
// pointers count as levels here but not in CBOR.
const maxConvertDepth = 2 * maxScanDepth

// out converts v (of type m.t) to a value of type m.typ.
func (m *mirror) out(v reflect.Value, depth int) (reflect.Value, error) {
	if depth > maxConvertDepth {
		return reflect.Value{}, errTooDeep
	}
	if m.typ == m.t && m.t.Kind() != reflect.Interface && m.fields == nil && m.elem == nil && m.key == nil {
		return v, nil
	}
	conv := func(sub *mirror, x reflect.Value) (reflect.Value, error) {
		if sub == nil {
			return x, nil
		}
		return sub.out(x, depth+1)
	}
	switch m.t.Kind() {
	case reflect.Complex128, reflect.Complex64:
		return reflect.ValueOf(v.Complex()).Convert(m.typ), nil
	case reflect.Interface:
		r := reflect.New(typeAny).Elem()
		if v.IsNil() {
			return r, nil
		}
		x := v.Elem()
		if k := kindsOf(x.Type()); k.complex || k.iface {
			xm, err := mirrorOf(x.Type())
			if err != nil {
				return reflect.Value{}, err
			}
			if x, err = xm.out(x, depth+1); err != nil {
				return reflect.Value{}, err
			}
		}
		r.Set(x)
		return r, nil
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(m.typ), nil
		}
		x, err := conv(m.elem, v.Elem())
		if err != nil {
			return reflect.Value{}, err
		}
		p := reflect.New(m.typ.Elem())
		p.Elem().Set(x)
		return p, nil
	case reflect.Slice, reflect.Array:
		var r reflect.Value
		if m.t.Kind() == reflect.Slice {
			if v.IsNil() {
				return reflect.Zero(m.typ), nil
			}
			r = reflect.MakeSlice(m.typ, v.Len(), v.Len())
		} else {
			r = reflect.New(m.typ).Elem()
		}
		for i := range v.Len() {
			x, err := conv(m.elem, v.Index(i))
			if err != nil {
				return reflect.Value{}, err
			}
			r.Index(i).Set(x)
		}
		return r, nil
	case reflect.Map:
		if v.IsNil() {
			return reflect.Zero(m.typ), nil
		}
		r := reflect.MakeMapWithSize(m.typ, v.Len())
		it := v.MapRange()
		for it.Next() {
			k, err := conv(m.key, it.Key())
			if err != nil {
				return reflect.Value{}, err
			}
			x, err := conv(m.elem, it.Value())
			if err != nil {
				return reflect.Value{}, err
			}
			r.SetMapIndex(k, x)
		}
		return r, nil
	case reflect.Struct:
		r := reflect.New(m.typ).Elem()
		for _, f := range m.fields {
			if m.typ.Field(f.to).Name == "_" {
				continue
			}
			x, err := conv(f.m, v.Field(f.from))
			if err != nil {
				return reflect.Value{}, err
			}
			r.Field(f.to).Set(x)
		}
		return r, nil
	}
	return v, nil
}

// in copies src (of type m.typ) into dst (settable, of type m.t).
func (m *mirror) in(dst, src reflect.Value, depth int) error {
	if depth > maxConvertDepth {
		return errTooDeep
	}
	if m.typ == m.t && m.t.Kind() != reflect.Interface && m.fields == nil && m.elem == nil && m.key == nil {
		dst.Set(src)
		return nil
	}
	conv := func(sub *mirror, d, s reflect.Value) error {
		if sub == nil {
			d.Set(s)
			return nil
		}
		return sub.in(d, s, depth+1)
	}
	switch m.t.Kind() {
	case reflect.Complex128, reflect.Complex64:
		dst.SetComplex(src.Complex())
	case reflect.Interface:
		if src.IsNil() {
			dst.SetZero()
			return nil
		}
		x := reflect.ValueOf(fixAny(src.Interface(), depth))
		if !x.Type().AssignableTo(m.t) {
			return fmt.Errorf("cannot decode %v into %v", x.Type(), m.t)
		}
		dst.Set(x)
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return nil
		}
		p := reflect.New(m.t.Elem())
		if err := conv(m.elem, p.Elem(), src.Elem()); err != nil {
			return err
		}
		dst.Set(p)
	case reflect.Slice, reflect.Array:
		if m.t.Kind() == reflect.Slice {
			if src.IsNil() {
				dst.SetZero()
				return nil
			}
			dst.Set(reflect.MakeSlice(m.t, src.Len(), src.Len()))
		}
		for i := range src.Len() {
			if err := conv(m.elem, dst.Index(i), src.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return nil
		}
		r := reflect.MakeMapWithSize(m.t, src.Len())
		it := src.MapRange()
		for it.Next() {
			k := reflect.New(m.t.Key()).Elem()
			if err := conv(m.key, k, it.Key()); err != nil {
				return err
			}
			x := reflect.New(m.t.Elem()).Elem()
			if err := conv(m.elem, x, it.Value()); err != nil {
				return err
			}
			r.SetMapIndex(k, x)
		}
		dst.Set(r)
	case reflect.Struct:
		for _, f := range m.fields {
			if m.typ.Field(f.to).Name == "_" {
				continue
			}
			if err := conv(f.m, dst.Field(f.from), src.Field(f.to)); err != nil {
				return err
			}
		}
	}
	return nil
}
