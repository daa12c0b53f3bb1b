package dtls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pdtls "github.com/pion/dtls/v3"

	"github.com/hopwire/hopwire/transport/internal/preauth"
)

// How many datagrams wait for one peer's DTLS reader before more are
// dropped, as a full socket buffer would: few before the peer has
// authenticated (a handshake flight is a handful of datagrams), a window's
// burst after.
const (
	preAuthQueue = 16
	peerQueue    = 2048 // above the largest congestion window (sndCap/mss), so our own bursts fit
)

// Listener accepts authenticated DTLS peers on one UDP socket (or
// PacketConn) and hands each out as a reliable [Conn].
//
// A background goroutine reads the socket and routes each datagram by
// source address. A datagram from an unknown address creates state only
// if it looks like a DTLS ClientHello and fewer than
// Options.MaxHandshakes peers are held between their first datagram and
// Accept; otherwise it is dropped. Each handshake runs on its own
// goroutine under Options.HandshakeTimeout, so a silent or slow peer holds
// one slot for at most that long and never delays Accept or other peers.
// A ClientHello flood therefore costs at most MaxHandshakes peers' state
// (each with a queue of at most 16 datagrams until it authenticates),
// however many addresses it comes from. At the cap, a ClientHello from a
// new address takes the slot of the handshake that has run longest, once
// that one has run for an eighth of HandshakeTimeout (at most 250ms):
// spoofed sources never complete their handshakes, so a flood of them
// cannot keep a real client out for long. Failed handshakes are logged
// to the Options Logger, since no caller is there to receive them.
//
// A Listener is safe for concurrent use. The caller closes it; Close stops
// the goroutines, drops the handshakes in progress and the conns not yet
// accepted, closes every conn it accepted (at once, without lingering:
// they share its socket) and closes the socket.
type Listener struct {
	pc   net.PacketConn
	pmtu *pathMTU // nil: the conns do not probe
	cfg  *tls.Config
	o    *options
	log  *slog.Logger

	slots chan struct{} // one token per peer between first datagram and Accept
	ready chan *Conn

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the read loop and the handshake goroutines

	mu      sync.Mutex
	peers   map[string]*peerConn // by source address
	conns   map[*Conn]struct{}   // accepted, not yet closed
	closed  bool
	loopErr error // why the read loop stopped

	drops preauth.Drops // counted and paced as by the tls and ssh listeners

	loopDone  chan struct{}
	closeOnce sync.Once
}

// Listen listens on the UDP address addr ("host:port"), with cfg and opts
// as for [ListenPacket].
func Listen(addr string, cfg *tls.Config, opts *Options) (*Listener, error) {
	if _, err := opts.fill(); err != nil {
		return nil, err
	}
	if err := checkConfig(cfg, true); err != nil {
		return nil, err
	}
	laddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dtls: listen %s: %w", addr, err)
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("dtls: listen %s: %w", addr, err)
	}
	setBuffers(udp)
	return ListenPacket(udp, cfg, opts)
}

// ListenPacket accepts DTLS peers arriving on pc, which the Listener owns
// from then on (ListenPacket closes it on error).
//
// cfg is never modified. It must hold a certificate; every client must
// present one, and cfg's verification decides which are trusted: chain
// checking against ClientCAs if ClientAuth is VerifyClientCertIfGiven or
// RequireAndVerifyClientCert, then VerifyPeerCertificate, then
// VerifyConnection with the client's parsed certificates in
// PeerCertificates (so certs.ServerConfig's verification applies as is).
// A config that would verify nothing is refused. NextProtos (default
// [ALPN]) must be agreed on.
func ListenPacket(pc net.PacketConn, cfg *tls.Config, opts *Options) (*Listener, error) {
	o, err := opts.fill()
	if err == nil {
		err = checkConfig(cfg, true)
	}
	if err != nil {
		pc.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		pc:       pc,
		pmtu:     newPathMTU(pc),
		cfg:      cfg,
		o:        o,
		log:      o.log.With("transport", Scheme, "listen", pc.LocalAddr().String()),
		slots:    make(chan struct{}, o.maxHandshakes),
		ready:    make(chan *Conn),
		ctx:      ctx,
		cancel:   cancel,
		peers:    make(map[string]*peerConn),
		conns:    make(map[*Conn]struct{}),
		loopDone: make(chan struct{}),
	}
	l.wg.Add(1)
	go l.readLoop()
	return l, nil
}

// Accept waits for and returns the next authenticated peer's conn. It
// implements net.Listener; see [Listener.AcceptContext].
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptContext(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptContext waits for the next authenticated peer's conn, until ctx is
// done or the listener is closed (net.ErrClosed) or fails. The caller
// closes the conn.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.ready:
		<-l.slots
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.close(-1)
			return nil, net.ErrClosed
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	case <-l.loopDone:
		if l.ctx.Err() != nil {
			return nil, net.ErrClosed
		}
		return nil, fmt.Errorf("dtls: listener failed: %w", l.loopErr)
	}
}

