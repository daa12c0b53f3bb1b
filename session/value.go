package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Values cross the wire as CBOR. A value sent by reference is a CBOR tag
// (refTag) around [kind, id]: the id of an exported object or function in
// the sender's table, or the token of a data stream.
const refTag = 18519 // "HW"

type refKind uint8

const (
	refObject refKind = 1 // an object exported with ByRef; calls go to the sender
	refFunc   refKind = 2 // a function; calls go to the sender
	refReader refKind = 3 // an io.Reader: the sender streams it on a data stream
	refWriter refKind = 4 // an io.Writer: the receiver writes to a data stream
	refBoth   refKind = 5 // both: the receiver's parameter type picks the direction
	// refHome names an object or func of the receiver's own table: a
	// proxy going back to the side that exported it (rpc version 2).
	refHome refKind = 6
)

// isData reports whether a reference kind names a data stream.
func (k refKind) isData() bool { return k >= refReader && k <= refBoth }

// Direction bytes a receiver sends first on a refBoth stream.
const (
	dirRead  = 'R' // the receiver reads: the sender streams its reader
	dirWrite = 'W' // the receiver writes: the sender copies into its writer
)

type wireRef struct {
	_    struct{} `cbor:",toarray"`
	Kind refKind
	ID   uint64
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		Time:    cbor.TimeRFC3339Nano,
		TimeTag: cbor.EncTagRequired,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	// Decoding limits: the message size bounds everything, these bound
	// the work one message can cause.
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  32,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 20,
		IndefLength:      cbor.IndefLengthForbidden,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		UTF8:             cbor.UTF8RejectInvalid,
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
		TimeTag:          cbor.DecTagOptional,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Object marks a value to be passed by reference: the peer gets a *Ref
// whose calls run the value's exported methods here. Make one with ByRef
// or ByRefAs.
type Object struct {
	v    any
	view reflect.Type // ByRefAs: only this interface's methods are callable
}

// ByRef wraps v so that it crosses the wire by reference instead of by
// value, like an RPyC netref. Only v's exported methods with eligible
// signatures can be called (see [Conn.Expose]). As with Expose, v is
// refused if it is not a pointer and its pointer type has methods it
// lacks; the error surfaces when v is sent.
func ByRef(v any) Object { return Object{v: v} }

// ByRefAs is ByRef through the interface I: the peer can call I's
// methods and no others, whatever else v's type has; see [ExposeAs].
func ByRefAs[I any](v I) Object { return Object{v: v, view: reflect.TypeFor[I]()} }

var (
	typeError   = reflect.TypeFor[error]()
	typeContext = reflect.TypeFor[context.Context]()
	typeReader  = reflect.TypeFor[io.Reader]()
	typeWriter  = reflect.TypeFor[io.Writer]()
	typeRef     = reflect.TypeFor[*Ref]()
)

// isStreamable reports whether v is an io.Reader or io.Writer to stream
// rather than data that happens to implement one: pointers, interfaces,
// funcs and structs (io.Discard is a struct) are streamed; strings,
// slices, maps and numbers travel by value.
func isStreamable(v reflect.Value, iface reflect.Type) bool {
	if !v.Type().Implements(iface) {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func, reflect.Struct:
		return true
	}
	return false
}

// encoder encodes one message's values, exporting references and
// preparing data streams. If the message is not sent, abort undoes it.
type encoder struct {
	c        *Conn
	ctx      context.Context
	results  bool // encoding a handler's results: readers handed over are closed once sent
	exported []uint64
	keep     []*Ref // proxies sent home: alive until their message is sent
	readers  []pendingStream
	writers  []pendingStream
	wg       sync.WaitGroup
	werrMu   sync.Mutex
	werr     error
}

type pendingStream struct {
	s *Stream
	r io.Reader
	w io.Writer
}

func (c *Conn) newEncoder(ctx context.Context) *encoder { return &encoder{c: c, ctx: ctx} }

// encodeList encodes vals as a CBOR array.
func (e *encoder) encodeList(vals []any) ([]byte, error) {
	b := appendArrayHeader(make([]byte, 0, 64), len(vals))
	for i, v := range vals {
		var err error
		b, err = e.encodeValue(b, v)
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
	}
	return b, nil
}

// appendHead appends a CBOR head: major type and argument, shortest form.
func appendHead(b []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(b, m|byte(arg))
	case arg < 1<<8:
		return append(b, m|24, byte(arg))
	case arg < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(arg))
	case arg < 1<<32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(arg))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), arg)
}

