package rpyc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// Message kinds.
const (
	msgRequest   = 1
	msgReply     = 2
	msgException = 3
)

// Request handler codes.
const (
	hPing          = 1
	hClose         = 2
	hGetroot       = 3
	hGetattr       = 4
	hDelattr       = 5
	hSetattr       = 6
	hCall          = 7
	hCallattr      = 8
	hRepr          = 9
	hStr           = 10
	hCmp           = 11
	hHash          = 12
	hDir           = 13
	hPickle        = 14
	hDel           = 15
	hInspect       = 16
	hBuffiter      = 17
	hOldSlicing    = 18
	hCtxExit       = 19
	hInstanceCheck = 20
)

// Boxing labels.
const (
	labelValue     = 1
	labelTuple     = 2
	labelLocalRef  = 3
	labelRemoteRef = 4
)

// excStopIteration is the whole exception body for StopIteration.
const excStopIteration = 1

// Dialect is the message encoding of an RPyC release line.
type Dialect int32

const (
	// DialectAuto finds out the peer's dialect. [Dial] asks the server
	// (see there) before it returns; a Conn from [NewConn] sends 5.x
	// messages until the peer's first message shows its dialect, then
	// answers in the peer's, which suits a server (a client speaks
	// first). A Conn always accepts both.
	DialectAuto Dialect = iota
	// Dialect5: each message is a brine 3-tuple (kind, seq, body), as
	// RPyC up to 5.3.x speaks.
	Dialect5
	// Dialect6: a kind byte, then a brine 2-tuple (seq, body), as RPyC
	// 6.x speaks.
	Dialect6
)

func (d Dialect) String() string {
	switch d {
	case Dialect5:
		return "5.x"
	case Dialect6:
		return "6.x"
	}
	return "auto"
}

// Options configure a connection. The zero value (or nil) is a client
// that serves nothing, speaks the dialect of its peer ([DialectAuto]),
// never compresses and accepts frames up to 256 MiB.
type Options struct {
	// Root is the object this side serves to the peer as its root (the
	// answer to GETROOT): its exported methods and fields are reachable
	// from the peer. Nil serves an empty object. These optional methods
	// of Root are not reachable by the peer:
	//
	//   - OnConnect(ctx context.Context, c *Conn) error runs as the
	//     connection starts (RPyC's on_connect), on the peer's first
	//     message with DialectAuto; the peer's requests wait for it; it
	//     may call the peer (ctx ends with the connection); an error
	//     closes the connection.
	//   - OnDisconnect(c *Conn) runs once the connection has ended, if
	//     OnConnect (when there is one) ran (RPyC's on_disconnect).
	//   - RPyCAliases() []string: the peer's get_service_aliases() and,
	//     the first, get_service_name(); by default the Go type's name,
	//     upper case, less a "SERVICE" suffix, as RPyC derives it.
	//   - RPyCParams() map[string][]string: parameter names per Go method
	//     name (a context.Context left out), for keyword arguments; on
	//     any object served, not only Root.
	Root any
	// AllowSetattr lets the peer set the exported fields of the objects
	// this side serves (structs reached through a pointer), as RPyC's
	// allow_setattr does. Off, the default, SETATTR raises
	// AttributeError in the peer and changes nothing: a client must not
	// rewrite what the service shows every other client. A field set by
	// the peer is written while the service's own goroutines may read it:
	// the service reads it inside [Guard], or exposes a method instead.
	AllowSetattr bool
	// AllowDelattr lets the peer delete those fields, as RPyC's
	// allow_delattr does; a Go field cannot go, so it is reset to its
	// zero value. Off by default.
	AllowDelattr bool
	// Dialect of the messages this side sends; see [DialectAuto].
	Dialect Dialect
	// MaxFrame limits a received frame, after inflation (default 256 MiB).
	MaxFrame int
	// CompressThreshold: payloads longer than this are sent zlib
	// compressed (RPyC itself uses 3000). 0 never compresses; whatever
	// the setting, compressed frames are always accepted.
	CompressThreshold int
	// MaxInflight bounds the peer's requests running at once on this
	// side (default 1024); beyond it a request fails at once.
	MaxInflight int
	// DialContext dials for [Dial] (default: a net.Dialer). A hopwire
	// route's DialContext reaches the server through a chain.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS, when set, makes [Dial] run a TLS client handshake.
	TLS *tls.Config
	// SyncRequestTimeout bounds a request this side makes without a
	// deadline of its own from a handler's context (a Go handler calling
	// back into the peer) or through a func made from a remote callable
	// ([As]), as RPyC's sync_request_timeout does: 30 s by default,
	// negative for none. A ctx with a deadline keeps its own.
	SyncRequestTimeout time.Duration
	// DenyVersion sends "<version denied>" as the _remote_version of the
	// exceptions raised in the peer, as RPyC's include_local_version=False
	// does, instead of the protocol version spoken ("6.0 (hopwire)").
	DenyVersion bool
	// DenyTraceback sends "<traceback denied>" instead of the traceback
	// text of those exceptions, as RPyC's include_local_traceback=False.
	DenyTraceback bool
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.MaxFrame <= 0 {
		out.MaxFrame = 256 << 20
	}
	if out.MaxInflight <= 0 {
		out.MaxInflight = 1024
	}
	if out.SyncRequestTimeout == 0 {
		out.SyncRequestTimeout = 30 * time.Second
	}
	return out
}

