// Package relay is a hopwire node (`hopwire serve`): it listens on several
// transports, authenticates every peer, runs an RPC session with each, and
// serves CONNECT streams (tcp, udp, exec, agent) under a default-deny
// [Policy] of grants.
//
// It sits above hop, session, transport and certs, and below the hopwire
// facade and cmd.
//
// # Fleets
//
// Relays that share a directory (package directory; [Options.Fleet],
// `serve --directory nats://…`) form a fleet: each records the agents
// registered with it there, a name is one key's fleet-wide, and a client
// may ask any relay for any agent: the relay looks it up and opens the
// agent stream through a mesh link to the agent's relay, which serves it
// only to peers holding the relay capability and only from its own
// agents (one mesh hop). End-to-end authentication is unchanged: the
// client's TLS runs through both relays to the agent. Agents given
// several relays ([Server.RunAgentAt]) fail over between them. Without a
// directory a relay's agents are its own, in memory.
//
// # Metrics and health
//
// A node counts what it does for Prometheus, in a registry of its own
// (never the global default): [Server.AdminHandler] serves GET /metrics,
// /healthz and /readyz, and [Options.Admin] serves them on a listener of
// the node's (plain HTTP on loopback, HTTPS with client certificates from
// the node's trust anywhere else). The hopwire_ metrics, with labels from
// small fixed sets only (never a peer's name or address):
//
//   - hopwire_links{transport,peer_kind}: links up; peer_kind is agent for
//     a peer registered here as a reverse agent, client otherwise.
//   - hopwire_handshakes_total{transport,result} and
//     hopwire_handshake_duration_seconds{transport}: link handshakes of
//     peers the transport authenticated (result ok or error) and their
//     time from that authentication to a ready RPC session.
//   - hopwire_streams_open, hopwire_streams_opened_total{kind}: streams
//     open on the links; streams peers opened, rpc (one a session),
//     connect and data (io.Reader and io.Writer values of calls).
//   - hopwire_relayed_bytes_total{direction}: bytes relayed by connect
//     streams and remote forwards, up (from the side that opened the
//     connection) and down; a stream connection is counted when it ends
//     (the splice's own count, as in its access record), UDP datagrams as
//     they pass.
//   - hopwire_policy_decisions_total{capability,result}: allow or deny,
//     for connect, exec, register and forward-remote; classic counts an
//     allow for each session it is granted to.
//   - hopwire_preauth_connections, hopwire_preauth_drops_total{transport,reason},
//     hopwire_refusals_total{reason}: [State]'s PreAuth and Drops.
//   - hopwire_agents, hopwire_refs_exported, hopwire_buffered_bytes:
//     [State]'s Agents, Refs and Buffered.
//   - hopwire_rpc_calls_total{service,method,result} and
//     hopwire_rpc_call_duration_seconds{service,method}: calls peers made
//     to the node's services (service "ref" for referenced objects,
//     "unknown" with method "unknown" for names the node does not have).
//   - hopwire_classic_operations_total{action,result}: classic
//     administration actions carried out here, counted from their audit
//     records.
//   - hopwire_cert_expiry_remaining_seconds{cert}: seconds until the
//     node's certificate (cert=node) and the CA in its trust that issued
//     it (cert=ca) expire.
//   - hopwire_build_info{version,goversion}: 1.
//   - In a fleet (see Fleets): hopwire_fleet_relays (relays whose lease
//     is alive), hopwire_fleet_mesh_links, hopwire_fleet_mesh_dials_total{result},
//     hopwire_fleet_lookups_total{result} (found, missing, error) and
//     hopwire_fleet_lookup_duration_seconds for agents not registered
//     here, hopwire_fleet_evictions_total (stale entries removed),
//     hopwire_fleet_directory_errors_total (failed directory operations).
//
// The figures [State] reports are read at scrape time from the same
// counters, never counted twice.
//
// # Status page
//
// [Server.AdminHandler] also serves a status page for a person at GET /:
// the node's identity and certificate expiry, its listeners, its links
// (peer, fingerprint, transport, round trip, bytes, uptime), the agents
// registered here, the relays this node is registered at as an agent, the
// forwards open now and the last 50 denials, with an SVG diagram of the
// node and its neighbours laid out here (statuspage.go). It is rendered
// with html/template from embedded assets and re-fetches its live part
// (GET /status/live) every few seconds; GET /status.json has the same
// snapshot. What it shows beyond [State] comes from a small book the node
// keeps (status.go): when each link came up and its bytes (counted at the
// link's connection; muxed QUIC links are not counted), its last ping,
// each connect stream from its dial to its end (bytes so far from the
// kernel's TCP_INFO for TCP), and a ring of the policy's refusals, fed by
// the same calls that count hopwire_policy_decisions_total. Names from
// peers are cut and stripped of control characters there, and escaped by
// the templates.
package relay
