package relay

import (
	"errors"
	"maps"
	"slices"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/session"
)

// A running node's grants and certificate can be replaced without a
// restart (hopwire serve does it on SIGHUP): links that are up stay up,
// and each request is decided by the grants in force when it arrives.

// pol is the policy in force.
func (s *Server) pol() *Policy { return s.policy.Load() }

// Policy returns the grants in force.
func (s *Server) Policy() *Policy { return s.pol() }

// Identity returns the identity the node presents in new handshakes.
func (s *Server) Identity() *certs.Identity { return s.identity.Load() }

// SetPolicy puts p in force: the next request of every peer is decided
// by it. Streams already allowed (a forward, a process) are not cut
// short, but the sessions of peers that held grants before and hold none
// under p are closed, with everything on them; it returns how many.
func (s *Server) SetPolicy(p *Policy) (closed int) {
	if p == nil {
		p = NewPolicy(nil)
	}
	old := s.policy.Swap(p)
	for _, c := range s.sessions() {
		peer := c.Link().Peer()
		if peer.Principal == "stdio" || !old.hasGrants(peer) || p.hasGrants(peer) {
			continue
		}
		s.log.Warn("closing the session of a peer that no longer holds any grant", "peer", clipAttr(peer.Principal), "fp", peer.Fingerprint)
		c.Close()
		closed++
	}
	return closed
}

// SetIdentity makes the tls, quic and dtls listeners present id from
// their next handshake on (a renewed or re-issued certificate); links up
// keep the one they were made with. ssh listeners present the node's key
// as their host key, which a renewed certificate for the same key leaves
// as it was; a new key, and the agent link's client certificate, take a
// restart there. A certificate for a new key changes the node's
// fingerprint: clients that pin the old one (known_nodes) refuse the node
// until they trust the new one.
func (s *Server) SetIdentity(id *certs.Identity) error {
	if id == nil {
		return errors.New("relay: set identity: nil identity")
	}
	s.identity.Store(id)
	return nil
}

// sessions returns the sessions up now.
func (s *Server) sessions() []*session.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.conns))
}

// hasGrants reports whether any grant names peer.
func (p *Policy) hasGrants(peer session.Peer) bool {
	for _, g := range p.grants {
		if certs.Matches(g.Principal, peer.Principal, peer.Fingerprint) {
			return true
		}
	}
	return false
}
