package session

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// WriteDatagram writes one datagram to a connect udp stream, framed as
// PROTOCOL.md says.
func WriteDatagram(w io.Writer, p []byte) error {
	if len(p) > wire.MaxDatagram {
		return fmt.Errorf("session: datagram of %d bytes exceeds %d", len(p), wire.MaxDatagram)
	}
	buf := make([]byte, wire.DatagramHeaderLen+len(p))
	wire.PutDatagramHeader(buf, len(p))
	copy(buf[wire.DatagramHeaderLen:], p)
	_, err := w.Write(buf)
	return err
}

// ReadDatagram reads one framed datagram into buf and returns its length.
// A datagram longer than buf is truncated (the rest is discarded), as a
// UDP socket would.
func ReadDatagram(r io.Reader, buf []byte) (int, error) {
	var hdr [wire.DatagramHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	n := wire.ParseDatagramHeader(hdr[:])
	m := min(n, len(buf))
	if _, err := io.ReadFull(r, buf[:m]); err != nil {
		return 0, noEOF(err)
	}
	if n > m {
		if _, err := io.CopyN(io.Discard, r, int64(n-m)); err != nil {
			return 0, noEOF(err)
		}
	}
	return m, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// PacketConn presents a connect udp stream as a net.PacketConn talking to
// one remote address, so that packet transports (quic-go, DTLS) run over a
// hop: every datagram written goes to the remote through the relay, every
// datagram read came from it. Deadlines are the stream's. Close closes the
// stream.
type PacketConn struct {
	s      net.Conn
	remote net.Addr
	rmu    sync.Mutex
	wmu    sync.Mutex
}

// NewPacketConn wraps s, a stream the relay connected to remote over UDP.
func NewPacketConn(s net.Conn, remote net.Addr) *PacketConn {
	return &PacketConn{s: s, remote: remote}
}

// ReadFrom reads the next datagram.
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, err := ReadDatagram(c.s, p)
	if err != nil {
		return 0, nil, err
	}
	return n, c.remote, nil
}

// WriteTo sends a datagram; addr must be the remote (or nil).
func (c *PacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if addr != nil && addr.String() != c.remote.String() {
		return 0, errors.New("session: this packet conn reaches only " + c.remote.String())
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := WriteDatagram(c.s, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the stream.
func (c *PacketConn) Close() error { return c.s.Close() }

// LocalAddr returns the stream's local address.
func (c *PacketConn) LocalAddr() net.Addr { return c.s.LocalAddr() }

// SetDeadline sets both deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error { return c.s.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *PacketConn) SetReadDeadline(t time.Time) error { return c.s.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *PacketConn) SetWriteDeadline(t time.Time) error { return c.s.SetWriteDeadline(t) }
