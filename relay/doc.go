// Package relay is a hopwire node (`hopwire serve`): it listens on several
// transports, authenticates every peer, runs an RPC session with each, and
// serves CONNECT streams (tcp, udp, exec, agent) under a default-deny
// [Policy] of grants.
//
// It sits above hop, session, transport and certs, and below the hopwire
// facade and cmd.
package relay