func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return appendHead(b, 0, uint64(v))
	}
	return appendHead(b, 1, uint64(-(v + 1)))
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, 0x80|byte(n))
	case n < 1<<8:
		return append(b, 0x98, byte(n))
	case n < 1<<16:
		return append(b, 0x99, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0x9a), uint32(n))
	}
}

func (e *encoder) encodeValue(b []byte, v any) ([]byte, error) {
	if v == nil {
		return append(b, 0xf6), nil
	}
	switch x := v.(type) {
	case Object:
		ex, err := x.export()
		if err != nil {
			return nil, err
		}
		return e.exportRef(b, refObject, ex)
	case *Ref:
		return e.encodeRef(b, x)
	case rawValue:
		return append(b, x...), nil
	case []byte:
		if x == nil {
			return append(b, 0xf6), nil // as the encoder writes a nil slice
		}
		return append(appendHead(b, 2, uint64(len(x))), x...), nil
	case string:
		return append(appendHead(b, 3, uint64(len(x))), x...), nil
	case bool:
		if x {
			return append(b, 0xf5), nil
		}
		return append(b, 0xf4), nil
	case int:
		return appendInt(b, int64(x)), nil
	case int64:
		return appendInt(b, x), nil
	case uint64:
		return appendHead(b, 0, x), nil
	case float64, time.Time:
		enc, err := encMode.Marshal(x)
		return append(b, enc...), err
	case complex128:
		return appendComplex(b, x, false)
	case complex64:
		return appendComplex(b, complex128(x), true)
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.Kind() == reflect.Func:
		if rv.IsNil() {
			return append(b, 0xf6), nil
		}
		ex, err := newExport(rv, true)
		if err != nil {
			return nil, err
		}
		return e.exportRef(b, refFunc, ex)
	case isStreamable(rv, typeReader) && isStreamable(rv, typeWriter):
		return e.stream(b, refBoth, pendingStream{r: v.(io.Reader), w: v.(io.Writer)})
	case isStreamable(rv, typeReader):
		return e.stream(b, refReader, pendingStream{r: v.(io.Reader)})
	case isStreamable(rv, typeWriter):
		return e.stream(b, refWriter, pendingStream{w: v.(io.Writer)})
	}
	enc, err := marshalData(v)
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

func (e *encoder) exportRef(b []byte, kind refKind, ex *export) ([]byte, error) {
	id, err := e.c.addExport(ex)
	if err != nil {
		return nil, err
	}
	e.exported = append(e.exported, id)
	return appendRef(b, kind, id)
}

func appendRef(b []byte, kind refKind, id uint64) ([]byte, error) {
	enc, err := encMode.Marshal(cbor.Tag{Number: refTag, Content: wireRef{Kind: kind, ID: id}})
	if err != nil {
		return nil, err
	}
	return append(b, enc...), nil
}

// stream opens the data stream for an io.Reader or io.Writer value. The
// copy starts once the message is sent (start).
func (e *encoder) stream(b []byte, kind refKind, ps pendingStream) ([]byte, error) {
	tok := e.c.newID()
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], tok)
	s, err := e.c.link.OpenStream(e.ctx, KindData, hdr[:])
	if err != nil {
		return nil, err
	}
	ps.s = s
	if kind == refReader {
		e.readers = append(e.readers, ps)
	} else {
		e.writers = append(e.writers, ps)
	}
	return appendRef(b, kind, tok)
}

// start begins copying, once the message that names the streams (at
// seq, see Conn.sendSeq) has gone: readers into their streams, streams
// into writers.
func (e *encoder) start(seq uint64) {
	runtime.KeepAlive(e.keep) // the message that sends them home has gone
	if len(e.readers) > 0 {
		go func() {
			// The data follows the message on the wire.
			e.c.waitWritten(seq)
			for _, ps := range e.readers {
				go sendStream(ps.s, ps.r, e.results)
			}
		}()
	}
	for _, ps := range e.writers {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if ps.r != nil {
				// Both directions were possible: the receiver says.
				var dir [1]byte
				if _, err := io.ReadFull(ps.s, dir[:]); err != nil || dir[0] != dirWrite {
					if err == nil && dir[0] == dirRead {
						go sendStream(ps.s, ps.r, e.results)
						return
					}
					ps.s.Abort(AbortProtocol, "bad stream direction")
					if c, ok := ps.r.(io.Closer); ok && e.results {
						c.Close() // a handed-over value nobody took
					}
					return
				}
			}
			defer ps.s.Close()
			if b, ok := ps.w.(*bothWays); ok && e.results {
				defer b.end() // a passed-on result: its sender waits for the end
			}
			if _, err := io.Copy(ps.w, ps.s); err != nil {
				ps.s.Abort(AbortLocal, "writer failed")
				e.werrMu.Lock()
				e.werr = errors.Join(e.werr, fmt.Errorf("session: io.Writer argument: %w", err))
				e.werrMu.Unlock()
			}
		}()
	}
}

