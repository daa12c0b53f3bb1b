package hop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
)

// reverse routes the reverse streams a route's nodes open for its remote
// listeners.
type reverse struct {
	mu   sync.Mutex
	next uint64
	ls   map[string]*remoteListener
}

// sessionOptions returns base (nil: defaults) with an Accept that hands
// reverse streams to the route's listeners and everything else to base's
// Accept (or refuses it).
func (r *Route) sessionOptions(base *session.Options) *session.Options {
	var o session.Options
	if base != nil {
		o = *base
	}
	next := o.Accept
	o.Accept = func(st *session.Stream) {
		if st.Kind() == session.KindConnect {
			if req, err := connect.ParseRequest(st.Header()); err == nil {
				if tag, ok := req.ReverseTag(); ok {
					r.rev.mu.Lock()
					l := r.rev.ls[tag]
					r.rev.mu.Unlock()
					if l == nil {
						st.Abort(session.AbortRefused, "no such remote forward here")
						return
					}
					l.deliver(st)
					return
				}
			}
		}
		if next != nil {
			next(st)
			return
		}
		st.Abort(session.AbortRefused, "this side accepts no streams")
	}
	return &o
}

// Listen asks the target to listen on addr, a local IP:PORT of the target,
// and returns a listener whose Accept returns each connection the target
// accepts there, carried back over the route: ssh -R, in the shape of
// x/crypto/ssh's Client.Listen. network must be "tcp". The target's
// policy must grant forward-remote for addr; a refusal is Listen's error
// (errors.Is(err, session.ErrDenied)). ctx governs the setup; Close stops
// the remote listener. The listener also ends when the route does.
func (r *Route) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("hop: listen: network %q: want tcp", network)
	}
	r.rev.mu.Lock()
	if r.rev.ls == nil {
		r.rev.ls = map[string]*remoteListener{}
	}
	r.rev.next++
	tag := strconv.FormatUint(r.rev.next, 10)
	lctx, cancel := context.WithCancel(context.Background())
	l := &remoteListener{r: r, tag: tag, cancel: cancel, queue: make(chan *session.Stream, 64), done: make(chan struct{}),
		bound: make(chan net.Addr, 1)}
	r.rev.ls[tag] = l
	r.rev.mu.Unlock()

	target := r.Target()
	ready := func(bound string) {
		a, err := net.ResolveTCPAddr("tcp", bound)
		if err != nil {
			a = &net.TCPAddr{}
		}
		select {
		case l.bound <- a:
		default:
		}
	}
	go func() {
		_, err := target.Service("node").Call(lctx, "ListenRemote", addr, tag, ready)
		if errors.Is(err, session.ErrBadArgs) {
			// A node from before the ready callback: it listens, or
			// fails, without saying which until the call ends.
			ready(addr)
			_, err = target.Service("node").Call(lctx, "ListenRemote", addr, tag)
		}
		if err == nil || lctx.Err() != nil {
			err = net.ErrClosed
		}
		l.end(err)
	}()
	select {
	case a := <-l.bound:
		l.addr = a
		return l, nil
	case <-l.done:
		l.Close()
		return nil, fmt.Errorf("hop: listen %s on %s: %w", addr, r.Hops[len(r.Hops)-1].Addr, l.err)
	case <-ctx.Done():
		l.Close()
		return nil, ctx.Err()
	case <-target.Done():
		l.Close()
		return nil, fmt.Errorf("hop: listen %s: %w", addr, target.Err())
	}
}

// remoteListener is a listener on a route's target (Route.Listen).
type remoteListener struct {
	r      *Route
	tag    string
	cancel context.CancelFunc
	addr   net.Addr
	bound  chan net.Addr
	queue  chan *session.Stream

	once sync.Once
	done chan struct{}
	err  error // why it ended, once done is closed
}

// deliver queues a reverse stream for Accept, or refuses it.
func (l *remoteListener) deliver(st *session.Stream) {
	select {
	case <-l.done:
		st.Abort(session.AbortRefused, "the remote forward is closed")
	case l.queue <- st:
	default:
		st.Abort(session.AbortRefused, "too many connections waiting to be accepted")
	}
}

func (l *remoteListener) end(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.done)
	})
}

// Accept waits for and returns the next connection accepted on the
// target, after telling the target it is taken.
func (l *remoteListener) Accept() (net.Conn, error) {
	for {
		select {
		case st := <-l.queue:
			if err := connect.Accept(st); err != nil {
				st.Abort(session.AbortLocal, err.Error())
				continue
			}
			return st, nil
		case <-l.done:
			return nil, l.err
		case <-l.r.Target().Done():
			l.end(fmt.Errorf("hop: remote listener: %w", l.r.Target().Err()))
		}
	}
}

// Close stops the remote listener and refuses the connections not yet
// accepted.
func (l *remoteListener) Close() error {
	l.cancel()
	l.end(net.ErrClosed)
	l.r.rev.mu.Lock()
	delete(l.r.rev.ls, l.tag)
	l.r.rev.mu.Unlock()
	for {
		select {
		case st := <-l.queue:
			st.Abort(session.AbortRefused, "the remote forward is closed")
		default:
			return nil
		}
	}
}

// Addr returns the address the target listens on.
func (l *remoteListener) Addr() net.Addr { return l.addr }
