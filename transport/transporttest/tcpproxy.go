package transporttest

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TCPFaults says how a [TCPProxy] delays and throttles the bytes it
// forwards. It applies to each direction of each connection on its own.
type TCPFaults struct {
	// Seed seeds the jitter; log it so a failure can be replayed.
	Seed uint64
	// Latency is added to every chunk, plus a uniform random Jitter
	// (chunks never overtake each other: TCP stays in order).
	Latency, Jitter time.Duration
	// Rate caps each direction at this many bytes per second; zero
	// means unlimited.
	Rate int64
}

// TCPMode is what a [TCPProxy] does with the bytes it could forward.
type TCPMode int32

const (
	// Forward passes bytes on, after the faults' latency and rate.
	Forward TCPMode = iota
	// Stall stops reading both sockets while keeping them open: the
	// senders' windows fill up and nothing moves, as with a peer that
	// hangs.
	Stall
	// Blackhole keeps reading and discards everything: the senders see
	// their writes succeed and nothing ever arrives, as with a route that
	// went away.
	Blackhole
)

func (m TCPMode) String() string {
	switch m {
	case Forward:
		return "forward"
	case Stall:
		return "stall"
	case Blackhole:
		return "blackhole"
	}
	return "mode?"
}

// TCPStats counts what a [TCPProxy] did.
type TCPStats struct {
	Conns          int64 // connections accepted
	Up, Down       int64 // bytes forwarded client→target and back
	Discarded      int64 // bytes read and dropped in Blackhole mode
	Resets, Closes int64 // connections reset (RST) or half-closed (FIN) on command
}

// TCPProxy forwards TCP connections to one target and injects faults that
// can be switched while bytes are moving: added latency and jitter, a rate
// limit, a stall (sockets open, nothing read), a blackhole (everything read
// and discarded), an RST and a FIN. It is safe for concurrent use; Close
// stops it, closes every connection and waits for its goroutines.
type TCPProxy struct {
	ln     net.Listener
	target string

	faults atomic.Pointer[TCPFaults]
	mode   atomic.Int32
	modeMu sync.Mutex
	modeCh chan struct{} // closed and replaced on every mode change

	mu     sync.Mutex
	pairs  map[*tcpPair]struct{}
	closed bool
	wg     sync.WaitGroup
	nconn  uint64

	conns, up, down, discarded, resets, closes atomic.Int64
}

type tcpPair struct {
	client, server *net.TCPConn
	once           sync.Once
	dead           chan struct{} // closed by close
}

func (tp *tcpPair) close() {
	tp.once.Do(func() {
		tp.client.Close()
		tp.server.Close()
		close(tp.dead)
	})
}

// ListenTCPProxy listens on listen ("host:port") and forwards each
// connection to target. The caller closes it.
func ListenTCPProxy(listen, target string, f TCPFaults) (*TCPProxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &TCPProxy{ln: ln, target: target, pairs: make(map[*tcpPair]struct{}), modeCh: make(chan struct{})}
	p.faults.Store(&f)
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// NewTCPProxy starts a proxy on 127.0.0.1 to target; t.Cleanup closes it.
func NewTCPProxy(t testing.TB, target string, f TCPFaults) *TCPProxy {
	t.Helper()
	p, err := ListenTCPProxy("127.0.0.1:0", target, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tcp fault proxy %s → %s, seed %d", p.Addr(), target, f.Seed)
	t.Cleanup(func() { p.Close() })
	return p
}

// Addr returns the address clients dial.
func (p *TCPProxy) Addr() net.Addr { return p.ln.Addr() }

// SetFaults replaces the latency, jitter and rate; chunks already in
// flight keep their old delay.
func (p *TCPProxy) SetFaults(f TCPFaults) { p.faults.Store(&f) }

// SetMode switches every connection, current and future, to m.
func (p *TCPProxy) SetMode(m TCPMode) {
	p.modeMu.Lock()
	p.mode.Store(int32(m))
	close(p.modeCh)
	p.modeCh = make(chan struct{})
	p.modeMu.Unlock()
}

// Mode returns the current mode.
func (p *TCPProxy) Mode() TCPMode { return TCPMode(p.mode.Load()) }

// modeAndChange returns the mode and a channel closed at its next change.
func (p *TCPProxy) modeAndChange() (TCPMode, <-chan struct{}) {
	p.modeMu.Lock()
	defer p.modeMu.Unlock()
	return TCPMode(p.mode.Load()), p.modeCh
}

// Reset aborts every current connection with an RST to both ends.
func (p *TCPProxy) Reset() {
	for _, tp := range p.snapshot() {
		tp.client.SetLinger(0)
		tp.server.SetLinger(0)
		tp.close()
		p.resets.Add(1)
	}
}

// Fin half-closes every current connection toward both ends (each sees
// EOF) and stops forwarding on it.
func (p *TCPProxy) Fin() {
	for _, tp := range p.snapshot() {
		tp.client.CloseWrite()
		tp.server.CloseWrite()
		tp.client.CloseRead()
		tp.server.CloseRead()
		p.closes.Add(1)
	}
}

func (p *TCPProxy) snapshot() []*tcpPair {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*tcpPair, 0, len(p.pairs))
	for tp := range p.pairs {
		select {
		case <-tp.dead: // reset or closed, on its way out
		default:
			out = append(out, tp)
		}
	}
	return out
}

// Stats returns the counts so far.
func (p *TCPProxy) Stats() TCPStats {
	return TCPStats{Conns: p.conns.Load(), Up: p.up.Load(), Down: p.down.Load(),
		Discarded: p.discarded.Load(), Resets: p.resets.Load(), Closes: p.closes.Load()}
}

// Close stops the proxy, closes every connection and waits for its
// goroutines.
func (p *TCPProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	for _, tp := range p.snapshot() {
		tp.close()
	}
	p.wg.Wait()
	return err
}

func (p *TCPProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.wg.Add(1)
		go p.serve(c.(*net.TCPConn))
	}
}

