// Package hopwire is the facade of hopwire: Remote Go Call over a relay
// network. It will offer Dial (reach a node through a chain of hops and get
// its RPC session and a DialContext exiting there) and Serve (run a node).
//
// The layers below it, from the bottom:
//
//	certs      identities, CA, fingerprints, trust, *tls.Config builders
//	transport  one package per scheme (tcp, tls, quic, dtls, ssh, stdio)
//	session    Link (authenticated, multiplexed) and Conn (the RPC session)
//	hop        hop addresses, chains, the chain dialer
//	relay      a node: listeners, CONNECT streams under policy, services
//
// Until the facade lands, programs use the packages directly: hop.Dialer
// dials a chain and returns a hop.Route (its Target() session and a
// DialContext exiting there), relay.Server runs a node, and package session
// holds the RPC API. `hopwire demo` shows all three together.
package hopwire
