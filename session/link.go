package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// Role says which side of a link this is. The dialing side is the client:
// it speaks first in the handshake and opens the RPC stream.
type Role uint8

// Roles.
const (
	Client Role = iota + 1
	Server
)

func (r Role) String() string {
	switch r {
	case Client:
		return "client"
	case Server:
		return "server"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// StreamKind says what a stream carries.
type StreamKind uint8

// Stream kinds. The kind is sent when the stream opens, with a header whose
// meaning depends on the kind.
const (
	KindRPC     StreamKind = 1 // the RPC session's messages; one per Conn
	KindData    StreamKind = 2 // bulk bytes for a call (io.Reader/io.Writer values); header: 8-byte token
	KindConnect StreamKind = 3 // forwarding; header: a ConnectRequest
	kindPing    StreamKind = 4 // link round trip; never surfaced
)

func (k StreamKind) String() string {
	switch k {
	case KindRPC:
		return "rpc"
	case KindData:
		return "data"
	case KindConnect:
		return "connect"
	case kindPing:
		return "ping"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Peer describes the node at the other end of a link.
type Peer struct {
	Name        string   // the node name the peer announced in its hello
	Caps        []string // capabilities the peer announced
	Principal   string   // the authenticated identity, from the transport (LinkConfig.Peer)
	Fingerprint string   // the authenticated key's fingerprint, from the transport
	// Version is the software the peer announced in its hello,
	// "hopwire/" and its module version (e.g. "hopwire/v0.4.0", or
	// "hopwire/(devel)" for a source build); empty for nodes that
	// predate it. It is the peer's claim, not authenticated.
	Version string
}

// capErrorStack is the capability every link hello of this version
// announces: its RPC layer reads the stack an error message may carry
// (see Options.ErrorStacks). A node sends stacks only to peers that
// announced it.
const capErrorStack = "error-stack"

// LinkConfig configures a link. The zero value (or nil) means defaults;
// NewLink copies it and never modifies the caller's value.
type LinkConfig struct {
	// Name is this node's name, announced in the hello.
	Name string
	// Caps are capabilities announced in the hello (at most 15: the
	// session layer adds its own, "error-stack": see Options.ErrorStacks).
	Caps []string
	// Peer carries what the transport authenticated about the peer
	// (principal and fingerprint). Session does no authentication itself:
	// a Link must only be built on an authenticated transport, or on one
	// trusted by construction (a child's pipes).
	Peer Peer
	// Logger receives lifecycle and refusal logs; nil discards them.
	Logger *slog.Logger

	// HandshakeTimeout bounds the hello exchange (default 10s).
	HandshakeTimeout time.Duration
	// KeepAlive is the interval of keepalive frames (default 10s) and
	// KeepAliveTimeout the silence after which the link is declared dead
	// (default 30s): the link is closed once this side has waited that
	// long to read and nothing came. Time this side spends not reading
	// (a receive buffer full of streams nobody reads) does not count;
	// IdleTimeout reaps such streams. Both ends should use the same
	// values. A negative KeepAlive disables keepalives.
	KeepAlive        time.Duration
	KeepAliveTimeout time.Duration
	// MaxStreams caps concurrently open incoming streams; streams beyond it
	// are refused at once (default 1024).
	MaxStreams int
	// AcceptBacklog is how many opened streams may wait for AcceptStream;
	// beyond it new streams are refused (default 256).
	AcceptBacklog int
	// OpenTimeout bounds how long an incoming stream may take to send its
	// open record (default 10s).
	OpenTimeout time.Duration
	// IdleTimeout aborts a stream with no reads or writes for this long
	// (default 5m; negative disables). The RPC stream is exempt.
	IdleTimeout time.Duration
	// HalfCloseTimeout aborts a half-closed stream with no reads or
	// writes for this long (default 1m; negative disables). The open
	// direction of a half-closed stream may carry data for as long as
	// it keeps flowing.
	HalfCloseTimeout time.Duration
	// CloseTimeout bounds how long Close waits to send a clean end
	// (default 5s).
	CloseTimeout time.Duration
	// StreamWindow is the per-stream receive window (default 1 MiB) and
	// LinkBuffer the receive buffer shared by all streams of the link
	// (default 32 MiB, at least 4 windows). Buffers are allocated only as
	// data arrives, so an idle link costs neither. When LinkBuffer is full
	// of data nobody reads, smux stops reading the link altogether (RPC
	// included): read or close the streams you accept.
	StreamWindow int
	LinkBuffer   int
	// FrameSize is the multiplexer's largest frame (default and maximum
	// 65535: fewer frames per byte is what bulk throughput needs).
	FrameSize int
	// Budget, if set, is a node-wide count of received bytes that links
	// hold; this link's receive buffer draws from it, and while it is
	// spent the link refuses new streams from its peer (pings excepted).
	// See [Budget].
	Budget *Budget
	// Admit, if set, is called on the server side once the client's
	// hello has been read, with the peer (its transport identity and the
	// name it announced). An error refuses the link: the client's
	// NewLink fails with the error's text. The release function it
	// returns, if not nil, is called once when the link ends, or at once
	// if the link fails to start after Admit.
	Admit func(Peer) (release func(), err error)

	release func() // what Admit returned; called when the link ends
}

// defaultFrameSize is LinkConfig.FrameSize's default, and its maximum.
const defaultFrameSize = 65535

func (c *LinkConfig) withDefaults() LinkConfig {
	var cfg LinkConfig
	if c != nil {
		cfg = *c
		cfg.Caps = append([]string(nil), c.Caps...)
	}
	if !slices.Contains(cfg.Caps, capErrorStack) {
		cfg.Caps = append(cfg.Caps, capErrorStack)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.HandshakeTimeout, 10*time.Second)
	def(&cfg.KeepAlive, 10*time.Second)
	def(&cfg.KeepAliveTimeout, 3*cfg.KeepAlive)
	def(&cfg.OpenTimeout, 10*time.Second)
	def(&cfg.IdleTimeout, 5*time.Minute)
	def(&cfg.HalfCloseTimeout, time.Minute)
	def(&cfg.CloseTimeout, 5*time.Second)
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = 1024
	}
	if cfg.AcceptBacklog == 0 {
		cfg.AcceptBacklog = 256
	}
	if cfg.StreamWindow == 0 {
		cfg.StreamWindow = 1 << 20
	}
	if cfg.LinkBuffer == 0 {
		// smux stops reading the whole link when this fills, so it is
		// many windows deep: 32 streams may sit unread before the RPC
		// stream is held up. It is allocated only as data arrives.
		cfg.LinkBuffer = 32 << 20
	}
	if cfg.FrameSize == 0 {
		cfg.FrameSize = defaultFrameSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

func (c *LinkConfig) verify() error {
	if c.FrameSize < 64 || c.FrameSize > 65535 {
		return fmt.Errorf("session: FrameSize %d out of range [64, 65535]", c.FrameSize)
	}
	if c.StreamWindow < c.FrameSize || 4*c.StreamWindow > c.LinkBuffer {
		return fmt.Errorf("session: StreamWindow %d must be at least FrameSize and at most a quarter of LinkBuffer", c.StreamWindow)
	}
	if c.MaxStreams < 1 || c.AcceptBacklog < 1 {
		return errors.New("session: MaxStreams and AcceptBacklog must be positive")
	}
	if c.KeepAlive > 0 && c.KeepAliveTimeout < c.KeepAlive {
		return errors.New("session: KeepAliveTimeout must be at least KeepAlive")
	}
	if len(c.Caps) > wire.MaxCaps {
		return fmt.Errorf("session: more than %d capabilities (the session layer adds %s)", wire.MaxCaps-1, capErrorStack)
	}
	if len(c.Name) > wire.MaxNameLen {
		return fmt.Errorf("session: node name longer than %d bytes", wire.MaxNameLen)
	}
	return nil
}

// Sentinel errors of the session package.
var (
	// ErrLinkClosed is returned by operations on a closed or broken link;
	// calls pending when a link breaks fail with an error that matches it.
	ErrLinkClosed = errors.New("session: link closed")
	// ErrStreamAborted matches every *StreamError.
	ErrStreamAborted = errors.New("session: stream aborted")
	// ErrHandshake matches every failure of the link hello.
	ErrHandshake = errors.New("session: handshake failed")
)

// errLocalClose is the cause of a link closed by Link.Close.
var errLocalClose = fmt.Errorf("%w by this side", ErrLinkClosed)

// muxer is the multiplexer under a Link: smux over a byte stream, or a
// transport's native streams (QUIC).
type muxer interface {
	open(ctx context.Context) (rawStream, error)
	accept() (rawStream, error) // blocks until a stream arrives or the muxer dies
	close() error               // release everything, discarding buffered data
	abort()                     // close the connection but keep buffered data readable
}

// Link is an authenticated, multiplexed connection to one neighbour. It is
// safe for concurrent use. Whoever created it closes it; closing a link
// aborts its streams and closes the underlying connection.
type Link struct {
	cfg   LinkConfig
	role  Role
	peer  Peer
	mux   muxer
	chunk int // largest data record payload
	log   *slog.Logger

	accepts chan *Stream
	// handler, once set (serveAccepts), takes the incoming streams
	// instead of accepts: the session routes them on the goroutine that
	// read their open record, with no accept loop of its own parked.
	acceptMu sync.Mutex
	handler  func(*Stream)
	incoming atomic.Int64         // open incoming streams, for MaxStreams
	acct     *linkAcct            // receive-buffer accounting; nil over a native muxer
	release  func()               // from LinkConfig.Admit
	yieldTo  atomic.Pointer[Conn] // whose calls this link's writes give way to (YieldTo)

	mu      sync.Mutex
	streams map[*Stream]struct{}
	hooks   map[*func()]struct{} // run once the link is down (afterDone)

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup

	// The link's periodic work (see tick) runs on a timer, not in a
	// goroutine of its own: an idle link parks nothing for it.
	tickMu              sync.Mutex // held by a running tick; Close waits for it
	ticker              *time.Timer
	tickEvery           time.Duration
	watch               silenceWatcher // nil: silence is not watched
	pinger              keepaliver     // nil: this side sends no keepalives
	sweepEvery          time.Duration  // 0: streams are not swept
	nextPing, nextSweep time.Time
}

// NewLink runs the hopwire hello over c and then multiplexes it with smux
// v2. The hello runs under cfg.HandshakeTimeout; nothing is allocated for
// the peer before it succeeds. On error c is closed. On success the Link
// owns c.
func NewLink(c net.Conn, role Role, cfg *LinkConfig) (*Link, error) {
	conf := cfg.withDefaults()
	if err := conf.verify(); err != nil {
		c.Close()
		return nil, err
	}
	peerHello, err := handshake(c, role, &conf, wire.MuxSmuxV2)
	if err != nil {
		c.Close()
		return nil, err
	}
	sm, err := newSmux(c, role, &conf)
	if err != nil {
		conf.released()
		c.Close()
		return nil, err
	}
	return startLink(sm, role, &conf, peerHello), nil
}

// handshake exchanges hellos over c: the client sends first, the server
// answers with its hello or a refusal.
func handshake(c net.Conn, role Role, cfg *LinkConfig, mux uint8) (*wire.Hello, error) {
	_ = c.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	defer c.SetDeadline(time.Time{})
	// A successful hello's text names the software: old nodes ignore it.
	mine := &wire.Hello{Version: wire.ProtocolVersion, Mux: mux, Name: cfg.Name, Caps: cfg.Caps, Text: software}
	send := func(h *wire.Hello) error {
		b, err := wire.AppendHello(make([]byte, 0, 128), h)
		if err != nil {
			return err
		}
		_, err = c.Write(b)
		return err
	}
	if role == Client {
		if err := send(mine); err != nil {
			return nil, fmt.Errorf("%w: send hello: %w", ErrHandshake, err)
		}
	}
	peer, err := readHello(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if role == Client {
		if peer.Status != wire.StatusOK {
			return nil, fmt.Errorf("%w: refused by peer: %s", ErrHandshake, peer.Text)
		}
		if peer.Version != wire.ProtocolVersion || peer.Mux != mux {
			return nil, fmt.Errorf("%w: peer answered protocol %d mux %d, want %d/%d", ErrHandshake, peer.Version, peer.Mux, wire.ProtocolVersion, mux)
		}
		return peer, nil
	}
	var why string
	switch {
	case peer.Status != wire.StatusOK:
		why = "client hello with non-zero status"
	case peer.Version != wire.ProtocolVersion:
		why = fmt.Sprintf("unsupported protocol version %d (this node speaks %d)", peer.Version, wire.ProtocolVersion)
	case peer.Mux != mux:
		why = fmt.Sprintf("unsupported multiplexer version %d (this link needs %d)", peer.Mux, mux)
	case cfg.Admit != nil:
		p := cfg.Peer
		p.Name, p.Caps, p.Version = peer.Name, peer.Caps, peer.Text
		release, err := cfg.Admit(p)
		if err != nil {
			why = err.Error()
			break
		}
		cfg.release = release
	}
	if why != "" {
		_ = send(&wire.Hello{Version: wire.ProtocolVersion, Mux: mux, Status: wire.StatusRefused, Text: why})
		return nil, fmt.Errorf("%w: %s", ErrHandshake, why)
	}
	if err := send(mine); err != nil {
		cfg.released()
		return nil, fmt.Errorf("%w: send hello: %w", ErrHandshake, err)
	}
	return peer, nil
}

// released calls, once, the release function Admit returned.
func (c *LinkConfig) released() {
	if f := c.release; f != nil {
		c.release = nil
		f()
	}
}

func readHello(r io.Reader) (*wire.Hello, error) {
	var buf [wire.HelloHeaderLen + wire.MaxHelloBody]byte
	if _, err := io.ReadFull(r, buf[:wire.HelloHeaderLen]); err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	n, err := wire.ParseHelloHeader(buf[:wire.HelloHeaderLen])
	if err != nil {
		return nil, err
	}
	body := buf[wire.HelloHeaderLen : wire.HelloHeaderLen+n]
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	return wire.ParseHelloBody(body)
}

func startLink(m muxer, role Role, cfg *LinkConfig, h *wire.Hello) *Link {
	peer := cfg.Peer
	peer.Name = h.Name
	peer.Caps = h.Caps
	peer.Version = h.Text // a successful hello's text
	l := &Link{
		cfg:     *cfg,
		role:    role,
		peer:    peer,
		mux:     m,
		chunk:   cfg.FrameSize - wire.RecordHeaderLen,
		log:     cfg.Logger.With("peer", peer.Name),
		accepts: make(chan *Stream, cfg.AcceptBacklog),
		streams: make(map[*Stream]struct{}),
		done:    make(chan struct{}),
		release: cfg.release,
	}
	l.cfg.release = nil
	if sm, ok := m.(*smuxMuxer); ok {
		l.acct = sm.acct
	}
	l.wg.Add(1)
	go l.acceptLoop()
	l.startTicks()
	return l
}

// ErrPeerSilent is the cause of a link whose peer sent nothing, not even a
// keepalive, for longer than its KeepAliveTimeout while this side waited.
var ErrPeerSilent = errors.New("session: peer silent for longer than the keepalive timeout")

// silenceWatcher is a muxer that can tell how long the peer has been
// silent while this side was waiting for it.
type silenceWatcher interface {
	silence(now time.Time) time.Duration
}

// keepaliver is a muxer that leaves keepalives to the link: it sends one
// when asked (smux's keepalive loop would be a goroutine per link).
type keepaliver interface {
	keepalive()
}

// startTicks arms the link's timer, if it has periodic work: keepalives
// (every KeepAlive), watching the peer's silence (closing the link once
// the peer has been silent for KeepAliveTimeout while this side waited to
// read; keepalives keep a live peer's link busy), and sweeping idle and
// long half-closed streams.
func (l *Link) startTicks() {
	if l.cfg.KeepAlive > 0 {
		if w, ok := l.mux.(silenceWatcher); ok {
			l.watch = w
			l.tickEvery = max(l.cfg.KeepAliveTimeout/16, 5*time.Millisecond)
		}
		if k, ok := l.mux.(keepaliver); ok {
			l.pinger = k
			l.tickEvery = minPositive(l.tickEvery, l.cfg.KeepAlive)
		}
	}
	if l.sweepEvery = l.sweepInterval(); l.sweepEvery > 0 {
		l.tickEvery = minPositive(l.tickEvery, l.sweepEvery)
	}
	if l.tickEvery == 0 {
		return
	}
	now := time.Now()
	l.nextPing, l.nextSweep = now.Add(l.cfg.KeepAlive), now.Add(l.sweepEvery)
	l.tickMu.Lock()
	l.ticker = time.AfterFunc(l.tickEvery, l.tick)
	l.tickMu.Unlock()
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// tick does the link's periodic work and re-arms the timer until the
// link is down.
func (l *Link) tick() {
	l.tickMu.Lock()
	defer l.tickMu.Unlock()
	select {
	case <-l.done:
		return
	default:
	}
	now := time.Now()
	if l.watch != nil {
		if d := l.watch.silence(now); d > l.cfg.KeepAliveTimeout {
			l.log.Warn("link down: peer silent", "for", d.Round(time.Millisecond), "timeout", l.cfg.KeepAliveTimeout)
			l.shutdown(fmt.Errorf("%w: %w (%v)", ErrLinkClosed, ErrPeerSilent, d.Round(time.Millisecond)))
			return
		}
	}
	if l.pinger != nil && !now.Before(l.nextPing) {
		l.pinger.keepalive()
		l.nextPing = now.Add(l.cfg.KeepAlive)
	}
	if l.sweepEvery > 0 && !now.Before(l.nextSweep) {
		l.sweep(now)
		l.nextSweep = now.Add(l.sweepEvery)
	}
	l.ticker.Reset(l.tickEvery)
}

// stopTicks stops the timer and waits for a tick in progress.
func (l *Link) stopTicks() {
	l.tickMu.Lock()
	if l.ticker != nil {
		l.ticker.Stop()
	}
	l.tickMu.Unlock()
}

// Peer returns what is known of the node at the other end.
func (l *Link) Peer() Peer { return l.peer }

// Caps returns the capabilities this side announced in its hello.
func (l *Link) Caps() []string { return slices.Clone(l.cfg.Caps) }

// Role returns this side's role.
func (l *Link) Role() Role { return l.role }

// Done is closed when the link is closed or broken.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err returns why the link ended, or nil while it is up.
func (l *Link) Err() error {
	select {
	case <-l.done:
		return l.closeErr
	default:
		return nil
	}
}

// OpenStream opens a stream of the given kind with a header. It does not
// wait for the peer: a refusal shows as a *StreamError on the first read.
func (l *Link) OpenStream(ctx context.Context, kind StreamKind, hdr []byte) (*Stream, error) {
	select {
	case <-l.done:
		return nil, l.closeErr
	default:
	}
	raw, err := l.mux.open(ctx)
	if err != nil {
		if l.Err() != nil {
			return nil, l.Err()
		}
		return nil, fmt.Errorf("session: open stream: %w", err)
	}
	s := newStream(raw, l, kind, hdr)
	rec, err := wire.AppendOpen(make([]byte, wire.RecordHeaderLen, wire.RecordHeaderLen+1+len(hdr)), uint8(kind), hdr)
	if err != nil {
		raw.Close()
		return nil, err
	}
	wire.PutRecordHeader(rec, wire.RecordOpen, len(rec)-wire.RecordHeaderLen)
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetWriteDeadline(dl)
	}
	if _, err := raw.Write(rec); err != nil {
		raw.Close()
		return nil, fmt.Errorf("session: open stream: %w", err)
	}
	_ = raw.SetWriteDeadline(time.Time{})
	if !l.track(s) {
		s.shut()
		return nil, l.closeErr
	}
	return s, nil
}

// AcceptStream waits for the next stream the peer opened. Streams of an
// internal kind never surface.
func (l *Link) AcceptStream(ctx context.Context) (*Stream, error) {
	select {
	case s := <-l.accepts:
		if s.kind != KindData {
			// Its owner reads it now; data streams wait for a call to
			// claim them (Conn.dataArrived).
			s.acct().claim()
		}
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, l.closeErr
	}
}

// Ping measures a round trip over a fresh stream.
func (l *Link) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	s, err := l.OpenStream(ctx, kindPing, nil)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { s.Abort(AbortLocal, "ping cancelled") })
	defer stop()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(start.UnixNano()))
	if _, err := s.Write(b[:]); err != nil {
		return 0, err
	}
	var echo [8]byte
	if _, err := io.ReadFull(s, echo[:]); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, err
	}
	if echo != b {
		return 0, errors.New("session: ping echo mismatch")
	}
	return time.Since(start), nil
}

// Close closes the link: every stream is aborted and the connection
// closed. It waits for the link's goroutines and is idempotent.
func (l *Link) Close() error {
	l.shutdown(errLocalClose)
	// A link that broke first left its streams to their owners, to read
	// what had arrived; closing it lets go of those still open, so that
	// whatever waits for a stream's release (Done, AfterDone: a relay's
	// splice) learns of it.
	for _, s := range l.tracked() {
		s.aborted.CompareAndSwap(nil, &StreamError{Code: AbortClosed, Reason: "link closed"})
		s.reset()
	}
	l.mux.close()
	l.stopTicks()
	l.wg.Wait()
	return nil
}

func (l *Link) shutdown(cause error) {
	l.closeOnce.Do(func() {
		l.closeErr = cause
		close(l.done)
		l.mu.Lock()
		hooks := l.hooks
		l.hooks = nil
		l.mu.Unlock()
		for f := range hooks {
			go (*f)()
		}
		if l.release != nil {
			l.release()
		}
		if cause != errLocalClose {
			l.mux.abort()
			// The streams keep what had arrived for their readers, but a
			// writer waiting for the peer's window would wait for ever
			// (smux wakes it only when the session is closed, which would
			// discard that data): fail every write now.
			for _, s := range l.tracked() {
				s.aborted.CompareAndSwap(nil, &StreamError{Code: AbortClosed, Reason: "link closed"})
				_ = s.raw.SetWriteDeadline(time.Unix(1, 0))
			}
		} else {
			l.mux.close()
			// A local Close discards everything. A broken link leaves its
			// streams to their owners: they read what had arrived, then
			// an error.
			for _, s := range l.tracked() {
				s.aborted.CompareAndSwap(nil, &StreamError{Code: AbortClosed, Reason: "link closed"})
				s.shut()
			}
		}
		for {
			select {
			case s := <-l.accepts:
				s.shut()
				continue
			default:
			}
			break
		}
		l.log.Debug("link down", "err", cause)
	})
}

// YieldTo makes this link's data writes give way to c's calls: while c
// is making calls, what streams of this link write is paced so that the
// calls' round trips stay near what they are with no transfer beside
// them; 20 ms after c's last call the link runs at full speed again. A
// route gives its connections' link to its RPC session this way
// (hop.Route.DialContext), so that a transfer does not slow the route's
// own calls beside it. nil stops the pacing. See pace.go for why
// pacing, and what it costs.
func (l *Link) YieldTo(c *Conn) { l.yieldTo.Store(c) }

// YieldsTo returns the Conn whose calls this link gives way to (YieldTo),
// or nil.
func (l *Link) YieldsTo() *Conn { return l.yieldTo.Load() }

// afterDone arranges for f to run, in a goroutine of its own, once the
// link is down (at once if it is), without parking a goroutine until
// then. stop cancels that; it reports whether f was still to run.
func (l *Link) afterDone(f func()) (stop func() bool) {
	l.mu.Lock()
	select {
	case <-l.done:
		l.mu.Unlock()
		go f()
		return func() bool { return false }
	default:
	}
	if l.hooks == nil {
		l.hooks = make(map[*func()]struct{})
	}
	key := &f
	l.hooks[key] = struct{}{}
	l.mu.Unlock()
	return func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		_, ok := l.hooks[key]
		delete(l.hooks, key)
		return ok
	}
}

// tracked returns the open streams.
func (l *Link) tracked() []*Stream {
	l.mu.Lock()
	defer l.mu.Unlock()
	streams := make([]*Stream, 0, len(l.streams))
	for s := range l.streams {
		streams = append(streams, s)
	}
	return streams
}

func (l *Link) track(s *Stream) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return false
	default:
	}
	l.streams[s] = struct{}{}
	return true
}

