package session

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// Options configures a Conn. nil means defaults; NewConn copies it.
type Options struct {
	// Logger receives lifecycle logs and refusals; nil discards them.
	Logger *slog.Logger
	// MaxMessageSize is the largest RPC message this side accepts
	// (default 32 MiB). Bulk data belongs in io.Reader arguments, which
	// travel on their own streams and have no size limit.
	MaxMessageSize int
	// MaxRefs caps the references this side exports to the peer at once
	// (default 65536).
	MaxRefs int
	// MaxCalls caps the peer's calls running here at once (default 4096).
	// The peer learns it in the hello and queues calls beyond it.
	MaxCalls int
	// Errors registers application sentinels by wire code, so that
	// errors.Is sees through a RemoteError to them. Both sides register
	// the same codes.
	Errors map[string]error
	// Services are exposed before the session starts, so that no call can
	// arrive before them (see Conn.Expose).
	Services map[string]any
	// Forward, if set, answers calls to services this side does not
	// expose: it returns a proxy of another session's service (its
	// Conn.Service), and the call is forwarded there as a call to a
	// forwarder is (see passon.go), or nil to refuse it with
	// ErrNoService. A session proxy (hopwire mux) serves its clients the
	// services of the node it holds a route to this way.
	Forward func(service string) *Ref
	// OnCall, if set, is told of every call of the peer's that this side
	// answered, once its reply is ready: the service ("ref" for a call
	// to a referenced object or func; "unknown", with method "unknown",
	// for a call to no service or method this side has, so that a
	// peer's names never become unbounded labels), the method, how long
	// it took, and whether it failed. It runs on the call's goroutine:
	// it must be quick (a metric).
	OnCall func(service, method string, took time.Duration, failed bool)
	// OnDataStream, if set, is told of every data stream the peer opened
	// (an io.Reader or io.Writer value on its way), before it is paired
	// with its call. It must be quick (a metric).
	OnDataStream func()
	// Accept receives streams of kinds the Conn does not handle itself
	// (KindConnect). It owns the stream, and must not block long: it runs
	// on the goroutine that read the stream's open record (start a
	// goroutine for the stream's work). nil refuses them.
	Accept func(*Stream)
	// StreamWait bounds how long a data stream and the call it belongs to
	// may wait for each other (default 30s).
	StreamWait time.Duration
	// UnclaimedBuffer bounds the bytes the link buffers for data streams
	// that no call or reply read so far names, and for incoming streams
	// not taken yet (default 1 MiB; negative: no bound). A data stream
	// that carries data no call names is refused (the peer reads a
	// *StreamError, AbortRefused) once this side has read every call that
	// came before that data, or after a second; past UnclaimedBuffer the
	// link stops reading until that is done. (A call's data follows the
	// call on the wire.) Empty data streams may wait StreamWait for their
	// call. Only links over smux are counted.
	UnclaimedBuffer int
	// SetupTimeout bounds NewConn's exchange of hellos when ctx has no
	// deadline (default 10s).
	SetupTimeout time.Duration
	// ErrorStacks makes the errors this side's handlers return, and their
	// panics, carry a stack to the caller (RemoteError.Stack): the
	// handler's frames, with function names and source paths of this
	// binary. Off by default: turn it on only for peers who may see
	// them. Peers older than the stack field get none.
	ErrorStacks bool
}

func (o *Options) withDefaults() Options {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 32 << 20
	}
	if opts.MaxRefs <= 0 {
		opts.MaxRefs = 1 << 16
	}
	if opts.MaxCalls <= 0 {
		opts.MaxCalls = 4096
	}
	if opts.StreamWait <= 0 {
		opts.StreamWait = 30 * time.Second
	}
	if opts.UnclaimedBuffer == 0 {
		opts.UnclaimedBuffer = 1 << 20
	}
	if opts.SetupTimeout <= 0 {
		opts.SetupTimeout = 10 * time.Second
	}
	return opts
}

// rpcVersion is the highest version of the RPC message layer this side
// speaks, sent in its hello; a session speaks the lower of both sides'.
// Version 2 added references sent home (refHome). minRPCVersion is the
// lowest this side accepts.
const (
	rpcVersion    = 2
	minRPCVersion = 1
)

