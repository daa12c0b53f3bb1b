// Package dtls is hopwire's DTLS transport, for the dtls:// hop scheme:
// DTLS 1.2 with mutual certificate authentication over UDP (or over any
// net.PacketConn), carrying a reliable, ordered byte stream that is handed
// out as a net.Conn.
//
// # The returned conn is the reliable layer, never the raw DTLS conn
//
// DTLS protects datagrams; it does not retransmit, order or de-duplicate
// application data. smux, the session handshake and everything else above
// the transport need a reliable ordered byte stream, and over a raw DTLS
// conn they would corrupt or stall on the first lost datagram
// (PITFALLS.md §1.4). So this package never hands out the DTLS conn:
// [Dial], [DialPacket] and [Listener.Accept] return a [*Conn], the
// selective-repeat ARQ described below running inside the DTLS session.
// Do not "optimise" by reaching under it; there is no API to do so, on
// purpose.
//
// # Why our own ARQ
//
// Three designs were weighed for the layer between DTLS and smux:
//
//   - KCP (xtaci/kcp-go, as kcptun runs it under smux) is proven and fast,
//     but has no FIN, so a peer's Close cannot read as io.EOF without a
//     framing layer on top; it keeps package-level scheduler goroutines
//     (goleak flags them), and it pulls in Reed-Solomon, SIMD and SM4
//     modules we would not use since DTLS already encrypts.
//   - SCTP over DTLS (pion/sctp, as WebRTC does) is message-oriented (a
//     Read must fit a whole message), adds another association handshake
//     and its own close state machine, and its throughput in pion trails
//     TCP-like protocols.
//   - A small selective-repeat ARQ of our own (arq.go and packet.go, about
//     800 lines with comments), needs no
//     dependency beyond pion/dtls and gives exactly net.Conn semantics:
//     FIN and half-close, deadlines, a linger on Close, keepalives and an
//     idle timeout, all with goroutines that Close stops.
//
// We chose the third. Its design is conventional, after TCP with SACK
// (RFC 2018), RFC 6298 retransmission timers and RACK-style loss
// detection (RFC 8985): each DTLS record carries one packet; DATA packets
// carry one segment of at most MTU-59 bytes with a packet-counting
// sequence number; every packet carries a cumulative ack, the receive
// window's right edge and a timestamp pair for RTT measurement; ACK
// packets add SACK blocks. A segment is retransmitted when one sent after
// it, three or more places above it, has been delivered, or on a
// retransmission timeout (at least 40ms, backing off). Congestion control
// is AIMD on a window of segments: slow start, then a decrease to 0.7 once
// per window of data on loss, with a floor of 16 segments. A loss counts
// as congestion only when the path shows it: the lowest RTT of the last
// two rounds has risen more than half above the path's minimum (a queue
// of ours has built up; the lowest sample, so jitter is not taken for a
// queue) or a round lost more than 15% of its segments. Other losses are
// noise: retransmitted, but the window stays (a timeout amid noise
// restarts small and slow-starts back to the old window). Like KCP, and
// unlike TCP, a DTLS hop thus keeps its goodput on lossy paths (measured
// through 20 ms ± 5 ms of delay: 1% loss keeps about 65%, 5% about 15–25%
// of the loss-free rate, where an AIMD cut per window kept under 15% and
// 10%), at the price of pushing harder than TCP would against a shallow
// congested queue. Flow
// control is a receive window of Options.Window bytes. The wire format is
// in packet.go.
//
// Per-datagram cost (a syscall, and pion's record handling with a
// goroutine or two per record, on each side) bounds the throughput, so a
// conn on its own UDP socket probes the path for larger datagrams than
// the 1200 bytes it starts with (RFC 8899 style; pmtu.go): 8192 on
// loopback, 1472 on an Ethernet path. Measured on loopback (2 shared
// cores, Go 1.26, BenchmarkThroughput, both ends in one process): about
// 40–60 MB/s one way at a fixed 1200-byte MTU and 110–175 MB/s at 8192
// (hop's BenchmarkLinkThroughput/dtls: ≈ 0.5 of the QUIC link, from 0.16);
// through a proxy dropping 1% or 5% of datagrams with reordering and 1 ms
// delay, 3–5 MB/s each way at 1200 bytes, both ways at once. Through
// 20 ms ± 5 ms of delay and a 1500-byte path (issue 6's scenario 5, make
// soak), 1% loss kept 52% and 5% loss 15% of the loss-free goodput.
//
// # Authentication
//
// The caller passes a *tls.Config, as to every hopwire transport:
// Certificates[0] is our identity and the config's verification decides
// whom to trust. pion's own chain checks are switched off and this
// package runs crypto/tls's order itself on the peer's DTLS certificates:
// chain verification where the config asks for it, then
// VerifyPeerCertificate, then VerifyConnection with a tls.ConnectionState
// whose PeerCertificates are the parsed peer certificates. certs'
// ClientConfig and ServerConfig, which verify in VerifyConnection and read
// only PeerCertificates, therefore work unchanged, and their errors
// (*certs.UnknownPeerError, *certs.MismatchError) come back from Dial
// through errors.As. The handshake always completes before Dial or Accept
// returns (pion v3 would otherwise run it lazily on the first Read, and
// wait for ever), so certificate errors are reported there, never later.
//
// Authentication is always mutual: a server requires a client certificate
// (pion's RequireAnyClientCert, then our verification), and a config that
// would verify nothing is refused before any packet is sent. The
// handshake is DTLS 1.2 (RFC 6347) with ECDHE and AES-GCM, extended master
// secret required, no session resumption, and ALPN (NextProtos, default
// [ALPN]) that must be agreed on. Ed25519 certificates, which certs
// creates, work: pion signs with them under the ECDHE_ECDSA suites (RFC
// 8422); ECDSA and RSA keys work too.
//
// # Listening
//
// A [Listener] reads its socket itself and routes datagrams by source
// address to per-peer DTLS server conns, so that pre-authentication state
// is bounded: see [Listener]. Its read loop and admission are its own (a
// peer is admitted by its first datagram, whose source may be spoofed);
// only the drop counts ([Listener.Stats]) and the pacing of the "cap
// reached" warning are shared with the tls and ssh listeners, in
// transport/internal/preauth. Connection IDs (RFC 9146) are not used, so a
// peer whose address changes (NAT rebinding) loses its conn and must dial
// again; a client that comes back from the same address before its old
// conn has timed out waits for the idle timeout.
//
// # Where it sits
//
// dtls is a leaf at the bottom of the stack (STYLE.md §1): it imports the
// standard library, pion/dtls v3 (≥ v3.1.5: CVE-2026-26014 and
// CVE-2026-54908; v2 is end-of-life and must not be used) and pion's
// logging interface, and from hopwire only the pre-auth drop counting
// the transports share (transport/internal/preauth); only its tests import
// certs. It takes its *tls.Config from the caller; hop and relay reach it
// through the scheme table cmd builds.
//
// # Who closes what
//
// The caller closes every conn and listener returned. A conn from [Dial]
// owns its UDP socket; one from [DialPacket] owns the PacketConn it was
// given, and DialPacket closes that PacketConn if it fails. A [Listener]
// owns its socket (or the PacketConn given to [ListenPacket]) and closes,
// without lingering, the conns it accepted when it is closed, since they
// share that socket. [Conn.Close] lingers up to Options.Linger to deliver
// what was written, then ends the DTLS session and waits for the conn's
// goroutines. Contexts govern setup only (resolution and handshake), never
// the lifetime of what is returned.
//
// # Usage
//
//	// A node.
//	scfg, err := certs.ServerConfig(id, certs.Trust{Store: authorized})
//	ln, err := dtls.Listen(":5684", scfg, nil)
//	if err != nil { … }
//	defer ln.Close()
//	for {
//		c, err := ln.AcceptContext(ctx) // authenticated and reliable
//		if err != nil { … }
//		name, fp := certs.PeerFromState(c.ConnectionState())
//		go serve(c, name, fp) // e.g. session.NewLink over c: smux is safe here
//	}
//
//	// A client, directly or over a datagram stream through a previous hop.
//	ccfg, err := certs.ClientConfig(id, certs.Trust{Pinned: []string{fp}}, "r2")
//	c, err := dtls.Dial(ctx, "r2.example:5684", ccfg, nil)
//	c, err = dtls.DialPacket(ctx, session.NewPacketConn(stream, raddr), raddr, ccfg, nil)
//
// # References
//
//   - RFC 6347, DTLS 1.2; RFC 7627, extended master secret; RFC 7301, ALPN.
//   - RFC 9293 (TCP), RFC 2018 (SACK), RFC 6298 (RTO), RFC 8985 (RACK),
//     RFC 5681 (congestion control): what the reliable layer follows.
//   - github.com/pion/dtls/v3: HandshakeContext, ClientWithOptions,
//     ServerWithOptions.
package dtls
