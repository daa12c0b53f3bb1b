package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ConnectVersion is the version of the connect header.
const ConnectVersion = 1

// Networks a connect stream may ask for.
const (
	ConnectTCP   = 1 // address: host:port; the stream carries the bytes
	ConnectUDP   = 2 // address: host:port; the stream carries framed datagrams
	ConnectExec  = 3 // address: the command; args follow; the stream is its stdin/stdout
	ConnectAgent = 4 // address: an agent name registered at the relay
)

// MaxConnectArgs bounds the arguments of an exec request.
const MaxConnectArgs = 256

// Connect is the header of a connect stream.
type Connect struct {
	Network uint8
	Address string
	Args    []string
}

// ErrBadConnect reports a malformed connect header.
var ErrBadConnect = errors.New("wire: malformed connect header")

// AppendConnect encodes c.
func AppendConnect(b []byte, c *Connect) ([]byte, error) {
	if c.Network < ConnectTCP || c.Network > ConnectAgent {
		return b, fmt.Errorf("%w: network %d", ErrBadConnect, c.Network)
	}
	if len(c.Args) > MaxConnectArgs {
		return b, fmt.Errorf("%w: %d args", ErrBadConnect, len(c.Args))
	}
	start := len(b)
	b = append(b, ConnectVersion, c.Network)
	b = appendStr(b, c.Address)
	b = binary.AppendUvarint(b, uint64(len(c.Args)))
	for _, a := range c.Args {
		b = appendStr(b, a)
	}
	if len(b)-start > MaxControlPayload-1 {
		return b[:start], fmt.Errorf("%w: %d bytes exceeds %d", ErrBadConnect, len(b)-start, MaxControlPayload-1)
	}
	return b, nil
}

// ParseConnect decodes a connect header.
func ParseConnect(p []byte) (*Connect, error) {
	r := reader{b: p}
	if v := r.byte(); r.err == nil && v != ConnectVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadConnect, v)
	}
	c := &Connect{Network: r.byte()}
	c.Address = r.str()
	n := r.uvarint()
	if n > MaxConnectArgs || n > uint64(len(r.b)) {
		return nil, fmt.Errorf("%w: %d args", ErrBadConnect, n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		c.Args = append(c.Args, r.str())
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrBadConnect)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrBadConnect)
	}
	if c.Network < ConnectTCP || c.Network > ConnectAgent {
		return nil, fmt.Errorf("%w: network %d", ErrBadConnect, c.Network)
	}
	if c.Address == "" || !utf8.ValidString(c.Address) {
		return nil, fmt.Errorf("%w: empty or invalid address", ErrBadConnect)
	}
	for _, a := range c.Args {
		if !utf8.ValidString(a) {
			return nil, fmt.Errorf("%w: invalid argument", ErrBadConnect)
		}
	}
	return c, nil
}

// MaxDatagram is the largest datagram a connect udp stream carries.
const MaxDatagram = 65535

// DatagramHeaderLen is the length prefix of a framed datagram.
const DatagramHeaderLen = 2

// PutDatagramHeader writes the 2-byte big-endian length of a datagram.
func PutDatagramHeader(b []byte, n int) {
	binary.BigEndian.PutUint16(b, uint16(n))
}

// ParseDatagramHeader reads a datagram length.
func ParseDatagramHeader(b []byte) int {
	return int(binary.BigEndian.Uint16(b))
}
