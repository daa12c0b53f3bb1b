package transporttest

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Faults says what a [UDPProxy] does to the datagrams it forwards. Each
// direction draws from its own generator seeded from Seed, so the n-th
// datagram of a direction meets the same fate on every run with the same
// seed (timing still varies).
type Faults struct {
	// Seed seeds the generators; log it so a failure can be replayed.
	Seed uint64
	// Drop is the probability that a datagram is dropped.
	Drop float64
	// Reorder is the probability that a datagram is held back and sent
	// after the next one in the same direction (or after holdMax if none
	// comes).
	Reorder float64
	// Delay is added to every datagram, plus a uniform random Jitter.
	// Jitter never reorders a direction's datagrams (a datagram waits for
	// the one before it, as in a queue); reordering is Reorder's alone.
	Delay, Jitter time.Duration
	// Duplicate is the probability that a datagram is sent twice.
	Duplicate float64
	// Corrupt is the probability that one random bit of a datagram is
	// flipped.
	Corrupt float64
	// Blackhole drops everything (a route that went away).
	Blackhole bool
	// MTU, when positive, drops datagrams larger than MTU bytes without a
	// word (a path whose ICMP "too big" messages never come back).
	MTU int
}

// holdMax is how long a held-back datagram waits for the next one.
const holdMax = 20 * time.Millisecond

// UDPStats counts what a [UDPProxy] did, both directions together.
type UDPStats struct {
	Forwarded, Dropped, Reordered, Duplicated, Corrupted int64
}

// UDPProxy forwards UDP datagrams between clients and one server on
// loopback, applying [Faults]. Clients send to [UDPProxy.Addr]; each
// client gets its own upstream socket, so the server sees one address per
// client. It is safe for concurrent use; Close (also run by t.Cleanup)
// stops it and waits for its goroutines.
type UDPProxy struct {
	front  *net.UDPConn
	target *net.UDPAddr
	f      atomic.Pointer[Faults]

	mu      sync.Mutex
	clients map[string]*udpClient
	closed  bool
	done    chan struct{} // closed by Close: stops the senders
	wg      sync.WaitGroup
	timers  sync.WaitGroup // delayed sends in progress

	forwarded, dropped, reordered, duplicated, corrupted atomic.Int64
	closeOnce                                            sync.Once
}

type udpClient struct {
	addr     *net.UDPAddr
	upstream *net.UDPConn
	up, down *udpDir
}

// udpDir is one direction's fault state.
type udpDir struct {
	mu     sync.Mutex
	rng    *rand.Rand
	held   []byte
	holdID int
	lastAt time.Time     // when the previous datagram is due: jitter keeps order
	queue  chan timedPkt // delayed datagrams, in order, for sender
	send   func([]byte)
}

type timedPkt struct {
	b  []byte
	at time.Time
}

// NewUDPProxy starts a proxy on 127.0.0.1 to target ("host:port").
// t.Cleanup closes it.
func NewUDPProxy(t testing.TB, target string, f Faults) *UDPProxy {
	t.Helper()
	p, err := ListenUDPProxy("127.0.0.1:0", target, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// ListenUDPProxy starts a proxy listening on listen ("host:port") to
// target. The caller closes it.
func ListenUDPProxy(listen, target string, f Faults) (*UDPProxy, error) {
	taddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	laddr, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, err
	}
	front, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, err
	}
	socketBuffers(front)
	p := &UDPProxy{front: front, target: taddr, clients: make(map[string]*udpClient), done: make(chan struct{})}
	p.f.Store(&f)
	p.wg.Add(1)
	go p.frontLoop()
	return p, nil
}

// Addr returns the address clients send to.
func (p *UDPProxy) Addr() net.Addr { return p.front.LocalAddr() }

// Stats returns the counts so far.
func (p *UDPProxy) Stats() UDPStats {
	return UDPStats{p.forwarded.Load(), p.dropped.Load(), p.reordered.Load(), p.duplicated.Load(), p.corrupted.Load()}
}

// SetFaults switches the faults for the datagrams that follow (the
// generators keep their state; Seed is not reread).
func (p *UDPProxy) SetFaults(f Faults) { p.f.Store(&f) }

// Close stops forwarding and waits for the proxy's goroutines.
func (p *UDPProxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.done)
		p.front.Close()
		for _, c := range p.clients {
			c.upstream.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
		p.timers.Wait()
	})
	return nil
}