// idPack names an object on the side that owns it: the name of its type
// (module.Class), its class id and its instance id (0 for a class).
type idPack struct {
	name      string
	cls, inst int64
}

func (p idPack) tuple() Tuple { return Tuple{p.name, p.cls, p.inst} }

func toIDPack(v any) (idPack, error) {
	t, ok := v.(Tuple)
	if !ok || len(t) != 3 {
		return idPack{}, fmt.Errorf("%w: id pack is %T, want a 3-tuple", ErrProtocol, v)
	}
	name, ok1 := t[0].(string)
	cls, ok2 := t[1].(int64)
	inst, ok3 := t[2].(int64)
	if !ok1 || !ok2 || !ok3 {
		return idPack{}, fmt.Errorf("%w: id pack %s", ErrProtocol, pyRepr(t))
	}
	return idPack{name, cls, inst}, nil
}

// Conn is one RPyC connection. Both sides are equal: each serves its
// Options.Root to the other and holds proxies (*Ref) of the other's
// objects. Requests from the peer run on their own goroutines, so
// callbacks nest in both directions without deadlock. A Conn is safe for
// concurrent use.
type Conn struct {
	nc      net.Conn
	opts    Options
	sent    atomic.Int32 // the dialect used for sending; 0 until known
	guessed atomic.Bool  // sent in 5.x before the dialect was known
	// cacheKey: set on a Conn that Dial made for an auto dialect, whose
	// entry in the dialect cache the peer's dialect corrects.
	cacheKey atomic.Pointer[string]

	wmu sync.Mutex

	seq     atomic.Int64
	pmu     sync.Mutex
	pending map[int64]*Async

	omu     sync.Mutex
	objects map[idPack]*slot
	byKey   map[any]idPack
	classes map[reflect.Type]int64
	nextID  int64
	rootID  idPack

	xmu     sync.Mutex
	proxies map[idPack]proxyEntry
	rootRef *Ref

	relMu sync.Mutex
	relQ  []release
	relC  chan struct{}

	inflight atomic.Int64
	ready    chan struct{} // closed when the root's OnConnect returns; nil without one
	spoke    chan struct{} // with ready: closed on the peer's first message
	spokeOne sync.Once
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}
	once     sync.Once
	err      error
	wg       sync.WaitGroup
}

