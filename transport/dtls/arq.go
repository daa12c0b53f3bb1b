package dtls

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	pdtls "github.com/pion/dtls/v3"
)

// This file is the reliable layer's engine: the reader and sender
// goroutines, acknowledgement, loss detection, retransmission, congestion
// and flow control. conn.go holds the net.Conn face; packet.go the wire
// format.

// Tuning of the reliable layer. They are not options: they follow from
// the protocol, not from the network, except where Options says so.
const (
	initialRTO = 250 * time.Millisecond
	minRTO     = 40 * time.Millisecond
	maxRTO     = 8 * time.Second
	maxProbe   = time.Second // longest wait between zero-window probes

	delayedAck = 4 * time.Millisecond // how long an ACK may wait for company
	ackEvery   = 2                    // in-order segments per ACK, at most
	dupThresh  = 3                    // a hole this far below a delivered segment is a loss

	initialCwnd = 32 // segments
	minCwnd     = 16 // segments; random loss is not congestion, so stay above a trickle
	// queueSlack is how far (percent of the minimum RTT, at least
	// minQueueDelay) the lowest recent RTT may rise before a loss is
	// blamed on a queue, that is on congestion, rather than on noise.
	queueSlack    = 50
	minQueueDelay = 2 * time.Millisecond
	// congestedLoss is the share of a round's segments (in percent) whose
	// loss (four or more) is taken for congestion even with no queue on
	// the path.
	congestedLoss = 15

	initialPeerWindow = 64 // segments the peer accepts before it has told us
	maxBatch          = 64 // packets the sender builds per round
	// batchBytes caps a round's packets in bytes too, so that once the
	// MTU has grown, a conn's send buffers (kept for its life) stay near
	// 128 KiB rather than 64 datagrams of 8 KiB.
	batchBytes = 128 << 10

	// dtlsOverhead is what a DTLS 1.2 AES-GCM record adds to its payload:
	// a 13-byte header, an 8-byte explicit nonce and a 16-byte tag.
	dtlsOverhead = 13 + 8 + 16
	// maxRecord is the largest record pion reads (its inbound buffer).
	maxRecord = 8192
)

// segment is one sequence number's worth of outgoing data.
type segment struct {
	data     []byte
	fin      bool
	sentAt   time.Time // of the latest transmission
	ts       uint32    // tsval of the latest transmission
	xmits    int
	inflight bool // sent and neither delivered nor deemed lost
	lost     bool // deemed lost, waiting for retransmission
	sacked   bool // the peer has it (selectively acknowledged)
}

// connStats counts the sender's recovery events, for tests and tuning.
type connStats struct {
	sent, retrans, lost, rtos, randomLoss int
}

// rseg is a slot of the receive ring: an out-of-order segment.
type rseg struct {
	seq  uint32
	data []byte
	fin  bool
	ok   bool
}

// rcvEdge is the right edge of our receive window: the sequence numbers
// we accept are below it. It never moves left: every in-order segment
// moves rcvNxt and the queue length up by one, and reading moves the
// queue length down.
//
// The window counts segments. While the peer's segments are no larger
// than ours, capSegs of them make the window in bytes; once it probes its
// way to larger ones, the free bytes are counted in its segment size, so
// that the unread data stays near Window bytes (segments admitted under an
// edge already advertised may still come in large: it never moves left).
func (c *Conn) rcvEdge() uint32 {
	free := c.capSegs - len(c.readQ)
	if c.peerSeg > c.mss {
		free = min(free, max(c.window-c.readBytes, 0)/c.peerSeg)
	}
	e := c.rcvNxt + uint32(free)
	if seqLT(e, c.lastAdvEdge) {
		return c.lastAdvEdge
	}
	return e
}

// winSegs is the receive window in the peer's segments.
func (c *Conn) winSegs() int {
	if c.peerSeg > c.mss {
		return min(c.capSegs, c.window/c.peerSeg)
	}
	return c.capSegs
}

// setMTU makes size the largest datagram we send.
func (c *Conn) setMTU(size int) {
	c.mtu = size
	c.mss = size - dtlsOverhead - dataHdrLen
	c.pktMax = size - dtlsOverhead
	c.maxCwnd = max(c.sndCap/c.mss+dupThresh, initialCwnd)
	c.cwnd = min(c.cwnd, c.maxCwnd)
}

