package session

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// rawStream is what a multiplexer hands out: an ordered, reliable byte
// stream with half-close. smux streams and QUIC streams (through an adapter)
// both satisfy it.
type rawStream interface {
	net.Conn
	CloseWrite() error
}

// AbortCode says why a stream was aborted. It travels on the wire.
type AbortCode = wire.AbortCode

// Abort codes carried by a [StreamError].
const (
	AbortUnknown  = wire.AbortUnknown
	AbortLocal    = wire.AbortLocal
	AbortRefused  = wire.AbortRefused
	AbortTimeout  = wire.AbortTimeout
	AbortUpstream = wire.AbortUpstream
	AbortPolicy   = wire.AbortPolicy
	AbortProtocol = wire.AbortProtocol
	AbortClosed   = wire.AbortClosed
)

// StreamError reports a stream that ended without a clean close: the peer
// aborted it, the link under it failed, or a local timeout reset it. A read
// that returns io.EOF always means the far end closed cleanly; every other
// ending is a *StreamError.
type StreamError struct {
	Code   AbortCode
	Reason string
	Remote bool // the abort came from the peer
}

func (e *StreamError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	if e.Reason == "" {
		return fmt.Sprintf("session: stream aborted %s: %s", who, e.Code)
	}
	return fmt.Sprintf("session: stream aborted %s: %s: %s", who, e.Code, e.Reason)
}

// Is reports whether target is ErrStreamAborted, or ErrDenied for a
// policy refusal (AbortPolicy).
func (e *StreamError) Is(target error) bool {
	return target == ErrStreamAborted || target == ErrDenied && e.Code == AbortPolicy
}

// Timeout reports whether the abort was caused by a timeout.
func (e *StreamError) Timeout() bool { return e.Code == AbortTimeout }

// Temporary is false: an aborted stream stays aborted.
func (e *StreamError) Temporary() bool { return false }

// errWriteClosed is returned by writes after CloseWrite or Close.
var errWriteClosed = fmt.Errorf("session: write on closed stream: %w", net.ErrClosed)

// Stream is one multiplexed stream of a [Link]: a net.Conn with half-close
// ([Stream.CloseWrite]) and abort ([Stream.Abort]).
//
// Every stream is framed in records (see PROTOCOL.md), so that the reader
// can tell a clean close from a failure: Read returns io.EOF only after the
// writer's Close or CloseWrite arrived; a stream that ends any other way (the
// peer aborted, a relay's upstream failed, the link died, a deadline fired
// mid-write) returns a *StreamError.
//
// After the peer has ended its side, this side may go on writing; its
// writes fail (a *StreamError) once the peer aborts the stream or lets go
// of it, as writes do after a TCP reset.
//
// One goroutine may read while another writes; concurrent writes are
// serialised and each Write is contiguous on the wire. The opener or the
// acceptor owns the stream and must Close it; the link aborts streams left
// idle longer than LinkConfig.IdleTimeout.
type Stream struct {
	raw  rawStream
	link *Link
	kind StreamKind
	hdr  []byte

	lastActive atomic.Int64 // unix nanoseconds of the last read or write
	halfAt     atomic.Int64 // when one direction ended cleanly
	noIdle     atomic.Bool  // exempt from the idle timeout (the rpc stream)
	wdl        atomic.Int64 // write deadline, unix nanoseconds; 0 for none
	incoming   bool         // opened by the peer; counts against MaxStreams

	rmu   sync.Mutex
	rhdr  [wire.RecordHeaderLen]byte
	rhdrN int   // bytes of rhdr read so far (a deadline may interrupt a header)
	rem   int   // bytes left in the current data record
	rerr  error // sticky read error

	wmu    sync.Mutex
	wbuf   []byte
	werr   error       // sticky write error
	wended atomic.Bool // the write side is over (ended cleanly or failed)

	closeOnce sync.Once
	closed    atomic.Bool
	aborted   atomic.Pointer[StreamError]
	done      chan struct{} // closed when the stream is released

	afterMu  sync.Mutex
	after    []*func() // AfterDone's functions, until released
	released bool      // after has run
}

