package connect

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hopwire/hopwire/session"
)

// Splice joins a connect stream and the connection it was connected to,
// until both directions end, then closes both. A clean end in one
// direction is passed on as a half-close; a failure is passed on as an
// abort (a reset for TCP), so the far end sees an error and never a clean
// EOF. Splice holds both for its whole run (no stream is left to a
// finalizer while copying, xtaci/smux#116).
//
// When the stream is released while c still has a direction open (the
// stream was aborted, reaped by the link's idle or half-close timeout, or
// its link closed), c is reset at once: a copy waiting on a silent c would
// otherwise hold c, and this goroutine, until c spoke again. So an
// upstream that ignores the client's clean end is let go of too: once one
// direction has ended, the link's half-close timeout reaps the stream,
// and a link that ends releases its streams when its node closes it.
func Splice(st *session.Stream, c net.Conn) { SpliceCounted(st, c) }

// Spliced is what a splice moved: bytes from the stream to the socket
// (toConn) and back (toStream), and the first failure of either direction
// (nil when both ended cleanly).
type Spliced struct {
	ToConn, ToStream int64
	Err              error
}

// SpliceCounted is Splice, returning what it moved (for access records).
func SpliceCounted(st *session.Stream, c net.Conn) Spliced {
	var wg sync.WaitGroup
	var down error // of the copy from st to c
	var toConn int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		toConn, down = pipe(c, st)
	}()
	// No goroutine waits for the stream's release: at 10,000 forwards
	// that was 10,000 parked goroutines and their stacks.
	var released atomic.Bool
	stop := st.AfterDone(func() { released.Store(true); Abort(c, nil) })
	toStream, up := pipe(st, c)
	wg.Wait()
	stop()
	if down != nil {
		// c failed while the client was still sending: the client learns
		// why, even after st's other direction ended cleanly.
		Abort(st, down)
	}
	st.Close()
	c.Close()
	res := Spliced{ToConn: toConn, ToStream: toStream, Err: down}
	if res.Err == nil {
		res.Err = up
	}
	if released.Load() && errors.Is(res.Err, net.ErrClosed) {
		res.Err = ErrReleased // c was closed here, not by its peer
	}
	return res
}

// ErrReleased is a splice's failure when its stream was released before
// the connection ended: the link went down, or the half-close timeout
// reaped a stream whose other side never finished.
var ErrReleased = errors.New("connect: the stream was released first (its link ended or its half-close timed out)")

// pipe copies src into dst and passes the ending on; one of them is the
// splice's stream, whose ReadFrom or WriteTo does the copy with a buffer
// of its own (small while the connection is quiet, a pooled frame-sized
// one while data flows). No queue between hops beyond it: back-pressure
// comes from the streams' windows.
func pipe(dst, src net.Conn) (int64, error) {
	var err error
	var n int64
	if st, ok := dst.(*session.Stream); ok {
		n, err = st.ReadFrom(readerOnly{src})
	} else {
		n, err = src.(*session.Stream).WriteTo(writerOnly{dst})
	}
	if err == nil {
		closeWrite(dst)
		return n, nil
	}
	Abort(dst, err)
	return n, err
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

// Abort ends c with an error the far side sees: an abort for a stream, a
// reset (RST) for TCP, a close otherwise.
func Abort(c net.Conn, cause error) {
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

// SpliceUDP carries framed datagrams between a connect udp stream and a
// connected UDP socket, until either ends, then closes both.
func SpliceUDP(st *session.Stream, c net.Conn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65535)
		r := bufio.NewReaderSize(st, 64<<10)
		for {
			n, err := ReadDatagram(r, buf)
			if err != nil {
				c.Close()
				return
			}
			c.Write(buf[:n]) // UDP: a failed send is a lost packet
		}
	}()
	buf := make([]byte, 65535)
	send := NewDatagramSender(st)
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

// JoinStdio joins c to a process's standard input and output (ssh -W,
// ProxyCommand): in's end is passed on as a half-close of c, a failure to
// read it as an abort; what c sends is written to out. It returns when c's
// far side has closed its half (nil) or the connection failed, leaving in
// to the caller (a read of a terminal or pipe cannot be interrupted).
func JoinStdio(c net.Conn, in io.Reader, out io.Writer) error {
	go func() {
		if _, err := io.Copy(c, in); err != nil {
			Abort(c, err)
			return
		}
		closeWrite(c)
	}()
	_, err := io.Copy(out, c)
	return err
}