// forget is called once per stream when it is shut.
func (l *Link) forget(s *Stream) {
	l.mu.Lock()
	_, ok := l.streams[s]
	delete(l.streams, s)
	l.mu.Unlock()
	if ok && s.incoming {
		l.incoming.Add(-1)
	}
}

// Buffered returns the bytes the link holds in its receive buffers: data
// its peer sent that no reader has taken yet, with what smux spends per
// buffered frame. It is 0 for a link over a natively multiplexed
// connection, which is not counted.
func (l *Link) Buffered() int64 {
	if l.acct == nil {
		return 0
	}
	return l.acct.total.Load()
}

// NumStreams returns the number of open streams.
func (l *Link) NumStreams() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.streams)
}

func (l *Link) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.mux.accept()
		if err != nil {
			cause := ErrLinkClosed
			if err != io.EOF && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, net.ErrClosed) {
				cause = fmt.Errorf("%w: %w", ErrLinkClosed, err)
			}
			l.shutdown(cause)
			return
		}
		if n := l.incoming.Add(1); n > int64(l.cfg.MaxStreams) {
			l.incoming.Add(-1)
			l.log.Warn("stream refused", "reason", "stream cap", "cap", l.cfg.MaxStreams)
			refuse(raw, AbortRefused, fmt.Sprintf("too many streams (cap %d)", l.cfg.MaxStreams))
			continue
		}
		s := newStream(raw, l, 0, nil)
		s.incoming = true
		if !l.track(s) {
			s.shut()
			continue
		}
		l.wg.Add(1)
		go l.readOpen(s)
	}
}