func newStream(raw rawStream, l *Link, kind StreamKind, hdr []byte) *Stream {
	s := &Stream{raw: raw, link: l, kind: kind, hdr: hdr, done: make(chan struct{})}
	s.touch()
	return s
}

// acct returns the stream's receive-buffer accounting, or nil.
func (s *Stream) acct() *streamAcct {
	if r, ok := s.raw.(*acctStream); ok {
		return r.e
	}
	return nil
}

// Kind returns the kind the opener gave the stream.
func (s *Stream) Kind() StreamKind { return s.kind }

// Header returns the header bytes the opener attached to the stream.
func (s *Stream) Header() []byte { return s.hdr }

// Link returns the link the stream belongs to.
func (s *Stream) Link() *Link { return s.link }

func (s *Stream) touch() { s.lastActive.Store(time.Now().UnixNano()) }

// Read reads data. It returns io.EOF only when the peer closed its side
// cleanly; see [Stream].
func (s *Stream) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.rerr != nil {
		return 0, s.rerr
	}
	if len(p) == 0 {
		return 0, nil
	}
	for s.rem == 0 {
		if err := s.readRecord(); err != nil {
			return 0, err
		}
	}
	if len(p) > s.rem {
		p = p[:s.rem]
	}
	n, err := s.rawRead(p)
	s.rem -= n
	if n > 0 {
		s.touch()
	}
	if err != nil {
		if isTimeout(err) && !s.closed.Load() {
			return n, timeoutError{err}
		}
		return n, s.failRead(err, "in the middle of a record")
	}
	return n, nil
}

// readDone reports whether the reader has seen the clean end.
func (s *Stream) readDone() bool {
	if !s.rmu.TryLock() {
		return false // a read is still in progress
	}
	defer s.rmu.Unlock()
	return s.rerr == io.EOF
}

// rawRead reads from the raw stream. When the link under it broke, smux
// may report the error while data that arrived before the break is still
// buffered; a second read returns that data first.
//
// Data that comes with an error (quic-go returns the last bytes together
// with io.EOF) is returned first; the error shows on the next read.
func (s *Stream) rawRead(p []byte) (int, error) {
	n, err := s.raw.Read(p)
	if n > 0 && err != nil && !isTimeout(err) {
		return n, nil
	}
	if n == 0 && err != nil && !isTimeout(err) && !s.closed.Load() {
		if n2, err2 := s.raw.Read(p); n2 > 0 {
			return n2, nil
		} else if err == io.EOF {
			err = err2
			if err == nil {
				err = io.EOF
			}
		}
	}
	return n, err
}

// readRecord reads one record header (and a control record's payload).
// It must be called with rmu held and s.rem == 0.
func (s *Stream) readRecord() error {
	for s.rhdrN < len(s.rhdr) {
		n, err := s.rawRead(s.rhdr[s.rhdrN:])
		s.rhdrN += n
		if err != nil {
			if isTimeout(err) && !s.closed.Load() {
				return timeoutError{err}
			}
			if s.rhdrN == 0 && err == io.EOF {
				return s.failRead(err, "closed without an end record")
			}
			return s.failRead(err, "in a record header")
		}
	}
	s.rhdrN = 0
	typ, n, err := wire.ParseRecordHeader(s.rhdr[:])
	if err != nil {
		s.rerr = &StreamError{Code: AbortProtocol, Reason: err.Error(), Remote: true}
		s.abort(AbortProtocol, err.Error())
		return s.rerr
	}
	switch typ {
	case wire.RecordData:
		s.rem = n
		return nil
	case wire.RecordEnd:
		s.rerr = io.EOF
		s.markHalf()
		if !s.wended.Load() {
			go s.watchAfterEnd()
		}
		return io.EOF
	case wire.RecordAbort:
		var buf [wire.MaxControlPayload]byte
		if _, err := io.ReadFull(s.raw, buf[:n]); err != nil {
			return s.failRead(err, "in an abort record")
		}
		code, reason, err := wire.ParseAbort(buf[:n])
		if err != nil {
			code, reason = AbortProtocol, err.Error()
		}
		se := &StreamError{Code: code, Reason: reason, Remote: true}
		s.rerr = se
		s.aborted.CompareAndSwap(nil, se)
		s.shut()
		return se
	default: // an Open record after the first one
		s.rerr = &StreamError{Code: AbortProtocol, Reason: "unexpected " + typ.String() + " record", Remote: true}
		s.abort(AbortProtocol, "unexpected "+typ.String()+" record")
		return s.rerr
	}
}

