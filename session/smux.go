package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"
)

// smuxMuxer adapts an smux v2 session. smux sessions have no close frame, so
// closing the muxer closes the connection: the peer notices at once.
//
// smux's AcceptStream sets no finalizer on the streams it returns (the
// xtaci/smux#116 fix is in the pinned version), and every *smux.Stream is
// held by a *Stream for its whole life anyway, so no stream is ever closed
// by the garbage collector mid-copy.
type smuxMuxer struct {
	s     *smux.Session
	conn  net.Conn
	watch *readWatch
	bc    *bufferedConn
	acct  *linkAcct
}

func newSmux(c net.Conn, role Role, cfg *LinkConfig) (*smuxMuxer, error) {
	sc := smux.DefaultConfig()
	sc.Version = smuxVersion
	sc.MaxFrameSize = cfg.FrameSize
	sc.MaxReceiveBuffer = cfg.LinkBuffer
	sc.MaxStreamBuffer = cfg.StreamWindow
	// The link sends the keepalives (smuxMuxer.keepalive, from its timer)
	// and watches the peer's silence itself (Link.tick): smux's keepalive
	// loop would park a goroutine per link for the same frames, and its
	// timeout counts silence it caused itself while its buffer was full.
	sc.KeepAliveDisabled = true
	// smux reads each frame's 8-byte header and its payload with two
	// reads; through a buffer, one syscall usually brings both (and the
	// frames behind them). Reads of whole large payloads bypass the buffer.
	watch := &readWatch{Conn: c}
	bc := newBufferedConn(c, watch)
	bc.acct = newLinkAcct(cfg.Budget, cfg.LinkBuffer)
	var s *smux.Session
	var err error
	if role == Client {
		s, err = smux.Client(bc, sc)
	} else {
		s, err = smux.Server(bc, sc)
	}
	if err != nil {
		return nil, err
	}
	return &smuxMuxer{s: s, conn: c, watch: watch, bc: bc, acct: bc.acct}, nil
}

// readWatch times the reads of the connection under smux, so that the link
// can tell a silent peer from a full receive buffer. smux's own keepalive
// cannot: while its receive buffer is full it stops reading, and it never
// counts silence then (a peer that filled the buffer and hung would keep
// the session forever); and it checks only once per KeepAliveTimeout, so
// it notices silence between one and two timeouts late. A read that has
// been waiting for d means the peer sent nothing for d; while no read is
// in progress, silence is not the peer's fault and is not counted.
type readWatch struct {
	net.Conn
	since atomic.Int64 // unix nanoseconds when the read in progress began; 0: none
}

func (w *readWatch) Read(p []byte) (int, error) {
	w.since.Store(time.Now().UnixNano())
	n, err := w.Conn.Read(p)
	w.since.Store(0)
	return n, err
}

// keepalive sends smux's keepalive frame (a NOP, what smux's own
// keepalive loop sends) unless frames are already queued: the peer counts
// any frame as life. It never blocks.
func (m *smuxMuxer) keepalive() {
	bp := framePool.Get().(*[]byte)
	*bp = append((*bp)[:0], smuxVersion, smuxNOP, 0, 0, 0, 0, 0, 0)
	if !m.bc.tryEnqueue(writeReq{bp: bp}) {
		putFrame(bp)
	}
}

// silence returns how long the read in progress has waited for the peer.
func (m *smuxMuxer) silence(now time.Time) time.Duration {
	since := m.watch.since.Load()
	if since == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, since))
}

// bufferedConn reads through a readBuf, and offers smux the vectored
// write it looks for, so that smux keeps no 64 KiB write buffer per link:
// a frame's header and payload are joined in a pooled buffer and go out in
// one write (one TLS record on TLS). (A writev on TCP measured no faster
// than the copy.)
//
// Writes are asynchronous: WriteBuffers queues the joined frame for a
// writer goroutine and returns, so the transport's work on one frame
// (encryption, the syscall) overlaps smux and the stream's writer
// preparing the next, instead of every stream write waiting for it. The
// queue is short (writeQueue frames), so a blocked connection still
// blocks writers and their deadlines still fire; a failed write is
// reported by the next one, as a kernel socket buffer would. Close sends
// what is queued first (within flushTimeout); abort does not.
type bufferedConn struct {
	net.Conn
	r    readBuf
	cork corker    // nil unless the transport offers it
	acct *linkAcct // follows the frames in and out; nil: not counted

	wq   chan writeReq
	stop chan struct{}         // closed by shut: the writer exits
	werr atomic.Pointer[error] // the first write error

	mu      sync.Mutex
	running bool // a writer goroutine is serving wq
	stopped bool
	wg      sync.WaitGroup // the writer goroutine
}

type writeReq struct {
	bp    *[]byte       // a frame, or nil for a flush marker
	flush chan struct{} // closed when every frame before the marker is written
}

