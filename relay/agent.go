package relay

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
	htls "github.com/hopwire/hopwire/transport/tls"
)

// RunAgent makes this node a reverse agent: it dials relay (through via),
// registers as name, and serves the clients the relay sends its way, each
// authenticated end to end by TLS inside the relay's stream. When the link
// breaks it re-dials with exponential backoff (1s up to 30s) until ctx
// ends. ready, if not nil, is called after each successful registration.
func (s *Server) RunAgent(ctx context.Context, d *hop.Dialer, via []hop.Addr, relay hop.Addr, name string, ready func()) error {
	var at func(hop.Addr)
	if ready != nil {
		at = func(hop.Addr) { ready() }
	}
	return s.RunAgentAt(ctx, d, via, []hop.Addr{relay}, name, at)
}

// RunAgentAt is RunAgent with several relays, a fleet's: the agent
// registers at the first it reaches, and when that link breaks or the
// relay cannot be reached it goes on to the next at once, waiting (with
// RunAgent's backoff) only after every relay of the list failed in turn.
// The fleet's directory follows it to its new relay. ready, if not nil,
// is called with the relay after each successful registration. A relay
// whose policy refuses the registration ends RunAgentAt when it is the
// only one.
func (s *Server) RunAgentAt(ctx context.Context, d *hop.Dialer, via []hop.Addr, relays []hop.Addr, name string, ready func(relay hop.Addr)) error {
	if len(relays) == 0 {
		return errors.New("relay: an agent needs a relay to register at")
	}
	dd := *d
	var opts session.Options
	if d.Session != nil {
		opts = *d.Session
	}
	opts.Accept = func(st *session.Stream) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveInbound(st)
		}()
	}
	dd.Session = &opts
	var cur atomic.Int32 // the relay tried now
	rd := hop.NewRedialer(nil, func(ctx context.Context) (*hop.Route, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return dd.Dial(ctx, via, relays[cur.Load()])
	})
	defer rd.Close()
	var b agentBackoff
	failed := 0 // relays that failed in a row
	for {
		start := time.Now()
		relay := relays[cur.Load()]
		var at func()
		if ready != nil {
			at = func() { ready(relay) }
		}
		err := s.agentOnce(ctx, rd, relay, name, at)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrDenied) && len(relays) == 1 {
			return err // the relay will not change its mind by itself
		}
		if hop.RefusedByPeer(err) && s.opts.Identity != nil {
			fp := s.opts.Identity.Fingerprint()
			s.log.Warn("the relay refused this agent's key; its operator can authorize it", "relay", relay.String(), "fp", fp,
				"run on the relay", "hopwire trust --authorized "+fp+" "+name)
		}
		if time.Since(start) >= agentStable {
			failed = 0
		}
		failed++
		if len(relays) > 1 {
			cur.Store(int32((int(cur.Load()) + 1) % len(relays)))
			if failed < len(relays) {
				s.log.Warn("agent link down; trying the next relay", "relay", relay.String(), "next", relays[cur.Load()].String(), "err", err)
				continue
			}
		}
		failed = 0
		wait := b.next(time.Since(start))
		s.log.Warn("agent link down; re-dialing", "relay", relays[cur.Load()].String(), "in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
}

// agentBackoff is the wait before an agent dials its relay again:
// exponential from agentBackoffMin to agentBackoffMax, back to the start
// after a link that stayed up agentStable (a relay restart is not a
// reason to wait long), and jittered ±25% so that the agents of a relay
// that restarts do not all come back in the same instant.
type agentBackoff struct{ n int }

const (
	agentBackoffMin = time.Second
	agentBackoffMax = 30 * time.Second
	agentStable     = 30 * time.Second
)

// next returns the wait after an attempt that lasted up.
func (b *agentBackoff) next(up time.Duration) time.Duration {
	if up >= agentStable {
		b.n = 0
	}
	d := agentBackoffMin << min(b.n, 5)
	d = min(d, agentBackoffMax)
	b.n++
	return d - d/4 + rand.N(d/2+1)
}

// agentOnce registers over the redialer's route (dialing it if it broke)
// and serves until the route ends.
func (s *Server) agentOnce(ctx context.Context, rd *hop.Redialer, relay hop.Addr, name string, ready func()) error {
	route, err := rd.Route(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = route.Target().Service("node").Call(rctx, "Register", name)
	cancel()
	if err != nil {
		route.Close() // a refused registration redials
		return err
	}
	s.log.Info("registered as agent", "relay", relay.String(), "agent", name)
	up := s.book.uplinkUp(relay.String(), name, route.Target())
	defer s.book.uplinkDown(up)
	if ready != nil {
		ready()
	}
	select {
	case <-route.Done():
		return route.Target().Err()
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// serveInbound serves a client that a relay sent over st: TLS server side
// end to end with the client, then a link as from any listener.
func (s *Server) serveInbound(st *session.Stream) {
	req, err := connect.ParseRequest(st.Header())
	if err != nil || req.Network != connect.Agent {
		st.Abort(session.AbortRefused, "an agent accepts only inbound agent streams")
		return
	}
	cfg, err := s.serverTLS()
	if err != nil {
		st.Abort(session.AbortRefused, err.Error())
		return
	}
	if err := connect.Accept(st); err != nil {
		st.Abort(session.AbortLocal, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	tc, err := htls.Server(ctx, st, cfg)
	cancel()
	if err != nil {
		s.log.Warn("inbound client refused", "err", err)
		return
	}
	s.ServeConn(tc, s.peerOf(tc.ConnectionState()))
}