// watchAfterEnd runs once the peer has ended its side while this side may
// still write: nobody reads the stream any more, but the peer can still
// tell this side that the stream failed (an abort record after its end)
// or that nobody reads there any more (it released the stream: the
// multiplexer's FIN). Either fails this side's writes at once, waking a
// writer blocked on the window, as a TCP reset would. The watch ends with
// the stream, or when what comes no longer matters (this side's write
// side is over).
func (s *Stream) watchAfterEnd() {
	var hdr [wire.RecordHeaderLen]byte
	_, err := io.ReadFull(s.raw, hdr[:])
	if s.wended.Load() || s.closed.Load() || err != nil && isTimeout(err) {
		return // this side is done writing, or the owner set a read deadline
	}
	se := &StreamError{Code: AbortUnknown, Reason: "the peer released the stream", Remote: true}
	switch {
	case err != nil && err != io.EOF && err != io.ErrUnexpectedEOF:
		se = &StreamError{Code: AbortClosed, Reason: "after the peer's end: " + err.Error()}
	case err == nil:
		typ, n, perr := wire.ParseRecordHeader(hdr[:])
		switch {
		case perr != nil || typ != wire.RecordAbort || n > wire.MaxControlPayload:
			se = &StreamError{Code: AbortProtocol, Reason: "a record after the end", Remote: true}
		default:
			buf := make([]byte, n) // the watch keeps a small stack while it waits
			if _, err := io.ReadFull(s.raw, buf); err == nil {
				if code, reason, err := wire.ParseAbort(buf); err == nil {
					se = &StreamError{Code: code, Reason: reason, Remote: true}
				}
			}
		}
	}
	if s.aborted.CompareAndSwap(nil, se) {
		_ = s.raw.SetWriteDeadline(time.Unix(1, 0))
	}
}

// failRead turns an error of the raw stream into the sticky read error.
func (s *Stream) failRead(err error, where string) error {
	if se := s.aborted.Load(); se != nil {
		s.rerr = se
		return se
	}
	if s.closed.Load() {
		s.rerr = net.ErrClosed
		return s.rerr
	}
	reason := where
	code := AbortUnknown
	if err != io.EOF {
		code = AbortClosed
		reason = where + ": " + err.Error()
	}
	s.rerr = &StreamError{Code: code, Reason: reason, Remote: err == io.EOF}
	return s.rerr
}

// giveWay waits before a write of n bytes while the link gives way to
// another Conn's calls (Link.YieldTo); the RPC stream never waits.
func (s *Stream) giveWay(n int) {
	if c := s.link.yieldTo.Load(); c != nil && s.kind != KindRPC {
		c.pace.wait(n)
	}
}

// Write writes p as one or more data records.
func (s *Stream) Write(p []byte) (int, error) {
	s.giveWay(len(p))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		return 0, s.werr
	}
	if err := s.writeExpired(); err != nil {
		return 0, err
	}
	// A write larger than a record is cut into equal records: 64 KiB
	// becomes two records of 32 KiB, not one of 65531 bytes and a runt of
	// 5 (each record is one multiplexer frame, one TLS record, one
	// syscall).
	pieces := (len(p) + s.link.chunk - 1) / s.link.chunk
	max := s.link.chunk
	if pieces > 1 {
		max = (len(p) + pieces - 1) / pieces
	}
	written := 0
	for len(p) > 0 {
		c := min(len(p), max)
		s.wbuf = append(s.wbuf[:0], 0, 0, 0, 0)
		wire.PutRecordHeader(s.wbuf, wire.RecordData, c)
		s.wbuf = append(s.wbuf, p[:c]...)
		if _, err := s.raw.Write(s.wbuf); err != nil {
			return written, s.failWrite(err)
		}
		s.touch()
		written += c
		p = p[c:]
	}
	return written, nil
}