// Stats is a snapshot of a listener's connections that have not
// authenticated, for monitoring (a node's state endpoint).
type Stats struct {
	// PreAuth counts connections held between the accept and Accept:
	// handshakes in progress and authenticated conns not yet taken.
	PreAuth int
	// Dropped counts connections closed before authentication since the
	// listener started, by reason: "cap" (the pre-auth cap was reached),
	// "silent" (the peer left, stalled or reset without completing the
	// handshake) and "refused" (the handshake failed or the peer was not
	// trusted).
	Dropped map[string]uint64
}

// Stats returns a snapshot of the connections that have not authenticated.
func (l *Listener) Stats() Stats {
	return Stats{PreAuth: len(l.slots), Dropped: l.drops.Snapshot()}
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return l.pc.LocalAddr() }

// Close stops listening, as the type's doc says. It is idempotent.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.cancel()
		l.mu.Lock()
		l.closed = true
		conns := make([]*Conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		peers := make([]*peerConn, 0, len(l.peers))
		for _, p := range l.peers {
			peers = append(peers, p)
		}
		l.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() { c.close(-1) })
		}
		wg.Wait()
		for _, p := range peers {
			p.Close() // ends handshakes in progress at once
		}
		err = l.pc.Close()
		l.wg.Wait()
	})
	return err
}

// readLoop routes datagrams from the socket to peers until it fails or
// the listener is closed.
func (l *Listener) readLoop() {
	defer l.wg.Done()
	defer close(l.loopDone)
	buf := make([]byte, maxRecord)
	for {
		n, addr, err := l.pc.ReadFrom(buf)
		if err != nil {
			if l.ctx.Err() != nil {
				l.loopErr = net.ErrClosed
				return
			}
			if transient(err) {
				continue
			}
			l.loopErr = err
			l.log.Warn("dtls: listener stopped", "err", err)
			return
		}
		l.route(buf[:n], addr)
	}
}

// transient reports whether a read error leaves the socket usable: an
// ICMP error from an earlier send, reported on a later read.
func transient(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EMSGSIZE)
}

// route hands one datagram to its peer, creating the peer for a
// ClientHello if a slot is free.
func (l *Listener) route(b []byte, addr net.Addr) {
	key := addr.String()
	l.mu.Lock()
	if p := l.peers[key]; p != nil {
		l.mu.Unlock()
		p.push(b)
		return
	}
	if l.closed || !clientHello(b) {
		l.mu.Unlock()
		return
	}
	var victim *peerConn
	select {
	case l.slots <- struct{}{}:
	default:
		if victim = l.evictLocked(); victim != nil {
			break // the newcomer takes over the victim's slot
		}
		_, warn := l.drops.CapReached()
		l.mu.Unlock()
		if warn {
			l.log.Warn("dtls: handshake cap reached; dropping new peers", "peer", key, "max", cap(l.slots))
		}
		return
	}
	p := &peerConn{l: l, key: key, raddr: addr, in: make(chan []byte, peerQueue), done: make(chan struct{}), start: time.Now()}
	p.limit.Store(preAuthQueue)
	p.rdl.init()
	l.peers[key] = p
	l.mu.Unlock()
	if victim != nil {
		victim.Close() // ends its handshake at once
	}
	p.push(b)
	l.wg.Add(1)
	go l.serve(p)
}

// evictLocked picks the peer whose handshake has run longest, if longer
// than an eighth of the handshake timeout (at most 250ms), and removes it:
// at the cap, a new ClientHello takes the slot of a stalled handshake
// (spoofed sources never complete theirs) rather than being dropped. The
// caller holds l.mu and closes the victim.
func (l *Listener) evictLocked() *peerConn {
	grace := min(l.o.handshakeTimeout/8, 250*time.Millisecond)
	var oldest *peerConn
	for _, p := range l.peers {
		if !p.authed && !p.evicted.Load() && (oldest == nil || p.start.Before(oldest.start)) {
			oldest = p
		}
	}
	if oldest == nil || time.Since(oldest.start) < grace {
		return nil
	}
	oldest.evicted.Store(true)
	delete(l.peers, oldest.key)
	return oldest
}

// clientHello reports whether b looks like a DTLS record holding a
// ClientHello: content type handshake, a DTLS version, epoch 0, and
// handshake type client_hello.
func clientHello(b []byte) bool {
	return len(b) >= 25 && b[0] == 22 && b[1] == 0xfe && (b[2] == 0xff || b[2] == 0xfd) &&
		b[3] == 0 && b[4] == 0 && b[13] == 1
}

