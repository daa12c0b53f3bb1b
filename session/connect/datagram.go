package connect

import (
	"bufio"
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

// DatagramSender frames datagrams onto a connect udp stream without
// making each one a stream write of its own: Send appends the framed
// datagram to a buffer and returns, and one goroutine writes whatever has
// accumulated in one stream write (one record, one multiplexer frame, one
// TLS record, one syscall) while the next datagrams accumulate behind it.
// A QUIC or DTLS hop behind a stream hop sends thousands of ~1.3 KB
// datagrams a second; one write each made the stream's per-write costs
// the bottleneck. Send never blocks on the stream: when the buffer is
// full the datagram is dropped, as a full socket buffer would drop it,
// and the packet transport's congestion control sees a loss.
type DatagramSender struct {
	w io.Writer

	mu      sync.Mutex
	buf     []byte // framed datagrams waiting for the writer
	spare   []byte
	err     error
	closed  bool
	running bool           // a writer goroutine is draining buf
	wg      sync.WaitGroup // the writer goroutine
	dropped uint64
}

// maxPendingDatagrams bounds the bytes a DatagramSender holds.
const maxPendingDatagrams = 256 << 10

// NewDatagramSender returns a sender writing to w. A writer goroutine
// runs only while datagrams are waiting.
func NewDatagramSender(w io.Writer) *DatagramSender {
	return &DatagramSender{w: w}
}

// Send queues one datagram. It fails only after a stream write failed or
// the sender was closed.
func (d *DatagramSender) Send(p []byte) error {
	if len(p) > wire.MaxDatagram {
		return fmt.Errorf("session: datagram of %d bytes exceeds %d", len(p), wire.MaxDatagram)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	if d.closed {
		return net.ErrClosed
	}
	if len(d.buf)+wire.DatagramHeaderLen+len(p) > maxPendingDatagrams {
		d.dropped++
		return nil
	}
	var hdr [wire.DatagramHeaderLen]byte
	wire.PutDatagramHeader(hdr[:], len(p))
	d.buf = append(append(d.buf, hdr[:]...), p...)
	if !d.running {
		d.running = true
		d.wg.Add(1)
		go d.run()
	}
	return nil
}

// Dropped returns how many datagrams were dropped for want of buffer.
func (d *DatagramSender) Dropped() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped
}

// run writes what accumulates until nothing is waiting.
func (d *DatagramSender) run() {
	defer d.wg.Done()
	d.mu.Lock()
	for len(d.buf) > 0 && d.err == nil {
		out := d.buf
		d.buf = d.spare[:0]
		d.mu.Unlock()
		_, err := d.w.Write(out)
		d.mu.Lock()
		d.spare = out[:0]
		if err != nil && d.err == nil {
			d.err = err
			d.buf = d.buf[:0]
		}
	}
	d.running = false
	d.mu.Unlock()
}

// Close waits for what is queued to be written, then refuses further
// datagrams. It does not close the stream.
func (d *DatagramSender) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// PacketConn presents a connect udp stream as a net.PacketConn talking to
// one remote address, so that packet transports (quic-go, DTLS) run over a
// hop: every datagram written goes to the remote through the relay (in
// batches, see [DatagramSender]), every datagram read came from it.
// Deadlines are the stream's. Close closes the stream.
type PacketConn struct {
	s      net.Conn
	remote net.Addr
	rmu    sync.Mutex
	r      *bufio.Reader
	send   *DatagramSender
}

// NewPacketConn wraps s, a stream the relay connected to remote over UDP.
func NewPacketConn(s net.Conn, remote net.Addr) *PacketConn {
	return &PacketConn{s: s, remote: remote, r: bufio.NewReaderSize(s, 64<<10), send: NewDatagramSender(s)}
}

// ReadFrom reads the next datagram.
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, err := ReadDatagram(c.r, p)
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
	if err := c.send.Send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the stream, after writing what is queued if that takes
// less than a second.
func (c *PacketConn) Close() error {
	c.s.SetWriteDeadline(time.Now().Add(time.Second))
	c.send.Close()
	return c.s.Close()
}

// LocalAddr returns the stream's local address.
func (c *PacketConn) LocalAddr() net.Addr { return c.s.LocalAddr() }

// SetDeadline sets both deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error { return c.s.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (c *PacketConn) SetReadDeadline(t time.Time) error { return c.s.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *PacketConn) SetWriteDeadline(t time.Time) error { return c.s.SetWriteDeadline(t) }
