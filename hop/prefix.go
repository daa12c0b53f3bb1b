package hop

import (
	"context"
	"strings"
	"sync"
)

// Prefixes shares the via hops of routes dialed while earlier ones are
// up, as ssh's ControlMaster shares a connection: every route through
// the same via chain rides one link per hop of it, and only its last hop,
// the target, is its own. A fan-out to 20 targets behind one relay opens
// one link to the relay, not 20. The shared hops stay up while any route
// through them does, and close with the last one; a chain that broke is
// dialed anew by the next route. Routes that share hops share their fate:
// when a shared hop dies, every route through it ends. A Prefixes is safe
// for concurrent use; set it in Dialer.Prefixes.
type Prefixes struct {
	mu sync.Mutex
	m  map[string]*prefix
}

// prefix is one shared via chain.
type prefix struct {
	ready chan struct{} // closed once route or err is set
	route *Route
	err   error
	users int // routes using it (under Prefixes.mu)
}

// NewPrefixes returns an empty set of shared via chains.
func NewPrefixes() *Prefixes { return &Prefixes{m: map[string]*prefix{}} }

// acquire returns the route of the hops via, up, dialed by d (without
// sharing) unless a live one is there to share, and the function that
// gives it back.
func (p *Prefixes) acquire(ctx context.Context, d *Dialer, via []Addr) (*Route, func(), error) {
	keys := make([]string, len(via))
	for i, a := range via {
		keys[i] = a.String()
	}
	key := strings.Join(keys, ",")
	for {
		p.mu.Lock()
		pr := p.m[key]
		if pr != nil {
			select {
			case <-pr.ready:
				if pr.err != nil || isDone(pr.route) {
					// Failed or broken: the next route dials anew.
					delete(p.m, key)
					pr = nil
				}
			default:
			}
		}
		dialer := pr == nil
		if dialer {
			pr = &prefix{ready: make(chan struct{})}
			p.m[key] = pr
		}
		pr.users++
		p.mu.Unlock()

		if dialer {
			dd := *d
			dd.Prefixes = nil
			pr.route, pr.err = dd.Dial(ctx, via[:len(via)-1], via[len(via)-1])
			close(pr.ready)
		} else {
			select {
			case <-pr.ready:
			case <-ctx.Done():
				p.release(key, pr)
				return nil, nil, ctx.Err()
			}
		}
		if pr.err != nil {
			p.release(key, pr)
			if dialer {
				return nil, nil, pr.err
			}
			continue // the dial of another route failed: try our own
		}
		var once sync.Once
		return pr.route, func() { once.Do(func() { p.release(key, pr) }) }, nil
	}
}

// release gives back one use of pr, and closes its route with the last.
func (p *Prefixes) release(key string, pr *prefix) {
	p.mu.Lock()
	pr.users--
	last := pr.users == 0
	if last && p.m[key] == pr {
		delete(p.m, key)
	}
	p.mu.Unlock()
	if last && pr.route != nil {
		pr.route.Close()
	}
}

// isDone reports whether a hop of r is gone.
func isDone(r *Route) bool {
	for _, h := range r.Hops {
		if h.Conn == nil {
			continue
		}
		select {
		case <-h.Conn.Done():
			return true
		default:
		}
	}
	return false
}