// Conn is an RPC session over a Link: RPyC's Connection in Go. Both sides
// are equal once it is up: each exposes services ([Conn.Expose]) and calls
// the other's ([Conn.Service]). A Conn is safe for concurrent use.
//
// The Conn owns its Link from NewConn on: Close closes both, and a broken
// link ends the Conn. Every call pending then fails with an error matching
// ErrLinkClosed.
type Conn struct {
	link *Link
	rpc  *Stream
	opts Options
	errs *errorTable
	log  *slog.Logger

	sendStacks bool   // Options.ErrorStacks, and the peer reads stacks
	peerRPC    uint64 // the rpc version the session speaks: the lower of both hellos'

	// The peer's limits, from its hello.
	peerMaxMsg int
	callSem    chan struct{}

	wmu     sync.Mutex
	wcond   sync.Cond // on wmu: the queue drained or the writer failed
	writing bool      // a sender is writing the queue
	queue   []byte    // encoded messages waiting for the writer
	queued  uint64    // messages ever queued
	wrote   uint64    // messages ever written to the RPC stream
	spare   []byte
	scratch []byte
	werr    error

	nextID atomic.Uint64

	mu       sync.Mutex
	pending  map[uint64]*call
	exports  map[uint64]*export
	services map[string]*export
	running  map[uint64]context.CancelFunc // incoming calls by id
	data     map[uint64]*dataSlot
	loose    map[uint64]struct{} // tokens of data streams here that no call names
	acct     *linkAcct           // the link's receive-buffer accounting; nil over a native muxer
	rngMu    sync.Mutex
	rng      *mrand.ChaCha8

	inflight atomic.Int64 // incoming calls running
	idle     atomic.Int64 // workers waiting for a hand-off
	workMu   sync.Mutex   // orders rejoin against Close
	closing  bool
	handoff  chan *bufio.Reader
	refusing atomic.Int64 // refusals being sent

	unhook func() bool // cancels the link's hook that fails the Conn

	// pace times the calls (two clock reads a call), so that a link
	// that gives way to them later (Link.YieldTo) knows from the start
	// what they take on an idle path.
	pace *pacer

	rpcMu sync.Mutex
	rpcCh chan<- *Stream // takes the first rpc stream; nil once it came

	first primed // the RPC reader's first byte of a message (awaitMsg); the reader's only

	janitorWork onDemand // the janitor goroutine, while there are data streams

	releaseWork onDemand // the releaser goroutine, while there are releases
	relMu       sync.Mutex
	relIDs      []uint64

	ctx    context.Context // cancelled when the Conn ends; parent of handler contexts
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error
	wg     sync.WaitGroup
}

// NewConn starts an RPC session on l. The client side opens the RPC stream
// and the server side waits for it; then each side sends its limits. ctx
// governs this setup only. On error l is closed.
func NewConn(ctx context.Context, l *Link, opts *Options) (*Conn, error) {
	o := opts.withDefaults()
	errs, err := newErrorTable(o.Errors)
	if err != nil {
		l.Close()
		return nil, err
	}
	var seed [32]byte
	rand.Read(seed[:])
	c := &Conn{
		link:     l,
		opts:     o,
		errs:     errs,
		log:      o.Logger.With("peer", l.Peer().Name),
		pending:  make(map[uint64]*call),
		exports:  make(map[uint64]*export),
		services: make(map[string]*export),
		running:  make(map[uint64]context.CancelFunc),
		data:     make(map[uint64]*dataSlot),
		loose:    make(map[uint64]struct{}),
		acct:     l.acct,
		rng:      mrand.NewChaCha8(seed),
		handoff:  make(chan *bufio.Reader),
		done:     make(chan struct{}),
		pace:     newPacer(),
	}
	c.sendStacks = o.ErrorStacks && slices.Contains(l.Peer().Caps, capErrorStack)
	c.wcond.L = &c.wmu
	c.ctx, c.cancel = context.WithCancel(context.WithValue(context.Background(), connKey{}, c))
	for name, v := range o.Services {
		if err := c.Expose(name, v); err != nil {
			c.cancel()
			l.Close()
			return nil, err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.SetupTimeout)
		defer cancel()
	}
	if err := c.setup(ctx); err != nil {
		c.cancel()
		l.Close()
		return nil, fmt.Errorf("session: rpc setup: %w", err)
	}
	// The Conn ends with its link.
	unhook := l.afterDone(func() { c.fail(l.Err()) })
	c.mu.Lock()
	c.unhook = unhook
	c.mu.Unlock()
	c.wg.Add(1)
	go c.readLoop(rpcReaders.Get().(*bufio.Reader))
	return c, nil
}

func (c *Conn) setup(ctx context.Context) error {
	if c.link.Role() == Client {
		s, err := c.link.OpenStream(ctx, KindRPC, nil)
		if err != nil {
			return err
		}
		c.rpc = s
	}
	// Incoming streams are routed as they come (see route): the first rpc
	// stream (server side), data streams to calls, anything else to
	// Options.Accept.
	rpcCh := make(chan *Stream, 1)
	c.rpcCh = rpcCh
	c.link.serveAccepts(c.route)
	if c.rpc == nil {
		select {
		case s := <-rpcCh:
			c.rpc = s
		case <-ctx.Done():
			return ctx.Err()
		case <-c.link.Done():
			return c.link.Err()
		}
	}
	c.rpc.noIdle.Store(true)
	if c.acct != nil {
		// Every data stream's data is judged against how far this
		// stream has been read (see judge).
		c.acct.rpc.Store(c.rpc.acct())
		kick := c.kickJanitor
		c.acct.onJudge.Store(&kick)
		if c.opts.UnclaimedBuffer > 0 {
			c.acct.unclaimedMax.Store(int64(c.opts.UnclaimedBuffer))
		}
	}
	hello := &wire.Msg{Kind: wire.MsgHello, Version: rpcVersion, MaxMsg: uint64(c.opts.MaxMessageSize),
		MaxCalls: uint64(c.opts.MaxCalls), MaxRefs: uint64(c.opts.MaxRefs)}
	if dl, ok := ctx.Deadline(); ok {
		c.rpc.SetDeadline(dl)
	}
	defer c.rpc.SetDeadline(time.Time{})
	if err := c.send(hello); err != nil {
		return err
	}
	n, err := readLen(byteReader{c.rpc})
	if err == errLenOverflow {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if err != nil {
		return err
	}
	if n == 0 || n > 64 {
		return fmt.Errorf("%w: hello of %d bytes", ErrProtocol, n)
	}
	var buf [64]byte
	if _, err := io.ReadFull(c.rpc, buf[:n]); err != nil {
		return err
	}
	var m wire.Msg
	if err := wire.ParseMsg(buf[:n], &m); err != nil || m.Kind != wire.MsgHello {
		return fmt.Errorf("%w: first message is not a hello (%v)", ErrProtocol, err)
	}
	if m.Version < minRPCVersion {
		return fmt.Errorf("%w: peer speaks rpc version %d, this side %d to %d", ErrProtocol, m.Version, minRPCVersion, rpcVersion)
	}
	c.peerRPC = min(m.Version, rpcVersion)
	if m.MaxMsg < 1024 || m.MaxCalls < 1 {
		return fmt.Errorf("%w: peer limits too small (message %d, calls %d)", ErrProtocol, m.MaxMsg, m.MaxCalls)
	}
	c.peerMaxMsg = int(min(m.MaxMsg, 1<<40))
	c.callSem = make(chan struct{}, min(m.MaxCalls, 1<<20))
	return nil
}

// byteReader reads one byte at a time, for the unbuffered hello.
type byteReader struct{ r io.Reader }

func (b byteReader) ReadByte() (byte, error) {
	var p [1]byte
	_, err := io.ReadFull(b.r, p[:])
	return p[0], err
}

// Link returns the link under the session.
func (c *Conn) Link() *Link { return c.link }

// Done is closed when the session has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// AfterDone arranges for f to run, in a goroutine of its own, once the
// session has ended (at once if it has), as context.AfterFunc does:
// nothing waits for the end meanwhile, which matters to a node holding
// thousands of idle sessions. stop cancels that; it reports whether f was
// still to run.
func (c *Conn) AfterDone(f func()) (stop func() bool) { return context.AfterFunc(c.ctx, f) }

// Err returns why the session ended, or nil while it is up.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the session: pending calls fail, running handlers see their
// contexts cancelled, every exported reference is dropped and the link is
// closed. It waits for the session's own goroutines but not for handlers
// still running (they may even be the caller of Close); their results are
// discarded.
func (c *Conn) Close() error {
	if c.rpc != nil && c.Err() == nil {
		// A clean goodbye: the peer reads the end of the rpc stream (its
		// session ends with io.EOF, a peer that left), not an abort.
		c.rpc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		c.rpc.CloseWrite()
	}
	c.fail(ErrLinkClosed)
	c.link.Close()
	c.wg.Wait()
	return nil
}

// markClosing stops workers from rejoining the wait group.
func (c *Conn) markClosing() {
	c.workMu.Lock()
	c.closing = true
	c.workMu.Unlock()
}

// fail ends the session with cause, once.
func (c *Conn) fail(cause error) {
	if cause == nil {
		cause = ErrLinkClosed
	}
	if !errors.Is(cause, ErrLinkClosed) {
		cause = fmt.Errorf("%w: %w", ErrLinkClosed, cause)
	}
	c.once.Do(func() {
		// The hook may fire (and fail the Conn) before NewConn has
		// stored unhook: read it under mu.
		c.mu.Lock()
		unhook := c.unhook
		c.mu.Unlock()
		if unhook != nil {
			unhook()
		}
		c.markClosing()
		c.err = cause
		close(c.done)
		c.cancel()
		c.mu.Lock()
		pending := c.pending
		c.pending = make(map[uint64]*call)
		c.exports = make(map[uint64]*export)
		data := c.data
		c.data = make(map[uint64]*dataSlot)
		c.loose = make(map[uint64]struct{})
		c.mu.Unlock()
		for _, cl := range pending {
			cl.finish(nil, cause)
		}
		for _, d := range data {
			if d.s != nil {
				d.s.Abort(AbortClosed, "session ended")
			}
		}
		c.link.shutdown(cause)
		c.log.Debug("session ended", "err", cause)
	})
}

// send encodes m and queues it for the RPC stream. Writes are combined:
// the first sender to find no write in progress writes, and keeps writing
// what others queued meanwhile in one go, so that under load many messages
// share one stream write, while a lone call pays no hand-off to a writer
// goroutine. Senders wait only when more than maxPending bytes are queued
// behind a blocked write.
func (c *Conn) send(m *wire.Msg) error {
	_, err := c.sendSeq(m)
	return err
}

// sendSeq is send; it also returns m's place in the RPC stream, for
// waitWritten.
func (c *Conn) sendSeq(m *wire.Msg) (uint64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return 0, c.err // nothing leaves a session that ended
	default:
	}
	c.scratch = wire.AppendMsg(c.scratch[:0], m)
	n := len(c.scratch)
	if n > c.peerMaxMsgOr(n) {
		return 0, fmt.Errorf("%w: %d bytes exceeds the peer's limit of %d", ErrMessageTooLarge, n, c.peerMaxMsg)
	}
	for c.writing && c.werr == nil && len(c.queue) > maxPending {
		c.wcond.Wait()
	}
	if c.werr != nil {
		return 0, c.err
	}
	c.queue = binary.AppendUvarint(c.queue, uint64(n))
	c.queue = append(c.queue, c.scratch...)
	c.queued++
	mine := c.queued
	if cap(c.scratch) > 1<<20 {
		c.scratch = nil // don't pin a large buffer
	}
	if c.writing {
		return mine, nil // the writer in progress takes it
	}
	if err := c.writeQueue(); err != nil {
		return 0, err
	}
	return mine, nil
}

// writeQueue writes the queue to the RPC stream, and what is queued
// meanwhile, until it is empty. c.wmu is held and no write is in
// progress; the lock is released while writing.
func (c *Conn) writeQueue() error {
	c.writing = true
	for len(c.queue) > 0 && c.werr == nil {
		buf := c.queue
		upto := c.queued
		c.queue = c.spare[:0]
		c.wmu.Unlock()
		_, err := c.rpc.Write(buf)
		c.wmu.Lock()
		if cap(buf) <= 1<<20 {
			c.spare = buf[:0]
		}
		if err != nil {
			c.werr = err
		} else {
			c.wrote = upto
		}
		c.wcond.Broadcast()
	}
	c.writing = false
	if c.werr != nil {
		// The RPC stream is broken: so is the session, and every caller
		// learns it as ErrLinkClosed.
		c.fail(c.werr)
		return c.err
	}
	return nil
}

// postRelease queues a release of id behind every message queued so far,
// without waiting: if no write is in progress, the release loop writes
// it. So a release takes its place in the session's message order when
// Ref.Release calls this, and whatever this side sends afterwards follows
// it on the wire, yet Release never blocks on the peer.
func (c *Conn) postRelease(id uint64) {
	c.wmu.Lock()
	select {
	case <-c.done:
		c.wmu.Unlock()
		return // the session ended: the peer dropped everything
	default:
	}
	if c.werr != nil {
		c.wmu.Unlock()
		return
	}
	c.scratch = wire.AppendMsg(c.scratch[:0], &wire.Msg{Kind: wire.MsgRelease, IDs: []uint64{id}})
	c.queue = binary.AppendUvarint(c.queue, uint64(len(c.scratch)))
	c.queue = append(c.queue, c.scratch...)
	c.queued++
	idle := !c.writing
	c.wmu.Unlock()
	if idle {
		c.wakeReleases()
	}
}

// flushQueue writes what is queued if no write is in progress (a release
// that postRelease queued while nobody was writing).
func (c *Conn) flushQueue() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.writing && len(c.queue) > 0 && c.werr == nil {
		_ = c.writeQueue()
	}
}

// waitWritten waits until the message sendSeq placed at seq has been
// written to the RPC stream (not merely queued), or the stream failed:
// what is written on other streams after that follows the message on the
// wire. A call's io.Reader arguments, and a reply's, are streamed only
// then, so that the peer reads the call (or reply) that names a data
// stream before the data (see judge).
func (c *Conn) waitWritten(seq uint64) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for c.wrote < seq && c.werr == nil {
		c.wcond.Wait()
	}
}

// maxPending bounds the bytes queued behind a write in progress.
const maxPending = 1 << 20

func (c *Conn) peerMaxMsgOr(n int) int {
	if c.peerMaxMsg == 0 { // the hello itself
		return n
	}
	return c.peerMaxMsg
}

// readLoop reads and dispatches messages until the session ends. It never
// blocks on a write: replies and refusals are sent by other goroutines.
//
// An incoming call is run by the goroutine that read it, after it has
// handed the reading over to another goroutine (an idle worker if there
// is one, else a new one): the handler starts at once, without waiting for
// a goroutine to be scheduled, the reader never waits for a handler (which
// may call back into the peer), and workers keep their grown stacks from
// call to call.
func (c *Conn) readLoop(br *bufio.Reader) {
	var idle *time.Timer
	for {
		req := c.readUntilCall(br)
		c.wg.Done() // Close waits for readers, not for handlers
		if req == nil {
			return
		}
		c.serveCall(req)
		if !c.rejoin() {
			return
		}
		// Wait, idle, for the next hand-off; a worker idle for
		// workerIdle leaves (an idle session keeps no worker).
		if c.idle.Add(1) > maxIdleWorkers {
			c.idle.Add(-1)
			c.wg.Done()
			return
		}
		if idle == nil {
			idle = time.NewTimer(workerIdle)
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case br = <-c.handoff:
			c.idle.Add(-1)
		case <-c.done:
			c.idle.Add(-1)
			c.wg.Done()
			return
		case <-idle.C:
			c.idle.Add(-1)
			c.wg.Done()
			return
		}
	}
}

// rejoin counts a worker back into the goroutines Close waits for, unless
// the session is closing (then the worker leaves).
func (c *Conn) rejoin() bool {
	c.workMu.Lock()
	defer c.workMu.Unlock()
	if c.closing {
		return false
	}
	c.wg.Add(1)
	return true
}

// maxIdleWorkers bounds the goroutines kept waiting to read, and
// workerIdle how long one waits.
const (
	maxIdleWorkers = 16
	workerIdle     = 5 * time.Second
)

// readUntilCall reads and dispatches messages until a call arrives, then
// hands the reader over and returns the call; it returns nil when the
// session ends.
func (c *Conn) readUntilCall(br *bufio.Reader) *callReq {
	var m wire.Msg
	for {
		if br.Buffered() == 0 && !c.first.has {
			if br = c.awaitMsg(br); br == nil {
				return nil
			}
		}
		n, err := readLen(br)
		if err == errLenOverflow {
			c.violation(err.Error())
			return nil
		}
		if err != nil {
			c.fail(err)
			return nil
		}
		if n == 0 || n > uint64(c.opts.MaxMessageSize) {
			c.violation(fmt.Sprintf("message of %d bytes (limit %d)", n, c.opts.MaxMessageSize))
			return nil
		}
		var body []byte
		peeked := n <= 512
		if peeked {
			// Small messages are parsed in place.
			if body, err = br.Peek(int(n)); err != nil {
				c.fail(err)
				return nil
			}
		} else if body, err = readMsg(br, int(n)); err != nil {
			c.fail(err)
			return nil
		}
		if err := wire.ParseMsg(body, &m); err != nil {
			c.violation(err.Error())
			return nil
		}
		if peeked {
			// What outlives the buffer is copied before it is reused.
			if len(m.Body) > 0 {
				m.Body = append([]byte(nil), m.Body...)
			}
			br.Discard(int(n))
		}
		if m.Kind == wire.MsgCall {
			if req, ok := c.admitCall(&m); ok {
				select {
				case c.handoff <- br:
				default:
					c.wg.Add(1)
					go c.readLoop(br)
				}
				return req
			}
			continue
		}
		if !c.dispatch(&m) {
			return nil
		}
	}
}

// rpcReaders are the read buffers of the RPC streams' readers: a reader
// holds one only while messages arrive (see awaitMsg).
var rpcReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// awaitMsg waits for the next message without holding a read buffer, so
// that an idle session keeps none: it gives br back, reads the message's
// first byte alone, and returns a pooled reader that reads that byte and
// then the RPC stream. nil: the session ended (it has failed).
func (c *Conn) awaitMsg(br *bufio.Reader) *bufio.Reader {
	br.Reset(nil)
	rpcReaders.Put(br)
	var one [1]byte
	for {
		n, err := c.rpc.Read(one[:])
		if n == 1 {
			break
		}
		if err != nil {
			c.fail(err)
			return nil
		}
	}
	c.first = primed{b: one[0], has: true, src: c.rpc}
	br = rpcReaders.Get().(*bufio.Reader)
	br.Reset(&c.first)
	return br
}

// primed reads one byte already read, then src.
type primed struct {
	b   byte
	has bool
	src io.Reader
}

func (p *primed) Read(q []byte) (int, error) {
	if !p.has {
		return p.src.Read(q)
	}
	if len(q) == 0 {
		return 0, nil
	}
	q[0], p.has = p.b, false
	return 1, nil
}

// errLenOverflow reports a message length that does not fit 64 bits.
var errLenOverflow = errors.New("message length overflows 64 bits")

// readLen reads a message length, a uvarint, as binary.ReadUvarint does,
// but tells a malformed length (errLenOverflow) from a failed read.
func readLen(br io.ByteReader) (uint64, error) {
	var x uint64
	var s uint
	for i := range binary.MaxVarintLen64 {
		b, err := br.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, errLenOverflow
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, errLenOverflow
}

// readMsg reads a message of n bytes. The buffer grows as the bytes
// arrive, so a peer that declares a large message and sends little of it
// costs little memory.
func readMsg(r io.Reader, n int) ([]byte, error) {
	const step = 64 << 10
	body := make([]byte, 0, min(n, step))
	for len(body) < n {
		if len(body) == cap(body) {
			body = append(body, make([]byte, min(n-len(body), len(body)))...)[:len(body)]
		}
		m, err := io.ReadFull(r, body[len(body):min(cap(body), n)])
		body = body[:len(body)+m]
		if err != nil {
			return nil, err
		}
	}
	return body, nil
}

func (c *Conn) violation(why string) {
	c.log.Warn("protocol violation", "err", why)
	c.fail(fmt.Errorf("%w: %s", ErrProtocol, why))
	c.link.Close()
}

func (c *Conn) dispatch(m *wire.Msg) bool {
	switch m.Kind {
	case wire.MsgReply, wire.MsgError, wire.MsgPong:
		var toks, home []uint64
		if m.Kind == wire.MsgReply {
			toks, home = scanRefs(m.Body)
		}
		c.mu.Lock()
		cl := c.pending[m.ID]
		delete(c.pending, m.ID)
		abandoned := cl != nil && cl.abandoned
		if cl != nil && !abandoned {
			c.nameData(toks)
			cl.homes = c.resolveHomes(home)
		}
		c.mu.Unlock()
		if cl == nil {
			return true // a ping nobody waits for any more
		}
		c.pace.callEnded(cl.sent)
		if abandoned {
			// The late reply of a call whose caller gave up: free its
			// slot and drop what it carried.
			<-c.callSem
			if m.Kind == wire.MsgReply {
				if items, err := splitArray(m.Body, maxResults); err == nil {
					c.releaseUnused(items)
				}
			}
			return true
		}
		switch m.Kind {
		case wire.MsgError:
			cl.finish(nil, c.errs.decode(m.Code, m.Type, m.Text, m.Stack, c.link.Peer().Version))
		default:
			cl.finish(m.Body, nil) // the body is the message's own copy
		}
	case wire.MsgCancel:
		c.mu.Lock()
		cancel := c.running[m.ID]
		c.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case wire.MsgRelease:
		c.mu.Lock()
		for _, id := range m.IDs {
			delete(c.exports, id)
		}
		c.mu.Unlock()
	case wire.MsgPing:
		id := m.ID
		c.goSend(&wire.Msg{Kind: wire.MsgPong, ID: id})
	case wire.MsgHello:
		c.violation("second hello")
		return false
	}
	return true
}

// goSend sends m from a fresh goroutine, so the read loop never waits on
// the peer's window. The number of such sends is bounded by MaxCalls; a
// peer that floods past it is breaking the protocol.
func (c *Conn) goSend(m *wire.Msg) {
	if c.refusing.Add(1) > int64(c.opts.MaxCalls) {
		c.refusing.Add(-1)
		c.violation("flood of messages that need an answer")
		return
	}
	if !c.rejoin() {
		c.refusing.Add(-1)
		return
	}
	go func() {
		defer c.wg.Done()
		defer c.refusing.Add(-1)
		_ = c.send(m)
	}()
}

// newID returns a fresh random reference id or data token, never 0.
func (c *Conn) newID() uint64 {
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	for {
		if id := c.rng.Uint64(); id != 0 {
			return id
		}
	}
}

// Ping measures a round trip through the RPC stream.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	cl := newCall()
	id := c.nextID.Add(1)
	if err := c.register(id, cl); err != nil {
		return 0, err
	}
	if err := c.send(&wire.Msg{Kind: wire.MsgPing, ID: id}); err != nil {
		c.unregister(id)
		return 0, err
	}
	select {
	case <-cl.done:
		if cl.err != nil {
			return 0, cl.err
		}
		return time.Since(start), nil
	case <-ctx.Done():
		c.unregister(id)
		return 0, ctx.Err()
	}
}

func (c *Conn) register(id uint64, cl *call) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	default:
	}
	cl.sent = time.Now()
	c.pace.callStarted(cl.sent)
	c.pending[id] = cl
	return nil
}

