package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// Passing proxies on. A *Ref received from one peer may be sent like any
// other value:
//
//   - back to the peer that exported it (a session of rpc version 2), as
//     refHome: that peer decodes its own original value, not a proxy of
//     a proxy, so identity holds there;
//   - to any other session (or to a version 1 peer), as a forwarder: this
//     side exports an object whose calls it makes in turn through the
//     proxy, passing their arguments and results on the same way.
//
// The cost of a forwarded call is one more call on the holder's session
// (the round trip from the third session to the holder, then the
// holder's to the owner), and data streams among its arguments or results
// are copied through the holder. The holder keeps its proxy, and so the
// owner its object, for as long as the third session keeps the forwarder:
// when the third session releases it (explicitly, by garbage collection,
// or by ending), the forwarder's proxy becomes garbage here, and once the
// holder's own copies are gone too, the owner is told. Release on the
// holder is final for the forwarder as for any copy: calls through it then
// fail with ErrUnknownRef. Cancellation and deadlines pass along with the
// call; callbacks passed through the path are forwarders themselves, each
// running on its own goroutine, so nesting does not deadlock.

// rawValue is a value received by value, passed on unchanged.
type rawValue []byte

// readOnly hides a data stream's Write, so that a reader passed on is
// sent as a reader (a *Stream is both).
type readOnly struct{ io.ReadCloser }

// encodeRef encodes a proxy: home to its owner, or as a forwarder.
func (e *encoder) encodeRef(b []byte, r *Ref) ([]byte, error) {
	if r.st.isReleased() {
		return nil, fmt.Errorf("%v: released here: %w", r, ErrUnknownRef)
	}
	if r.c == e.c {
		if r.id == 0 {
			return nil, fmt.Errorf("a proxy of the peer's own service %q cannot be sent back to it (the peer has the service itself)", r.service)
		}
		if e.c.peerRPC >= 2 {
			// The proxy stays alive until the message has gone, so
			// that its release cannot overtake it.
			e.keep = append(e.keep, r)
			return appendRef(b, refHome, r.id)
		}
		// A version 1 peer cannot take its own object back: it gets a
		// forwarder to it, which works but is not the object itself.
	}
	kind := refObject
	if r.fn {
		kind = refFunc
	}
	return e.exportRef(b, kind, &export{fwd: r})
}

// passOn turns one value received on c (an argument of a call, or a
// result of a reply) into a value to send on another session: data as it
// came, references as proxies, data streams as a reader or writer that
// this side copies through.
func (c *Conn) passOn(bound context.Context, raw []byte, h homes) (any, error) {
	wr, isRef, err := parseRef(raw)
	switch {
	case err != nil:
		return nil, err
	case !isRef:
		return rawValue(raw), nil
	}
	switch wr.Kind {
	case refObject, refFunc:
		return c.remoteRef(wr.ID, wr.Kind == refFunc), nil
	case refHome:
		ex, err := h.lookup(wr.ID)
		switch {
		case err != nil:
			return nil, err
		case ex.fwd != nil:
			return ex.fwd, nil
		case ex.view == nil && reflect.TypeOf(ex.val).Kind() == reflect.Func:
			return ex.val, nil
		}
		return Object{v: ex.val, view: ex.view}, nil
	case refReader:
		v, err := c.decodeValue(bound, raw, reflect.TypeFor[io.ReadCloser](), nil)
		if err != nil {
			return nil, err
		}
		return readOnly{v.Interface().(io.ReadCloser)}, nil
	case refWriter:
		v, err := c.decodeValue(bound, raw, reflect.TypeFor[io.WriteCloser](), nil)
		if err != nil {
			return nil, err
		}
		return v.Interface(), nil
	}
	return &bothWays{c: c, bound: bound, tok: wr.ID}, nil
}

// bothWays is a data stream that can go either way (an io.ReadWriter,
// kind 5), received on c and passed on as one: its direction is chosen
// when the final receiver chooses it, and reaches the sender through this
// side's first Read ('R': the sender streams to us) or Write ('W').
type bothWays struct {
	c     *Conn
	bound context.Context
	tok   uint64
	once  sync.Once
	s     *Stream
	dir   byte // dirRead or dirWrite once claimed; 0 if dropped unclaimed
	err   error
}