// onProbeAck raises the MTU to a probed size the peer received.
func (c *Conn) onProbeAck(size int) {
	if len(c.mtuSizes) == 0 || size != c.mtuSizes[0] {
		return // late, or not ours
	}
	c.setMTU(size)
	c.mtuSizes, c.mtuProbe = nil, false
}

// probeFailed rules out the size being probed, at once (the kernel refused
// it) or after maxProbes losses.
func (c *Conn) probeFailed() {
	if len(c.mtuSizes) > 0 {
		c.mtuSizes = c.mtuSizes[1:]
		c.mtuTries = 0
		c.mtuProbe = false
	}
}

// pathShrank goes back to the starting MTU for new segments and lets the
// socket fragment the larger ones already cut (pmtu.go).
func (c *Conn) pathShrank() {
	if c.mtu == c.baseMTU {
		return
	}
	c.setMTU(c.baseMTU)
	c.mtuSizes, c.mtuProbe = nil, false
	c.rtoStreak = 0
	c.pmtu.fallback()
}

// ts returns our clock for tsval: microseconds since the conn started,
// never 0 (0 means "none" in tsecr).
func (c *Conn) ts(now time.Time) uint32 {
	v := uint32(now.Sub(c.epoch) / time.Microsecond)
	if v == 0 {
		v = 1
	}
	return v
}

// readLoop reads DTLS records and feeds them to handle until the DTLS conn
// ends.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	buf := make([]byte, maxRecord)
	var p packet
	for {
		n, err := c.raw.Read(buf)
		if err != nil {
			if isClosed(c.done) {
				return
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, pdtls.ErrConnClosed) {
				c.shutdown(ErrReset)
				return
			}
			continue // transient: an ICMP error, a warning alert
		}
		if parse(buf[:n], &p) != nil {
			continue
		}
		c.handle(&p)
	}
}

// handle processes one packet from the peer.
func (c *Conn) handle(p *packet) {
	now := time.Now()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.lastRecv = now
	wasPending := c.ackPending
	progress, opened := c.onAck(p, now)
	delivered := false
	switch p.typ {
	case typeData:
		delivered = c.onData(p, now)
	case typeAck:
		if p.flags&flagPing != 0 {
			c.ackNow = true
		}
	case typeProbe:
		if p.size >= 576 && p.size <= maxRecord {
			// From now on the peer may send segments this large.
			c.peerSeg = max(c.peerSeg, p.size-dtlsOverhead-dataHdrLen)
			c.probeAck = p.size
		}
	case typeProbeAck:
		c.onProbeAck(p.size)
	}
	unsent := len(c.segs) > int(c.sndNxt-c.sndUna)
	wake := c.ackNow || c.probeAck != 0 || (c.ackPending && !wasPending) || c.nlost > 0 ||
		((progress || opened) && unsent)
	finAcked := c.finAcked
	c.mu.Unlock()
	if progress {
		notify(c.writable)
	}
	if delivered {
		notify(c.readable)
	}
	if finAcked {
		c.finOnce.Do(func() { close(c.finDone) })
	}
	if wake {
		c.poke()
	}
}

