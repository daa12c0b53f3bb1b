package session

import (
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
	types := []reflect.Type{reflect.TypeFor[int](), reflect.TypeFor[any](), reflect.TypeFor[map[string]any](), reflect.TypeFor[func(int) int](), reflect.TypeFor[*Ref]()}
	c := &Conn{exports: map[uint64]*export{}, data: map[uint64]*dataSlot{}, relWake: make(chan struct{}, 1), done: make(chan struct{})}
	c.opts.StreamWait = time.Millisecond
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := splitArray(b)
		if err != nil {
			return
		}
		for i, raw := range items {
			wr, isRef, _ := parseRef(raw)
			if isRef && (wr.Kind == refReader || wr.Kind == refWriter || wr.Kind == refBoth) {
				continue // needs a live link
			}
			v, err := c.decodeValue(context.Background(), raw, types[i%len(types)])
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
			items, err := splitArray(b)
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
