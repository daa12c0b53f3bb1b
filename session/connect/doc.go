// Package connect is the CONNECT stream kind of hopwire's session layer,
// both ends of it: what a side asks a neighbour to connect a stream to
// (a TCP or UDP destination, a command to spawn, a registered agent, or a
// remote forward's connection coming back), how the neighbour answers, and
// how a connected stream and a socket are joined.
//
// # Where it sits
//
// connect sits on [session] alone (and its internal wire codec): it takes
// a *session.Link or *session.Stream and knows no transport, hop or
// policy. hop dials through it ([Dial], [DialPacket], [Open]); relay serves
// it ([Server], with a Dial function that applies the node's policy); the
// CLI's forwards splice with it ([Splice]). No package above it encodes or
// parses a CONNECT header.
//
// # The protocol
//
// The opener sends a [Request] as the header of a KindConnect stream
// (session/PROTOCOL.md). When both ends of the link announced
// [VerdictCap], the acceptor answers with one byte once the connection it
// makes stands ([Accept]), or aborts the stream to refuse (AbortPolicy for
// a policy refusal, AbortUpstream for a failed dial); [Open] returns only
// after the verdict, so a refusal is a dial error that errors.Is matches
// to session.ErrDenied. A UDP stream carries datagrams framed by
// [WriteDatagram]; [PacketConn] presents one as a net.PacketConn for QUIC
// and DTLS hops. A remote forward (ssh -R) is a TCP request whose address
// is [Reverse] of the tag the client listened under.
//
// # The one splice
//
// [Splice] joins a stream and a socket until both directions end: a clean
// end passes on as a half-close, a failure as an abort (a reset for TCP),
// so that a reader at either end sees io.EOF only when the other end
// closed cleanly. Relays and the client's forwards use the same splice.
// It holds both ends for its whole run and lets go of both when the
// stream is released (aborted, reaped by the link's idle or half-close
// timeout, or its link ended).
package connect