// wait waits for the io.Writer copies of a finished call.
func (e *encoder) wait(ctx context.Context) error {
	if len(e.writers) == 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, ps := range e.writers {
			ps.s.Abort(AbortLocal, "caller gave up")
		}
		<-done
		return ctx.Err()
	}
	e.werrMu.Lock()
	defer e.werrMu.Unlock()
	return e.werr
}

// abort undoes an encoding whose message was not sent (or whose call was
// abandoned): exports are dropped and streams aborted.
func (e *encoder) abort() {
	e.c.mu.Lock()
	for _, id := range e.exported {
		delete(e.c.exports, id)
	}
	e.c.mu.Unlock()
	for _, ps := range e.readers {
		ps.s.Abort(AbortLocal, "call abandoned")
	}
	for _, ps := range e.writers {
		ps.s.Abort(AbortLocal, "call abandoned")
	}
}

// sendStream copies r into s and closes s cleanly; an error of r aborts s
// so that the peer sees it. A concurrent read notices the peer giving up
// (it aborts or closes the stream) and stops the copy. A reader that a
// handler returned is closed afterwards (the handler handed it over); a
// caller's argument is not (the caller still owns it).
func sendStream(s *Stream, r io.Reader, closeAfter bool) {
	go func() {
		// The peer only ends its side once it has read ours to the end
		// (or aborts): either way the stream is done with.
		io.Copy(io.Discard, s)
		s.shut()
	}()
	// One read fills one record, which fills one multiplexer frame.
	_, err := s.ReadFrom(r)
	if err != nil {
		s.Abort(AbortLocal, "reader failed: "+err.Error())
	} else {
		s.CloseWrite()
	}
	if c, ok := r.(io.Closer); ok && closeAfter {
		c.Close()
	}
}

// parseRef recognises a value sent by reference.
func parseRef(raw []byte) (wireRef, bool, error) {
	if len(raw) < 3 || raw[0] != 0xd9 || binary.BigEndian.Uint16(raw[1:3]) != refTag {
		return wireRef{}, false, nil
	}
	var tag cbor.RawTag
	if err := decMode.Unmarshal(raw, &tag); err != nil {
		return wireRef{}, true, err
	}
	var wr wireRef
	if err := decMode.Unmarshal(tag.Content, &wr); err != nil {
		return wireRef{}, true, err
	}
	if wr.ID == 0 || wr.Kind < refObject || wr.Kind > refHome {
		return wireRef{}, true, errors.New("malformed reference")
	}
	return wr, true, nil
}

