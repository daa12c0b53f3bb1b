package session

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeValues feeds arbitrary bytes to the decoding of a call's
// arguments: no panic, and references in them reach no local object.
func FuzzDecodeValues(f *testing.F) {
	enc := &encoder{}
	for _, vals := range [][]any{
		{1, "two", []byte{3}, true, 4.5, time.Unix(1, 2).UTC()},
		{map[string]any{"a": []any{1, "x"}}, nil},
		{complex(1, 2), complex64(3i), spectrum{Bins: []complex128{1}, Any: 2i}, []any{4i}},
	} {
		b, err := enc.encodeList(vals)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ref, _ := appendRef(appendArrayHeader(nil, 1), refFunc, 0xabcdef)
	f.Add(ref)
	f.Add([]byte{0x9a, 0x7f, 0xff, 0xff, 0xff})             // 2^31-element header
	f.Add([]byte{0x5a, 0xff, 0xff, 0xff, 0xff, 0x00})       // 2^32-byte string
	f.Add([]byte{0x81, 0xa2, 0x61, 0x61, 1, 0x61, 0x61, 2}) // duplicate keys
	types := []reflect.Type{reflect.TypeFor[int](), reflect.TypeFor[any](), reflect.TypeFor[map[string]any](), reflect.TypeFor[func(int) int](), reflect.TypeFor[*Ref](),
		reflect.TypeFor[complex128](), reflect.TypeFor[spectrum](), reflect.TypeFor[[]complex64]()}
	c := &Conn{exports: map[uint64]*export{}, data: map[uint64]*dataSlot{}, done: make(chan struct{}), closing: true} // closing: no releaser starts
	c.opts.StreamWait = time.Millisecond
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := splitArray(b, 1<<20)
		if err != nil {
			return
		}
		for i, raw := range items {
			wr, isRef, _ := parseRef(raw)
			if isRef && (wr.Kind == refReader || wr.Kind == refWriter || wr.Kind == refBoth) {
				continue // needs a live link
			}
			v, err := c.decodeValue(context.Background(), raw, types[i%len(types)], nil)
			if err == nil && !v.IsValid() {
				t.Fatal("no value and no error")
			}
		}
		if len(c.exports) != 0 {
			t.Fatal("decoding created exports")
		}
	})
}

func TestDecodeLimits(t *testing.T) {
	deep := make([]byte, 0, 20000)
	for range 10000 {
		deep = append(deep, 0x81)
	}
	deep = append(deep, 0)
	for name, b := range map[string][]byte{
		"deep-nesting":   deep,
		"huge-array":     {0x9a, 0x7f, 0xff, 0xff, 0xff},
		"huge-string":    {0x81, 0x5a, 0xff, 0xff, 0xff, 0xff},
		"duplicate-keys": {0x81, 0xa2, 0x61, 0x61, 1, 0x61, 0x61, 2},
		"bad-utf8":       {0x81, 0x62, 0xff, 0xfe},
		"indefinite":     {0x9f, 0xff},
	} {
		t.Run(name, func(t *testing.T) {
			items, err := splitArray(b, 1<<20)
			if err == nil {
				for _, raw := range items {
					var v any
					if err = decMode.Unmarshal(raw, &v); err != nil {
						break
					}
				}
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	enc := &encoder{}
	vals := []any{1, -1, 1 << 40, "s", []byte{1, 2}, true, false, nil, 2.5, time.Unix(5, 0).UTC(),
		map[string]any{"a": []any{1, map[string]any{"b": "c"}}}, []int{1, 2, 3}, uint64(1 << 63), -1 << 40}
	b, err := enc.encodeList(vals)
	if err != nil {
		t.Fatal(err)
	}
	items, err := splitArray(b, 1<<20)
	if err != nil || len(items) != len(vals) {
		t.Fatalf("%d items, %v", len(items), err)
	}
	// Each item decodes alone, and the fast encodings match the library's.
	for i, it := range items {
		var v any
		if err := decMode.Unmarshal(it, &v); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		want, _ := encMode.Marshal(vals[i])
		if vals[i] != nil && !bytes.Equal(it, want) {
			t.Errorf("item %d (%v): % x, library writes % x", i, vals[i], it, want)
		}
	}
	for name, bad := range map[string][]byte{
		"not-array":  {0x01},
		"short":      {0x82, 0x01},
		"trailing":   {0x81, 0x01, 0x01},
		"indefinite": {0x81, 0x5f, 0xff},
		"huge-count": {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge-str":   {0x81, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge-map":   {0x81, 0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"break":      {0x81, 0xff},
	} {
		if _, err := splitArray(bad, 1<<20); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	deep := []byte{0x81}
	for range 100 {
		deep = append(deep, 0x81)
	}
	deep = append(deep, 0)
	if _, err := splitArray(deep, 1<<20); err == nil {
		t.Error("100-deep nesting accepted")
	}
}
