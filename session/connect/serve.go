package connect

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/hopwire/hopwire/session"
)

// Server serves the connect streams a link's peer opens: it parses each
// request, has Dial connect it (policy and dialling are the caller's:
// a relay passes its own), tells the opener the verdict, and splices.
type Server struct {
	// Dial connects req for the link's authenticated peer. An error that
	// wraps session.ErrDenied is a policy refusal (the opener sees
	// AbortPolicy); any other error a failed upstream (AbortUpstream).
	Dial func(ctx context.Context, peer session.Peer, req *Request) (net.Conn, error)
	// Timeout bounds Dial (default 15s).
	Timeout time.Duration
	// Refused, if set, is told of every stream refused: req is nil for a
	// malformed header. For logs and counters.
	Refused func(req *Request, err error)
	// Accepted, if set, is told of every stream connected.
	Accepted func(req *Request)
	// Ended, if set, is told how every connected stream ended: the bytes
	// each way (toUpstream: from the opener to the destination), how
	// long it lasted, and the first failure (nil: both ends closed
	// cleanly). For access records. UDP streams report no byte counts.
	Ended func(req *Request, toUpstream, toOpener int64, took time.Duration, err error)
}

// Serve serves st, a connect stream the peer opened, until it ends. ctx
// (the server's lifetime) bounds Dial along with Timeout.
func (s *Server) Serve(ctx context.Context, st *session.Stream) {
	req, err := ParseRequest(st.Header())
	if err != nil {
		st.Abort(session.AbortProtocol, err.Error())
		if s.Refused != nil {
			s.Refused(nil, err)
		}
		return
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	out, err := s.Dial(dctx, st.Link().Peer(), req)
	cancel()
	if err == nil {
		if err = Accept(st); err != nil {
			out.Close()
		}
	}
	if err != nil {
		code := session.AbortUpstream
		if errors.Is(err, session.ErrDenied) {
			code = session.AbortPolicy
		}
		st.Abort(code, err.Error())
		if s.Refused != nil {
			s.Refused(req, err)
		}
		return
	}
	if s.Accepted != nil {
		s.Accepted(req)
	}
	start := time.Now()
	if req.Network == UDP {
		SpliceUDP(st, out)
		if s.Ended != nil {
			s.Ended(req, 0, 0, time.Since(start), nil)
		}
		return
	}
	r := SpliceCounted(st, out)
	if s.Ended != nil {
		s.Ended(req, r.ToConn, r.ToStream, time.Since(start), r.Err)
	}
}