// decodeValue decodes one value into a new value of type t. bound is the
// context that proxies for remote funcs without a context parameter use;
// h holds this side's own objects that the message sent home.
func (c *Conn) decodeValue(bound context.Context, raw []byte, t reflect.Type, h homes) (reflect.Value, error) {
	wr, isRef, err := parseRef(raw)
	if err != nil {
		return reflect.Value{}, err
	}
	if !isRef {
		return unmarshalData(raw, t)
	}
	switch wr.Kind {
	case refObject, refFunc:
		ref := c.remoteRef(wr.ID, wr.Kind == refFunc)
		v, err := ref.into(t)
		if err != nil {
			ref.Release()
		}
		return v, err
	case refHome:
		ex, err := h.lookup(wr.ID)
		if err != nil {
			return reflect.Value{}, err
		}
		if ex.fwd != nil {
			// A proxy this side passed on came back: it is that proxy.
			return ex.fwd.into(t)
		}
		rv := reflect.ValueOf(ex.val)
		if !rv.Type().AssignableTo(t) {
			return reflect.Value{}, fmt.Errorf("this side's own %v came back, and cannot be decoded into %v", rv.Type(), t)
		}
		return rv.Convert(t), nil
	case refBoth:
		var dir byte
		switch {
		case reflect.TypeFor[io.ReadCloser]().AssignableTo(t):
			dir, wr.Kind = dirRead, refReader
		case reflect.TypeFor[io.WriteCloser]().AssignableTo(t):
			dir, wr.Kind = dirWrite, refWriter
		default:
			c.dropData(wr.ID)
			return reflect.Value{}, fmt.Errorf("a remote io.ReadWriter cannot be decoded into %v", t)
		}
		s, err := c.claimData(bound, wr.ID)
		if err != nil {
			return reflect.Value{}, err
		}
		if _, err := s.Write([]byte{dir}); err != nil {
			s.Abort(AbortLocal, "direction not sent")
			return reflect.Value{}, err
		}
		if dir == dirRead {
			return reflect.ValueOf(io.ReadCloser(s)).Convert(t), nil
		}
		return reflect.ValueOf(io.WriteCloser(streamWriter{s})).Convert(t), nil
	case refReader:
		if !reflect.TypeFor[io.ReadCloser]().AssignableTo(t) {
			c.dropData(wr.ID)
			return reflect.Value{}, fmt.Errorf("a remote io.Reader cannot be decoded into %v", t)
		}
		s, err := c.claimData(bound, wr.ID)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(io.ReadCloser(s)).Convert(t), nil
	case refWriter:
		if !reflect.TypeFor[io.WriteCloser]().AssignableTo(t) {
			c.dropData(wr.ID)
			return reflect.Value{}, fmt.Errorf("a remote io.Writer cannot be decoded into %v", t)
		}
		s, err := c.claimData(bound, wr.ID)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(io.WriteCloser(streamWriter{s})).Convert(t), nil
	}
	return reflect.Value{}, errors.New("unknown reference kind")
}

// streamWriter is the io.WriteCloser a handler gets for a remote
// io.Writer: Close ends the data cleanly.
type streamWriter struct{ s *Stream }

func (w streamWriter) Write(p []byte) (int, error) { return w.s.Write(p) }
func (w streamWriter) Close() error                { return w.s.CloseWrite() }

// into gives the proxy r as a value of type t: a *Ref (or an interface
// it satisfies), or a func of type t when r stands for a remote func.
func (r *Ref) into(t reflect.Type) (reflect.Value, error) {
	switch {
	case t == typeRef || t.Kind() == reflect.Interface && typeRef.Implements(t):
		return reflect.ValueOf(r).Convert(t), nil
	case t.Kind() == reflect.Func && r.fn:
		// A func without a context parameter may be kept and called
		// after the call that brought it: it lives with the session.
		return r.makeFunc(r.c.ctx, t, "")
	}
	return reflect.Value{}, fmt.Errorf("a remote %s cannot be decoded into %v", map[bool]string{true: "func", false: "object"}[r.fn], t)
}

// remoteRef makes a proxy for a reference the peer exported. When the
// proxy and every copy of it have become unreachable, the peer is told to
// release the object (unless Release already did).
func (c *Conn) remoteRef(id uint64, fn bool) *Ref {
	st := &refState{released: new(atomic.Bool)}
	runtime.AddCleanup(st, func(released *atomic.Bool) {
		if released.CompareAndSwap(false, true) {
			c.queueRelease(id)
		}
	}, st.released)
	return &Ref{c: c, id: id, fn: fn, st: st}
}

// releaseUnused releases the references among values nobody decoded.
func (c *Conn) releaseUnused(items [][]byte) {
	for _, raw := range items {
		wr, ok, err := parseRef(raw)
		if !ok || err != nil {
			continue
		}
		switch wr.Kind {
		case refObject, refFunc:
			c.queueRelease(wr.ID)
		case refHome: // this side's own: nothing to release
		default:
			c.dropData(wr.ID)
		}
	}
}

// dataSlot pairs a data stream with the call that names its token, in
// whichever order they arrive.
type dataSlot struct {
	s       *Stream
	at      time.Time
	wait    chan *Stream
	dropped bool // the value was not decoded: abort the stream when it comes
	named   bool // a call or reply read from the peer names the token
}

