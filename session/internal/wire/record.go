package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RecordType is the first byte of a record header.
type RecordType uint8

// Record types. Every stream carries a sequence of records: one Open record
// from the side that opened it, Data records, and finally End (a clean
// close of that direction) or Abort (an error the reader must see).
const (
	RecordData  RecordType = 0
	RecordOpen  RecordType = 1
	RecordEnd   RecordType = 2
	RecordAbort RecordType = 3
)

// RecordHeaderLen is the size of a record header: 1 byte type, 3 bytes
// big-endian payload length.
const RecordHeaderLen = 4

// MaxRecordPayload is the largest payload a record header can declare.
const MaxRecordPayload = 1<<24 - 1

// MaxControlPayload bounds the payload of Open and Abort records, which the
// reader buffers whole.
const MaxControlPayload = 4096

// ErrBadRecord reports a malformed record header.
var ErrBadRecord = errors.New("wire: malformed record")

func (t RecordType) String() string {
	switch t {
	case RecordData:
		return "data"
	case RecordOpen:
		return "open"
	case RecordEnd:
		return "end"
	case RecordAbort:
		return "abort"
	}
	return fmt.Sprintf("record(%d)", uint8(t))
}

// PutRecordHeader writes a record header into b, which must hold
// RecordHeaderLen bytes.
func PutRecordHeader(b []byte, t RecordType, n int) {
	if n < 0 || n > MaxRecordPayload {
		panic("wire: record payload out of range")
	}
	b[0] = byte(t)
	b[1] = byte(n >> 16)
	b[2] = byte(n >> 8)
	b[3] = byte(n)
}

// ParseRecordHeader decodes a record header and checks it: an unknown type,
// an End record with a payload, or a control record larger than
// MaxControlPayload is an error.
func ParseRecordHeader(b []byte) (RecordType, int, error) {
	if len(b) < RecordHeaderLen {
		return 0, 0, ErrBadRecord
	}
	t := RecordType(b[0])
	n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	switch t {
	case RecordData:
	case RecordOpen, RecordAbort:
		if n > MaxControlPayload {
			return 0, 0, fmt.Errorf("%w: %s record of %d bytes exceeds %d", ErrBadRecord, t, n, MaxControlPayload)
		}
	case RecordEnd:
		if n != 0 {
			return 0, 0, fmt.Errorf("%w: end record with %d-byte payload", ErrBadRecord, n)
		}
	default:
		return 0, 0, fmt.Errorf("%w: unknown record type %d", ErrBadRecord, uint8(t))
	}
	return t, n, nil
}

// AbortCode says why a stream was aborted.
type AbortCode uint16

// Abort codes. Codes are stable: they appear on the wire and in errors.
const (
	AbortUnknown  AbortCode = 0 // the stream ended without a clean close
	AbortLocal    AbortCode = 1 // the sender gave up (Abort called, or its side failed)
	AbortRefused  AbortCode = 2 // the receiver refused the stream (cap, backlog, kind)
	AbortTimeout  AbortCode = 3 // an idle, half-close or write deadline expired
	AbortUpstream AbortCode = 4 // a relay's other side failed
	AbortPolicy   AbortCode = 5 // a policy denied the stream
	AbortProtocol AbortCode = 6 // the peer broke the record protocol
	AbortClosed   AbortCode = 7 // the link is closing
)

func (c AbortCode) String() string {
	switch c {
	case AbortUnknown:
		return "unknown"
	case AbortLocal:
		return "aborted"
	case AbortRefused:
		return "refused"
	case AbortTimeout:
		return "timeout"
	case AbortUpstream:
		return "upstream failed"
	case AbortPolicy:
		return "denied by policy"
	case AbortProtocol:
		return "protocol error"
	case AbortClosed:
		return "link closed"
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// AppendAbort appends an Abort payload: a 2-byte code and a UTF-8 reason,
// truncated so the payload stays within MaxControlPayload.
func AppendAbort(b []byte, code AbortCode, reason string) []byte {
	if len(reason) > MaxControlPayload-2 {
		reason = reason[:MaxControlPayload-2]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...)
}

// ParseAbort decodes an Abort payload.
func ParseAbort(p []byte) (AbortCode, string, error) {
	if len(p) < 2 {
		return 0, "", fmt.Errorf("%w: short abort payload", ErrBadRecord)
	}
	return AbortCode(binary.BigEndian.Uint16(p)), string(p[2:]), nil
}

// AppendOpen appends an Open payload: the stream kind and the opener's
// header bytes.
func AppendOpen(b []byte, kind uint8, hdr []byte) ([]byte, error) {
	if 1+len(hdr) > MaxControlPayload {
		return b, fmt.Errorf("wire: stream header of %d bytes exceeds %d", len(hdr), MaxControlPayload-1)
	}
	b = append(b, kind)
	return append(b, hdr...), nil
}

// ParseOpen decodes an Open payload. The returned header aliases p.
func ParseOpen(p []byte) (kind uint8, hdr []byte, err error) {
	if len(p) < 1 {
		return 0, nil, fmt.Errorf("%w: empty open payload", ErrBadRecord)
	}
	return p[0], p[1:], nil
}
