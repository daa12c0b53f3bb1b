package dtls

import (
	"bytes"
	"testing"
)

// FuzzParse checks that any input parses without panicking and that a
// parsed packet encodes back to the same bytes.
func FuzzParse(f *testing.F) {
	h := header{flags: flagFIN, ack: 7, wnd: 1000, tsval: 123456, tsecr: 654321}
	f.Add(appendData(nil, h, 42, []byte("payload")))
	f.Add(appendData(nil, h, 1<<31, nil))
	f.Add(appendAck(nil, h, nil))
	f.Add(appendAck(nil, h, []block{{10, 12}, {20, 30}, {0xfffffff0, 5}}))
	f.Add([]byte{0x12, 0})
	f.Add(appendProbe(nil, h, 1500))
	f.Add(appendProbeAck(nil, h, 8192))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p packet
		if parse(b, &p) != nil {
			return
		}
		var out []byte
		switch p.typ {
		case typeData:
			out = appendData(nil, p.header, p.seq, p.payload)
		case typeAck:
			blocks := make([]block, p.nblocks)
			for i := range blocks {
				blocks[i] = p.block(i)
			}
			out = appendAck(nil, p.header, blocks)
		case typeProbeAck:
			out = appendProbeAck(nil, p.header, p.size)
		case typeProbe:
			// The padding is not read: only the header and size are
			// the probe's.
			out = appendProbe(nil, p.header, p.size)[:probeLen]
			b = b[:probeLen]
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded %x, parsed from %x", out, b)
		}
	})
}

func TestSeqArithmetic(t *testing.T) {
	for _, tc := range []struct {
		a, b uint32
		lt   bool
	}{
		{0, 1, true}, {1, 0, false}, {0xffffffff, 0, true}, {0, 0xffffffff, false},
		{5, 5, false}, {0x7fffffff, 0x80000000, true},
	} {
		if got := seqLT(tc.a, tc.b); got != tc.lt {
			t.Errorf("seqLT(%#x, %#x) = %v", tc.a, tc.b, got)
		}
	}
}

// A probe makes a DTLS record of exactly the size it probes, and parses
// back to that size; its acknowledgement carries it.
func TestProbePacket(t *testing.T) {
	h := header{ack: 1, wnd: 2, tsval: 3}
	for _, size := range []int{1200, 1472, 8192} {
		b := appendProbe(nil, h, size)
		if len(b)+dtlsOverhead != size {
			t.Errorf("probe of %d: a %d-byte packet makes a %d-byte datagram", size, len(b), len(b)+dtlsOverhead)
		}
		var p packet
		if err := parse(b, &p); err != nil || p.typ != typeProbe || p.size != size {
			t.Errorf("probe of %d parsed as type %d size %d (%v)", size, p.typ, p.size, err)
		}
		if err := parse(appendProbeAck(nil, h, size), &p); err != nil || p.typ != typeProbeAck || p.size != size {
			t.Errorf("probe ack of %d parsed as type %d size %d (%v)", size, p.typ, p.size, err)
		}
	}
	var p packet
	if parse(append(appendProbeAck(nil, h, 1500), 0), &p) == nil {
		t.Error("a probe ack with trailing bytes parsed")
	}
}
