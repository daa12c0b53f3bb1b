package rpyc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Brine tags: one byte ahead of every serialized value.
const (
	tagNone           = 0x00
	tagEmptyBytes     = 0x01
	tagEmptyTuple     = 0x02
	tagTrue           = 0x03
	tagFalse          = 0x04
	tagNotImplemented = 0x05
	tagEllipsis       = 0x06
	tagStr            = 0x08
	tagBytes1         = 0x0a // 0x0a..0x0d: 1..4 bytes
	tagBytesL1        = 0x0e
	tagBytesL4        = 0x0f
	tagTuple1         = 0x10 // 0x10..0x13: 1..4 items
	tagTupleL1        = 0x14
	tagTupleL4        = 0x15
	tagIntL1          = 0x16
	tagIntL4          = 0x17
	tagFloat          = 0x18
	tagSlice          = 0x19
	tagFrozenSet      = 0x1a
	tagComplex        = 0x1b
	immBase           = 0x50 // immediate int: tag − immBase
	immMin, immMax    = -0x30, 0x9f
)

// Limits of the brine decoder.
const (
	maxDepth     = 256  // nesting of tuples
	maxIntDigits = 4300 // Python's own default limit on int↔str conversion
)

// Tuple is a Python tuple. []any and other Go slices of brine values are
// sent as tuples too; a received tuple is always a Tuple.
type Tuple []any

// FrozenSet is a Python frozenset, as the list of its members.
type FrozenSet []any

// Slice is a Python slice object; each field is nil or an int.
type Slice struct{ Start, Stop, Step any }

// Singleton is one of Python's two singleton constants brine carries.
type Singleton int

// Python's NotImplemented and Ellipsis.
const (
	NotImplemented Singleton = 1
	Ellipsis       Singleton = 2
)

func (s Singleton) String() string {
	if s == NotImplemented {
		return "NotImplemented"
	}
	return "Ellipsis"
}

// errNotBrine reports a value brine cannot carry; the boxing layer then
// sends it by reference instead.
var errNotBrine = errors.New("rpyc: value cannot be serialized by brine")

