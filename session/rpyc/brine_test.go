package rpyc

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

// TestBrineTags encodes one value per tag and checks the bytes, written
// from the tag table, and that they decode back.
func TestBrineTags(t *testing.T) {
	big300 := new(big.Int).Exp(big.NewInt(10), big.NewInt(299), nil) // 300 digits
	cases := []struct {
		v    any
		want string
	}{
		{nil, "00"}, {[]byte{}, "01"}, {Tuple{}, "02"}, {true, "03"}, {false, "04"},
		{NotImplemented, "05"}, {Ellipsis, "06"},
		{"é", "08 0b c3a9"}, {"", "08 01"},
		{[]byte("a"), "0a 61"}, {[]byte("ab"), "0b 6162"}, {[]byte("abc"), "0c 616263"},
		{[]byte("abcd"), "0d 61626364"}, {[]byte("abcde"), "0e 05 6162636465"},
		{bytes.Repeat([]byte{7}, 256), "0f 00000100" + strings.Repeat("07", 256)},
		{Tuple{int64(1)}, "10 51"}, {Tuple{int64(1), int64(2)}, "11 51 52"},
		{Tuple{int64(1), int64(2), int64(3)}, "12 51 52 53"},
		{Tuple{int64(1), int64(2), int64(3), int64(4)}, "13 51 52 53 54"},
		{Tuple{int64(1), int64(2), int64(3), int64(4), int64(5)}, "14 05 51 52 53 54 55"},
		{make(Tuple, 256), "15 00000100" + strings.Repeat("00", 256)},
		{int64(160), "16 03 313630"}, {int64(-49), "16 03 2d3439"},
		{big300, "17 0000012c 31" + strings.Repeat("30", 299)},
		{1.5, "18 3ff8000000000000"},
		{Slice{int64(1), nil, int64(-1)}, "19 12 51 00 4f"},
		{FrozenSet{int64(3)}, "1a 10 53"},
		{complex(1, 2), "1b 3ff0000000000000 4000000000000000"},
		{int64(-48), "20"}, {int64(0), "50"}, {int64(159), "ef"},
	}
	for _, c := range cases {
		got, err := Encode(c.v)
		if err != nil {
			t.Fatalf("Encode(%s): %v", pyRepr(c.v), err)
		}
		if want := unhex(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("Encode(%.40s) = %x, want %x", pyRepr(c.v), got, want)
			continue
		}
		back, err := Decode(got)
		if err != nil {
			t.Fatalf("Decode(%x): %v", got, err)
		}
		if fmt.Sprintf("%#v", back) != fmt.Sprintf("%#v", c.v) {
			t.Errorf("round trip %#v → %#v", c.v, back)
		}
	}
	// Go types that travel as brine too.
	for _, c := range []struct {
		v    any
		want string
	}{
		{int(5), "55"}, {uint64(math.MaxUint64), "16 14 3138343436373434303733373039353531363135"},
		{[]string{"a"}, "10 08 0a 61"}, {[]int{1, 2}, "11 51 52"},
		{map[string]int{"b": 2, "a": 1}, "11 11 08 0a 61 51 11 08 0a 62 52"},
		{float32(0.5), "18 3fe0000000000000"},
	} {
		got, err := Encode(c.v)
		if err != nil || hex.EncodeToString(got) != hex.EncodeToString(unhex(t, c.want)) {
			t.Errorf("Encode(%#v) = %x, %v; want %s", c.v, got, err, c.want)
		}
	}
	if _, err := Encode(func() {}); !errors.Is(err, errNotBrine) {
		t.Errorf("Encode(func) = %v", err)
	}
	if _, err := Encode(string([]byte{0xff})); err == nil {
		t.Error("invalid UTF-8 str encoded")
	}
}

