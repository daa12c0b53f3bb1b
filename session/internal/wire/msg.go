package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MsgKind is the first byte of an RPC message.
type MsgKind uint8

// RPC message kinds.
const (
	MsgHello   MsgKind = 1 // limits of the sender; the first message each way
	MsgCall    MsgKind = 2 // invoke a method of a service or a referenced object
	MsgReply   MsgKind = 3 // the results of a call
	MsgError   MsgKind = 4 // a call failed
	MsgCancel  MsgKind = 5 // the caller no longer waits for a call
	MsgRelease MsgKind = 6 // the sender dropped its proxies of these references
	MsgPing    MsgKind = 7
	MsgPong    MsgKind = 8
)

func (k MsgKind) String() string {
	switch k {
	case MsgHello:
		return "hello"
	case MsgCall:
		return "call"
	case MsgReply:
		return "reply"
	case MsgError:
		return "error"
	case MsgCancel:
		return "cancel"
	case MsgRelease:
		return "release"
	case MsgPing:
		return "ping"
	case MsgPong:
		return "pong"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MaxReleaseIDs bounds the reference ids of one release message.
const MaxReleaseIDs = 4096

// Msg is one RPC message. Only the fields of its Kind are encoded.
//
//   - hello:   Version, MaxMsg, MaxCalls, MaxRefs
//   - call:    ID, Obj, Service (when Obj is 0), Method, Timeout, Body
//   - reply:   ID, Body
//   - error:   ID, Code, Type, Text, Stack (optional: only to a peer that
//     announced the "error-stack" capability in its link hello)
//   - cancel:  ID
//   - release: IDs
//   - ping, pong: ID
//
// Body is a CBOR array of the arguments or results; decoding leaves it
// aliasing the input.
type Msg struct {
	Kind    MsgKind
	ID      uint64
	Obj     uint64
	Service string
	Method  string
	Timeout uint64 // nanoseconds the caller will still wait; 0: no deadline
	Code    string
	Type    string
	Text    string
	Stack   string // of an error; "" is not encoded
	IDs     []uint64
	Body    []byte

	Version  uint64
	MaxMsg   uint64
	MaxCalls uint64
	MaxRefs  uint64
}

// ErrBadMsg reports a malformed RPC message.
var ErrBadMsg = errors.New("wire: malformed message")

// AppendMsg appends the encoding of m (without a length prefix).
func AppendMsg(b []byte, m *Msg) []byte {
	b = append(b, byte(m.Kind))
	switch m.Kind {
	case MsgHello:
		b = binary.AppendUvarint(b, m.Version)
		b = binary.AppendUvarint(b, m.MaxMsg)
		b = binary.AppendUvarint(b, m.MaxCalls)
		b = binary.AppendUvarint(b, m.MaxRefs)
	case MsgCall:
		b = binary.AppendUvarint(b, m.ID)
		b = binary.AppendUvarint(b, m.Obj)
		if m.Obj == 0 {
			b = appendStr(b, m.Service)
		}
		b = appendStr(b, m.Method)
		b = binary.AppendUvarint(b, m.Timeout)
		b = append(b, m.Body...)
	case MsgReply:
		b = binary.AppendUvarint(b, m.ID)
		b = append(b, m.Body...)
	case MsgError:
		b = binary.AppendUvarint(b, m.ID)
		b = appendStr(b, m.Code)
		b = appendStr(b, m.Type)
		b = appendStr(b, m.Text)
		if m.Stack != "" {
			b = appendStr(b, m.Stack)
		}
	case MsgCancel, MsgPing, MsgPong:
		b = binary.AppendUvarint(b, m.ID)
	case MsgRelease:
		b = binary.AppendUvarint(b, uint64(len(m.IDs)))
		for _, id := range m.IDs {
			b = binary.AppendUvarint(b, id)
		}
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ParseMsg decodes one message into m, overwriting it. Body aliases b.
// Strings must be valid UTF-8; a release carries at most MaxReleaseIDs ids.
func ParseMsg(b []byte, m *Msg) error {
	*m = Msg{IDs: m.IDs[:0]}
	if len(b) == 0 {
		return fmt.Errorf("%w: empty", ErrBadMsg)
	}
	m.Kind = MsgKind(b[0])
	r := reader{b: b[1:]}
	switch m.Kind {
	case MsgHello:
		m.Version = r.uvarint()
		m.MaxMsg = r.uvarint()
		m.MaxCalls = r.uvarint()
		m.MaxRefs = r.uvarint()
	case MsgCall:
		m.ID = r.uvarint()
		m.Obj = r.uvarint()
		if m.Obj == 0 {
			m.Service = r.str()
		}
		m.Method = r.str()
		m.Timeout = r.uvarint()
		m.Body, r.b = r.b, nil
	case MsgReply:
		m.ID = r.uvarint()
		m.Body, r.b = r.b, nil
	case MsgError:
		m.ID = r.uvarint()
		m.Code = r.str()
		m.Type = r.str()
		m.Text = r.str()
		if len(r.b) > 0 {
			// The optional stack: present means not empty.
			if m.Stack = r.str(); m.Stack == "" && r.err == nil {
				return fmt.Errorf("%w: error with an empty stack", ErrBadMsg)
			}
		}
	case MsgCancel, MsgPing, MsgPong:
		m.ID = r.uvarint()
	case MsgRelease:
		n := r.uvarint()
		if n > MaxReleaseIDs || n > uint64(len(r.b)) {
			return fmt.Errorf("%w: release of %d ids", ErrBadMsg, n)
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			m.IDs = append(m.IDs, r.uvarint())
		}
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrBadMsg, uint8(m.Kind))
	}
	if r.err != nil {
		return fmt.Errorf("%w: truncated %s", ErrBadMsg, m.Kind)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes after %s", ErrBadMsg, len(r.b), m.Kind)
	}
	for _, s := range [...]string{m.Service, m.Method, m.Code, m.Type, m.Text, m.Stack} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: %s carries invalid UTF-8", ErrBadMsg, m.Kind)
		}
	}
	return nil
}
