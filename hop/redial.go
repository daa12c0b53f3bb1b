package hop

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopwire/hopwire/session"
)

// ErrRedialerClosed is returned by a Redialer after Close.
var ErrRedialerClosed = errors.New("hop: route closed")

// Redialer keeps a route up: Route returns the current one, and dials it
// again first when it has broken (its target session ended). The
// forwarders of "hopwire forward" and a reverse agent's loop share it, so
// a chain that breaks comes back on the next connection, not at a
// restart. One dial runs at a time; callers that arrive during it wait
// for its result (or their ctx). Safe for concurrent use.
type Redialer struct {
	dial func(ctx context.Context) (*Route, error)
	sem  chan struct{} // held while r is read, replaced or dialed
	r    *Route
	done bool
}

// NewRedialer returns a Redialer that dials with dial. If first is not
// nil it is the current route (a caller that dialed once to fail early).
func NewRedialer(first *Route, dial func(ctx context.Context) (*Route, error)) *Redialer {
	return &Redialer{dial: dial, sem: make(chan struct{}, 1), r: first}
}

// Route returns the current route, dialing a new one when there is none
// or the current one broke (a broken route is closed first).
func (rd *Redialer) Route(ctx context.Context) (*Route, error) {
	select {
	case rd.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-rd.sem }()
	if rd.done {
		return nil, ErrRedialerClosed
	}
	if rd.r != nil {
		select {
		case <-rd.r.Done():
			rd.r.Close()
			rd.r = nil
		default:
			return rd.r, nil
		}
	}
	r, err := rd.dial(ctx)
	if err != nil {
		return nil, err
	}
	rd.r = r
	return r, nil
}

// Current returns the current route without dialing: nil before the first
// dial and after Close. It may have broken.
func (rd *Redialer) Current() *Route {
	rd.sem <- struct{}{}
	defer func() { <-rd.sem }()
	return rd.r
}

// DialContext is Route(ctx) then the route's DialContext.
func (rd *Redialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	r, err := rd.Route(ctx)
	if err != nil {
		return nil, err
	}
	return r.DialContext(ctx, network, addr)
}

// Listen is Route(ctx) then the route's Listen: a listener that ends
// with the route it was opened on. ListenFollow outlives it.
func (rd *Redialer) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	r, err := rd.Route(ctx)
	if err != nil {
		return nil, err
	}
	return r.Listen(ctx, network, addr)
}

// ListenFollow is Listen for a listener that follows the route across
// breaks, as a remote forward should: when the route ends, Accept dials
// it again and listens on addr anew, every second until that works (each
// failure goes to retry, if not nil), the target refuses (errors.Is(err,
// session.ErrDenied): the refusal is Accept's error, as the target will
// not change its mind by itself), or Close. ctx governs the first listen
// only.
func (rd *Redialer) ListenFollow(ctx context.Context, network, addr string, retry func(error)) (net.Listener, error) {
	ln, err := rd.Listen(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	f := &followListener{rd: rd, network: network, addr: addr, retry: retry, closed: make(chan struct{})}
	f.cur.Store(&ln)
	return f, nil
}

// followListener is ListenFollow's listener.
type followListener struct {
	rd            *Redialer
	network, addr string
	retry         func(error)
	cur           atomic.Pointer[net.Listener]
	closed        chan struct{}
	once          sync.Once
}

func (f *followListener) Accept() (net.Conn, error) {
	for {
		ln := *f.cur.Load()
		c, err := ln.Accept()
		if err == nil {
			return c, nil
		}
		ln.Close()
		if err := f.relisten(); err != nil {
			return nil, err
		}
	}
}

// relisten listens again on a route that came back.
func (f *followListener) relisten() error {
	for {
		select {
		case <-f.closed:
			return net.ErrClosed
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		go func() {
			select {
			case <-f.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		ln, err := f.rd.Listen(ctx, f.network, f.addr)
		cancel()
		if err == nil {
			f.cur.Store(&ln)
			select {
			case <-f.closed: // Close raced the listen
				ln.Close()
				return net.ErrClosed
			default:
				return nil
			}
		}
		if errors.Is(err, session.ErrDenied) || errors.Is(err, ErrRedialerClosed) {
			return err
		}
		if f.retry != nil {
			f.retry(err)
		}
		select {
		case <-f.closed:
			return net.ErrClosed
		case <-time.After(time.Second):
		}
	}
}

func (f *followListener) Close() error {
	f.once.Do(func() { close(f.closed) })
	return (*f.cur.Load()).Close()
}

// Addr is where the target listens now (a new port after a re-listen on
// port 0).
func (f *followListener) Addr() net.Addr { return (*f.cur.Load()).Addr() }

// Close closes the current route; later calls return ErrRedialerClosed.
// It waits for a dial in progress to finish.
func (rd *Redialer) Close() error {
	rd.sem <- struct{}{}
	defer func() { <-rd.sem }()
	rd.done = true
	if rd.r == nil {
		return nil
	}
	err := rd.r.Close()
	rd.r = nil
	return err
}
