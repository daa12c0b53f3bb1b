package relay

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hopwire/hopwire/session"
)

// copyBuf is the fixed buffer of one direction of a splice: no queue
// between hops beyond it; back-pressure comes from the streams' windows.
const copyBuf = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// Splice joins a connect stream and the connection it was connected to,
// until both directions end, then closes both. A clean end in one
// direction is passed on as a half-close; a failure is passed on as an
// abort (a reset for TCP), so the far end sees an error and never a clean
// EOF. Splice holds both for its whole run (no stream is left to a
// finalizer while copying, xtaci/smux#116).
func Splice(st *session.Stream, c net.Conn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pipe(c, st)
	}()
	pipe(st, c)
	wg.Wait()
	st.Close()
	c.Close()
}

// pipe copies src into dst with one fixed buffer and passes the ending
// on. Into a stream, the stream's own record buffer is the buffer.
func pipe(dst, src net.Conn) {
	var err error
	if st, ok := dst.(*session.Stream); ok {
		_, err = st.ReadFrom(readerOnly{src})
	} else {
		bp := bufPool.Get().(*[]byte)
		_, err = io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *bp)
		bufPool.Put(bp)
	}
	if err == nil {
		closeWrite(dst)
		return
	}
	abort(dst, err)
}

type writerOnly struct{ io.Writer }
type readerOnly struct{ io.Reader }

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// abort ends c with an error the far side sees.
func abort(c net.Conn, cause error) {
	switch x := c.(type) {
	case *session.Stream:
		reason := "upstream failed"
		if cause != nil {
			reason = cause.Error()
		}
		code := session.AbortUpstream
		var se *session.StreamError
		if errors.As(cause, &se) && se.Code == session.AbortTimeout {
			code = session.AbortTimeout
		}
		x.Abort(code, reason)
	case *net.TCPConn:
		x.SetLinger(0) // RST
		x.Close()
	default:
		c.Close()
	}
}

// relayUDP carries framed datagrams between a connect udp stream and a
// connected UDP socket.
func relayUDP(st *session.Stream, c net.Conn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		r := bufio.NewReaderSize(st, 64<<10)
		for {
			n, err := session.ReadDatagram(r, buf)
			if err != nil {
				c.Close()
				return
			}
			c.Write(buf[:n]) // UDP: a failed send is a lost packet
		}
	}()
	buf := make([]byte, 65535)
	send := session.NewDatagramSender(st)
	for {
		n, err := c.Read(buf)
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue // an ICMP port unreachable for an earlier datagram: UDP goes on
		}
		if err != nil {
			break
		}
		if err := send.Send(buf[:n]); err != nil {
			break
		}
	}
	st.SetWriteDeadline(time.Now().Add(time.Second)) // the rest, if it goes soon
	send.Close()
	st.Close()
	c.Close()
	wg.Wait()
}
