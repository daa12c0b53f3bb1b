// Package certs holds hopwire's identities and trust: Ed25519 keys with X.509
// certificates, a small CA for fleets, SSH-style fingerprints and trust files,
// and the *tls.Config builders every secure transport uses.
//
// # Where it sits
//
// certs is one of the three leaves at the bottom of the stack (with transport
// and session). It imports only the standard library and knows no transport:
// it hands out [*tls.Config] and [*x509.CertPool] values, transports accept a
// *tls.Config, and only cmd (and the root facade) wires the two together.
//
// # Identities
//
// Every node and client has an [Identity]. By default it is created on first
// use by [LoadOrCreate] in [Home] ($HOPWIRE_HOME, or ~/.hopwire) as id.crt and
// id.key: an Ed25519 key and a self-signed certificate whose CommonName is
// the name the identity proposes for itself. [Load] reads a certificate and key given by --cert/--key,
// for instance ones issued by a fleet [Authority] ([InitCA], [LoadCA],
// [Authority.Issue], [Authority.IssueToDir]).
//
// A peer is identified by its fingerprint ([Fingerprint]): "SHA256:" and the
// base64 SHA-256 of its public key, in the form OpenSSH prints, so it
// survives re-issuing the certificate; and by its principal name, which the
// verifying side's [Trust] decides ([Trust.VerifiedClient]): the name the
// trust file gives the fingerprint, or the CommonName of a certificate the
// CA signed. A peer never names itself.
//
// # Trust
//
// Authentication is always mutual and TLS 1.3 only. A [Trust] says which
// peers are accepted: those that chain to a CA pool (fleets), those whose
// fingerprint is pinned (a fingerprint in a hop address), and those listed in
// a [FingerprintStore] (the known-nodes file on a client, the authorized file
// on a node, like SSH's known_hosts and authorized_keys). Nothing is trusted
// on first use: an unknown peer fails the handshake with an
// [*UnknownPeerError] whose message names the fingerprint and the
// "hopwire trust" command that would trust it; a pinned fingerprint that does
// not match gives a [*MismatchError]. [ClientConfig] and [ServerConfig] build
// the configs; [Trust.VerifiedClient] and [Trust.VerifiedServer] say who the
// peer of a connection is, and [Matches] applies a policy rule to it.
//
// A client binds each hop's trust to the hop ([Trust.Addr], [Trust.Name]):
// the known-nodes file binds keys to addresses (addr=HOST:PORT, written by
// "hopwire trust --known FP NAME --addr HOST:PORT"), agents by name, and a
// CA certificate must be issued to the hop's name or address. Another
// trusted node answering at a hop — the relay before it, say — fails with a
// [*HopMismatchError]; a pin is the only key accepted at its hop.
//
// # Resources
//
// Nothing here owns goroutines or connections. Identities, authorities and
// the returned configs are immutable once built; a [FingerprintStore] is safe
// for concurrent use and re-reads its file when it changes.
//
// # Usage
//
//	id, err := certs.LoadOrCreate(certs.Home(), "")
//	if err != nil { … }
//	known, err := certs.LoadFingerprints(filepath.Join(certs.Home(), certs.KnownNodesFile))
//	if err != nil { … }
//	trust := certs.Trust{Store: known, Addr: addr} // bound to the hop dialled
//	cfg, err := certs.ClientConfig(id, trust, host)
//	if err != nil { … }
//	cfg.NextProtos = []string{"hopwire/1"} // the caller's to set
//	conn, err := tls.Dial("tcp", addr, cfg) // or any transport taking a *tls.Config
//	if err != nil { … } // e.g. *certs.UnknownPeerError: print it, it says what to run
//	v := trust.VerifiedServer(conn.ConnectionState()) // v.Principal, v.Fingerprint, v.By
//
// A node does the same with [ServerConfig] and the authorized file, and
// [Trust.VerifiedClient] gives it the principal its policy names.
//
// # References
//
//   - RFC 8446, TLS 1.3; RFC 5280, X.509 certificates and CRL profile.
//   - OpenSSH ssh-keygen(1) -l (SHA256 fingerprints), sshd(8) AUTHORIZED_KEYS
//     and ssh(1) known_hosts, the model for the trust files.
//   - crypto/tls [tls.Config.VerifyConnection], where verification runs.
package certs