// onAck processes the acknowledgement fields every packet carries. It
// reports whether segments were delivered (cumulatively or selectively)
// and whether the peer's window opened.
func (c *Conn) onAck(p *packet, now time.Time) (progress, opened bool) {
	// The ack must lie within what we sent; wnd at most 2^30 beyond it.
	if seqLT(p.ack, c.sndUna) || seqLT(c.sndNxt, p.ack) {
		return false, false
	}
	if seqLT(c.peerEdge, p.wnd) && p.wnd-p.ack <= 1<<30 {
		c.peerEdge = p.wnd
		opened = true
	}
	delivered := 0
	deliver := func(s *segment) {
		if s.inflight {
			s.inflight = false
			c.inFlight--
		}
		if s.lost {
			s.lost = false
			c.nlost--
		}
		if s.sacked {
			return
		}
		delivered++
		// A retransmitted segment counts for RACK only if this ACK can
		// have seen the retransmission.
		if (s.xmits == 1 || seqLE(s.ts, p.tsecr)) && s.sentAt.After(c.rackSent) {
			c.rackSent = s.sentAt
		}
	}
	if k := int(p.ack - c.sndUna); k > 0 {
		for i := range k {
			s := c.segs[i]
			deliver(s)
			c.queued -= len(s.data)
			if s.fin {
				c.finAcked = true
			}
			putBuf(s.data) // sent copies were made by appendData
			s.data = nil
			c.segs[i] = nil
		}
		c.segs = c.segs[k:]
		c.sndUna = p.ack
		if c.inRecovery && seqLE(c.recoverSeq, c.sndUna) {
			c.inRecovery = false
		}
		progress = true
	}
	if seqLT(c.highSack, c.sndUna) {
		c.highSack = c.sndUna - 1
	}
	if seqLT(c.highSack, p.ack-1) {
		c.highSack = p.ack - 1
	}
	for i := range p.nblocks {
		b := p.block(i)
		if !seqLT(b.start, b.end) {
			continue
		}
		if seqLT(b.start, c.sndUna) {
			b.start = c.sndUna
		}
		if seqLT(c.sndNxt, b.end) {
			b.end = c.sndNxt
		}
		for q := b.start; seqLT(q, b.end); q++ {
			s := c.segs[q-c.sndUna]
			if s.sacked {
				continue
			}
			deliver(s)
			s.sacked = true
			if seqLT(c.highSack, q) {
				c.highSack = q
			}
		}
	}
	if delivered == 0 {
		return progress, opened
	}
	progress = true
	c.rtoStreak = 0
	c.roundDelivered += delivered
	if seqLE(c.roundEnd, c.sndUna) {
		c.prevRoundMin, c.roundMinRTT = c.roundMinRTT, 0
		c.roundLost, c.roundDelivered = 0, 0
		c.roundEnd = c.sndNxt
	}

	// RTT from the echoed timestamp.
	if p.tsecr != 0 {
		if rtt := time.Duration(c.ts(now)-p.tsecr) * time.Microsecond; rtt > 0 && rtt < time.Minute {
			c.sampleRTT(rtt)
		}
	}
	c.rto = c.calcRTO()
	if c.inFlight > 0 {
		c.rtoAt = now.Add(c.rto)
	} else {
		c.rtoAt = time.Time{}
	}

	// Loss detection (RACK, RFC 8985, with a sequence threshold): a
	// segment is lost if one sent more than a reordering window after it,
	// and dupThresh or more places above it, has been delivered.
	lossy := false
	if limit := int(int32(c.highSack-c.sndUna)) - dupThresh + 1; limit > 0 {
		limit = min(limit, int(c.sndNxt-c.sndUna))
		before := c.rackSent.Add(-c.srtt / 4)
		for i := range limit {
			s := c.segs[i]
			if !s.inflight || s.sacked || !s.sentAt.Before(before) {
				continue
			}
			s.inflight = false
			c.inFlight--
			s.lost = true
			c.nlost++
			c.stats.lost++
			c.roundLost++
			if !c.inRecovery || seqLE(c.recoverSeq, c.sndUna+uint32(i)) {
				lossy = true
			}
		}
	}
	if lossy && c.randomLoss() {
		// Noise, not congestion: retransmit, keep the window. (An AIMD
		// cut per window of data would hold the window near
		// 1/(cut share) segments under 1% random loss.)
		c.stats.randomLoss++
	} else if lossy {
		// One reduction per window of data.
		c.ssthresh = max(c.cwnd*7/10, minCwnd)
		c.cwnd = c.ssthresh
		c.cwndAcc = 0
		c.inRecovery = true
		c.recoverSeq = c.sndNxt
	} else if !c.inRecovery {
		if c.cwnd < c.ssthresh {
			c.cwnd += delivered
		} else if c.cwndAcc += delivered; c.cwndAcc >= c.cwnd {
			c.cwndAcc -= c.cwnd
			c.cwnd++
		}
		c.cwnd = min(c.cwnd, c.maxCwnd)
	}
	return progress, opened
}

