// Package hopwire is the front door of hopwire: Remote Go Call over a
// relay network. Dial reaches a node through a chain of hops, every hop
// authenticated, and returns a Client: the node's RPC session (Conn),
// connections leaving from it (DialContext, for net/http and database
// drivers), listeners on it (Listen, as ssh -R), and, with
// Options.Redial, a chain that comes back after it breaks. Start runs a
// node in the background and says where it bound; Serve runs one until
// its context ends. The hopwire command dials through the same Options.
//
// The layers below it, from the bottom:
//
//	certs      identities, CA, fingerprints, trust, *tls.Config builders
//	transport  one package per scheme (tcp, tls, quic, dtls, ssh, stdio)
//	session    Link (authenticated, multiplexed) and Conn (the RPC session);
//	           session/connect: CONNECT streams, both ends
//	hop        hop addresses, the scheme table, the chain dialer, Route
//	relay      a node: listeners, CONNECT streams under policy, services
//
// ARCHITECTURE.md walks a forwarded byte and an RPC call through them.
package hopwire