type slot struct {
	obj    any
	n      int64 // sends minus one
	key    any
	pinned bool // the root: DEL never removes it
}

type proxyEntry struct {
	wp weak.Pointer[Ref]
	st *refState
}

type release struct {
	id    idPack
	count int64
}

// ctxKey carries the *Conn in a handler's context.
type ctxKey struct{}

// FromContext returns the connection a Go handler is serving, from the
// context it was given.
func FromContext(ctx context.Context) *Conn {
	c, _ := ctx.Value(ctxKey{}).(*Conn)
	return c
}

// NewConn runs RPyC over nc, which the Conn owns from now on. It starts
// the connection's goroutines; Close stops them.
func NewConn(nc net.Conn, opts *Options) *Conn {
	c := &Conn{
		nc:      nc,
		opts:    opts.withDefaults(),
		pending: map[int64]*Async{},
		objects: map[idPack]*slot{},
		byKey:   map[any]idPack{},
		classes: map[reflect.Type]int64{},
		proxies: map[idPack]proxyEntry{},
		relC:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if c.opts.Dialect != DialectAuto {
		c.sent.Store(int32(c.opts.Dialect))
	}
	c.ctx, c.cancel = context.WithCancel(context.WithValue(context.Background(), ctxKey{}, c))
	root := c.opts.Root
	if root == nil {
		root = &voidService{}
	}
	c.rootID = c.exportNamed(root, "")
	c.objects[c.rootID].pinned = true
	c.startHooks(root)
	c.wg.Add(2)
	go c.readLoop()
	go c.releaseLoop()
	return c
}

// Dial connects to an RPyC server at addr ("host:port") with
// opts.DialContext (a plain TCP dial by default), runs a TLS handshake
// when opts.TLS is set, and starts a Conn. ctx governs the setup only.
//
// With [DialectAuto] (the default) Dial finds out which dialect the server
// speaks, since an RPyC server never speaks first: it asks for the
// server's root in 5.x (keeping the answer for [Conn.Root]), and when
// that fails, as against a 6.x server, which answers a 5.x message with a
// 6.x CLOSE, on a new connection in 6.x. The dialect found is remembered
// for addr (and TLS or not) in this process, so later Dials to it make
// one connection and no extra round trip; should the server there change
// its line, the first call fails with [ErrDialect] and the next Dial
// uses the new one. When neither dialect gets an answer, Dial fails with
// an error matching ErrDialect that says what each try got.
func Dial(ctx context.Context, addr string, opts *Options) (*Conn, error) {
	o := opts.withDefaults()
	if o.Dialect != DialectAuto {
		return dialAs(ctx, addr, &o, o.Dialect)
	}
	return dialAuto(ctx, addr, &o)
}

// dialAs dials addr and runs a Conn that sends in d.
func dialAs(ctx context.Context, addr string, o *Options, d Dialect) (*Conn, error) {
	nc, err := dialStream(ctx, addr, o)
	if err != nil {
		return nil, err
	}
	od := *o
	od.Dialect = d
	return NewConn(nc, &od), nil
}

// dialStream dials addr with o.DialContext and runs o.TLS over it.
func dialStream(ctx context.Context, addr string, o *Options) (net.Conn, error) {
	dial := o.DialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpyc: dial %s: %w", addr, err)
	}
	if o.TLS != nil {
		cfg := o.TLS.Clone()
		if cfg.ServerName == "" {
			if h, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = h
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("rpyc: tls %s: %w", addr, err)
		}
		nc = tc
	}
	return nc, nil
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended (nil while it is up).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Stats counts what a connection holds.
type Stats struct {
	// Objects in this side's table: the root and every object sent to the
	// peer by reference that it has not released (DEL) yet.
	Objects int
	// Proxies of the peer's objects held here (a proxy the garbage
	// collector has found but not yet released still counts).
	Proxies int
	// Inflight: the peer's requests running here now.
	Inflight int
}

// Stats returns the connection's counts; after close, Objects is 0.
func (c *Conn) Stats() Stats {
	c.omu.Lock()
	objs := len(c.objects)
	c.omu.Unlock()
	c.xmu.Lock()
	prox := len(c.proxies)
	c.xmu.Unlock()
	return Stats{Objects: objs, Proxies: prox, Inflight: int(c.inflight.Load())}
}

// Dialect returns the dialect this side sends in: the configured one, or
// the peer's once detected.
func (c *Conn) Dialect() Dialect {
	if d := Dialect(c.sent.Load()); d != DialectAuto {
		return d
	}
	return Dialect5
}

// Close sends RPyC's CLOSE request, closes the connection and waits for
// its goroutines, including the peer's requests still running here
// (their context is cancelled). Do not call it from a handler.
func (c *Conn) Close() error {
	select {
	case <-c.done:
	default:
		b := c.newRequest(hClose)
		b, _ = c.box(b, Tuple{})
		c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		c.send(b)
		c.shutdown(ErrClosed)
	}
	c.wg.Wait()
	return nil
}

// shutdown ends the connection with err (once).
func (c *Conn) shutdown(err error) {
	c.once.Do(func() {
		if !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		c.err = err
		close(c.done)
		c.cancel()
		c.nc.Close()
		c.pmu.Lock()
		pend := c.pending
		c.pending = map[int64]*Async{}
		c.pmu.Unlock()
		for _, a := range pend {
			a.complete(nil, err)
		}
		c.omu.Lock()
		clear(c.objects)
		clear(c.byKey)
		c.omu.Unlock()
	})
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	var r io.Reader = c.nc
	if qa := quickAck(c.nc); qa != nil {
		r = &ackReader{c.nc, qa}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var buf bytes.Buffer
	for {
		p, err := readFrame(br, &buf, c.opts.MaxFrame)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = ErrClosed
			}
			c.shutdown(err)
			return
		}
		if err := c.dispatch(p); err != nil {
			c.shutdown(err)
			return
		}
	}
}