// randomLoss reports whether the losses of this round look like noise
// rather than congestion: the lowest RTT of the last two rounds (the
// lowest sample, so jitter is not mistaken for a queue) is within
// queueSlack of the path's minimum, so no queue of ours has built up on
// the path, and few of the round's segments were lost. Like KCP, and unlike
// TCP, a DTLS hop thus keeps its window through random loss: it is meant
// for lossy paths, and a real queue still shows in the RTT.
func (c *Conn) randomLoss() bool {
	q := c.roundMinRTT
	if c.prevRoundMin > 0 && (q == 0 || c.prevRoundMin < q) {
		q = c.prevRoundMin
	}
	if q == 0 || c.minRTT == 0 {
		return false
	}
	heavy := c.roundLost > 3 && c.roundLost*100 > congestedLoss*(c.roundLost+c.roundDelivered)
	return q-c.minRTT <= max(c.minRTT*queueSlack/100, minQueueDelay) && !heavy
}

// sampleRTT updates the smoothed RTT (RFC 6298).
func (c *Conn) sampleRTT(rtt time.Duration) {
	if c.roundMinRTT == 0 || rtt < c.roundMinRTT {
		c.roundMinRTT = rtt
	}
	if c.minRTT == 0 || rtt < c.minRTT {
		c.minRTT = rtt
	}
	if c.srtt == 0 {
		c.srtt, c.rttvar = rtt, rtt/2
		return
	}
	d := c.srtt - rtt
	if d < 0 {
		d = -d
	}
	c.rttvar = (3*c.rttvar + d) / 4
	c.srtt = (7*c.srtt + rtt) / 8
}

func (c *Conn) calcRTO() time.Duration {
	if c.srtt == 0 {
		return initialRTO
	}
	return min(max(c.srtt+max(4*c.rttvar, 2*time.Millisecond), minRTO), maxRTO)
}

// onData processes a DATA packet and reports whether Read has something
// new.
func (c *Conn) onData(p *packet, now time.Time) bool {
	if p.tsval != 0 {
		c.tsRecent = p.tsval
	}
	seq, fin := p.seq, p.flags&flagFIN != 0
	if len(p.payload) > c.peerSeg {
		c.peerSeg = len(p.payload) // a peer configured with a larger MTU
	}
	if seqLT(seq, c.rcvNxt) || !seqLT(seq, c.rcvEdge()) {
		c.ackNow = true // a duplicate, or beyond the window: say where we are
		return false
	}
	if seq != c.rcvNxt {
		slot := &c.ooo[seq%uint32(c.capSegs)]
		if !slot.ok {
			*slot = rseg{seq: seq, data: clone(p.payload), fin: fin, ok: true}
			if c.oooN == 0 || seqLT(c.oooHigh, seq) {
				c.oooHigh = seq
			}
			c.oooN++
		}
		c.oooLast = seq
		c.ackNow = true // at once, so the sender learns of the hole
		return false
	}
	c.deliver(clone(p.payload), fin)
	filled := false
	for c.oooN > 0 {
		slot := &c.ooo[c.rcvNxt%uint32(c.capSegs)]
		if !slot.ok || slot.seq != c.rcvNxt {
			break
		}
		c.deliver(slot.data, slot.fin)
		*slot = rseg{}
		c.oooN--
		filled = true
	}
	c.unacked++
	switch {
	case filled || fin || c.unacked >= ackEvery || c.oooN > 0:
		c.ackNow = true
	case !c.ackPending:
		c.ackPending = true
		c.ackAt = now.Add(delayedAck)
	}
	return true
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append(getBuf(len(b)), b...)
}

// deliver hands the in-order segment rcvNxt to Read.
func (c *Conn) deliver(data []byte, fin bool) {
	c.rcvNxt++
	if c.finRcvd {
		return // nothing counts after a FIN
	}
	if len(data) > 0 && !c.closed {
		c.readQ = append(c.readQ, data)
		c.readBytes += len(data)
	}
	if fin {
		c.finRcvd = true
	}
}