// TestBrineBadInput: malformed input is an error, never a panic, and a
// declared size does not allocate by itself.
func TestBrineBadInput(t *testing.T) {
	deep := strings.Repeat("10", maxDepth+2) + "00"
	for _, in := range []string{
		"", "07", "09", "1c", "f0", "ff", // unknown tags
		"0e", "0e 05 61", "0f ffffffff", "0f 00000003 6161", // short bytes
		"14 05 51", "15 ffffffff 51", // short tuples
		"16 00", "16 02 2d2d", "16 02 3161", "17 ffffffff", // bad ints
		"18 0000", "1b 00", // short floats
		"08 51", "08 0a ff", // str of a non-bytes, invalid UTF-8
		"19 11 51 52", "19 12 08 0a 61 00 00", "1a 51", // bad slice, frozenset
		"00 00", // trailing bytes
		deep,
		"17 00001194 " + strings.Repeat("31", 4500), // over Python's int digit limit
	} {
		b := unhex(t, in)
		allocs := testing.AllocsPerRun(1, func() { Decode(b) })
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(%.40s) succeeded", in)
		} else if !strings.Contains(err.Error(), "brine") {
			t.Errorf("Decode(%.40s): %v", in, err)
		}
		if allocs > 600 {
			t.Errorf("Decode(%.40s): %v allocations", in, allocs)
		}
	}
}

func TestFrame(t *testing.T) {
	var buf bytes.Buffer
	msg := append(make([]byte, frameHeader), "payload"...)
	f := sealFrame(msg, 0)
	if want := unhex(t, "00000007 00 7061796c6f6164 0a"); !bytes.Equal(f, want) {
		t.Fatalf("frame %x", f)
	}
	p, err := readFrame(bytes.NewReader(f), &buf, 100)
	if err != nil || string(p) != "payload" {
		t.Fatalf("readFrame = %q, %v", p, err)
	}
	// Compressed above the threshold, and inflated on the way in.
	long := bytes.Repeat([]byte("abc"), 2000)
	f = sealFrame(append(make([]byte, frameHeader), long...), 3000)
	if f[4] != 1 || len(f) > 200 {
		t.Fatalf("not compressed: flag %d, %d bytes", f[4], len(f))
	}
	p, err = readFrame(bytes.NewReader(f), &buf, 1<<20)
	if err != nil || !bytes.Equal(p, long) {
		t.Fatalf("compressed frame: %v", err)
	}
	// Limits: declared length, inflated size, bad flag, short frame.
	if _, err := readFrame(bytes.NewReader(unhex(t, "7fffffff 00 61")), &buf, 1<<20); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("huge frame: %v", err)
	}
	if _, err := readFrame(bytes.NewReader(f), &buf, 1000); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("zip bomb: %v", err)
	}
	if _, err := readFrame(bytes.NewReader(unhex(t, "00000001 02 61 0a")), &buf, 100); !errors.Is(err, ErrProtocol) {
		t.Errorf("flag 2: %v", err)
	}
	if _, err := readFrame(bytes.NewReader(unhex(t, "00000010 00 61")), &buf, 100); err == nil {
		t.Error("short frame accepted")
	}
	if _, err := readFrame(bytes.NewReader(unhex(t, "00000002 01 6161 0a")), &buf, 100); !errors.Is(err, ErrProtocol) {
		t.Errorf("bad zlib: %v", err)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte("hello"))
	zw.Close()
	zf := append(append([]byte{0, 0, 0, byte(z.Len()), 1}, z.Bytes()...), '\n')
	if p, err := readFrame(bytes.NewReader(zf), &buf, 100); err != nil || string(p) != "hello" {
		t.Errorf("zlib default level: %q, %v", p, err)
	}
}

func FuzzBrine(f *testing.F) {
	for _, s := range []string{"00", "12 51 50 11 51 11 51 10 08 0b 6869", "16 03 313630", "19 12 51 00 4f", "1a 10 53", "0f 00000001 61", "15 00000002 50 50"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("decoded %#v does not re-encode: %v", v, err)
		}
		v2, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(v, v2) && fmt.Sprintf("%#v", v) != fmt.Sprintf("%#v", v2) {
			t.Fatalf("re-encode round trip %#v → %#v (%v)", v, v2, err)
		}
	})
}

func FuzzFrame(f *testing.F) {
	f.Add(unhex(f, "00000007 00 7061796c6f6164 0a"))
	f.Add(sealFrame(append(make([]byte, frameHeader), bytes.Repeat([]byte("abc"), 2000)...), 3000))
	f.Add(unhex(f, "0000000c 00 12 51 50 11 51 11 51 10 08 0b 6869 0a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var buf bytes.Buffer
		r := bytes.NewReader(b)
		for {
			p, err := readFrame(r, &buf, 1<<16)
			if err != nil {
				return
			}
			if len(p) > 1<<16 {
				t.Fatalf("payload of %d bytes past the limit", len(p))
			}
			decodeMessage(p)
		}
	})
}