// serve runs p's handshake and hands the conn to Accept. It holds p's
// slot until Accept takes the conn or the peer is dropped.
func (l *Listener) serve(p *peerConn) {
	defer l.wg.Done()
	release := func() {
		if !p.evicted.Load() { // an evicted peer's slot went to its evictor
			<-l.slots
		}
	}
	v := &verifier{cfg: l.cfg, server: true}
	sopts := make([]pdtls.ServerOption, 0, 12)
	for _, opt := range commonOptions(l.cfg, l.o, v) {
		sopts = append(sopts, opt)
	}
	sopts = append(sopts, pdtls.WithClientAuth(pdtls.RequireAnyClientCert))
	if get := l.cfg.GetCertificate; get != nil {
		// The certificate of each handshake (a node's renewed one): asked
		// with the name the client sent, as crypto/tls would.
		sopts = append(sopts, pdtls.WithGetCertificate(func(hi *pdtls.ClientHelloInfo) (*tls.Certificate, error) {
			return get(&tls.ClientHelloInfo{ServerName: hi.ServerName})
		}))
	}
	raw, err := pdtls.ServerWithOptions(p, p.raddr, sopts...)
	if err != nil {
		p.Close()
		release()
		l.drops.Failed(false)
		l.log.Warn("dtls: handshake failed", "peer", p.key, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, l.o.handshakeTimeout)
	st, err := handshake(ctx, raw, v, l.cfg)
	cancel()
	if err != nil {
		release()
		if l.ctx.Err() != nil {
			return
		}
		// Stalled (or evicted for it): silent, slow, or a spoofed source.
		var ne net.Error
		stalled := p.evicted.Load() || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
		l.drops.Failed(stalled)
		level := slog.LevelWarn
		if stalled {
			level = slog.LevelDebug
		}
		l.log.Log(context.Background(), level, "dtls: handshake failed", "peer", p.key, "err", err)
		return
	}
	l.mu.Lock()
	evicted := p.evicted.Load()
	p.authed = !evicted
	l.mu.Unlock()
	if evicted {
		raw.Close()
		return
	}
	p.limit.Store(peerQueue)
	var c *Conn
	c = newConn(raw, st, l.o, l.pmtu, func() { l.forget(c, p) })
	select {
	case l.ready <- c: // Accept releases the slot
	case <-l.ctx.Done():
		release()
		c.close(-1)
	}
}

// forget removes an accepted conn and its peer.
func (l *Listener) forget(c *Conn, p *peerConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c != nil {
		delete(l.conns, c)
	}
	if l.peers[p.key] == p {
		delete(l.peers, p.key)
	}
}

// peerConn is the Listener's net.PacketConn view of one peer, which pion's
// server conn runs over: it reads the datagrams routed to it and writes to
// the peer through the shared socket. Closing it closes only the view.
type peerConn struct {
	l       *Listener
	key     string
	raddr   net.Addr
	in      chan []byte
	limit   atomic.Int32 // how much of in's capacity may be used
	rdl     deadline
	start   time.Time   // its first datagram
	authed  bool        // its handshake succeeded (under l.mu)
	evicted atomic.Bool // evicted at the cap; its slot passed on

	closeOnce sync.Once
	done      chan struct{}
}

// push queues a copy of b for the peer, or drops it if the queue is full.
func (p *peerConn) push(b []byte) {
	if len(p.in) >= int(p.limit.Load()) {
		return
	}
	select {
	case p.in <- append(getBuf(len(b)), b...):
	default:
	}
}

// ReadFrom returns the next datagram routed to the peer.
func (p *peerConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case <-p.done:
		return 0, nil, net.ErrClosed
	case <-p.rdl.wait():
		return 0, nil, os.ErrDeadlineExceeded
	default:
	}
	select {
	case d := <-p.in:
		n := copy(b, d)
		putBuf(d)
		return n, p.raddr, nil
	case <-p.done:
		return 0, nil, net.ErrClosed
	case <-p.rdl.wait():
		return 0, nil, os.ErrDeadlineExceeded
	}
}

// WriteTo sends b to the peer (whatever addr says).
func (p *peerConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	if isClosed(p.done) {
		return 0, net.ErrClosed
	}
	return p.l.pc.WriteTo(b, p.raddr)
}

// Close removes the view from the listener; the socket stays open.
func (p *peerConn) Close() error {
	p.closeOnce.Do(func() {
		close(p.done)
		p.l.forget(nil, p)
	})
	return nil
}

// LocalAddr returns the listener's address.
func (p *peerConn) LocalAddr() net.Addr { return p.l.pc.LocalAddr() }

// SetDeadline sets the read deadline; writes go to a shared socket and do
// not block for long.
func (p *peerConn) SetDeadline(t time.Time) error { return p.SetReadDeadline(t) }

// SetReadDeadline sets the deadline for ReadFrom.
func (p *peerConn) SetReadDeadline(t time.Time) error {
	p.rdl.set(t)
	return nil
}

// SetWriteDeadline does nothing (see SetDeadline).
func (p *peerConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.PacketConn = (*peerConn)(nil)
var _ io.Closer = (*Listener)(nil)