var errBothWays = errors.New("session: a passed-on io.ReadWriter was used both ways")

func (b *bothWays) claim(dir byte) error {
	b.once.Do(func() {
		b.dir = dir
		b.s, b.err = b.c.claimData(b.bound, b.tok)
		if b.err == nil {
			if _, b.err = b.s.Write([]byte{dir}); b.err != nil {
				b.s.Abort(AbortLocal, "direction not sent")
			}
		}
	})
	switch {
	case b.err != nil:
		return b.err
	case b.dir != dir:
		return errBothWays
	}
	return nil
}

func (b *bothWays) Read(p []byte) (int, error) {
	if err := b.claim(dirRead); err != nil {
		return 0, err
	}
	return b.s.Read(p)
}

func (b *bothWays) Write(p []byte) (int, error) {
	if err := b.claim(dirWrite); err != nil {
		return 0, err
	}
	return b.s.Write(p)
}

// Close is end: a reader or writer handed over in results is closed once
// its copy is done.
func (b *bothWays) Close() error {
	b.end()
	return nil
}

// end finishes the stream once the value was passed on: a write side
// ends cleanly, a read side not read to the end is aborted, and a stream
// nobody took either way is dropped.
func (b *bothWays) end() {
	b.once.Do(func() {
		b.err = errors.New("session: passed-on io.ReadWriter already ended")
		b.c.dropData(b.tok)
	})
	switch {
	case b.s == nil:
	case b.dir == dirWrite:
		b.s.CloseWrite()
	case !b.s.readDone():
		b.s.Abort(AbortLocal, "not read to the end")
	default:
		b.s.Close()
	}
}

// passAll is passOn for each item; on error, what was passed on so far is
// closed and the rest released.
func (c *Conn) passAll(bound context.Context, items [][]byte, h homes) ([]any, error) {
	vals := make([]any, 0, len(items))
	for i, raw := range items {
		v, err := c.passOn(bound, raw, h)
		if err != nil {
			closePassed(vals)
			c.releaseUnused(items[i+1:])
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// closePassed ends the data streams among values passed on: a reader not
// read to the end is aborted (its sender stops), a writer ends cleanly.
func closePassed(vals []any) {
	for _, v := range vals {
		switch x := v.(type) {
		case readOnly:
			if s, ok := x.ReadCloser.(*Stream); ok && !s.readDone() {
				s.Abort(AbortLocal, "not read to the end")
				continue
			}
			x.Close()
		case streamWriter:
			x.Close()
		case *bothWays:
			x.end()
		}
	}
}

// forward runs a call to a forwarder: it makes the call through the
// proxy the forwarder stands for and replies with what came back.
func (c *Conn) forward(ctx context.Context, req *callReq) (*wire.Msg, *encoder) {
	r := req.ex.fwd
	items, err := splitArray(req.body, maxResults)
	if err != nil {
		c.rejectArgs(req.body)
		return c.errorMsg(req.id, localError(ErrBadArgs, "%v", err)), nil
	}
	args, err := c.passAll(ctx, items, req.homes)
	if err != nil {
		return c.errorMsg(req.id, localError(ErrBadArgs, "%v", err)), nil
	}
	res, err := r.c.call(ctx, r, req.method, args)
	closePassed(args)
	if err != nil {
		return c.handlerError(req.id, err, ""), nil
	}
	out, err := res.passOn()
	if err != nil {
		return c.errorMsg(req.id, fmt.Errorf("session: passing results on: %w", err)), nil
	}
	enc := c.newEncoder(c.ctx)
	enc.results = true
	b, err := enc.encodeList(out)
	if err != nil {
		enc.abort()
		closePassed(out)
		return c.errorMsg(req.id, fmt.Errorf("session: %w", err)), nil
	}
	return &wire.Msg{Kind: wire.MsgReply, ID: req.id, Body: b}, enc
}

// passOn gives the results as values to send on another session.
func (res Result) passOn() ([]any, error) {
	if res.c == nil {
		return nil, nil
	}
	items, err := splitArray(res.body, maxResults)
	if err != nil {
		return nil, err
	}
	return res.c.passAll(res.ctx, items, res.homes)
}