func (p *UDPProxy) frontLoop() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := p.front.ReadFromUDP(buf)
		if err != nil {
			if p.isClosed() {
				return
			}
			continue
		}
		c := p.client(addr)
		if c == nil {
			return
		}
		p.forward(c.up, buf[:n])
	}
}

func (p *UDPProxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// client returns addr's client state, creating it on first sight.
func (p *UDPProxy) client(addr *net.UDPAddr) *udpClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if c := p.clients[addr.String()]; c != nil {
		return c
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil
	}
	socketBuffers(up)
	n := uint64(len(p.clients))
	c := &udpClient{addr: addr, upstream: up}
	seed := p.f.Load().Seed
	c.up = &udpDir{rng: rand.New(rand.NewPCG(seed, 2*n)), send: func(b []byte) { up.Write(b) }, queue: make(chan timedPkt, delayQueue)}
	c.down = &udpDir{rng: rand.New(rand.NewPCG(seed, 2*n+1)), send: func(b []byte) { p.front.WriteToUDP(b, addr) }, queue: make(chan timedPkt, delayQueue)}
	p.wg.Add(2)
	go p.sender(c.up)
	go p.sender(c.down)
	p.clients[addr.String()] = c
	p.wg.Add(1)
	go p.upstreamLoop(c)
	return c
}

func (p *UDPProxy) upstreamLoop(c *udpClient) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.upstream.Read(buf)
		if err != nil {
			if p.isClosed() {
				return
			}
			continue // e.g. ECONNREFUSED while the server is not there
		}
		p.forward(c.down, buf[:n])
	}
}

// forward applies the faults to one datagram of direction d.
func (p *UDPProxy) forward(d *udpDir, b []byte) {
	pkt := append([]byte(nil), b...)
	f := p.f.Load()
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.Blackhole || f.MTU > 0 && len(pkt) > f.MTU || d.rng.Float64() < f.Drop {
		p.dropped.Add(1)
		return
	}
	if len(pkt) > 0 && d.rng.Float64() < f.Corrupt {
		i := d.rng.IntN(len(pkt) * 8)
		pkt[i/8] ^= 1 << (i % 8)
		p.corrupted.Add(1)
	}
	if d.rng.Float64() < f.Duplicate {
		p.duplicated.Add(1)
		p.later(d, append([]byte(nil), pkt...))
	}
	if d.held != nil {
		held := d.held
		d.held = nil
		d.holdID++
		p.later(d, pkt)
		p.later(d, held)
		return
	}
	if d.rng.Float64() < f.Reorder {
		p.reordered.Add(1)
		d.held = pkt
		d.holdID++
		id := d.holdID
		p.timers.Add(1)
		time.AfterFunc(holdMax, func() {
			defer p.timers.Done()
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.held != nil && d.holdID == id {
				held := d.held
				d.held = nil
				p.later(d, held)
			}
		})
		return
	}
	p.later(d, pkt)
}

// later sends pkt after the delay; d.mu is held.
func (p *UDPProxy) later(d *udpDir, pkt []byte) {
	p.forwarded.Add(1)
	f := p.f.Load()
	delay := f.Delay
	if f.Jitter > 0 {
		delay += time.Duration(d.rng.Int64N(int64(f.Jitter)))
	}
	if delay <= 0 && d.lastAt.IsZero() {
		d.send(pkt)
		return
	}
	at := time.Now().Add(delay)
	if at.Before(d.lastAt) {
		at = d.lastAt
	}
	d.lastAt = at
	select {
	case d.queue <- timedPkt{pkt, at}:
	default: // the path's queue is full: a real one would drop too
		p.forwarded.Add(-1)
		p.dropped.Add(1)
	}
}

// delayQueue is how many delayed datagrams a direction holds.
const delayQueue = 1 << 14

// sender sends d's delayed datagrams in order, each when it is due.
func (p *UDPProxy) sender(d *udpDir) {
	defer p.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case tp := <-d.queue:
			if wait := time.Until(tp.at); wait > 0 {
				t.Reset(wait)
				select {
				case <-t.C:
				case <-p.done:
					return
				}
			}
			d.send(tp.b)
		}
	}
}

// socketBuffers asks for large socket buffers, so that the only datagrams
// lost are those the faults drop, not those a burst overflowed (the
// kernel caps the request at net.core.rmem_max/wmem_max).
func socketBuffers(c *net.UDPConn) {
	c.SetReadBuffer(8 << 20)
	c.SetWriteBuffer(8 << 20)
}