// dispatch decodes one message, in either dialect, and acts on it.
func (c *Conn) dispatch(p []byte) error {
	kind, seq, body, err := decodeMessage(p)
	if err != nil {
		return err
	}
	d := Dialect5
	if p[0] != tagTuple1+2 {
		d = Dialect6
	}
	ours := Dialect(c.sent.Load())
	if ours == DialectAuto && c.guessed.Load() {
		ours = Dialect5
	}
	c.sent.CompareAndSwap(int32(DialectAuto), int32(d))
	if c.spoke != nil {
		c.spokeOne.Do(func() { close(c.spoke) })
	}
	switch kind {
	case msgRequest:
		if ours != DialectAuto && d != ours && isClose(body) {
			// How RPyC refuses the other dialect: its CLOSE, in its own.
			return c.wrongDialect(d, ours)
		}
		return c.onRequest(seq, body)
	case msgReply, msgException:
		var val any
		var rerr error
		if kind == msgReply {
			val, rerr = c.unbox(body)
		} else {
			rerr = loadException(body)
		}
		c.pmu.Lock()
		a := c.pending[seq]
		delete(c.pending, seq)
		c.pmu.Unlock()
		if a != nil {
			a.complete(val, rerr)
		}
		return nil
	}
	return fmt.Errorf("%w: message kind %d", ErrProtocol, kind)
}