// ReadFrom copies r into the stream until r's EOF, reading straight into
// a record buffer (one read, one record, one multiplexer frame). The
// stream is not closed at the end. io.Copy uses it.
//
// The stream is locked for writing only while a record is written, not
// while r is read: a relay's copy waiting on a silent source must not stop
// Abort (the idle and half-close reapers, for one) from sending its abort
// record.
func (s *Stream) ReadFrom(r io.Reader) (int64, error) {
	if err := s.writeExpired(); err != nil {
		return 0, err
	}
	// While r delivers little at a time (an interactive connection, or
	// one idle in a read, as most of a relay's are) a small buffer is
	// held; once a read fills it, a frame-sized one from a pool, until r
	// drains again.
	small := make([]byte, wire.RecordHeaderLen+smallReadFrom)
	buf := small
	var bp *[]byte
	defer func() {
		if bp != nil {
			putRecordBuf(s.link.chunk, bp)
		}
	}()
	var total int64
	for {
		if err := s.writeErr(); err != nil {
			return total, err
		}
		n, rerr := r.Read(buf[wire.RecordHeaderLen:])
		if n > 0 {
			s.giveWay(n)
			wire.PutRecordHeader(buf, wire.RecordData, n)
			if err := s.writeRecord(buf[:wire.RecordHeaderLen+n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
		switch {
		case bp == nil && n == len(small)-wire.RecordHeaderLen && s.link.chunk > smallReadFrom:
			bp = getRecordBuf(s.link.chunk)
			buf = *bp
		case bp != nil && n < smallReadFrom:
			putRecordBuf(s.link.chunk, bp)
			bp, buf = nil, small
		}
	}
}

// smallReadFrom is the record payload ReadFrom reads with while its
// source is quiet.
const smallReadFrom = 2 << 10

// recordBufs pools ReadFrom's frame-sized buffers for the default frame
// size; other sizes are allocated.
var recordBufs = sync.Pool{New: func() any {
	b := make([]byte, wire.RecordHeaderLen+defaultFrameSize-wire.RecordHeaderLen)
	return &b
}}

func getRecordBuf(chunk int) *[]byte {
	if chunk == defaultFrameSize-wire.RecordHeaderLen {
		return recordBufs.Get().(*[]byte)
	}
	b := make([]byte, wire.RecordHeaderLen+chunk)
	return &b
}

func putRecordBuf(chunk int, bp *[]byte) {
	if chunk == defaultFrameSize-wire.RecordHeaderLen {
		recordBufs.Put(bp)
	}
}

// writeErr returns the sticky write error.
func (s *Stream) writeErr() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.werr
}

// writeRecord writes one encoded record.
func (s *Stream) writeRecord(rec []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		return s.werr
	}
	if _, err := s.raw.Write(rec); err != nil {
		return s.failWrite(err)
	}
	s.touch()
	return nil
}

// WriteTo copies the stream into w until its clean end (returning nil) or
// an error, in reads of up to a frame. io.Copy uses it. Like ReadFrom, it
// holds a small buffer while the stream delivers little
// at a time and a frame-sized one from a pool while it delivers more.
func (s *Stream) WriteTo(w io.Writer) (int64, error) {
	small := make([]byte, smallReadFrom)
	buf := small
	var bp *[]byte
	defer func() {
		if bp != nil {
			putRecordBuf(s.link.chunk, bp)
		}
	}()
	var total int64
	for {
		n, err := s.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		switch {
		case bp == nil && n == len(small) && s.link.chunk > smallReadFrom:
			bp = getRecordBuf(s.link.chunk)
			buf = (*bp)[wire.RecordHeaderLen:]
		case bp != nil && n < smallReadFrom:
			putRecordBuf(s.link.chunk, bp)
			bp, buf = nil, small
		}
	}
}

// failWrite makes a write error sticky. A write that failed part way may
// have queued part of a record, so the stream is reset: the peer will see an
// error, never a clean end (xtaci/smux#51).
func (s *Stream) failWrite(err error) error {
	s.wended.Store(true)
	if se := s.aborted.Load(); se != nil {
		s.werr = se
		return se
	}
	if s.closed.Load() {
		s.werr = net.ErrClosed
		return s.werr
	}
	if isTimeout(err) {
		s.werr = &StreamError{Code: AbortTimeout, Reason: "write deadline exceeded; stream reset"}
		s.aborted.CompareAndSwap(nil, s.werr.(*StreamError))
		s.reset()
		return timeoutError{s.werr}
	}
	s.werr = &StreamError{Code: AbortClosed, Reason: err.Error()}
	s.aborted.CompareAndSwap(nil, s.werr.(*StreamError))
	s.reset()
	return s.werr
}

// CloseWrite ends the write direction cleanly: the peer reads io.EOF after
// the data written so far. Reading goes on.
func (s *Stream) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		if s.werr == errWriteClosed {
			return nil
		}
		return s.werr
	}
	return s.writeEnd()
}

