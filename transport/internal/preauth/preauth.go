// Package preauth is what hopwire's listeners share before a peer has
// authenticated, so that each transport keeps only its handshake:
//
//   - [Listener] is the pre-auth half of a stream listener
//     (transport/tls, transport/ssh): the accept loop with its backoff on
//     transient errors, a goroutine, a deadline and a Gate slot per
//     handshake, the eviction check, the hand-off to Accept, the
//     logging and counting of drops, and a Close that stops and waits
//     for all of it.
//   - [Gate] is its admission control: a cap on the connections a
//     listener holds before they authenticate, a share of it per source
//     network, and, when either is reached, the eviction of a stalled
//     handshake so that a newcomer is not shut out by peers that take
//     slots and never finish.
//   - [Drops] counts connections closed before authentication by reason
//     ("cap", "silent", "refused") and paces the "cap reached" warning,
//     for those listeners and for transport/dtls. The DTLS listener
//     demultiplexes one UDP socket by source address and admits a peer
//     on its first datagram, whose source may be spoofed, so it keeps its
//     own read loop and admission (see its Listener).
//
// The rest of this comment is about the Gate.
//
// Two kinds of peer stall a handshake: one that connects and sends
// nothing (a port scanner, a flood of silent connections), and one that
// sends the start of a handshake and then trickles or stops (slowloris).
// A client completes a TLS 1.3 or SSH handshake within a few round trips,
// so at the cap a Gate evicts, oldest first, a connection that has been
// silent for an eighth of the handshake timeout (at most 250 ms), or
// failing that one that has been handshaking for a quarter of it (at most
// a second), taken from the source holding the most slots, so that a
// flood renewing its slots evicts itself before a lone client whose
// handshake is slow on a loaded machine. Below the cap nothing is
// evicted: every peer gets the whole handshake timeout.
//
// One source may hold at most a quarter of the slots of a cap of 16 or
// more; beyond that its newcomers can only displace its own stalled
// handshakes. A source is a network rather than an address, because a
// host commonly has many: an IPv4 /24, an IPv6 /64 (an IPv4-mapped IPv6
// address counts as IPv4). A single host flooding faster than the graces
// expire therefore cannot take the slots that other hosts' clients need.
// (A quarter of 64 is 16 handshakes in flight from one network, far more
// than the clients behind a NAT need; small caps, as in tests, have no
// per-source share.)
//
// A flood from several networks, each within its share, can fill the cap
// and renew its connections as fast as the slow grace lets them go: a
// newcomer then finds a slot only in the moment between one expiring and
// the flood's next connection taking it. So at the cap, a newcomer whose
// source holds at least two fewer slots than the source holding the most
// (a client's network usually holds none) may also take the slot of that
// source's oldest handshake past the quiet grace, silent or not. The
// flood's own newcomers, from sources holding about as many slots as the
// others, still wait for the slow grace; however fast it renews its
// connections, most of them are past the quiet grace and a client takes
// one of those at once. Only a flood from about as many networks as there
// are slots (an IPv6 flood can have that many /64s) brings back the race
// for expiring slots.
package preauth

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Gate admits connections up to a cap. It is safe for concurrent use.
type Gate struct {
	slots     chan struct{} // one token per admitted conn until Release
	quiet     time.Duration // a silent conn may be evicted after this
	slow      time.Duration // any unfinished handshake may be evicted after this
	perSource int           // slots one source may hold; max for no share

	mu       sync.Mutex
	live     map[*Conn]struct{}   // admitted conns still handshaking
	bySource map[netip.Prefix]int // slots held, by source
}

// NewGate returns a Gate admitting at most max connections at once, for
// handshakes bounded by timeout.
func NewGate(max int, timeout time.Duration) *Gate {
	per := max
	if max >= 16 {
		per = max / 4
	}
	return &Gate{
		slots:     make(chan struct{}, max),
		quiet:     min(timeout/8, 250*time.Millisecond),
		slow:      min(timeout/4, time.Second),
		perSource: per,
		live:      make(map[*Conn]struct{}),
		bySource:  make(map[netip.Prefix]int),
	}
}

// Conn is an admitted connection: the handshake runs over it, so that the
// Gate sees whether the peer has sent anything.
type Conn struct {
	net.Conn
	src     netip.Prefix
	start   time.Time
	spoke   atomic.Bool
	evicted atomic.Bool // closed by the Gate, which gave its slot to another
}

// Read reads from the connection, noting that the peer spoke.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.spoke.Load() {
		c.spoke.Store(true)
	}
	return n, err
}

// Evicted reports whether the Gate closed c to admit another connection.
func (c *Conn) Evicted() bool { return c.evicted.Load() }