// sendLoop sends data, retransmissions and ACKs, and runs the timers,
// until the transport ends.
func (c *Conn) sendLoop() {
	defer c.wg.Done()
	c.mu.Lock()
	pktMax := c.pktMax
	c.mu.Unlock()
	bufs := make([][]byte, maxBatch)
	for i := range bufs {
		bufs[i] = make([]byte, 0, pktMax)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return
		}
		fail := c.onTimers(now)
		n, more, probe := 0, false, -1
		if fail == nil {
			n, more, probe = c.fill(now, bufs)
		}
		next := c.nextEvent(now)
		c.mu.Unlock()
		if fail != nil {
			c.shutdown(fail)
			return
		}
		for i, b := range bufs[:n] {
			if _, err := c.raw.Write(b); err != nil {
				if errors.Is(err, pdtls.ErrConnClosed) || errors.Is(err, net.ErrClosed) {
					c.shutdown(ErrReset)
					return
				}
				// Anything else (ENOBUFS, an ICMP error) is a lost
				// packet; a datagram the path MTU refuses says more.
				if errors.Is(err, syscall.EMSGSIZE) {
					c.mu.Lock()
					if i == probe {
						c.probeFailed()
					} else if len(b) > c.baseMTU-dtlsOverhead {
						c.pathShrank()
					}
					c.mu.Unlock()
				}
			}
		}
		if more {
			if isClosed(c.done) {
				return
			}
			continue
		}
		timer.Reset(next)
		select {
		case <-c.wake:
		case <-timer.C:
		case <-c.done:
			return
		}
	}
}

// onTimers runs the timers that are due and returns an error if the
// transport must end.
func (c *Conn) onTimers(now time.Time) error {
	if now.Sub(c.lastRecv) >= c.idle {
		return ErrIdleTimeout
	}
	if c.inFlight > 0 && !c.rtoAt.IsZero() && !now.Before(c.rtoAt) {
		c.onRTO()
	}
	if c.ackPending && !now.Before(c.ackAt) {
		c.ackNow = true
	}
	if now.Sub(c.lastSend) >= c.keepAlive {
		c.ackNow = true
	}
	if len(c.mtuSizes) > 0 && !now.Before(c.mtuAt) {
		if c.mtuTries == maxProbes {
			c.probeFailed() // lost maxProbes times
		}
		if len(c.mtuSizes) > 0 {
			c.mtuProbe = true
			c.mtuTries++
			c.mtuAt = now.Add(max(c.rto, 2*minRTO))
		}
	}
	unsent := len(c.segs) > int(c.sndNxt-c.sndUna)
	if unsent && !seqLT(c.sndNxt, c.peerEdge) && c.inFlight == 0 && c.nlost == 0 {
		// The peer's window is shut: probe it now and then in case its
		// window update was lost.
		switch {
		case c.probeAt.IsZero():
			c.probeWait = c.rto
			c.probeAt = now.Add(c.probeWait)
		case !now.Before(c.probeAt):
			c.pingPending = true
			c.probeWait = min(2*c.probeWait, maxProbe)
			c.probeAt = now.Add(c.probeWait)
		}
	} else {
		c.probeAt = time.Time{}
	}
	return nil
}

// onRTO handles a retransmission timeout: everything in flight is deemed
// lost and the congestion window restarts small.
func (c *Conn) onRTO() {
	for _, s := range c.segs[:c.sndNxt-c.sndUna] {
		if s.inflight {
			s.inflight = false
			c.inFlight--
			s.lost = true
			c.nlost++
		}
	}
	c.stats.rtos++
	if c.mtu > c.baseMTU {
		// Two timeouts in a row after raising the MTU: the path may no
		// longer carry our segments.
		if c.rtoStreak++; c.rtoStreak >= 2 {
			c.pathShrank()
		}
	}
	if c.randomLoss() {
		// A timeout amid noise (a lost retransmission, a lost tail):
		// restart small, but slow-start straight back to where we were.
		c.ssthresh = max(c.cwnd, minCwnd)
	} else {
		c.ssthresh = max(c.cwnd/2, minCwnd)
	}
	c.cwnd = minCwnd
	c.cwndAcc = 0
	c.inRecovery = true
	c.recoverSeq = c.sndNxt
	c.rto = min(2*c.rto, maxRTO)
	c.rtoAt = time.Time{}
}

// nextEvent returns how long the sender may sleep.
func (c *Conn) nextEvent(now time.Time) time.Duration {
	next := c.lastRecv.Add(c.idle)
	if t := c.lastSend.Add(c.keepAlive); t.Before(next) {
		next = t
	}
	if c.inFlight > 0 && !c.rtoAt.IsZero() && c.rtoAt.Before(next) {
		next = c.rtoAt
	}
	if c.ackPending && c.ackAt.Before(next) {
		next = c.ackAt
	}
	if !c.probeAt.IsZero() && c.probeAt.Before(next) {
		next = c.probeAt
	}
	if len(c.mtuSizes) > 0 && c.mtuAt.Before(next) {
		next = c.mtuAt
	}
	return max(next.Sub(now), 0)
}

