package hop

import (
	"context"
	"errors"
	"net"
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

// Listen is Route(ctx) then the route's Listen. The listener ends with
// the route it was opened on; listen again to follow a redial.
func (rd *Redialer) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	r, err := rd.Route(ctx)
	if err != nil {
		return nil, err
	}
	return r.Listen(ctx, network, addr)
}

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