// decodeMessage splits a payload of either dialect into kind, seq, body.
func decodeMessage(p []byte) (kind, seq int64, body any, err error) {
	if len(p) == 0 {
		return 0, 0, nil, fmt.Errorf("%w: empty message", ErrProtocol)
	}
	var t Tuple
	switch p[0] {
	case tagTuple1 + 2: // 5.x: (kind, seq, body)
		v, err := Decode(p)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		t = v.(Tuple)
	case msgRequest, msgReply, msgException: // 6.x: kind, then (seq, body)
		v, err := Decode(p[1:])
		if err != nil {
			return 0, 0, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		t2, ok := v.(Tuple)
		if !ok || len(t2) != 2 {
			return 0, 0, nil, fmt.Errorf("%w: 6.x message is %s, want (seq, body)", ErrProtocol, pyRepr(v))
		}
		t = Tuple{int64(p[0]), t2[0], t2[1]}
	default:
		return 0, 0, nil, fmt.Errorf("%w: message starts with 0x%02x (neither 5.x nor 6.x)", ErrProtocol, p[0])
	}
	kind, ok1 := t[0].(int64)
	seq, ok2 := t[1].(int64)
	if !ok1 || !ok2 {
		return 0, 0, nil, fmt.Errorf("%w: message header %s", ErrProtocol, pyRepr(t[:2]))
	}
	if kind < msgRequest || kind > msgException {
		return 0, 0, nil, fmt.Errorf("%w: message kind %d", ErrProtocol, kind)
	}
	return kind, seq, t[2], nil
}

// newMessage starts a message: room for the frame header, then the
// dialect's envelope up to and including seq.
func (c *Conn) newMessage(kind byte, seq int64) []byte {
	b := make([]byte, frameHeader, 128)
	d := Dialect(c.sent.Load())
	if d == DialectAuto {
		c.guessed.Store(true)
	}
	if d == Dialect6 {
		b = append(b, kind, tagTuple1+1)
	} else {
		b = append(b, tagTuple1+2, kind+immBase)
	}
	return appendInt(b, seq)
}

func (c *Conn) newRequestSeq(handler int) ([]byte, int64) {
	seq := c.seq.Add(1) - 1
	b := c.newMessage(msgRequest, seq)
	return appendInt(append(b, tagTuple1+1), int64(handler)), seq
}

func (c *Conn) newRequest(handler int) []byte {
	b, _ := c.newRequestSeq(handler)
	return b
}

// send writes one message (built by newMessage) as a frame.
func (c *Conn) send(msg []byte) error {
	f := sealFrame(msg, c.opts.CompressThreshold)
	c.wmu.Lock()
	_, err := c.nc.Write(f)
	c.wmu.Unlock()
	if err != nil {
		c.shutdown(err)
		return c.err
	}
	return nil
}

// request sends handler(args) and returns the pending result.
func (c *Conn) request(handler int, args Tuple) *Async {
	a := newAsync(c)
	select {
	case <-c.done:
		a.complete(nil, c.err)
		return a
	default:
	}
	b, seq := c.newRequestSeq(handler)
	b, err := c.box(b, args)
	if err != nil {
		a.complete(nil, err)
		return a
	}
	a.seq = seq
	c.pmu.Lock()
	c.pending[seq] = a
	c.pmu.Unlock()
	select {
	case <-c.done: // shut down before we registered: fail it ourselves
		c.pmu.Lock()
		delete(c.pending, seq)
		c.pmu.Unlock()
		a.complete(nil, c.err)
		return a
	default:
	}
	if err := c.send(b); err != nil {
		c.pmu.Lock()
		delete(c.pending, seq)
		c.pmu.Unlock()
		a.complete(nil, err)
	}
	return a
}

// syncRequest is request followed by Wait(ctx). A request from a
// handler's context without a deadline gets Options.SyncRequestTimeout.
func (c *Conn) syncRequest(ctx context.Context, handler int, args Tuple) (any, error) {
	if _, ok := ctx.Deadline(); !ok && c.opts.SyncRequestTimeout > 0 && FromContext(ctx) != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.SyncRequestTimeout)
		defer cancel()
		v, err := c.request(handler, args).Wait(ctx)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("rpyc: no reply within %v (Options.SyncRequestTimeout, RPyC's sync_request_timeout): %w", c.opts.SyncRequestTimeout, err)
		}
		return v, err
	}
	return c.request(handler, args).Wait(ctx)
}

