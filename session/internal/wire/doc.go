// Package wire holds hopwire's binary codecs below the RPC values: the link
// hello exchanged before multiplexing, the record layer that frames every
// stream, and the envelope of RPC messages. It imports only the standard
// library and every decoder has a fuzz target beside it.
//
// The byte layouts are specified in session/PROTOCOL.md; a change here is a
// change there.
//
// Decoders never allocate in proportion to a length the peer declared: each
// length is checked against the bytes actually present (or against a fixed
// limit) before it is used.
package wire
