// Package quic is hopwire's QUIC transport, built on quic-go.
//
// A QUIC connection multiplexes streams itself, so hopwire runs no smux on
// it: [Conn] satisfies session.Muxer (OpenStream, AcceptStream, Close) and
// session.NewMuxedLink turns it into a Link. The package is a leaf: it
// imports nothing from hopwire and takes its *tls.Config (TLS 1.3, mutual
// authentication, built by package certs) from the caller.
//
// QUIC runs over a real UDP socket ([Dial], [Listen]) or over any
// net.PacketConn ([DialPacket], [ListenPacket]); the latter is how a QUIC
// hop runs behind a stream hop, whose CONNECT udp stream a PacketConn
// adapter presents as datagrams.
//
// Streams are net.Conns with one difference from TCP worth knowing: a
// QUIC stream's Close only ends the send side, so the stream type here
// also cancels reading on Close, and offers CloseWrite for the half-close.
//
// Ownership: a Conn made by Dial owns its UDP socket and closes it; one made
// by DialPacket closes the PacketConn it was given too. A Listener owns
// its socket (or the PacketConn given to ListenPacket); connections it
// accepted are closed by their owner, and all of them when the Listener is
// closed.
//
//	conn, err := quic.Dial(ctx, "r2.example:7443", tlsConf, nil)
//	link, err := session.NewMuxedLink(conn, session.Client, nil)
package quic
