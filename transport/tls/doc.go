// Package tls is hopwire's TLS transport, for the tls:// hop scheme: TLS 1.3
// with mutual authentication, over TCP or over any existing stream.
//
// [Dial] connects over TCP and [Listen] listens on TCP; [Client] and
// [Server] run the same handshakes over a conn the caller already has,
// which is how a chain runs hop N+1's TLS over a stream through hop N, so
// that each relay sees only ciphertext of the links beyond it. All of them
// return a *tls.Conn whose handshake has completed, so callers can read the
// peer from its ConnectionState (certs.PeerFromState does).
//
// # What is enforced
//
// The caller's *tls.Config decides who is trusted (certs.ClientConfig and
// certs.ServerConfig build such configs). This package never modifies it;
// it works on a clone in which:
//
//   - MinVersion and MaxVersion are TLS 1.3, whatever the caller set, so a
//     peer limited to TLS 1.2 or older is refused;
//   - NextProtos is [ALPN] ("hopwire/1") unless the caller set its own, and
//     a peer that negotiates no protocol or another one is refused (checked
//     during the handshake, after the caller's own verification);
//   - a config that would not authenticate the peer at all is refused
//     before any connection is made: a client config with
//     InsecureSkipVerify and no verification callback, or a server config
//     that does not require and verify a client certificate.
//
// # Listening
//
// A [Listener] authenticates peers before Accept hands them out. Its
// handshakes run concurrently, each bounded by a deadline (10s by default),
// and at most 64 connections by default are held between the TCP accept and
// Accept; beyond that, a new connection takes the slot of the oldest one
// that has sent nothing at all for a while (which is closed), or is closed
// at once, before any TLS state is allocated for it. A slow or silent peer
// therefore holds one slot for at most the deadline and never delays
// Accept, and a flood of silent connections cannot keep a client out
// (the [ListenerOptions] MaxHandshakes field has the whole policy). Failed
// handshakes are logged to the [ListenerOptions] Logger, if any, since no
// caller is there to receive them. All of this but the TLS handshake
// itself (the accept loop, slots, deadlines, eviction, drop counting and
// Close) lives in transport/internal/preauth, shared with the ssh
// listener.
//
// # Writing whole frames at once
//
// crypto/tls writes every record of at most 16 KiB with a Write of its own
// to the conn below it. Under each TLS conn this package puts a conn that
// can be corked (cork.go): a caller reaching it through tls.Conn.NetConn
// and calling Cork, then writing, then Flush, sends all those records with
// one Write. hopwire's links do this for every batch of multiplexer
// frames, so a 64 KiB frame is one syscall instead of five (four full
// records and a runt), and through a chain a hop's records nested inside
// the previous hop's stream no longer come with a runt record each. Conns
// nobody corks behave exactly as crypto/tls's own.
//
// # Where it sits
//
// tls is a leaf at the bottom of the stack (STYLE.md §1): it imports only
// the standard library and, from hopwire, the pre-auth listener it shares
// with the ssh transport (transport/internal/preauth, itself standard
// library only). It takes its *tls.Config from its caller, and knows
// nothing of certs, sessions or hops. hop (dialing tls:// hops and agents)
// and relay (listening, and serving agents) call it.
//
// # Who closes what
//
// The caller closes every conn and listener returned. A conn returned by
// [Client] or [Server] owns the conn it was given: closing it closes that
// one too, and if Client or Server fails it closes it as well. A Listener
// owns its goroutines and stops them, and waits for them, in Close.
// Contexts govern setup only (dial, bind, handshake), never the lifetime of
// what is returned.
//
// # Usage
//
//	// A node.
//	scfg, err := certs.ServerConfig(id, certs.Trust{Store: authorized})
//	ln, err := tls.Listen(ctx, ":7443", scfg)
//	if err != nil { … }
//	defer ln.Close()
//	for {
//		c, err := ln.AcceptContext(ctx) // authenticated already
//		if err != nil { … }
//		name, fp := certs.PeerFromState(c.ConnectionState())
//		go serve(c, name, fp)
//	}
//
//	// A client, directly and then through the first hop.
//	ccfg, err := certs.ClientConfig(id, certs.Trust{Pinned: []string{fp1}}, "r1")
//	c1, err := tls.Dial(ctx, "r1.example:7443", ccfg)
//	stream, err := openConnectStream(c1, "r2.internal:7443") // hop's job
//	c2, err := tls.Client(ctx, stream, ccfg2)
//
// # References
//
//   - RFC 8446, TLS 1.3; RFC 7301, ALPN.
//   - [crypto/tls.Conn.HandshakeContext], which runs every handshake here.
package tls