// refuse sends an abort record on a fresh stream without waiting for the
// peer and closes it.
func refuse(raw rawStream, code AbortCode, reason string) {
	p := wire.AppendAbort(make([]byte, wire.RecordHeaderLen, 64), code, reason)
	wire.PutRecordHeader(p, wire.RecordAbort, len(p)-wire.RecordHeaderLen)
	_ = raw.SetWriteDeadline(time.Now().Add(abortWriteTimeout))
	_, _ = raw.Write(p)
	_ = raw.Close()
}

// readOpen reads an incoming stream's open record and queues the stream.
func (l *Link) readOpen(s *Stream) {
	defer l.wg.Done()
	_ = s.raw.SetReadDeadline(time.Now().Add(l.cfg.OpenTimeout))
	var hdr [wire.RecordHeaderLen]byte
	var buf [wire.MaxControlPayload]byte
	fail := func(code AbortCode, why string) {
		l.log.Warn("stream refused", "reason", why)
		s.Abort(code, why)
	}
	if _, err := io.ReadFull(s.raw, hdr[:]); err != nil {
		fail(AbortProtocol, "no open record: "+err.Error())
		return
	}
	typ, n, err := wire.ParseRecordHeader(hdr[:])
	if err != nil || typ != wire.RecordOpen {
		fail(AbortProtocol, "first record is not an open record")
		return
	}
	if _, err := io.ReadFull(s.raw, buf[:n]); err != nil {
		fail(AbortProtocol, "short open record")
		return
	}
	kind, h, err := wire.ParseOpen(buf[:n])
	if err != nil {
		fail(AbortProtocol, err.Error())
		return
	}
	_ = s.raw.SetReadDeadline(time.Time{})
	s.kind = StreamKind(kind)
	s.hdr = append([]byte(nil), h...)
	if s.kind == kindPing {
		s.acct().claim()
		l.wg.Add(1)
		go l.echo(s)
		return
	}
	if l.cfg.Budget.Exhausted() {
		fail(AbortRefused, fmt.Sprintf("node memory budget exhausted (%d MiB)", l.cfg.Budget.Limit()>>20))
		return
	}
	l.acceptMu.Lock()
	handler := l.handler
	if handler == nil {
		select {
		case l.accepts <- s:
			l.acceptMu.Unlock()
		default:
			l.acceptMu.Unlock()
			fail(AbortRefused, "accept backlog full")
		}
		return
	}
	l.acceptMu.Unlock()
	l.handOver(s, handler)
}