func (p *TCPProxy) serve(client *net.TCPConn) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.SetLinger(0)
		client.Close()
		return
	}
	tp := &tcpPair{client: client, server: s.(*net.TCPConn), dead: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		tp.close()
		return
	}
	p.pairs[tp] = struct{}{}
	n := p.nconn
	p.nconn++
	p.mu.Unlock()
	p.conns.Add(1)
	seed := p.faults.Load().Seed
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.pump(tp, tp.client, tp.server, &p.up, rand.New(rand.NewPCG(seed, 2*n)))
	}()
	go func() {
		defer wg.Done()
		p.pump(tp, tp.server, tp.client, &p.down, rand.New(rand.NewPCG(seed, 2*n+1)))
	}()
	wg.Wait()
	tp.close()
	p.mu.Lock()
	delete(p.pairs, tp)
	p.mu.Unlock()
}

type chunk struct {
	b  []byte
	at time.Time // when it may be written
}

// pump moves one direction: a reader that obeys the mode feeds a writer
// that applies latency and rate. The queue between them is small, so a
// slow writer soon stops the reader and the sender feels it (as it would
// a slow link).
func (p *TCPProxy) pump(tp *tcpPair, from, to *net.TCPConn, count *atomic.Int64, rng *rand.Rand) {
	q := make(chan chunk, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var last time.Time
		for c := range q {
			if d := time.Until(c.at); d > 0 {
				time.Sleep(d)
			}
			if _, err := to.Write(c.b); err != nil {
				tp.close()
				for range q {
				}
				return
			}
			count.Add(int64(len(c.b)))
			if r := p.faults.Load().Rate; r > 0 {
				// Pace: this chunk's share of a second at rate r.
				next := last.Add(time.Duration(int64(len(c.b)) * int64(time.Second) / r))
				if now := time.Now(); next.Before(now) {
					next = now
				}
				time.Sleep(time.Until(next))
				last = next
			}
		}
		to.CloseWrite() // the sender's FIN, passed on
	}()
	buf := make([]byte, 32<<10)
	var prev time.Time
read:
	for {
		mode, changed := p.modeAndChange()
		if mode == Stall {
			select {
			case <-changed:
				continue
			case <-tp.dead:
				break read
			}
		}
		n, err := from.Read(buf)
		if n > 0 {
			// A read that was waiting when the stall began holds its
			// chunk until the stall ends.
			for {
				mode, changed := p.modeAndChange()
				if mode != Stall {
					break
				}
				select {
				case <-changed:
				case <-tp.dead:
					break read
				}
			}
			if p.Mode() == Blackhole {
				p.discarded.Add(int64(n))
			} else {
				f := p.faults.Load()
				at := time.Now().Add(f.Latency)
				if f.Jitter > 0 {
					at = at.Add(time.Duration(rng.Int64N(int64(f.Jitter))))
				}
				if at.Before(prev) {
					at = prev // in order
				}
				prev = at
				q <- chunk{b: append([]byte(nil), buf[:n]...), at: at}
			}
		}
		if err != nil {
			break
		}
	}
	// A blackhole passes on no FIN either: the other end hears nothing
	// until the mode changes or the connection is closed.
	for {
		mode, changed := p.modeAndChange()
		if mode != Blackhole {
			break
		}
		select {
		case <-changed:
			continue
		case <-tp.dead:
		}
		break
	}
	close(q)
	<-done
}
