package session

import (
	"bytes"
	"context"
	"math"
	"math/cmplx"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameComplex is == that also holds for NaN parts in the same places.
func sameComplex(a, b complex128) bool {
	same := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return same(real(a), real(b)) && same(imag(a), imag(b))
}

type Phase complex64

type Inner struct {
	Z  complex128
	At time.Time
}

type spectrum struct {
	Name    string
	Peak    complex128
	Small   complex64
	Phase   Phase
	Bins    []complex128
	ByName  map[string]complex64
	ByZ     map[complex128]string
	Ptr     *complex128
	Nil     *complex128
	Fixed   [2]complex64
	Nested  []Inner
	Inner            // embedded: its fields are promoted
	Any     any      // holds a complex number
	Anys    []any    // holds some
	Renamed float64  `cbor:"r"`
	Skip    int      `cbor:"-"`
	hidden  int      // unexported: not sent
	Tagged  *Inner   `cbor:"t,omitempty"`
	NoTag   []*Inner `json:"nt"`
}

type pair struct {
	_  struct{} `cbor:",toarray"`
	Re complex64
	N  int
}

type spectra struct{}

func (spectra) Echo(s spectrum) spectrum     { return s }
func (spectra) Conj(z complex128) complex128 { return cmplx.Conj(z) }
func (spectra) Conj64(z complex64) complex64 { return complex64(cmplx.Conj(complex128(z))) }
func (spectra) Sum(zs []complex128) (complex128, int) {
	var s complex128
	for _, z := range zs {
		s += z
	}
	return s, len(zs)
}
func (spectra) Pair(p pair) pair                    { p.N++; return p }
func (spectra) Any(v any) any                       { return v }
func (spectra) Map(m map[string]any) map[string]any { return m }
func (spectra) Apply(ctx context.Context, f func(context.Context, complex128) (complex128, error), z complex128) (complex128, error) {
	return f(ctx, z)
}

func TestComplexNumbers(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	specials := []complex128{0, complex(1.5, -2.25), complex(nan, 1), complex(1, nan), complex(inf, -inf),
		complex(-inf, nan), complex(math.MaxFloat64, math.SmallestNonzeroFloat64), cmplx.Inf(), cmplx.NaN()}
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("s", spectra{})
			ctx := t.Context()
			svc := cc.Service("s")
			for _, z := range specials {
				got, err := Call[complex128](ctx, svc, "Conj", z)
				if err != nil || !sameComplex(got, cmplx.Conj(z)) {
					t.Fatalf("Conj(%v) = %v, %v", z, got, err)
				}
				z64 := complex64(z)
				got64, err := Call[complex64](ctx, svc, "Conj64", z64)
				if err != nil || !sameComplex(complex128(got64), complex128(complex64(cmplx.Conj(complex128(z64))))) {
					t.Fatalf("Conj64(%v) = %v, %v", z64, got64, err)
				}
			}
			// Two results; a slice argument.
			res, err := svc.Call(ctx, "Sum", specials[:3])
			var sum complex128
			var n int
			if err == nil {
				err = res.Decode(&sum, &n)
			}
			if err != nil || n != 3 || !sameComplex(sum, specials[0]+specials[1]+specials[2]) {
				t.Fatalf("Sum = %v, %d, %v", sum, n, err)
			}
			// Inside structs, slices, maps, pointers, arrays, embedded
			// structs and interfaces.
			peak := complex(3, 4)
			when := time.Date(2026, 12, 1, 0, 0, 0, 5, time.UTC)
			in := spectrum{
				Name: "s", Peak: complex(nan, inf), Small: complex(1, -1), Phase: Phase(complex(0, 1)),
				Bins:   specials,
				ByName: map[string]complex64{"a": complex(1, 2), "inf": complex64(complex(inf, 0))},
				ByZ:    map[complex128]string{complex(1, 2): "one-two"},
				Ptr:    &peak, Fixed: [2]complex64{1i, -1i},
				Nested: []Inner{{Z: 2i, At: when}},
				Inner:  Inner{Z: complex(-inf, 7), At: when},
				Any:    complex(5, 6), Anys: []any{"x", complex(7, 8), []any{complex(9, 10)}},
				Renamed: 0.5, Skip: 9, hidden: 9,
				Tagged: &Inner{Z: 11i},
				NoTag:  []*Inner{{Z: 12}, nil},
			}
			out, err := Call[spectrum](ctx, svc, "Echo", in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range specials {
				if !sameComplex(out.Bins[i], specials[i]) {
					t.Errorf("Bins[%d] = %v, want %v", i, out.Bins[i], specials[i])
				}
			}
			if !sameComplex(out.Peak, in.Peak) || out.Small != in.Small || out.Phase != in.Phase ||
				out.ByName["a"] != in.ByName["a"] || !cmplx.IsInf(complex128(out.ByName["inf"])) ||
				out.ByZ[complex(1, 2)] != "one-two" || out.Ptr == nil || *out.Ptr != peak || out.Nil != nil ||
				out.Fixed != in.Fixed || len(out.Nested) != 1 || out.Nested[0].Z != 2i || !out.Nested[0].At.Equal(when) ||
				!sameComplex(out.Inner.Z, in.Inner.Z) || !out.Inner.At.Equal(when) ||
				out.Any != complex(5, 6) || out.Renamed != 0.5 || out.Skip != 0 || out.hidden != 0 ||
				out.Tagged == nil || out.Tagged.Z != 11i || len(out.NoTag) != 2 || out.NoTag[0].Z != 12 || out.NoTag[1] != nil {
				t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
			}
			if !reflect.DeepEqual(out.Anys, []any{"x", complex(7, 8), []any{complex(9, 10)}}) {
				t.Fatalf("Anys = %#v", out.Anys)
			}
			// toarray structs keep their shape.
			p, err := Call[pair](ctx, svc, "Pair", pair{Re: 1 + 2i, N: 1})
			if err != nil || p.Re != 1+2i || p.N != 2 {
				t.Fatalf("Pair = %+v, %v", p, err)
			}
			// Through interfaces and generic maps, both ways.
			v, err := Call[any](ctx, svc, "Any", complex64(1+1i))
			if err != nil || v != complex128(1+1i) {
				t.Fatalf("Any = %#v, %v", v, err)
			}
			m, err := Call[map[string]any](ctx, svc, "Map", map[string]any{"z": 2 - 3i, "l": []any{4i}})
			if err != nil || m["z"] != complex128(2-3i) || !reflect.DeepEqual(m["l"], []any{complex128(4i)}) {
				t.Fatalf("Map = %#v, %v", m, err)
			}
			// A callback takes and returns one.
			z, err := Call[complex128](ctx, svc, "Apply", func(ctx context.Context, z complex128) (complex128, error) {
				return z * 1i, nil
			}, complex(2, 0))
			if err != nil || z != 2i {
				t.Fatalf("Apply = %v, %v", z, err)
			}
		})
	}
}