// writeEnd sends the end record. The multiplexer's own half-close (FIN)
// is not sent: it follows when the stream is released, so that an abort
// record can still follow the end (see watchAfterEnd).
func (s *Stream) writeEnd() error {
	var end [wire.RecordHeaderLen]byte
	wire.PutRecordHeader(end[:], wire.RecordEnd, 0)
	s.wended.Store(true) // before the peer can answer the end
	if _, err := s.raw.Write(end[:]); err != nil {
		return s.failWrite(err)
	}
	s.werr = errWriteClosed
	s.markHalf()
	return nil
}

func (s *Stream) markHalf() { s.halfAt.CompareAndSwap(0, time.Now().UnixNano()) }

// Close closes the stream. When no write is in progress and the write side
// is still open, the peer first gets a clean end (it reads io.EOF after the
// data). Close never blocks longer than LinkConfig.CloseTimeout waiting for
// the peer's window; a close that cannot send the end is an abort.
func (s *Stream) Close() error {
	if s.wmu.TryLock() {
		if s.werr == nil {
			_ = s.raw.SetWriteDeadline(time.Now().Add(s.link.cfg.CloseTimeout))
			_ = s.writeEnd()
		}
		s.wmu.Unlock()
		s.shut()
		return nil
	}
	// A write is in progress: it cannot end cleanly.
	s.reset()
	return nil
}

// Abort ends the stream with an error the peer sees (a *StreamError with the
// code and reason) rather than a clean end. Data not yet read is discarded.
func (s *Stream) Abort(code AbortCode, reason string) {
	s.abort(code, reason)
}

func (s *Stream) abort(code AbortCode, reason string) {
	se := &StreamError{Code: code, Reason: reason}
	if !s.aborted.CompareAndSwap(nil, se) {
		// The stream failed already, and may not be released yet: the
		// peer let go of it after its end (watchAfterEnd), or its link
		// broke. Its owner, or a reaper, is done with it now; whatever
		// waits for its release (Done, AfterDone) must learn of it.
		s.reset()
		return
	}
	sent := false
	if s.wmu.TryLock() {
		// After a clean end the record still goes out: the peer may be
		// writing, and learns from it that the stream failed.
		if s.werr == nil || s.werr == errWriteClosed {
			p := wire.AppendAbort(make([]byte, wire.RecordHeaderLen, 64), code, reason)
			wire.PutRecordHeader(p, wire.RecordAbort, len(p)-wire.RecordHeaderLen)
			_ = s.raw.SetWriteDeadline(time.Now().Add(abortWriteTimeout))
			_, err := s.raw.Write(p)
			sent = err == nil
			s.werr = se
			s.wended.Store(true)
		}
		s.wmu.Unlock()
	}
	if sent {
		s.shut() // the abort record goes out before the end of the stream
	} else {
		s.reset()
	}
}