// fill builds the packets to send now into bufs: retransmissions, new
// data, then an ACK if one is owed and no data carried it, and a path MTU
// probe or its acknowledgement. It reports how many it built, whether
// more are ready and which one is a probe (-1: none).
func (c *Conn) fill(now time.Time, bufs [][]byte) (n int, more bool, probe int) {
	probe = -1
	h := header{ack: c.rcvNxt, wnd: c.rcvEdge(), tsval: c.ts(now), tsecr: c.tsRecent}
	// Data fills at most limit packets; the ACK and probes may follow.
	limit := min(maxBatch, max(8, batchBytes/c.pktMax))
	data := func(i int) {
		s := c.segs[i]
		s.sentAt, s.ts = now, h.tsval
		s.xmits++
		c.stats.sent++
		if s.xmits > 1 {
			c.stats.retrans++
		}
		s.inflight = true
		c.inFlight++
		if c.rtoAt.IsZero() {
			c.rtoAt = now.Add(c.rto)
		}
		hh := h
		if s.fin {
			hh.flags = flagFIN
		}
		bufs[n] = appendData(bufs[n][:0], hh, c.sndUna+uint32(i), s.data)
		n++
	}
	if c.nlost > 0 {
		for i := 0; i < int(c.sndNxt-c.sndUna) && c.nlost > 0 && c.inFlight < c.cwnd && n < limit; i++ {
			if s := c.segs[i]; s.lost {
				s.lost = false
				c.nlost--
				data(i)
			}
		}
	}
	for n < limit && c.inFlight < c.cwnd && seqLT(c.sndNxt, c.peerEdge) {
		i := int(c.sndNxt - c.sndUna)
		if i >= len(c.segs) {
			break
		}
		c.sndNxt++
		data(i)
	}
	sentData := n > 0
	if n < maxBatch && (c.pingPending || (c.ackNow && (!sentData || c.oooN > 0))) {
		hh := h
		if c.pingPending {
			hh.flags = flagPing
		}
		bufs[n] = appendAck(bufs[n][:0], hh, c.sackBlocks())
		n++
	}
	if c.probeAck != 0 && n < maxBatch {
		bufs[n] = appendProbeAck(bufs[n][:0], h, c.probeAck)
		c.probeAck = 0
		n++
	}
	if c.mtuProbe && n < maxBatch {
		bufs[n] = appendProbe(bufs[n][:0], h, c.mtuSizes[0])
		c.mtuProbe = false
		probe = n
		n++
	}
	if n > 0 {
		c.ackNow, c.ackPending, c.pingPending = false, false, false
		c.unacked = 0
		c.lastAdvEdge = h.wnd
		c.lastSend = now
	}
	more = n >= limit && (c.nlost > 0 && c.inFlight < c.cwnd ||
		c.inFlight < c.cwnd && seqLT(c.sndNxt, c.peerEdge) && int(c.sndNxt-c.sndUna) < len(c.segs))
	return n, more, probe
}

// sackBlocks describes the out-of-order segments we hold: the block with
// the latest arrival first (RFC 2018), then the others from the lowest.
func (c *Conn) sackBlocks() []block {
	if c.oooN == 0 {
		return nil
	}
	all := c.blkScratch[:0]
	open := false
	for q := c.rcvNxt + 1; seqLE(q, c.oooHigh); q++ {
		slot := &c.ooo[q%uint32(c.capSegs)]
		has := slot.ok && slot.seq == q
		switch {
		case has && !open:
			all = append(all, block{start: q, end: q + 1})
			open = true
		case has:
			all[len(all)-1].end = q + 1
		default:
			open = false
		}
	}
	c.blkScratch = all
	first := -1
	for i, b := range all {
		if seqLE(b.start, c.oooLast) && seqLT(c.oooLast, b.end) {
			first = i
			break
		}
	}
	out := make([]block, 0, min(len(all), c.maxBlocks))
	if first >= 0 {
		out = append(out, all[first])
	}
	for i, b := range all {
		if len(out) == c.maxBlocks {
			break
		}
		if i != first {
			out = append(out, b)
		}
	}
	return out
}