// A data stream whose token no call names yet is held, but the data it
// carries is not: a peer sends a call's data after the call (waitWritten), so
// once this side has read the RPC stream as far as it had arrived when
// that data came, and still no call names the stream, nothing will claim
// it. judge refuses such streams then (within dataGrace, or at once when
// they hold more than Options.UnclaimedBuffer together).

// dataGrace is how long a data stream may hold data that no call names
// after this side has read every call sent before that data (a peer that
// sent the data before the call).
const dataGrace = time.Second

func (c *Conn) dataArrived(tok uint64, s *Stream) {
	c.mu.Lock()
	d := c.data[tok]
	switch {
	case d == nil:
		if len(c.data) >= c.opts.MaxCalls {
			c.mu.Unlock()
			s.Abort(AbortRefused, "too many unclaimed data streams")
			return
		}
		c.data[tok] = &dataSlot{s: s, at: time.Now()}
		c.kickJanitor()
		c.loose[tok] = struct{}{}
		c.mu.Unlock()
		if e := s.acct(); e != nil {
			if held, _, _ := e.held(); held {
				c.acct.notifyJudge()
			}
		}
	case d.dropped:
		delete(c.data, tok)
		c.mu.Unlock()
		s.Abort(AbortRefused, "value not decoded")
	case d.wait != nil:
		delete(c.data, tok)
		s.acct().claim()
		d.wait <- s // buffered: does not block; under the lock so a timed-out claim cannot miss it
		c.mu.Unlock()
	case d.named && d.s == nil:
		d.s = s
		s.acct().claim()
		c.mu.Unlock()
	default:
		c.mu.Unlock()
		s.Abort(AbortProtocol, "duplicate data stream token")
	}
}

// nameData records that a call or reply read from the peer names the
// data streams of toks: they are expected, not loose. c.mu is held.
func (c *Conn) nameData(toks []uint64) {
	for _, tok := range toks {
		d := c.data[tok]
		switch {
		case d == nil:
			if len(c.data) < c.opts.MaxCalls {
				c.data[tok] = &dataSlot{named: true, at: time.Now()}
				c.kickJanitor()
			}
		case d.s != nil && !d.named:
			d.named = true
			delete(c.loose, tok)
			d.s.acct().claim()
		}
	}
}

// unname drops the data streams of toks that the call naming them left
// unclaimed: nothing else will claim them.
func (c *Conn) unname(toks []uint64) {
	if len(toks) == 0 {
		return
	}
	var abort []*Stream
	c.mu.Lock()
	for _, tok := range toks {
		d := c.data[tok]
		switch {
		case d == nil || !d.named || d.wait != nil:
		case d.s != nil:
			abort = append(abort, d.s)
			delete(c.data, tok)
		default:
			d.dropped = true
		}
	}
	c.mu.Unlock()
	for _, s := range abort {
		s.Abort(AbortRefused, "value not decoded")
	}
}

// scanRefs returns what a call's arguments or a reply's results name by
// reference, for the reader to settle before the next message: the
// tokens of their data streams, and the ids of this side's own objects
// sent home. (Values sent by reference are top-level items: the encoder
// puts them nowhere else.)
func scanRefs(body []byte) (toks, home []uint64) {
	if !bytes.Contains(body, refTagHead[:]) {
		return nil, nil
	}
	items, err := splitArray(body, maxResults)
	if err != nil {
		return nil, nil
	}
	for _, raw := range items {
		wr, ok, err := parseRef(raw)
		switch {
		case !ok || err != nil:
		case wr.Kind.isData():
			toks = append(toks, wr.ID)
		case wr.Kind == refHome:
			home = append(home, wr.ID)
		}
	}
	return toks, home
}

// homes are this side's own objects that a message sent home, looked up
// when the reader read it: a release read afterwards does not undo them.
type homes map[uint64]*export

// resolveHomes looks up ids in the reference table. c.mu is held.
func (c *Conn) resolveHomes(ids []uint64) homes {
	if len(ids) == 0 {
		return nil
	}
	h := make(homes, len(ids))
	for _, id := range ids {
		if ex := c.exports[id]; ex != nil {
			h[id] = ex
		}
	}
	return h
}

func (h homes) lookup(id uint64) (*export, error) {
	if ex := h[id]; ex != nil {
		return ex, nil
	}
	return nil, localError(ErrUnknownRef, "object %016x of this side came back, but it was released (or never exported)", id)
}

// refTagHead is how an encoded reference starts.
var refTagHead = [3]byte{0xd9, refTag >> 8, refTag & 0xff}