// source is the source a connection's share is counted by: its IP's /24
// (IPv4, also when mapped into IPv6) or /64 (IPv6). Connections without an
// IP address (pipes, in tests) share the zero Prefix.
func source(a net.Addr) netip.Prefix {
	var ip netip.Addr
	switch x := a.(type) {
	case nil:
		return netip.Prefix{}
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(x.IP)
	default:
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap().WithZone("")
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// Admit takes a slot for raw, evicting a stalled handshake if the cap or
// raw's source's share is reached. It returns false when no slot can be
// had; the caller then closes raw, before any state exists for it. An
// admitted Conn must be given to Release once it has authenticated and
// been handed on, or failed. Admit is called by one goroutine (a
// listener's accept loop).
func (g *Gate) Admit(raw net.Conn) (*Conn, bool) {
	c := &Conn{Conn: raw, src: source(raw.RemoteAddr()), start: time.Now()}
	g.mu.Lock()
	held := g.bySource[c.src]
	g.mu.Unlock()
	if held >= g.perSource {
		// Only the source's own stalled handshakes make room for it.
		victim := g.evict(c.src, true, 0)
		if victim == nil {
			return nil, false
		}
		victim.Close() // its slot passes to c
	} else {
		select {
		case g.slots <- struct{}{}:
		default:
			victim := g.evict(c.src, false, held)
			if victim == nil {
				return nil, false
			}
			victim.Close()
		}
	}
	g.mu.Lock()
	g.live[c] = struct{}{}
	g.bySource[c.src]++
	g.mu.Unlock()
	return c, true
}

// evict picks and unregisters the connection to close for a newcomer
// from src, which holds held slots: the oldest silent one past the quiet
// grace, else one past the slow one (from the network holding the most
// slots, the oldest of those), from src only if own. Failing
// those (and not own, with a per-source share), the oldest past the quiet
// grace of the source holding the most slots, if that is at least two
// more than held: see the package doc. It returns nil if none qualifies.
func (g *Gate) evict(src netip.Prefix, own bool, held int) *Conn {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var silent, any *Conn
	for c := range g.live {
		if own && c.src != src {
			continue
		}
		if !c.spoke.Load() && now.Sub(c.start) >= g.quiet && (silent == nil || c.start.Before(silent.start)) {
			silent = c
		}
		// Past the slow grace, the network holding the most slots loses
		// one first (then the oldest): a flood renewing its slots takes
		// them from itself, not from a lone client whose handshake is slow
		// on a loaded machine.
		if now.Sub(c.start) >= g.slow && (any == nil || g.bySource[c.src] > g.bySource[any.src] ||
			g.bySource[c.src] == g.bySource[any.src] && c.start.Before(any.start)) {
			any = c
		}
	}
	victim := silent
	if victim == nil {
		victim = any
	}
	if victim == nil && !own && g.perSource < cap(g.slots) {
		victim = g.unfair(now, held)
	}
	if victim != nil {
		delete(g.live, victim)
		g.leave(victim.src)
		victim.evicted.Store(true)
	}
	return victim
}

// unfair returns the oldest handshake past the quiet grace from the
// source holding the most slots, if that is at least two more than held
// (so that taking one never just swaps two sources' counts), or nil. The
// caller holds g.mu.
func (g *Gate) unfair(now time.Time, held int) *Conn {
	var victim *Conn
	most := held + 1
	for c := range g.live {
		if now.Sub(c.start) < g.quiet {
			continue
		}
		switch n := g.bySource[c.src]; {
		case n > most:
			victim, most = c, n
		case n == most && victim != nil && c.start.Before(victim.start):
			victim = c
		}
	}
	return victim
}

// leave drops one slot from src's count. The caller holds g.mu.
func (g *Gate) leave(src netip.Prefix) {
	if g.bySource[src]--; g.bySource[src] <= 0 {
		delete(g.bySource, src)
	}
}

// Authenticated takes c out of eviction once its handshake has succeeded
// (it keeps its slot until Release). It returns false if c was evicted
// first: the caller must treat the handshake as failed.
func (g *Gate) Authenticated(c *Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.evicted.Load() {
		return false
	}
	delete(g.live, c)
	return true
}

// Release gives c's slot back, unless an eviction already passed it on.
func (g *Gate) Release(c *Conn) {
	g.mu.Lock()
	delete(g.live, c)
	evicted := c.evicted.Load()
	if !evicted {
		g.leave(c.src)
	}
	g.mu.Unlock()
	if !evicted {
		<-g.slots
	}
}

// Held returns how many connections hold a slot.
func (g *Gate) Held() int { return len(g.slots) }

// Cap returns the cap.
func (g *Gate) Cap() int { return cap(g.slots) }