const (
	writeQueue   = 2
	flushTimeout = time.Second
	// writerIdle is how long the writer goroutine waits for a frame
	// before it exits; the next frame starts another. An idle link holds
	// no writer.
	writerIdle = 2 * time.Second
)

func newBufferedConn(c net.Conn, r io.Reader) *bufferedConn {
	return &bufferedConn{Conn: c, r: readBuf{src: r}, cork: corkerOf(c),
		wq: make(chan writeReq, writeQueue), stop: make(chan struct{})}
}

// readBuf buffers the reads of smux's receive loop, as a bufio.Reader of
// readBufBig bytes would, without holding that much for every idle link:
// a relay with thousands of registered agents keeps each link's read
// waiting for a keepalive almost all the time. A read with nothing
// buffered waits in the small buffer, unless the fill before it filled
// its buffer (a burst is under way): then it takes a big one from a pool,
// given back as soon as it is drained while nothing more is pending. Reads
// of at least readBufBig bytes with nothing buffered bypass the buffer.
type readBuf struct {
	src   io.Reader
	small [readBufSmall]byte
	big   *[]byte // from bigReadBufs while a burst lasts; nil otherwise
	buf   []byte  // small[:] or *big, holding buf[r:w]
	r, w  int
	full  bool  // the last fill filled its buffer: more is likely waiting
	err   error // from the fill that also brought data, returned after it
}

const (
	readBufSmall = 2 << 10
	readBufBig   = 16 << 10
)

var bigReadBufs = sync.Pool{New: func() any { b := make([]byte, readBufBig); return &b }}

func (b *readBuf) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if b.err != nil {
			err := b.err
			b.err = nil
			return 0, err
		}
		if !b.full || len(p) >= readBufBig {
			b.dropBig()
		}
		if len(p) >= readBufBig {
			return b.src.Read(p)
		}
		if b.full {
			if b.big == nil {
				b.big = bigReadBufs.Get().(*[]byte)
			}
			b.buf = *b.big
		} else {
			b.buf = b.small[:]
		}
		n, err := b.src.Read(b.buf)
		b.r, b.w, b.full = 0, n, n == len(b.buf)
		if n == 0 {
			return 0, err
		}
		b.err = err
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// dropBig gives the big buffer back; b holds nothing in it.
func (b *readBuf) dropBig() {
	if b.big != nil {
		bigReadBufs.Put(b.big)
		b.big, b.buf = nil, nil
	}
}

// corker is what a transport may offer to gather the writes of a batch
// of frames below its own framing and send them at once: transport/tls's
// conn under crypto/tls (found through tls.Conn's NetConn) turns the
// five records of a frame, or the records of several queued frames, into
// one write to the socket instead of one each.
type corker interface {
	Cork()
	Flush() error
}

func corkerOf(c net.Conn) corker {
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		if k, ok := nc.NetConn().(corker); ok {
			return k
		}
	}
	return nil
}

// Read reads for smux's receive loop. The frames pass the link's
// accounting on the way (see linkAcct), which may make the loop wait
// before the next frame while the link buffers more than it may.
func (b *bufferedConn) Read(p []byte) (int, error) {
	if b.acct == nil {
		return b.r.Read(p)
	}
	b.acct.hold()
	n, err := b.r.Read(p)
	b.acct.feed(p[:n])
	return n, err
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 65535+8); return &b }}

// WriteBuffers queues v as one frame.
func (b *bufferedConn) WriteBuffers(v [][]byte) (int, error) {
	if e := b.werr.Load(); e != nil {
		return 0, *e
	}
	if b.acct != nil {
		b.acct.sent(v)
	}
	bp := framePool.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, p := range v {
		buf = append(buf, p...)
	}
	*bp = buf
	if !b.enqueue(writeReq{bp: bp}) {
		putFrame(bp)
		return 0, net.ErrClosed
	}
	return len(buf), nil
}

// enqueue queues r and makes sure a writer serves it; false once shut.
func (b *bufferedConn) enqueue(r writeReq) bool {
	select {
	case b.wq <- r:
	case <-b.stop:
		return false
	}
	b.serve()
	return true
}

// tryEnqueue queues r if the queue has room; false if not, or once shut.
func (b *bufferedConn) tryEnqueue(r writeReq) bool {
	select {
	case <-b.stop:
		return false
	default:
	}
	select {
	case b.wq <- r:
	default:
		return false
	}
	b.serve()
	return true
}

// serve makes sure a writer serves the queue.
func (b *bufferedConn) serve() {
	b.mu.Lock()
	if !b.running && !b.stopped {
		b.running = true
		b.wg.Add(1)
		go b.writer()
	}
	b.mu.Unlock()
}

func putFrame(bp *[]byte) {
	if cap(*bp) <= 65535+8 {
		*bp = (*bp)[:0]
		framePool.Put(bp)
	}
}