// judge refuses the loose data streams (no call names them) that hold
// data which no call can claim any more: this side has read the RPC
// stream as far as it had arrived when that data came, and the stream has
// held it for dataGrace, or the link holds more than UnclaimedBuffer for
// streams nobody has taken. It returns when to judge again, if a stream
// is waiting out its grace.
func (c *Conn) judge(now time.Time) (next time.Time) {
	a := c.acct
	if a == nil {
		return time.Time{}
	}
	for {
		mark := a.rpcMark()
		force := a.force.Swap(false)
		m := a.unclaimedMax.Load()
		over := m > 0 && a.unclaimed.Load() > m
		var refused []*Stream
		var wait int64 // the smallest RPC mark a stream waits for
		c.mu.Lock()
		for tok := range c.loose {
			d := c.data[tok]
			if d == nil || d.s == nil || d.named {
				delete(c.loose, tok)
				continue
			}
			held, at, since := d.s.acct().held()
			if !held {
				continue
			}
			caught := at <= mark
			switch {
			case force || caught && (over || now.Sub(since) >= dataGrace):
				refused = append(refused, d.s)
				delete(c.data, tok)
				delete(c.loose, tok)
			case !caught:
				if wait == 0 || at < wait {
					wait = at
				}
			default:
				if dl := since.Add(dataGrace); next.IsZero() || dl.Before(next) {
					next = dl
				}
			}
		}
		c.mu.Unlock()
		if len(refused) > 0 {
			reason := "no call names this data stream"
			if over {
				reason = fmt.Sprintf("no call names this data stream (unclaimed data over %d KiB)", m>>10)
			}
			c.log.Warn("data streams refused", "count", len(refused), "reason", reason, "unclaimed", a.unclaimed.Load())
			c.refuseData(refused, reason)
		}
		a.waitMark.Store(wait)
		if wait == 0 || a.rpcMark() < wait {
			return next
		}
		// The reader passed the mark while this pass ran: judge again.
		a.waitMark.Store(0)
	}
}

// refuseData aborts streams, each from its own goroutine: an abort may
// wait for the peer (its record, then the multiplexer's close).
func (c *Conn) refuseData(streams []*Stream, reason string) {
	for _, s := range streams {
		if !c.rejoin() {
			s.reset()
			continue
		}
		go func() {
			defer c.wg.Done()
			s.Abort(AbortRefused, reason)
		}()
	}
}

func (c *Conn) claimData(ctx context.Context, tok uint64) (*Stream, error) {
	c.mu.Lock()
	d := c.data[tok]
	if d != nil && d.s != nil {
		delete(c.data, tok)
		delete(c.loose, tok)
		c.mu.Unlock()
		d.s.acct().claim()
		return d.s, nil
	}
	if d != nil && (!d.named || d.dropped || d.wait != nil) {
		c.mu.Unlock()
		return nil, errors.New("data stream claimed twice, or after it was dropped")
	}
	if d == nil {
		d = &dataSlot{at: time.Now()}
		c.data[tok] = d
		c.kickJanitor()
	}
	d.wait = make(chan *Stream, 1)
	c.mu.Unlock()
	t := time.NewTimer(c.opts.StreamWait)
	defer t.Stop()
	select {
	case s := <-d.wait:
		return s, nil
	case <-ctx.Done():
	case <-t.C:
	case <-c.done:
	}
	c.mu.Lock()
	if c.data[tok] == d {
		delete(c.data, tok)
	}
	c.mu.Unlock()
	select {
	case s := <-d.wait:
		return s, nil
	default:
	}
	return nil, errors.New("data stream did not arrive")
}

func (c *Conn) dropData(tok uint64) {
	c.mu.Lock()
	d := c.data[tok]
	switch {
	case d == nil:
		// Not here yet: abort it when it comes (the janitor forgets the
		// marker after StreamWait).
		if len(c.data) < c.opts.MaxCalls {
			c.data[tok] = &dataSlot{dropped: true, at: time.Now()}
			c.kickJanitor()
		}
	case d.s != nil:
		delete(c.data, tok)
		delete(c.loose, tok)
	case d.wait == nil:
		d.dropped = true // named, not here yet
	}
	c.mu.Unlock()
	if d != nil && d.s != nil {
		d.s.Abort(AbortRefused, "value not decoded")
	}
}
