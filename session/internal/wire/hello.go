package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Magic opens every hello. It lets a node tell a hopwire peer from a stray
// TLS, SSH or HTTP client at the first bytes.
var Magic = [4]byte{'H', 'O', 'P', 'W'}

// Protocol versions and limits of the hello.
const (
	ProtocolVersion = 1
	MuxSmuxV2       = 2   // the only multiplexer version spoken over a byte stream
	MuxNative       = 100 // streams are native to the transport (QUIC)
	MaxHelloBody    = 1024
	MaxNameLen      = 64
	MaxCaps         = 16
	MaxCapLen       = 32
	HelloHeaderLen  = 6 // magic + 2-byte body length
)

// Hello status values. A non-zero status is a refusal and Text says why.
const (
	StatusOK      = 0
	StatusRefused = 1
)

// Hello is the first message each side of a link sends, before any
// multiplexing. The dialing side sends its hello first; the accepting side
// answers with its own, or with a refusal.
type Hello struct {
	Version uint8
	Mux     uint8
	Status  uint8
	Name    string
	Caps    []string
	Text    string
}

// ErrBadHello reports a malformed hello.
var ErrBadHello = errors.New("wire: malformed hello")

// AppendHello encodes h with its header. It refuses values the decoder
// would refuse.
func AppendHello(b []byte, h *Hello) ([]byte, error) {
	if err := checkHello(h); err != nil {
		return b, err
	}
	body := make([]byte, 0, 64)
	body = append(body, h.Version, h.Mux, h.Status)
	body = appendStr8(body, h.Name)
	body = append(body, byte(len(h.Caps)))
	for _, c := range h.Caps {
		body = appendStr8(body, c)
	}
	text := h.Text
	if len(text) > 255 {
		text = text[:255]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	body = appendStr8(body, text)
	if len(body) > MaxHelloBody {
		return b, fmt.Errorf("%w: %d bytes exceeds %d", ErrBadHello, len(body), MaxHelloBody)
	}
	b = append(b, Magic[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...), nil
}

func checkHello(h *Hello) error {
	if len(h.Name) > MaxNameLen || !utf8.ValidString(h.Name) {
		return fmt.Errorf("%w: bad node name %q", ErrBadHello, h.Name)
	}
	if len(h.Caps) > MaxCaps {
		return fmt.Errorf("%w: %d capabilities exceeds %d", ErrBadHello, len(h.Caps), MaxCaps)
	}
	for _, c := range h.Caps {
		if len(c) == 0 || len(c) > MaxCapLen || !utf8.ValidString(c) {
			return fmt.Errorf("%w: bad capability %q", ErrBadHello, c)
		}
	}
	return nil
}

func appendStr8(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// ParseHelloHeader checks the magic and returns the body length that
// follows.
func ParseHelloHeader(b []byte) (int, error) {
	if len(b) < HelloHeaderLen {
		return 0, ErrBadHello
	}
	if [4]byte(b[:4]) != Magic {
		return 0, fmt.Errorf("%w: bad magic %q (not a hopwire peer?)", ErrBadHello, b[:4])
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n > MaxHelloBody {
		return 0, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrBadHello, n, MaxHelloBody)
	}
	return n, nil
}

// ParseHelloBody decodes a hello body (what follows the header).
func ParseHelloBody(body []byte) (*Hello, error) {
	r := reader{b: body}
	h := &Hello{}
	h.Version = r.byte()
	h.Mux = r.byte()
	h.Status = r.byte()
	h.Name = r.str8()
	n := int(r.byte())
	if n > MaxCaps {
		return nil, fmt.Errorf("%w: %d capabilities exceeds %d", ErrBadHello, n, MaxCaps)
	}
	for i := 0; i < n && r.err == nil; i++ {
		h.Caps = append(h.Caps, r.str8())
	}
	h.Text = r.str8()
	if r.err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrBadHello)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadHello, len(r.b))
	}
	if err := checkHello(h); err != nil {
		return nil, err
	}
	if !utf8.ValidString(h.Text) {
		return nil, fmt.Errorf("%w: text is not UTF-8", ErrBadHello)
	}
	return h, nil
}

// reader is a tiny cursor over a byte slice that records the first error.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("wire: truncated")

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errShort
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errShort
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) str8() string {
	n := int(r.byte())
	return string(r.bytes(n))
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errShort
		return ""
	}
	return string(r.bytes(int(n)))
}