const abortWriteTimeout = 200 * time.Millisecond

// shut releases the raw stream and the link's accounting, once.
func (s *Stream) shut() { s.release(false) }

// reset is shut for a stream that cannot end cleanly: where the transport
// can reset a stream (QUIC), pending writes are cancelled at once.
func (s *Stream) reset() { s.release(true) }

// resetter is a raw stream that can end both directions abruptly.
type resetter interface{ Reset() }

func (s *Stream) release(reset bool) {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if r, ok := s.raw.(resetter); ok && reset {
			r.Reset()
		}
		_ = s.raw.Close()
		s.link.forget(s)
		close(s.done)
		s.afterMu.Lock()
		fs := s.after
		s.after, s.released = nil, true
		s.afterMu.Unlock()
		for _, f := range fs {
			go (*f)()
		}
	})
}

// AfterDone arranges for f to run in a goroutine of its own once the
// stream is released (see Done), at once if it already is — as
// context.AfterFunc does for a context, with no goroutine waiting in the
// meantime: a relay joins each stream to a connection this way, and holds
// thousands. Calling stop unregisters f; it returns false if f has been
// started already (or stop was called before).
func (s *Stream) AfterDone(f func()) (stop func() bool) {
	p := &f
	s.afterMu.Lock()
	defer s.afterMu.Unlock()
	if s.released {
		go f()
		return func() bool { return false }
	}
	s.after = append(s.after, p)
	return func() bool {
		s.afterMu.Lock()
		defer s.afterMu.Unlock()
		for i, q := range s.after {
			if q == p {
				s.after = append(s.after[:i], s.after[i+1:]...)
				return true
			}
		}
		return false
	}
}

// Done is closed once the stream is released: closed, aborted by either
// side, reaped by a timeout, or its link closed by this side. A relay
// watches it to let go of whatever the stream was joined to.
func (s *Stream) Done() <-chan struct{} { return s.done }

// LocalAddr returns the link's local address.
func (s *Stream) LocalAddr() net.Addr { return s.raw.LocalAddr() }

// RemoteAddr returns the link's remote address.
func (s *Stream) RemoteAddr() net.Addr { return s.raw.RemoteAddr() }

// SetDeadline sets both deadlines, as net.Conn does.
func (s *Stream) SetDeadline(t time.Time) error {
	s.setWriteDeadline(t)
	return s.raw.SetDeadline(t)
}

// SetReadDeadline sets the read deadline. An expired read deadline is not
// fatal: the read returns a timeout and may be retried.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.raw.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline. A write that times out resets
// the stream, because part of it may already be on the wire.
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.setWriteDeadline(t)
	return s.raw.SetWriteDeadline(t)
}

func (s *Stream) setWriteDeadline(t time.Time) {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	s.wdl.Store(n)
}

// writeExpired reports whether the write deadline has passed. smux picks
// at random between an expired deadline and a free send slot, so an
// expired deadline is checked here first: the write fails with nothing
// sent, and the stream stays usable once the deadline moves.
func (s *Stream) writeExpired() error {
	if d := s.wdl.Load(); d != 0 && time.Now().UnixNano() >= d {
		return timeoutError{errWriteDeadline}
	}
	return nil
}

var errWriteDeadline = fmt.Errorf("session: write deadline exceeded: %w", os.ErrDeadlineExceeded)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// timeoutError wraps an error so that it satisfies net.Error with Timeout
// and matches os.ErrDeadlineExceeded, as net.Conn deadlines do.
type timeoutError struct{ err error }

func (e timeoutError) Error() string   { return e.err.Error() }
func (e timeoutError) Unwrap() []error { return []error{e.err, os.ErrDeadlineExceeded} }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }
