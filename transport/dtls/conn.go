package dtls

import (
	"crypto/tls"
	"errors"
	"io"
	"math/bits"
	"net"
	"sync"
	"time"
)

// Errors a Conn returns (inside a *net.OpError) when its transport has
// ended for a reason other than the caller's Close.
var (
	// ErrReset means the peer's DTLS session ended, by a close_notify or a
	// fatal alert, before this direction of the stream was finished: the
	// peer aborted, or it closed while our data was still on its way. Data
	// the peer did finish (up to its FIN) is still read before io.EOF.
	ErrReset = errors.New("dtls: connection reset by peer")

	// ErrIdleTimeout means nothing was heard from the peer for
	// Options.IdleTimeout although keepalives were sent: it is gone, or
	// the path to it is. It satisfies net.Error with Timeout() == true but,
	// unlike a deadline, does not wrap os.ErrDeadlineExceeded.
	ErrIdleTimeout error = idleTimeoutError{}
)

type idleTimeoutError struct{}

func (idleTimeoutError) Error() string   { return "dtls: peer idle timeout" }
func (idleTimeoutError) Timeout() bool   { return true }
func (idleTimeoutError) Temporary() bool { return false }

// errWriteClosed is what Write returns after CloseWrite.
var errWriteClosed = errors.New("dtls: write after CloseWrite")

// Conn is an authenticated, reliable, ordered byte stream over DTLS: the
// net.Conn that [Dial], [DialPacket] and [Listener.Accept] return. It is
// NOT the raw DTLS conn: that one loses, duplicates and reorders
// datagrams, and is never handed out. smux and anything else that needs a
// byte stream run over a Conn.
//
// A Conn behaves as a TCP conn: Read and Write honour deadlines (errors
// satisfy net.Error with Timeout() and wrap os.ErrDeadlineExceeded), a
// peer's Close reads as io.EOF once its data has been read, and
// [Conn.CloseWrite] half-closes. Writes return once the data is buffered
// (up to Options.Window bytes); Close delivers what is buffered and a FIN
// and waits up to Options.Linger for the peer to acknowledge them, then
// ends the DTLS session. A peer that falls silent is detected after
// Options.IdleTimeout; reads and writes then fail with [ErrIdleTimeout].
// If the peer's DTLS session ends without a FIN, they fail with [ErrReset].
//
// A Conn is safe for concurrent use. Each one runs two goroutines (and
// pion's two), all stopped by Close, which the caller must call even after
// an error.
type Conn struct {
	raw          net.Conn // the DTLS conn; owned
	state        tls.ConnectionState
	laddr, raddr net.Addr
	onClose      func() // listener bookkeeping; may be nil

	// Immutable after newConn.
	capSegs   int // receive ring, in segments
	window    int // receive window, in bytes
	sndCap    int // send buffer, in bytes
	maxBlocks int
	baseMTU   int
	pmtu      *pathMTU // nil: this conn does not probe
	keepAlive time.Duration
	idle      time.Duration
	linger    time.Duration
	epoch     time.Time

	wmu sync.Mutex // serialises Write calls, so each one's bytes stay together

	mu sync.Mutex
	// Send side. segs[i] has sequence number sndUna+i; those below sndNxt
	// have been sent at least once.
	segs       []*segment
	sndUna     uint32
	sndNxt     uint32
	queued     int    // payload bytes in segs
	peerEdge   uint32 // we may send sequence numbers below it
	inFlight   int    // segments with inflight set
	nlost      int    // segments with lost set
	highSack   uint32 // highest sequence number the peer selectively acked
	cwnd       int
	cwndAcc    int
	ssthresh   int
	inRecovery bool
	recoverSeq uint32
	rackSent   time.Time // latest transmission time of a delivered segment
	srtt       time.Duration
	rttvar     time.Duration
	minRTT     time.Duration
	// A round is a window of data: it ends when sndUna passes roundEnd.
	// Its lowest RTT sample (jitter filtered out) and loss rate tell
	// congestion from noise.
	roundEnd       uint32
	roundMinRTT    time.Duration
	prevRoundMin   time.Duration
	roundLost      int
	roundDelivered int
	rto            time.Duration
	rtoAt          time.Time // zero when nothing is in flight
	probeAt        time.Time // zero unless the peer's window is shut
	probeWait      time.Duration
	finQueued      bool
	finAcked       bool
	stats          connStats

	// The path MTU (pmtu.go); mss, pktMax and maxCwnd follow it.
	mtu       int
	mss       int // payload bytes per segment
	pktMax    int // largest packet we send
	maxCwnd   int
	mtuSizes  []int     // sizes still to probe, largest first
	mtuTries  int       // probes sent at mtuSizes[0]
	mtuAt     time.Time // when to probe next
	mtuProbe  bool      // fill sends a probe
	rtoStreak int       // timeouts in a row, while above baseMTU

	// Receive side. ooo is a ring of capSegs slots indexed by seq % capSegs.
	rcvNxt      uint32
	ooo         []rseg
	oooN        int
	oooHigh     uint32 // highest seq in ooo when oooN > 0
	oooLast     uint32 // latest seq put in ooo
	readQ       [][]byte
	readOff     int
	readBytes   int // unread bytes in readQ
	peerSeg     int // the largest segment the peer may send us
	probeAck    int // the size of a PROBE to acknowledge (0: none)
	finRcvd     bool
	tsRecent    uint32
	lastAdvEdge uint32
	ackNow      bool // send an ACK at once
	ackPending  bool // an ACK is owed by ackAt (or with the next data)
	ackAt       time.Time
	unacked     int  // in-order segments since our last packet
	pingPending bool // send a PING (zero-window probe)
	lastSend    time.Time
	lastRecv    time.Time
	blkScratch  []block

	// Life cycle.
	closed  bool  // Close was called
	wclosed bool  // CloseWrite or Close was called
	err     error // why the transport ended; set once, with done

	readable chan struct{} // cap 1: something for Read
	writable chan struct{} // cap 1: space for Write
	wake     chan struct{} // cap 1: the sender has work
	finDone  chan struct{} // closed when our FIN is acknowledged
	closing  chan struct{} // closed by Close
	done     chan struct{} // closed when the transport ends; goroutines stop
	rdl, wdl deadline

	closeOnce, doneOnce, finOnce sync.Once
	wg                           sync.WaitGroup
}

// newConn starts the reliable layer over raw, an authenticated DTLS conn,
// which it owns from then on.
//
// pm, when not nil, is the socket's control for path MTU probing.
func newConn(raw net.Conn, state tls.ConnectionState, o *options, pm *pathMTU, onClose func()) *Conn {
	now := time.Now()
	c := &Conn{
		raw:       raw,
		state:     state,
		laddr:     raw.LocalAddr(),
		raddr:     raw.RemoteAddr(),
		onClose:   onClose,
		baseMTU:   o.mtu,
		window:    o.window,
		keepAlive: o.keepAlive,
		idle:      o.idleTimeout,
		linger:    o.linger,
		epoch:     now,
		peerEdge:  initialPeerWindow,
		cwnd:      initialCwnd,
		ssthresh:  1 << 30,
		rto:       initialRTO,
		lastSend:  now,
		lastRecv:  now,
		readable:  make(chan struct{}, 1),
		writable:  make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		finDone:   make(chan struct{}),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	// A power of two, so that seq % capSegs stays continuous when seq
	// wraps.
	c.sndCap = max(o.window, o.mtu)
	c.setMTU(o.mtu)
	c.peerSeg = c.mss
	c.capSegs = 1 << bits.Len(uint(max(o.window/c.mss, initialPeerWindow)-1))
	c.maxBlocks = min(maxBlocks, (c.pktMax-ackHdrLen)/blockLen)
	if pm.probing() {
		c.pmtu = pm
		c.mtuSizes = probeSizes(o.mtu, o.maxMTU)
		c.mtuAt = now
	}
	c.ooo = make([]rseg, c.capSegs)
	c.lastAdvEdge = c.rcvEdge()
	c.rdl.init()
	c.wdl.init()
	c.wg.Add(2)
	go c.readLoop()
	go c.sendLoop()
	return c
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *Conn) poke() { notify(c.wake) }

// Read reads data as it arrives in order. It returns io.EOF once the peer
// has closed its side and everything it sent has been read.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return 0, c.opError("read", net.ErrClosed)
		case isClosed(c.rdl.wait()):
			c.mu.Unlock()
			return 0, c.opError("read", errTimeout)
		case len(c.readQ) > 0:
			n := c.consume(p)
			more := len(c.readQ) > 0
			// Tell the peer when its view of our window is a quarter out
			// of date: it may be waiting for it.
			update := int(c.rcvEdge()-c.lastAdvEdge) >= max(1, c.winSegs()/4)
			if update {
				c.ackNow = true
			}
			c.mu.Unlock()
			if more {
				notify(c.readable) // for another reader
			}
			if update {
				c.poke()
			}
			return n, nil
		case c.finRcvd:
			c.mu.Unlock()
			return 0, io.EOF
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return 0, c.opError("read", err)
		case len(p) == 0:
			c.mu.Unlock()
			return 0, nil
		}
		c.mu.Unlock()
		select {
		case <-c.readable:
		case <-c.closing:
		case <-c.done:
		case <-c.rdl.wait():
		}
	}
}

// consume copies queued data into p.
func (c *Conn) consume(p []byte) int {
	n := 0
	for n < len(p) && len(c.readQ) > 0 {
		m := copy(p[n:], c.readQ[0][c.readOff:])
		c.readBytes -= m
		n += m
		c.readOff += m
		if c.readOff == len(c.readQ[0]) {
			putBuf(c.readQ[0])
			c.readQ[0] = nil
			c.readQ = c.readQ[1:]
			c.readOff = 0
		}
	}
	return n
}

// Write queues p for sending and returns once all of it is queued, or
// with the count queued so far and an error.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return n, c.opError("write", net.ErrClosed)
		case c.wclosed:
			c.mu.Unlock()
			return n, c.opError("write", errWriteClosed)
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return n, c.opError("write", err)
		case isClosed(c.wdl.wait()):
			c.mu.Unlock()
			return n, c.opError("write", errTimeout)
		case len(p) == 0:
			c.mu.Unlock()
			return n, nil
		}
		if space := c.sndCap - c.queued; space > 0 {
			k := c.enqueue(p[:min(len(p), space)])
			c.mu.Unlock()
			c.poke()
			n += k
			p = p[k:]
			continue
		}
		c.mu.Unlock()
		select {
		case <-c.writable:
		case <-c.closing:
		case <-c.done:
		case <-c.wdl.wait():
		}
	}
}

// enqueue appends p to the unsent segments, topping up the last one.
func (c *Conn) enqueue(p []byte) int {
	k := 0
	if n := len(c.segs); n > int(c.sndNxt-c.sndUna) {
		if last := c.segs[n-1]; !last.fin && len(last.data) < c.mss {
			m := min(c.mss-len(last.data), len(p))
			last.data = append(last.data, p[:m]...)
			k = m
		}
	}
	for k < len(p) {
		m := min(c.mss, len(p)-k)
		d := append(getBuf(c.mss), p[k:k+m]...)
		c.segs = append(c.segs, &segment{data: d})
		k += m
	}
	c.queued += k
	return k
}

// queueFIN ends the send side after what is queued.
func (c *Conn) queueFIN() {
	c.finQueued = true
	if n := len(c.segs); n > int(c.sndNxt-c.sndUna) {
		c.segs[n-1].fin = true // ride on the last unsent segment
		return
	}
	c.segs = append(c.segs, &segment{fin: true})
}

// CloseWrite sends a FIN after the data already written: the peer reads
// io.EOF after it, and this side can still read. Write fails afterwards.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opError("close", net.ErrClosed)
	}
	if !c.wclosed {
		c.wclosed = true
		if c.err == nil {
			c.queueFIN()
		}
	}
	c.mu.Unlock()
	notify(c.writable)
	c.poke()
	return nil
}

// Close closes the conn: blocked and later Reads and Writes fail with
// net.ErrClosed at once, unread data is discarded, and data already
// written is delivered with a FIN; Close waits for the peer to acknowledge
// them for up to Options.Linger, then ends the DTLS session (the peer
// sees io.EOF, or ErrReset if the FIN did not make it), releases the
// socket or PacketConn it owns and waits for its goroutines. It is
// idempotent and always returns nil.
func (c *Conn) Close() error {
	c.close(c.linger)
	return nil
}

func (c *Conn) close(linger time.Duration) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		close(c.closing)
		c.readQ, c.readOff = nil, 0
		if !c.wclosed {
			c.wclosed = true
			if c.err == nil {
				c.queueFIN()
			}
		}
		wait := c.err == nil && c.finQueued && !c.finAcked && linger > 0
		c.ackNow = true // the window just opened
		c.mu.Unlock()
		c.poke()
		if wait {
			t := time.NewTimer(linger)
			select {
			case <-c.finDone:
			case <-c.done:
			case <-t.C:
			}
			t.Stop()
		}
		c.shutdown(net.ErrClosed)
		c.wg.Wait()
		if c.onClose != nil {
			c.onClose()
		}
	})
}

// shutdown ends the transport with err (the first reason wins): the
// goroutines stop and the DTLS conn is closed, which sends close_notify
// and closes the socket or PacketConn under it.
func (c *Conn) shutdown(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.doneOnce.Do(func() {
		close(c.done)
		c.raw.Close()
	})
}

// ConnectionState returns the DTLS handshake's outcome in crypto/tls's
// terms: PeerCertificates (leaf first) and VerifiedChains as verified
// during the handshake, NegotiatedProtocol, ServerName, and Version
// 0xfefd (DTLS 1.2). certs.PeerFromState reads the peer from it.
func (c *Conn) ConnectionState() tls.ConnectionState { return c.state }

// LocalAddr returns the local UDP address (or the PacketConn's).
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls, pending ones included.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, pending ones
// included. A Write that times out may have queued part of its data; it
// reports how much.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return opError(op, c.laddr, c.raddr, err)
}
