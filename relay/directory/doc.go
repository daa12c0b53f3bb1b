// Package directory is a relay fleet's shared record of which agent is
// registered at which relay, so that any relay can find the home relay of
// any agent (issue 20). A relay registers the reverse agents connected to
// it, looks up the agents it is asked for, and lists the fleet.
//
// It sits below relay, which will own a [Directory] per node, and imports
// no other hopwire package: only the standard library and the NATS client.
//
// # Implementations
//
// [NewMemory] is the directory of a relay that is not part of a fleet,
// today's in-memory registry, and needs nothing. [Memory.Join] adds more
// relays to it in one process, which is how relay tests can run a fleet
// without a server.
//
// [Open] joins a fleet whose directory is kept by a NATS server with
// JetStream (nats://host:port). Open returns the interface rather than a
// concrete type because the URL chooses the implementation.
//
// # Why NATS JetStream rather than etcd
//
// Both keep a small replicated key-value store with revisions, and both are
// packaged by Debian (nats-server, etcd-server). NATS was chosen because:
//
//   - its Go client is light: nats.go, nkeys, nuid and a compression
//     package, where etcd's client brings gRPC, protobuf and zap;
//   - nats-server is one static binary with JetStream persistence built in,
//     simple to run beside the relays;
//   - JetStream key-value has per-key revisions with compare-and-set
//     (Create fails if the key exists, Update and Delete take the revision
//     they expect), which is what "the first holder keeps the name" needs;
//   - a watch on a bucket streams every change, which keeps each relay's
//     view of the fleet current without polling.
//
// What etcd has and NATS KV lacks on the server Debian ships (2.9.10) is
// native leases: per-key TTLs arrived in nats-server 2.11. This package
// builds leases from heartbeats instead, as below. etcd:// is not
// implemented; a second implementation would go behind the same interface.
//
// # Layout and leases
//
// A fleet (named by [Options.Fleet], default "hopwire") has two buckets:
//
//   - <fleet>-relays (hopwire-relays by default), whose age limit is the
//     lease: one key per relay (its ID), holding its address and incarnation. Each relay writes its key
//     again every third of the lease. Renewal thus costs one write per
//     relay per period, however many agents the relay has: 10,000 agents
//     cost nothing extra.
//   - <fleet>-agents, with no age limit: one key per agent name, holding the
//     agent's fingerprint, its home relay's ID, address and incarnation.
//
// An entry is alive while the heartbeat of the relay incarnation that wrote
// it is younger than the lease. The incarnation is the time the relay
// opened its directory ([RelayInfo.Since]): when a relay restarts, the
// entries of its previous run die as soon as the new run's heartbeat is
// seen, rather than a lease later, and those of its agents that reconnect
// register again. (Runs are ordered by the relay host's own clock; should
// it step back across a restart, the old entries merely wait out the
// lease.)
//
// Each relay watches the relays bucket and keeps the heartbeats in memory,
// so a Lookup is one read of the agent's key plus a local check. On this
// server version a key that ages out of the bucket makes no event, so the
// relay judges age itself: it compares the store's own timestamps (of the
// heartbeat and of the entry) with the store's clock, which it estimates
// from its own heartbeats as they come back. The hosts' clocks need not
// agree.
//
// An entry whose relay's lease has expired reads as absent (ErrNotFound,
// left out of List), and the relay that meets it deletes it with a delete
// conditional on the revision it read, so a registration written
// meanwhile survives ([Metrics.Evicted] counts these). Register is a
// compare-and-set loop on the agent's key: of two relays racing for one
// name, exactly one write succeeds, and the other relay reads the winner.
//
// Liveness is judged only on evidence: an entry whose relay has not been
// heard from but which was written less than a lease ago, or any entry
// during the first lease after the watch restarted, is "unknown" and
// treated as alive (it keeps its name and is returned) but never evicted.
//
// # When the server is down
//
// Calls fail at once with an error wrapping [ErrUnavailable] that names the
// server, or at their ctx's deadline if the server stops answering without
// closing the connection; what the caller already holds (sessions, links)
// is not affected. The client reconnects by itself, trying every quarter
// to half second, for ever. From the moment the connection drops until a
// lease after its watch is running again, a relay declares nothing dead,
// since heartbeats may have expired while nobody could renew them; on
// reconnecting it renews its heartbeat at once. As a last
// safety, after renewals have failed, a relay writes again those of its
// own entries the store no longer has (only where the key is absent, so
// a name that moved or was taken stays where it is).
//
// # What a Lookup promises
//
// A Lookup may return an entry whose relay died less than a lease ago, or
// that moved an instant before; the caller dials the home relay and treats
// a failure as the agent being unreachable. End-to-end authentication of
// the agent does not depend on the directory: a stale or forged entry
// routes to the wrong relay, where the agent's key does not verify.
//
// # Housekeeping and clusters
//
// Delete markers (one per name unregistered or evicted, which watchers
// learn deletions from) are purged by the relays once 30 minutes old,
// each purge stopping at the marker so that a later registration of the
// name stays. On a NATS cluster, Options.Replicas has that many servers
// keep each bucket (3 outlive one server's loss); the relay that creates
// the buckets sets it.
//
// # Ownership and concurrency
//
// A Directory is safe for concurrent use. The one from Open runs two
// goroutines, lease renewal and the relays watch, and owns its NATS
// connection; Close stops both, waits for them and closes the connection.
// The caller of NewMemory, Join and Open closes what they return.
//
// # Usage
//
//	dir, err := directory.Open(ctx, "nats://10.0.0.9:4222",
//		directory.RelayInfo{ID: nodeFingerprint, Addr: "tls://10.0.0.1:7443"}, nil)
//	if err != nil {
//		return err
//	}
//	defer dir.Close()
//	err = dir.Register(ctx, "db1", agentFingerprint) // ErrTaken: another key has db1
//	e, err := dir.Lookup(ctx, "db1")                 // e.Relay, e.Addr: where db1 is
//
// # References
//
//   - NATS JetStream key-value store: https://docs.nats.io/nats-concepts/jetstream/key-value-store
//   - nats.go's jetstream package: https://pkg.go.dev/github.com/nats-io/nats.go/jetstream
//   - etcd leases, for comparison: https://etcd.io/docs/v3.5/learning/api/#lease-api
//   - issue 20, "A relay fleet" (issues show 20)
package directory
