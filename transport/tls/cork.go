package tls

import (
	"net"
	"sync"
)

// corkConn is the conn under every TLS conn this package makes. crypto/tls
// writes each record with a Write of its own: on TCP a syscall per 16 KiB
// record, plus one for the runt record of every write that does not end
// on a record boundary (a multiplexer frame of 65,543 bytes is four full
// records and a 7-byte one; a frame carrying one record of a TLS hop
// nested inside is a full record and a 34-byte one). Between Cork and
// Flush, corkConn gathers what is written and Flush writes it at once, as
// TCP_CORK does for a socket. hopwire's links cork around the frames they
// send (session's writer finds Cork and Flush through tls.Conn.NetConn),
// so a frame costs one write below TLS instead of five.
//
// Writes made while corked — by the corking goroutine, or by crypto/tls
// for another (an alert, a KeyUpdate) — are gathered in order; a write
// error shows at Flush. Uncorked, corkConn passes writes through.
type corkConn struct {
	net.Conn

	mu     sync.Mutex
	corked bool
	buf    *[]byte // from corkPool while corked
	err    error   // of the last flush that failed: every later write fails
}

// corkMax is how much corkConn gathers before it writes anyway.
const corkMax = 256 << 10

var corkPool = sync.Pool{New: func() any { b := make([]byte, 0, 72<<10); return &b }}

// Cork starts gathering writes.
func (c *corkConn) Cork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		c.corked = true
		c.buf = corkPool.Get().(*[]byte)
	}
}

// Flush writes what was gathered since Cork and stops gathering.
func (c *corkConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.err
	}
	err := c.flushLocked()
	c.corked = false
	if cap(*c.buf) <= corkMax+(16<<10) {
		*c.buf = (*c.buf)[:0]
		corkPool.Put(c.buf)
	}
	c.buf = nil
	return err
}

func (c *corkConn) flushLocked() error {
	if c.err != nil {
		return c.err
	}
	if len(*c.buf) > 0 {
		_, err := c.Conn.Write(*c.buf)
		*c.buf = (*c.buf)[:0]
		if err != nil {
			c.err = err
			return err
		}
	}
	return nil
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.corked {
		c.mu.Unlock()
		return c.Conn.Write(p)
	}
	defer c.mu.Unlock()
	if len(*c.buf)+len(p) > corkMax {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if c.err != nil {
		return 0, c.err
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}