// appendBrine appends the brine form of v. It fails with errNotBrine
// (wrapped) for values that must travel by reference.
func appendBrine(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, tagNone), nil
	case bool:
		if x {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case int:
		return appendInt(b, int64(x)), nil
	case int64:
		return appendInt(b, x), nil
	case int32:
		return appendInt(b, int64(x)), nil
	case int16:
		return appendInt(b, int64(x)), nil
	case int8:
		return appendInt(b, int64(x)), nil
	case uint8:
		return appendInt(b, int64(x)), nil
	case uint16:
		return appendInt(b, int64(x)), nil
	case uint32:
		return appendInt(b, int64(x)), nil
	case uint:
		return appendUint(b, uint64(x)), nil
	case uint64:
		return appendUint(b, x), nil
	case *big.Int:
		if x == nil {
			return append(b, tagNone), nil
		}
		if x.IsInt64() {
			return appendInt(b, x.Int64()), nil
		}
		return appendIntText(b, x.Append(nil, 10)), nil
	case float64:
		return appendFloat(append(b, tagFloat), x), nil
	case float32:
		return appendFloat(append(b, tagFloat), float64(x)), nil
	case complex128:
		return appendFloat(appendFloat(append(b, tagComplex), real(x)), imag(x)), nil
	case complex64:
		return appendFloat(appendFloat(append(b, tagComplex), float64(real(x))), float64(imag(x))), nil
	case string:
		if !utf8.ValidString(x) {
			return b, errors.New("rpyc: string is not valid UTF-8")
		}
		return appendBytes(append(b, tagStr), x), nil
	case []byte:
		return appendBytes(b, x), nil
	case Singleton:
		if x == NotImplemented {
			return append(b, tagNotImplemented), nil
		}
		if x == Ellipsis {
			return append(b, tagEllipsis), nil
		}
		return b, fmt.Errorf("%w: unknown singleton %d", errNotBrine, int(x))
	case Slice:
		return appendBrine(append(b, tagSlice), Tuple{x.Start, x.Stop, x.Step})
	case FrozenSet:
		return appendBrine(append(b, tagFrozenSet), Tuple(x))
	case Tuple:
		b = appendTupleHeader(b, len(x))
		var err error
		for _, it := range x {
			if b, err = appendBrine(b, it); err != nil {
				return b, err
			}
		}
		return b, nil
	case []any:
		return appendBrine(b, Tuple(x))
	case Namespace:
		return b, fmt.Errorf("%w: a Namespace goes by reference", errNotBrine)
	case []string:
		b = appendTupleHeader(b, len(x))
		for _, s := range x {
			var err error
			if b, err = appendBrine(b, s); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	return appendReflect(b, v)
}

// appendReflect handles the Go kinds the type switch did not: named
// numeric and string types, slices and arrays (as tuples) and maps (as a
// tuple of (key, value) pairs sorted by key, so dict(x) rebuilds them).
func appendReflect(b []byte, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Bool:
		return appendBrine(b, rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return appendInt(b, rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return appendUint(b, rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return appendFloat(append(b, tagFloat), rv.Float()), nil
	case reflect.String:
		return appendBrine(b, rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return appendBytes(b, rv.Bytes()), nil
		}
		n := rv.Len()
		b = appendTupleHeader(b, n)
		var err error
		for i := 0; i < n; i++ {
			if b, err = appendBrine(b, rv.Index(i).Interface()); err != nil {
				return b, err
			}
		}
		return b, nil
	case reflect.Map:
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		b = appendTupleHeader(b, len(keys))
		var err error
		for _, k := range keys {
			b = append(b, tagTuple1+1)
			if b, err = appendBrine(b, k.Interface()); err != nil {
				return b, err
			}
			if b, err = appendBrine(b, rv.MapIndex(k).Interface()); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	return b, fmt.Errorf("%w: %T", errNotBrine, v)
}

func appendInt(b []byte, i int64) []byte {
	if i >= immMin && i <= immMax {
		return append(b, byte(i+immBase))
	}
	var tmp [20]byte
	return appendIntText(b, strconv.AppendInt(tmp[:0], i, 10))
}

func appendUint(b []byte, u uint64) []byte {
	if u <= immMax {
		return append(b, byte(int64(u)+immBase))
	}
	var tmp [20]byte
	return appendIntText(b, strconv.AppendUint(tmp[:0], u, 10))
}

func appendIntText(b, text []byte) []byte {
	if len(text) < 256 {
		b = append(b, tagIntL1, byte(len(text)))
	} else {
		b = append(b, tagIntL4)
		b = binary.BigEndian.AppendUint32(b, uint32(len(text)))
	}
	return append(b, text...)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

// appendBytes appends a bytes item (also the body of a str).
func appendBytes[T string | []byte](b []byte, p T) []byte {
	switch n := len(p); {
	case n == 0:
		return append(b, tagEmptyBytes)
	case n <= 4:
		b = append(b, byte(tagBytes1+n-1))
	case n < 256:
		b = append(b, tagBytesL1, byte(n))
	default:
		b = append(b, tagBytesL4)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, p...)
}

func appendTupleHeader(b []byte, n int) []byte {
	switch {
	case n == 0:
		return append(b, tagEmptyTuple)
	case n <= 4:
		return append(b, byte(tagTuple1+n-1))
	case n < 256:
		return append(b, tagTupleL1, byte(n))
	}
	b = append(b, tagTupleL4)
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// BrineError is a malformed brine value: where it went wrong and why.
type BrineError struct {
	Offset int
	Reason string
}

func (e *BrineError) Error() string {
	return fmt.Sprintf("rpyc: bad brine at byte %d: %s", e.Offset, e.Reason)
}

// decoder reads brine values from b. It allocates in proportion to the
// bytes it has actually seen, never to a declared length or count.
type decoder struct {
	b     []byte
	off   int
	depth int
}

func (d *decoder) fail(format string, args ...any) error {
	return &BrineError{Offset: d.off, Reason: fmt.Sprintf(format, args...)}
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.b)-d.off {
		return nil, d.fail("need %d bytes, %d left", n, len(d.b)-d.off)
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p, nil
}

func (d *decoder) u8() (int, error) {
	p, err := d.take(1)
	if err != nil {
		return 0, err
	}
	return int(p[0]), nil
}

func (d *decoder) u32() (int, error) {
	p, err := d.take(4)
	if err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(d.b)) {
		return 0, d.fail("length %d exceeds the message", n)
	}
	return int(n), nil
}

// Decode parses one whole brine value; trailing bytes are an error.
func Decode(b []byte) (any, error) {
	d := &decoder{b: b}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	if d.off != len(b) {
		return nil, d.fail("%d trailing bytes", len(b)-d.off)
	}
	return v, nil
}

// Encode serializes v with brine. Values brine cannot carry (funcs,
// pointers, proxies) are an error: only a connection can box them.
func Encode(v any) ([]byte, error) { return appendBrine(nil, v) }

func (d *decoder) value() (any, error) {
	t, err := d.u8()
	if err != nil {
		return nil, err
	}
	switch {
	case t >= immBase+immMin && t <= immBase+immMax:
		return int64(t - immBase), nil
	case t >= tagBytes1 && t <= tagBytes1+3:
		return d.bytes(t - tagBytes1 + 1)
	case t >= tagTuple1 && t <= tagTuple1+3:
		return d.tuple(t - tagTuple1 + 1)
	}
	switch t {
	case tagNone:
		return nil, nil
	case tagEmptyBytes:
		return []byte{}, nil
	case tagEmptyTuple:
		return Tuple{}, nil
	case tagTrue:
		return true, nil
	case tagFalse:
		return false, nil
	case tagNotImplemented:
		return NotImplemented, nil
	case tagEllipsis:
		return Ellipsis, nil
	case tagStr:
		at := d.off
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		p, ok := v.([]byte)
		if !ok {
			d.off = at
			return nil, d.fail("str holds %T, want bytes", v)
		}
		if !utf8.Valid(p) {
			d.off = at
			return nil, d.fail("str is not valid UTF-8")
		}
		return string(p), nil
	case tagBytesL1:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.bytes(n)
	case tagBytesL4:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.bytes(n)
	case tagTupleL1:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.tuple(n)
	case tagTupleL4:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.tuple(n)
	case tagIntL1:
		n, err := d.u8()
		if err != nil {
			return nil, err
		}
		return d.intText(n)
	case tagIntL4:
		n, err := d.u32()
		if err != nil {
			return nil, err
		}
		return d.intText(n)
	case tagFloat:
		p, err := d.take(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(p)), nil
	case tagComplex:
		p, err := d.take(16)
		if err != nil {
			return nil, err
		}
		re := math.Float64frombits(binary.BigEndian.Uint64(p))
		im := math.Float64frombits(binary.BigEndian.Uint64(p[8:]))
		return complex(re, im), nil
	case tagSlice:
		v, err := d.nested()
		if err != nil {
			return nil, err
		}
		tp, ok := v.(Tuple)
		if !ok || len(tp) != 3 {
			return nil, d.fail("slice body is not a 3-tuple")
		}
		for _, x := range tp {
			switch x.(type) {
			case nil, int64, *big.Int:
			default:
				return nil, d.fail("slice holds %T", x)
			}
		}
		return Slice{tp[0], tp[1], tp[2]}, nil
	case tagFrozenSet:
		v, err := d.nested()
		if err != nil {
			return nil, err
		}
		tp, ok := v.(Tuple)
		if !ok {
			return nil, d.fail("frozenset body is %T, want a tuple", v)
		}
		return FrozenSet(tp), nil
	}
	d.off--
	return nil, d.fail("unknown tag 0x%02x", t)
}

func (d *decoder) nested() (any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		return nil, d.fail("nesting deeper than %d", maxDepth)
	}
	return d.value()
}

func (d *decoder) bytes(n int) ([]byte, error) {
	p, err := d.take(n)
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	copy(out, p)
	return out, nil
}

func (d *decoder) tuple(n int) (any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		return nil, d.fail("nesting deeper than %d", maxDepth)
	}
	// Every item takes at least one byte: never reserve more than remain.
	t := make(Tuple, 0, min(n, len(d.b)-d.off))
	for range n {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		t = append(t, v)
	}
	return t, nil
}

func (d *decoder) intText(n int) (any, error) {
	at := d.off
	p, err := d.take(n)
	if err != nil {
		return nil, err
	}
	digits := p
	if len(digits) > 0 && (digits[0] == '-' || digits[0] == '+') {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > maxIntDigits {
		d.off = at
		return nil, d.fail("int of %d digits", len(digits))
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			d.off = at
			return nil, d.fail("int text %q is not decimal", p)
		}
	}
	if i, err := strconv.ParseInt(string(p), 10, 64); err == nil {
		return i, nil
	}
	z, ok := new(big.Int).SetString(string(p), 10)
	if !ok {
		d.off = at
		return nil, d.fail("int text %q", p)
	}
	return z, nil
}
