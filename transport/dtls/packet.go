package dtls

import (
	"encoding/binary"
	"errors"
)

// The reliable layer's wire format. Every DTLS application-data record
// carries exactly one packet; DTLS has already authenticated and decrypted
// it, so the layer trusts the peer's arithmetic no further than its own
// bounds checks.
//
//	offset size field
//	0      1    version<<4 | type     (version 1; type 1 DATA, 2 ACK)
//	1      1    flags                 (FIN on DATA; PING on ACK)
//	2      4    ack    next sequence number the sender expects (cumulative)
//	6      4    wnd    right edge: the sender accepts sequence numbers < wnd
//	10     4    tsval  sender's clock, µs, for RTT measurement (never 0)
//	14     4    tsecr  the latest tsval the sender received (0 if none)
//	DATA:
//	18     4    seq    sequence number of this segment (one per packet)
//	22     ...  payload
//	ACK:
//	18     1    n      number of SACK blocks
//	19     8n   blocks [start, end) pairs of sequence numbers received
//	                   above ack
//	PROBE (type 3):
//	18     2    size   the UDP payload size probed
//	20     ...  zeros  padding up to it
//	PROBEACK (type 4):
//	18     2    size   the size of the PROBE received
//
// A PROBE tests whether the path carries datagrams of its size (pmtu.go);
// the receiver answers with a PROBEACK at once. Peers that predate them
// drop both as malformed, so a conn against one keeps its MTU.
//
// Sequence numbers count packets, not bytes, start at 0 and wrap modulo
// 2^32 (compared with serial-number arithmetic). A FIN is a DATA segment
// with the FIN flag; it takes a sequence number and usually no payload.
// All integers are big-endian.
const (
	protoVersion = 1

	typeData     = 1
	typeAck      = 2
	typeProbe    = 3
	typeProbeAck = 4

	flagFIN  = 1 << 0
	flagPing = 1 << 1

	hdrLen     = 18
	dataHdrLen = hdrLen + 4
	ackHdrLen  = hdrLen + 1
	probeLen   = hdrLen + 2
	blockLen   = 8

	// maxBlocks caps the SACK blocks of one ACK; the MTU may cap it lower.
	maxBlocks = 255
)

// errMalformed is returned for a packet that does not parse; the reader
// drops such packets.
var errMalformed = errors.New("dtls: malformed packet")

// header is the part common to every packet.
type header struct {
	typ, flags byte
	ack, wnd   uint32
	tsval      uint32
	tsecr      uint32
}

// put encodes h into b, which must hold hdrLen bytes.
func (h *header) put(b []byte) {
	b[0] = protoVersion<<4 | h.typ
	b[1] = h.flags
	binary.BigEndian.PutUint32(b[2:], h.ack)
	binary.BigEndian.PutUint32(b[6:], h.wnd)
	binary.BigEndian.PutUint32(b[10:], h.tsval)
	binary.BigEndian.PutUint32(b[14:], h.tsecr)
}

// block is a SACK block: sequence numbers [start, end) were received.
type block struct{ start, end uint32 }

// packet is a parsed packet. payload and blocks alias the input.
type packet struct {
	header
	seq     uint32 // DATA
	payload []byte // DATA
	nblocks int    // ACK
	blocks  []byte // ACK: nblocks*blockLen bytes
	size    int    // PROBE, PROBEACK
}

// block returns the i-th SACK block of an ACK.
func (p *packet) block(i int) block {
	b := p.blocks[i*blockLen:]
	return block{binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])}
}

// parse decodes b into p. It never panics and allocates nothing.
func parse(b []byte, p *packet) error {
	if len(b) < hdrLen || b[0]>>4 != protoVersion {
		return errMalformed
	}
	p.typ = b[0] & 0x0f
	p.flags = b[1]
	p.ack = binary.BigEndian.Uint32(b[2:])
	p.wnd = binary.BigEndian.Uint32(b[6:])
	p.tsval = binary.BigEndian.Uint32(b[10:])
	p.tsecr = binary.BigEndian.Uint32(b[14:])
	p.seq, p.payload, p.nblocks, p.blocks, p.size = 0, nil, 0, nil, 0
	switch p.typ {
	case typeData:
		if len(b) < dataHdrLen {
			return errMalformed
		}
		p.seq = binary.BigEndian.Uint32(b[hdrLen:])
		p.payload = b[dataHdrLen:]
	case typeAck:
		if len(b) < ackHdrLen {
			return errMalformed
		}
		n := int(b[hdrLen])
		if len(b) != ackHdrLen+n*blockLen {
			return errMalformed
		}
		p.nblocks, p.blocks = n, b[ackHdrLen:]
	case typeProbe, typeProbeAck:
		if len(b) < probeLen || p.typ == typeProbeAck && len(b) != probeLen {
			return errMalformed
		}
		p.size = int(binary.BigEndian.Uint16(b[hdrLen:]))
	default:
		return errMalformed
	}
	return nil
}

// appendData appends a DATA packet to b.
func appendData(b []byte, h header, seq uint32, payload []byte) []byte {
	h.typ = typeData
	var hdr [dataHdrLen]byte
	h.put(hdr[:])
	binary.BigEndian.PutUint32(hdr[hdrLen:], seq)
	b = append(b, hdr[:]...)
	return append(b, payload...)
}

// appendAck appends an ACK packet with the given SACK blocks to b.
func appendAck(b []byte, h header, blocks []block) []byte {
	h.typ = typeAck
	var hdr [ackHdrLen]byte
	h.put(hdr[:])
	hdr[hdrLen] = byte(len(blocks))
	b = append(b, hdr[:]...)
	for _, bl := range blocks {
		b = binary.BigEndian.AppendUint32(b, bl.start)
		b = binary.BigEndian.AppendUint32(b, bl.end)
	}
	return b
}

// appendProbe appends a PROBE padded so that its DTLS record makes a
// datagram of size bytes.
func appendProbe(b []byte, h header, size int) []byte {
	h.typ = typeProbe
	var hdr [probeLen]byte
	h.put(hdr[:])
	binary.BigEndian.PutUint16(hdr[hdrLen:], uint16(size))
	b = append(b, hdr[:]...)
	for len(b) < size-dtlsOverhead {
		b = append(b, 0)
	}
	return b
}

// appendProbeAck appends a PROBEACK for a probe of size bytes.
func appendProbeAck(b []byte, h header, size int) []byte {
	h.typ = typeProbeAck
	var hdr [probeLen]byte
	h.put(hdr[:])
	binary.BigEndian.PutUint16(hdr[hdrLen:], uint16(size))
	return append(b, hdr[:]...)
}

// seqLT reports a < b in serial-number arithmetic.
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }

// seqLE reports a <= b in serial-number arithmetic.
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }
