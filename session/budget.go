package session

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// Budget counts the bytes that links hold in their receive buffers: data
// the peer sent that no reader has taken yet. Many links may draw from
// one Budget (a node gives all its links the same one); each link adds
// what arrives for its streams and takes back what their readers read or
// what is dropped with a stream. While a Budget is spent, the links that
// draw from it refuse new streams from their peers (pings excepted), and
// a node refuses new links (see [LinkConfig.Admit]).
//
// Only links over smux are counted; a link over a natively multiplexed
// connection (QUIC) is bounded by its transport's connection window.
//
// A Budget is safe for concurrent use.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a Budget of limit bytes; limit ≤ 0 means no limit
// (the budget only counts).
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Limit returns the budget's limit, or 0 when it has none.
func (b *Budget) Limit() int64 {
	if b == nil || b.limit <= 0 {
		return 0
	}
	return b.limit
}

// Used returns the bytes the links drawing from b hold now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Exhausted reports whether the links drawing from b hold its limit or
// more. A nil Budget is never exhausted.
func (b *Budget) Exhausted() bool {
	return b != nil && b.limit > 0 && b.used.Load() >= b.limit
}

func (b *Budget) add(n int64) {
	if b != nil {
		b.used.Add(n)
	}
}

// Receive-buffer accounting for smux links.
//
// smux keeps every frame that arrives for an open stream until a reader
// takes it, within one shared bound (MaxReceiveBuffer, LinkConfig's
// LinkBuffer); it has no per-stream or per-peer view. linkAcct watches the
// frames on their way into smux (bufferedConn.Read sees every byte smux
// reads) and the reads out of it (acctStream), and so knows, per stream,
// what is buffered. That is what lets a link bound the bytes held by
// streams nobody has taken (unclaimed), draw from a node-wide Budget, and
// count a small frame at what it really costs.
//
// Mirror of smux's stream table: an entry is made when a SYN passes in
// either direction (smux makes its stream then) and dropped when the
// stream is closed through acctStream (after smux dropped its own); frames
// for a stream without an entry are dropped by smux too, so they are not
// counted.

// frameOverhead is what smux spends on a buffered frame beyond its
// payload: the pooled buffer's slice header and pointer and its slot in
// the stream's ring. It is charged per frame, so that a peer sending
// one-byte frames is counted at what they cost, not at one byte each; it
// is taken back when the stream's buffer next runs empty.
const frameOverhead = 64

// smux's frame commands and header size (its wire format).
const (
	smuxSYN       = 0
	smuxFIN       = 1
	smuxPSH       = 2
	smuxNOP       = 3
	smuxHeaderLen = 8
	smuxVersion   = 2 // the version hopwire runs (smux.Config.Version)
)

// holdForce is how long a link's reader waits on unclaimed data before the
// session is asked to refuse every unclaimed data stream, caught up or not.
const holdForce = 2 * time.Second

type linkAcct struct {
	budget   *Budget
	maxTotal int64 // the reader waits while more than this is buffered

	total atomic.Int64 // bytes and frame overheads buffered on the link
	peak  atomic.Int64 // total's high-water mark

	// unclaimed counts the bytes buffered in streams nobody has taken:
	// incoming streams not yet accepted, and data streams no call has
	// named (see Conn.dataArrived). Past unclaimedMax (set by the Conn;
	// 0: no bound) the link's reader waits for the session to refuse
	// them.
	unclaimed     atomic.Int64
	unclaimedPeak atomic.Int64
	unclaimedMax  atomic.Int64

	rpc      atomic.Pointer[streamAcct] // the session's RPC stream
	waitMark atomic.Int64               // wake the judge once the RPC reader passes this
	judge    chan struct{}              // 1-buffered: the session should judge its unclaimed data streams
	onJudge  atomic.Pointer[func()]     // called with each notice on judge (the session starts its janitor)
	force    atomic.Bool                // … and refuse them all

	holding atomic.Bool
	wake    chan struct{} // 1-buffered: something was taken back while holding
	stop    chan struct{} // closed when the link ends
	stopped sync.Once

	mu      sync.Mutex
	streams map[uint32]*streamAcct
	closed  bool

	// Parser state, touched only by the goroutine reading the link.
	hdr  [smuxHeaderLen]byte
	hn   int // header bytes seen
	skip int // payload bytes of the current frame still to pass
}

// streamAcct is one stream's buffer, as far as the peer has filled it and
// its reader emptied it.
type streamAcct struct {
	a *linkAcct

	read atomic.Int64 // bytes read so far
	mark atomic.Int64 // read as it stood when the latest read began

	mu        sync.Mutex
	bytes     int64 // payload buffered
	ovh       int64 // frame overheads charged since the buffer was last empty
	arrived   int64 // payload ever arrived
	unclaimed bool  // counted in linkAcct.unclaimed
	lastAt    int64 // the RPC stream's arrived count at the latest charge while unclaimed
	since     time.Time
	gone      bool
}

func newLinkAcct(budget *Budget, linkBuffer int) *linkAcct {
	return &linkAcct{
		budget:   budget,
		maxTotal: int64(linkBuffer) + int64(linkBuffer)/2,
		judge:    make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		streams:  make(map[uint32]*streamAcct),
	}
}

// add moves n (positive or negative) into the link's total and budget.
func (a *linkAcct) add(n int64) {
	if n == 0 {
		return
	}
	t := a.total.Add(n)
	a.budget.add(n)
	if n > 0 {
		raise(&a.peak, t)
	} else {
		a.poke()
	}
}

func (a *linkAcct) addUnclaimed(n int64) {
	u := a.unclaimed.Add(n)
	if n > 0 {
		raise(&a.unclaimedPeak, u)
	}
}

func raise(peak *atomic.Int64, v int64) {
	for {
		p := peak.Load()
		if v <= p || peak.CompareAndSwap(p, v) {
			return
		}
	}
}

// poke wakes a reader waiting in hold.
func (a *linkAcct) poke() {
	if a.holding.Load() {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

func (a *linkAcct) notifyJudge() {
	select {
	case a.judge <- struct{}{}:
	default:
	}
	if f := a.onJudge.Load(); f != nil {
		(*f)()
	}
}

// open makes the entry of a stream smux is making, once. Incoming streams
// start unclaimed.
func (a *linkAcct) open(sid uint32, incoming bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.streams[sid] != nil {
		return // smux ignores a SYN for a stream it has
	}
	a.streams[sid] = &streamAcct{a: a, unclaimed: incoming}
}

func (a *linkAcct) lookup(sid uint32) *streamAcct {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.streams[sid]
}

// charge counts a frame of n payload bytes for sid.
func (a *linkAcct) charge(sid uint32, n int) {
	e := a.lookup(sid)
	if e == nil {
		return // smux drops it
	}
	var rpcAt int64
	if r := a.rpc.Load(); r != nil && r != e {
		rpcAt = r.arrivedNow()
	}
	c := int64(n) + frameOverhead
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		return
	}
	first := e.bytes == 0
	if first {
		e.since = time.Now()
	}
	e.bytes += int64(n)
	e.ovh += frameOverhead
	e.arrived += int64(n)
	unclaimed := e.unclaimed
	if unclaimed {
		e.lastAt = rpcAt
		a.addUnclaimed(c)
	}
	e.mu.Unlock()
	a.add(c)
	if unclaimed {
		// A stream that starts holding unclaimed data, or too much of it:
		// the session judges (see Conn.judge).
		if m := a.unclaimedMax.Load(); first || m > 0 && a.unclaimed.Load() > m {
			a.notifyJudge()
		}
	}
}

// arrivedNow returns the payload that has arrived for e; only the reading
// goroutine changes it.
func (e *streamAcct) arrivedNow() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.arrived
}

// credit takes back n bytes a reader read from e.
func (e *streamAcct) credit(n int) {
	a := e.a
	e.read.Add(int64(n))
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		return
	}
	c := int64(n)
	e.bytes -= int64(n)
	if e.bytes <= 0 {
		// The buffer is empty: so is smux's ring of frames.
		c += e.bytes + e.ovh
		e.bytes, e.ovh = 0, 0
	}
	if e.unclaimed {
		a.addUnclaimed(-c)
	}
	e.mu.Unlock()
	a.add(-c)
}

// remove drops e's entry; whatever it still held was discarded with the
// stream.
func (e *streamAcct) remove(sid uint32) {
	a := e.a
	a.mu.Lock()
	if a.streams[sid] == e {
		delete(a.streams, sid)
	}
	a.mu.Unlock()
	e.drop()
}

func (e *streamAcct) drop() {
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		return
	}
	e.gone = true
	c := e.bytes + e.ovh
	e.bytes, e.ovh = 0, 0
	if e.unclaimed {
		e.unclaimed = false
		e.a.addUnclaimed(-c)
	}
	e.mu.Unlock()
	e.a.add(-c)
}

// claim takes e out of the unclaimed count: its owner reads it now.
func (e *streamAcct) claim() {
	if e == nil {
		return
	}
	e.mu.Lock()
	if !e.unclaimed || e.gone {
		e.mu.Unlock()
		return
	}
	e.unclaimed = false
	c := e.bytes + e.ovh
	e.mu.Unlock()
	e.a.addUnclaimed(-c)
	e.a.poke()
}

// held reports whether e holds unclaimed bytes, the RPC stream's arrived
// count when the latest of them came, and since when it has held bytes.
func (e *streamAcct) held() (ok bool, at int64, since time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.unclaimed && e.bytes > 0, e.lastAt, e.since
}

// readStart records that a read of e begins: everything read before has
// been handed to its reader. For the RPC stream that means every message
// that arrived before that point has been parsed (see Conn.judge).
func (e *streamAcct) readStart() {
	m := e.read.Load()
	e.mark.Store(m)
	a := e.a
	if w := a.waitMark.Load(); w > 0 && m >= w && a.rpc.Load() == e {
		a.waitMark.Store(0)
		a.notifyJudge()
	}
}

// rpcMark returns how far the session's reader has parsed its RPC stream
// (in the stream's bytes), or -1 when the link has no session.
func (a *linkAcct) rpcMark() int64 {
	if r := a.rpc.Load(); r != nil {
		return r.mark.Load()
	}
	return -1
}

// overLimit reports whether the link's reader should wait.
func (a *linkAcct) overLimit() bool {
	if a.total.Load() > a.maxTotal {
		return true
	}
	m := a.unclaimedMax.Load()
	return m > 0 && a.unclaimed.Load() > m
}

// hold makes the link's reader wait, at a frame boundary, while the link
// buffers more than it may: the session refuses its unclaimed data
// streams (see Conn.judge) or readers take what they were sent.
func (a *linkAcct) hold() {
	if a.hn != 0 || a.skip != 0 || !a.overLimit() {
		return
	}
	a.holding.Store(true)
	defer a.holding.Store(false)
	t := time.NewTimer(holdForce)
	defer t.Stop()
	for a.overLimit() {
		a.notifyJudge()
		select {
		case <-a.wake:
		case <-a.stop:
			return
		case <-t.C:
			// The session's reader is slow to catch up: refuse every
			// unclaimed data stream now.
			a.force.Store(true)
			a.notifyJudge()
		}
	}
}

// feed follows the frames in p, which smux is about to read.
func (a *linkAcct) feed(p []byte) {
	for len(p) > 0 {
		if a.skip > 0 {
			k := min(a.skip, len(p))
			a.skip -= k
			p = p[k:]
			continue
		}
		k := copy(a.hdr[a.hn:], p)
		a.hn += k
		p = p[k:]
		if a.hn < smuxHeaderLen {
			return
		}
		a.hn = 0
		n := int(binary.LittleEndian.Uint16(a.hdr[2:]))
		sid := binary.LittleEndian.Uint32(a.hdr[4:])
		switch a.hdr[1] {
		case smuxSYN:
			if n == 0 {
				a.open(sid, true)
			}
		case smuxPSH:
			if n > 0 {
				a.charge(sid, n)
			}
		}
		a.skip = n // smux fails the session on a length it does not allow
	}
}

// sent follows a frame this side writes: a SYN makes the entry of a
// stream this side opens, before the peer can answer it.
func (a *linkAcct) sent(v [][]byte) {
	var hdr [smuxHeaderLen]byte
	n := 0
	for _, p := range v {
		n += copy(hdr[n:], p)
		if n == smuxHeaderLen {
			break
		}
	}
	if n == smuxHeaderLen && hdr[1] == smuxSYN {
		a.open(binary.LittleEndian.Uint32(hdr[4:]), false)
	}
}

// stopHolding releases a reader waiting in hold for good: the link is
// broken; its streams keep what they buffered until they are closed.
func (a *linkAcct) stopHolding() { a.stopped.Do(func() { close(a.stop) }) }

// close takes back everything when the link is closed.
func (a *linkAcct) close() {
	a.stopHolding()
	a.mu.Lock()
	a.closed = true
	streams := a.streams
	a.streams = make(map[uint32]*streamAcct)
	a.mu.Unlock()
	for _, e := range streams {
		e.drop()
	}
}