// handOver gives an incoming stream to h, as AcceptStream would give it.
func (l *Link) handOver(s *Stream, h func(*Stream)) {
	if s.kind != KindData {
		// Its owner reads it now; data streams wait for a call to
		// claim them (Conn.dataArrived).
		s.acct().claim()
	}
	h(s)
}

// serveAccepts has h take every incoming stream from now on, those
// already waiting for AcceptStream first, each on the goroutine that read
// its open record (h must not block long). AcceptStream then waits for
// nothing. The link's owner calls it once.
func (l *Link) serveAccepts(h func(*Stream)) {
	l.acceptMu.Lock()
	l.handler = h
	var waiting []*Stream
	for {
		select {
		case s := <-l.accepts:
			waiting = append(waiting, s)
			continue
		default:
		}
		break
	}
	l.acceptMu.Unlock()
	for _, s := range waiting {
		l.handOver(s, h)
	}
}

// echo serves a ping stream.
func (l *Link) echo(s *Stream) {
	defer l.wg.Done()
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(l.cfg.OpenTimeout))
	var b [8]byte
	if _, err := io.ReadFull(s, b[:]); err != nil {
		return
	}
	_, _ = s.Write(b[:])
}

func (l *Link) sweepInterval() time.Duration {
	var d time.Duration
	for _, t := range []time.Duration{l.cfg.IdleTimeout, l.cfg.HalfCloseTimeout} {
		if t > 0 && (d == 0 || t < d) {
			d = t
		}
	}
	if d == 0 {
		return 0
	}
	return max(d/8, 10*time.Millisecond)
}

func (l *Link) sweep(now time.Time) {
	var idle, half []*Stream
	l.mu.Lock()
	for s := range l.streams {
		switch {
		case l.cfg.HalfCloseTimeout > 0 && s.halfAt.Load() != 0 && now.Sub(time.Unix(0, max(s.halfAt.Load(), s.lastActive.Load()))) > l.cfg.HalfCloseTimeout:
			half = append(half, s)
		case l.cfg.IdleTimeout > 0 && !s.noIdle.Load() && now.Sub(time.Unix(0, s.lastActive.Load())) > l.cfg.IdleTimeout:
			idle = append(idle, s)
		}
	}
	l.mu.Unlock()
	for _, s := range idle {
		l.log.Info("stream reaped", "reason", "idle")
		s.Abort(AbortTimeout, fmt.Sprintf("idle for more than %v", l.cfg.IdleTimeout))
	}
	for _, s := range half {
		l.log.Info("stream reaped", "reason", "half-closed")
		s.Abort(AbortTimeout, fmt.Sprintf("half-closed for more than %v", l.cfg.HalfCloseTimeout))
	}
}