func (c *Conn) unregister(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// route routes a stream the peer opened (Link.serveAccepts calls it).
func (c *Conn) route(s *Stream) {
	switch s.Kind() {
	case KindRPC:
		c.rpcMu.Lock()
		rpcCh := c.rpcCh
		c.rpcCh = nil
		c.rpcMu.Unlock()
		if rpcCh != nil {
			rpcCh <- s // 1-buffered, sent to once
			return
		}
		s.Abort(AbortRefused, "a second rpc stream")
	case KindData:
		if len(s.Header()) != 8 {
			s.Abort(AbortProtocol, "data stream header must be 8 bytes")
			return
		}
		if c.opts.OnDataStream != nil {
			c.opts.OnDataStream()
		}
		c.dataArrived(binary.BigEndian.Uint64(s.Header()), s)
	default:
		if c.opts.Accept != nil {
			c.opts.Accept(s)
			return
		}
		s.Abort(AbortRefused, "no handler for "+s.Kind().String()+" streams")
	}
}

// onDemand is a goroutine that runs only while it has work: kick starts
// it unless it runs, and it leaves when it finds nothing to do and nothing
// came meanwhile. An idle session parks none.
type onDemand struct {
	mu      sync.Mutex
	running bool
	again   bool // kicked while running: look again before leaving
}

// kick starts run on a goroutine of c's unless it is running (then it
// looks again before it leaves), or c is closing.
func (w *onDemand) kick(c *Conn, run func()) {
	w.mu.Lock()
	if w.running {
		w.again = true
		w.mu.Unlock()
		return
	}
	w.running = true
	w.mu.Unlock()
	if !c.rejoin() {
		w.stop()
		return
	}
	go run()
}

// leave reports whether the goroutine may leave, having found nothing to
// do (idle): not if it was kicked since it last asked.
func (w *onDemand) leave(idle bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if idle && !w.again {
		w.running = false
		return true
	}
	w.again = false
	return false
}

// stop records that the goroutine left (the session ended).
func (w *onDemand) stop() {
	w.mu.Lock()
	w.running = false
	w.mu.Unlock()
}

// releaser sends the ids of remote references this side dropped, in
// batches, and writes the releases postRelease queued while no write was
// in progress. wakeReleases starts it when there is work.
func (c *Conn) releaser() {
	defer c.wg.Done()
	for {
		if c.Err() != nil {
			c.releaseWork.stop()
			return
		}
		c.flushQueue()
		// A batch fits the peer's message limit: ids take ≤ 10 bytes.
		batch := min(wire.MaxReleaseIDs, (c.peerMaxMsg-16)/binary.MaxVarintLen64)
		for {
			c.relMu.Lock()
			ids := c.relIDs
			if len(ids) > batch {
				ids = ids[:batch]
				c.relIDs = append([]uint64(nil), c.relIDs[batch:]...)
			} else {
				c.relIDs = nil
			}
			c.relMu.Unlock()
			if len(ids) == 0 {
				break
			}
			if err := c.send(&wire.Msg{Kind: wire.MsgRelease, IDs: ids}); err != nil {
				if c.Err() != nil {
					break
				}
				c.log.Warn("release not sent", "err", err)
			}
		}
		c.relMu.Lock()
		idle := len(c.relIDs) == 0
		c.relMu.Unlock()
		if c.releaseWork.leave(idle) {
			return
		}
	}
}

// queueRelease is called by a proxy's cleanup when it becomes unreachable.
func (c *Conn) queueRelease(id uint64) {
	select {
	case <-c.done:
		return
	default:
	}
	c.relMu.Lock()
	c.relIDs = append(c.relIDs, id)
	c.relMu.Unlock()
	c.wakeReleases()
}

func (c *Conn) wakeReleases() { c.releaseWork.kick(c, c.releaser) }

// kickJanitor starts the janitor unless it is at work: a data stream
// arrived or was named, or the link's accounting asks for a judgement.
func (c *Conn) kickJanitor() { c.janitorWork.kick(c, c.janitor) }

// janitor aborts data streams nobody claimed in time, and judges the
// data streams no call names (see judge). It runs while there are data
// streams to watch (kickJanitor starts it).
func (c *Conn) janitor() {
	defer c.wg.Done()
	t := time.NewTicker(max(c.opts.StreamWait/4, 10*time.Millisecond))
	defer t.Stop()
	var judgeCh <-chan struct{}
	if c.acct != nil {
		judgeCh = c.acct.judge
	}
	grace := time.NewTimer(time.Hour)
	grace.Stop()
	defer grace.Stop()
	next := c.judge(time.Now())
	for {
		if !next.IsZero() {
			grace.Reset(time.Until(next))
		} else if c.janitorWork.leave(c.idleData()) {
			return
		}
		select {
		case <-c.done:
			c.janitorWork.stop()
			return
		case <-judgeCh:
		case <-grace.C:
		case now := <-t.C:
			var stale []*Stream
			c.mu.Lock()
			for tok, d := range c.data {
				switch {
				case d.s != nil && now.Sub(d.at) > c.opts.StreamWait:
					stale = append(stale, d.s)
					delete(c.data, tok)
					delete(c.loose, tok)
				case d.s == nil && d.wait == nil && now.Sub(d.at) > c.opts.StreamWait:
					delete(c.data, tok) // dropped, or named by a call and never sent
				}
			}
			c.mu.Unlock()
			for _, s := range stale {
				s.Abort(AbortTimeout, "no call claimed this data stream")
			}
		}
		next = c.judge(time.Now())
	}
}

// idleData reports whether the session has no data stream slots to watch.
func (c *Conn) idleData() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.data) == 0
}

// connKey carries the Conn in the contexts its handlers run with.
type connKey struct{}

// ConnFrom returns the session a call arrived on, from the context its
// handler was given (nil elsewhere): RPyC's self._conn. A service uses it
// to call back into the caller's own exposed services — a node's service
// reaching what the client exposed with hopwire.Options.Services — or to
// read the caller's Peer.
func ConnFrom(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}