// forget drops a pending request whose caller stopped waiting; a late
// reply is then discarded (RPyC has no cancel message).
func (c *Conn) forget(seq int64) {
	c.pmu.Lock()
	delete(c.pending, seq)
	c.pmu.Unlock()
}

// Ping sends data to the peer and checks that it comes back.
func (c *Conn) Ping(ctx context.Context, data string) error {
	v, err := c.syncRequest(ctx, hPing, Tuple{data})
	if err != nil {
		return err
	}
	if s, ok := v.(string); !ok || s != data {
		return fmt.Errorf("%w: ping echoed %s", ErrProtocol, pyRepr(v))
	}
	return nil
}

// Root returns the proxy of the peer's root object (its service). The
// proxy lives as long as the connection.
func (c *Conn) Root(ctx context.Context) (*Ref, error) {
	c.xmu.Lock()
	r := c.rootRef
	c.xmu.Unlock()
	if r != nil {
		return r, nil
	}
	v, err := c.syncRequest(ctx, hGetroot, Tuple{})
	if err != nil {
		return nil, err
	}
	r, ok := v.(*Ref)
	if !ok {
		return nil, fmt.Errorf("%w: root is %T, not a reference", ErrProtocol, v)
	}
	c.xmu.Lock()
	if c.rootRef == nil {
		c.rootRef = r
	}
	r = c.rootRef
	c.xmu.Unlock()
	return r, nil
}

// localRef boxes as a LOCAL_REF to an object the peer owns.
type localRef idPack

// Kw holds keyword arguments: as the last argument of a call it becomes
// Python's **kwargs.
type Kw map[string]any

// box appends (label, payload) for v, an argument: Go maps and slices
// go by value, as tuples.
func (c *Conn) box(b []byte, v any) ([]byte, error) { return c.boxAs(b, v, false) }

// boxResult appends (label, payload) for v, a result this side returns:
// Go maps and slices go by reference, as dicts and lists (containers.go).
func (c *Conn) boxResult(b []byte, v any) ([]byte, error) { return c.boxAs(b, v, true) }