// writer writes the queued frames in order until shut, or until the
// queue has been empty for writerIdle.
func (b *bufferedConn) writer() {
	defer b.wg.Done()
	idle := time.NewTimer(writerIdle)
	defer idle.Stop()
	for {
		select {
		case <-b.stop:
			for {
				select {
				case r := <-b.wq:
					if r.bp != nil {
						putFrame(r.bp)
					}
				default:
					return
				}
			}
		case r := <-b.wq:
			b.writeBatch(r)
			idle.Reset(writerIdle)
		case <-idle.C:
			b.mu.Lock()
			if len(b.wq) > 0 {
				b.mu.Unlock()
				idle.Reset(writerIdle)
				continue
			}
			b.running = false
			b.mu.Unlock()
			return
		}
	}
}

// writeBatch writes r and the frames queued behind it, corked (see
// corker) so that they reach the socket together.
func (b *bufferedConn) writeBatch(r writeReq) {
	corked := false
	uncork := func() {
		if corked {
			corked = false
			if err := b.cork.Flush(); err != nil {
				b.werr.CompareAndSwap(nil, &err)
			}
		}
	}
	for {
		if r.bp == nil {
			uncork() // a flush marker: what came before it is out
			close(r.flush)
		} else {
			if b.werr.Load() == nil {
				if b.cork != nil && !corked {
					b.cork.Cork()
					corked = true
				}
				if _, err := b.Conn.Write(*r.bp); err != nil {
					b.werr.CompareAndSwap(nil, &err)
				}
			}
			putFrame(r.bp)
		}
		select {
		case r = <-b.wq:
			continue
		default:
		}
		break
	}
	uncork()
}

// flush waits until the frames queued so far are written, or d passes.
func (b *bufferedConn) flush(d time.Duration) {
	done := make(chan struct{})
	t := time.NewTimer(d)
	defer t.Stop()
	queued := make(chan bool, 1)
	go func() { queued <- b.enqueue(writeReq{flush: done}) }()
	select {
	case ok := <-queued:
		if !ok {
			return
		}
	case <-t.C:
		b.shut() // unblocks the enqueue
		<-queued
		return
	}
	select {
	case <-done:
	case <-t.C:
	case <-b.stop:
	}
}

// shut stops the writer, dropping what is still queued.
func (b *bufferedConn) shut() {
	b.mu.Lock()
	if !b.stopped {
		b.stopped = true
		close(b.stop)
	}
	b.mu.Unlock()
}

// Close writes what is queued, then closes the connection and waits for
// the writer (smux's Session.Close calls it).
func (b *bufferedConn) Close() error {
	b.flush(flushTimeout)
	b.shut()
	err := b.Conn.Close()
	b.wg.Wait()
	return err
}

func (m *smuxMuxer) open(ctx context.Context) (rawStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := m.s.OpenStream()
	if err != nil {
		return nil, err
	}
	return m.wrap(st), nil
}

// wrap gives a stream its accounting entry, made when its SYN passed.
func (m *smuxMuxer) wrap(st *smux.Stream) rawStream {
	return &acctStream{Stream: st, sid: st.ID(), e: m.acct.lookup(st.ID())}
}

// acctStream is an smux stream whose reads and close are counted (see
// linkAcct).
type acctStream struct {
	*smux.Stream
	sid uint32
	e   *streamAcct // nil: not counted
}

func (s *acctStream) Read(p []byte) (int, error) {
	if s.e == nil {
		return s.Stream.Read(p)
	}
	s.e.readStart()
	n, err := s.Stream.Read(p)
	if n > 0 {
		s.e.credit(n)
	}
	return n, err
}

// WriteTo hides smux's own, which would read past the accounting.
func (s *acctStream) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{s})
}

// Close closes the stream; smux drops what it still buffered, and so does
// the accounting (after smux, so that no frame can reach an smux stream
// without an entry).
func (s *acctStream) Close() error {
	err := s.Stream.Close()
	if s.e != nil {
		s.e.remove(s.sid)
	}
	return err
}

func (m *smuxMuxer) accept() (rawStream, error) {
	st, err := m.s.AcceptStream()
	if err != nil {
		if errors.Is(err, smux.ErrInvalidProtocol) {
			// A frame with another version, an unknown command or a
			// wrong length: the peer broke the protocol.
			return nil, fmt.Errorf("%w: bad multiplexer frame (%w)", ErrProtocol, err)
		}
		return nil, err
	}
	return m.wrap(st), nil
}

func (m *smuxMuxer) close() error {
	err := m.s.Close()
	m.acct.close()
	return err
}

// abort closes the connection only: smux's Session.Close would discard
// the data its streams buffered before the break.
func (m *smuxMuxer) abort() {
	m.bc.shut()
	_ = m.conn.Close()
	m.bc.wg.Wait()
	m.acct.stopHolding()
}