// The encoding is the one PROTOCOL.md states: tag 43000 around [re, im].
func TestComplexEncoding(t *testing.T) {
	enc := &encoder{}
	b, err := enc.encodeValue(nil, complex(1.5, -2))
	want := []byte{0xd9, 0xa7, 0xf8, 0x82, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0xfb, 0xc0, 0, 0, 0, 0, 0, 0, 0}
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("complex128: %x, %v; want %x", b, err, want)
	}
	b, err = enc.encodeValue(nil, complex64(complex(1.5, -2)))
	want = []byte{0xd9, 0xa7, 0xf8, 0x82, 0xfa, 0x3f, 0xc0, 0, 0, 0xfa, 0xc0, 0, 0, 0}
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("complex64: %x, %v; want %x", b, err, want)
	}
	b, err = enc.encodeValue(nil, pair{Re: 1i, N: 1})
	if err != nil || len(b) == 0 || b[0] != 0x82 {
		t.Fatalf("a toarray struct holding a complex number: %x, %v", b, err)
	}
	// The mirror keeps the library's names: embedded fields promoted,
	// tags obeyed, unexported and "-" fields left out.
	b, err = enc.encodeValue(nil, spectrum{Inner: Inner{Z: 1}, Tagged: &Inner{}})
	var keys map[string]any
	if err == nil {
		err = decMode.Unmarshal(b, &keys)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Z", "At", "r", "t", "nt", "Peak"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("no key %q in %v", k, keys)
		}
	}
	for k := range keys {
		if k == "Inner" || k == "Skip" || k == "hidden" || k == "Renamed" || strings.HasPrefix(k, "Hopwire") {
			t.Errorf("key %q in %v", k, keys)
		}
	}
	c := &Conn{}
	for name, tc := range map[string]struct {
		raw []byte
		t   reflect.Type
	}{
		"untagged":     {[]byte{0x82, 0x01, 0x02}, reflect.TypeFor[complex128]()},
		"other tag":    {[]byte{0xd9, 0xa7, 0xf9, 0x82, 0x01, 0x02}, reflect.TypeFor[complex128]()},
		"three parts":  {[]byte{0xd9, 0xa7, 0xf8, 0x83, 0x01, 0x02, 0x03}, reflect.TypeFor[complex128]()},
		"text parts":   {[]byte{0xd9, 0xa7, 0xf8, 0x82, 0x61, 0x61, 0x02}, reflect.TypeFor[complex128]()},
		"overflows 64": {[]byte{0xd9, 0xa7, 0xf8, 0x82, 0xfb, 0x7f, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, reflect.TypeFor[complex64]()},
		"in a struct":  {[]byte{0xa1, 0x61, 0x5a, 0x82, 0x01, 0x02}, reflect.TypeFor[Inner]()},
	} {
		if v, err := c.decodeValue(context.Background(), tc.raw, tc.t, nil); err == nil {
			t.Errorf("%s: decoded %v", name, v)
		}
	}
	// Integers are numbers too.
	v, err := c.decodeValue(context.Background(), []byte{0xd9, 0xa7, 0xf8, 0x82, 0x01, 0x22}, reflect.TypeFor[complex128](), nil)
	if err != nil || v.Complex() != complex(1, -3) {
		t.Fatalf("integer parts: %v, %v", v, err)
	}
}

// Types a mirror cannot stand in for are refused with an error, not a
// panic.
func TestComplexUnsupported(t *testing.T) {
	type node struct {
		Z    complex128
		Next *node
	}
	type hidden struct{ Z complex128 }
	type embedsHidden struct {
		hidden
		W complex128
	}
	enc := &encoder{}
	for _, v := range []any{node{Z: 1}, embedsHidden{W: 1}} {
		if _, err := enc.encodeValue(nil, v); err == nil {
			t.Errorf("%T encoded", v)
		}
	}
	// A cycle through interfaces stops.
	loop := []any{nil}
	loop[0] = loop
	if _, err := enc.encodeValue(nil, []any{complex(1, 1), loop}); err == nil {
		t.Error("a cyclic value encoded")
	}
}