func (c *Conn) boxAs(b []byte, v any, result bool) ([]byte, error) {
	if result {
		if cv, ok := asContainer(v); ok {
			id := c.export(cv)
			return appendBrine(append(b, tagTuple1+1, labelRemoteRef+immBase), id.tuple())
		}
	}
	n := len(b)
	b = append(b, tagTuple1+1, labelValue+immBase)
	out, err := appendBrine(b, v)
	if err == nil {
		return out, nil
	}
	if !errors.Is(err, errNotBrine) {
		return out[:n], err
	}
	b = out[:n]
	switch x := v.(type) {
	case *Ref:
		if x.c == c {
			if x.st.isReleased() {
				return b, ErrReleased
			}
			return appendBrine(append(b, tagTuple1+1, labelLocalRef+immBase), x.id.tuple())
		}
	case localRef:
		return appendBrine(append(b, tagTuple1+1, labelLocalRef+immBase), idPack(x).tuple())
	case Kw:
		return c.boxAs(b, kwTuple(x), result)
	}
	if items, ok := tupleItems(v); ok {
		b = appendTupleHeader(append(b, tagTuple1+1, labelTuple+immBase), len(items))
		for _, it := range items {
			if b, err = c.boxAs(b, it, result); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return append(b, tagTuple1+1, labelValue+immBase, tagNone), nil
	}
	id := c.export(v)
	return appendBrine(append(b, tagTuple1+1, labelRemoteRef+immBase), id.tuple())
}

// tupleItems returns the items of the Go values sent as tuples.
func tupleItems(v any) ([]any, bool) {
	switch x := v.(type) {
	case Tuple:
		return x, true
	case []any:
		return x, true
	}
	rv := reflect.ValueOf(v)
	if (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Type().Elem().Kind() != reflect.Uint8 {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, true
	}
	return nil, false
}

func kwTuple(kw Kw) Tuple {
	t := make(Tuple, 0, len(kw))
	for k, v := range kw {
		t = append(t, Tuple{k, v})
	}
	return t
}

// unbox rebuilds a boxed value: brine values as they are, local
// references as the objects they name, remote references as proxies.
func (c *Conn) unbox(v any) (any, error) {
	t, ok := v.(Tuple)
	if !ok || len(t) != 2 {
		return nil, fmt.Errorf("%w: boxed value is %s, want (label, payload)", ErrProtocol, pyRepr(v))
	}
	label, _ := t[0].(int64)
	switch label {
	case labelValue:
		return t[1], nil
	case labelTuple:
		items, ok := t[1].(Tuple)
		if !ok {
			return nil, fmt.Errorf("%w: boxed tuple holds %T", ErrProtocol, t[1])
		}
		out := make(Tuple, len(items))
		for i, it := range items {
			x, err := c.unbox(it)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case labelLocalRef:
		id, err := toIDPack(t[1])
		if err != nil {
			return nil, err
		}
		c.omu.Lock()
		s := c.objects[id]
		c.omu.Unlock()
		if s == nil {
			return nil, &RemoteError{Module: "builtins", Type: "ReferenceError",
				Args: Tuple{fmt.Sprintf("no object %s here (released or never sent)", pyRepr(t[1]))}}
		}
		return s.obj, nil
	case labelRemoteRef:
		id, err := toIDPack(t[1])
		if err != nil {
			return nil, err
		}
		return c.proxy(id), nil
	}
	return nil, fmt.Errorf("%w: box label %s", ErrProtocol, pyRepr(t[0]))
}

// proxy returns the one live proxy for id, counting one more receipt, or
// makes a new one.
func (c *Conn) proxy(id idPack) *Ref {
	c.xmu.Lock()
	defer c.xmu.Unlock()
	if e, ok := c.proxies[id]; ok {
		if r := e.wp.Value(); r != nil && e.st.addReceipt() {
			return r
		}
	}
	st := &refState{c: c, id: id, count: 1}
	r := &Ref{c: c, id: id, st: st}
	c.proxies[id] = proxyEntry{weak.Make(r), st}
	runtime.AddCleanup(r, dropRef, st)
	return r
}

// dropRef runs when a proxy has become unreachable: it tells the owner.
func dropRef(st *refState) {
	if n, ok := st.release(); ok {
		st.c.queueRelease(st, n)
	}
}

// queueRelease removes st's proxy entry and queues its DEL. It never
// blocks: it may run on the runtime's cleanup goroutine.
func (c *Conn) queueRelease(st *refState, count int64) {
	c.xmu.Lock()
	if e, ok := c.proxies[st.id]; ok && e.st == st {
		delete(c.proxies, st.id)
	}
	c.xmu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	c.relMu.Lock()
	c.relQ = append(c.relQ, release{st.id, count})
	c.relMu.Unlock()
	select {
	case c.relC <- struct{}{}:
	default:
	}
}

func (c *Conn) releaseLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case <-c.relC:
		}
		c.relMu.Lock()
		q := c.relQ
		c.relQ = nil
		c.relMu.Unlock()
		for _, r := range q {
			// DEL is fire and forget: its reply matches no pending seq.
			b := c.newRequest(hDel)
			b, err := c.box(b, Tuple{localRef(r.id), r.count})
			if err == nil {
				c.send(b)
			}
		}
	}
}

// voidService is the root served when Options.Root is nil.
type voidService struct{}

// bigToInt64 narrows a brine int.
func bigToInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}

// ackReader re-arms quick ACKs before every read of the socket.
type ackReader struct {
	r   io.Reader
	ack func()
}

func (a *ackReader) Read(p []byte) (int, error) {
	a.ack()
	return a.r.Read(p)
}
