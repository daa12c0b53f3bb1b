// Package hop parses and formats hop addresses and chains, and (later) dials
// chains of hops: each hop is reached over a stream opened through the link
// to the previous one, the way ssh -J reaches a host through jump hosts.
//
// # Where it sits
//
// hop is above the three leaf packages session, transport and certs, and
// below relay, the root facade and cmd. The address and chain code in this
// package imports only the standard library and never dials.
//
// # Hop syntax
//
// An [Addr] is one hop. [Parse] reads one and [Addr.String] writes it back
// in canonical form; Parse(a.String()) returns a again for every Addr that
// Parse returned. The forms are:
//
//	tcp://HOST:PORT                plain TCP (no identity, so no fingerprint)
//	tls://HOST:PORT[#FP]           TLS over TCP
//	quic://HOST:PORT[#FP]          QUIC over UDP
//	dtls://HOST:PORT[#FP]          DTLS over UDP
//	ssh://[USER@]HOST[:PORT][#FP]  SSH; the port defaults to 22 when dialing
//	stdio:COMMAND [ARG...]         a command spawned on the previous node
//	NAME[#FP]                      an agent registered at the previous relay
//
// HOST is a name made of ASCII letters, digits, '-', '.' and '_' (it must not
// start with '-'; use punycode for internationalized names), an IPv4 address,
// or an IPv6 address in brackets, optionally with a zone:
// tcp://[::1]:7000, tls://[fe80::1%eth0]:7443. PORT is decimal, 1 to 65535,
// with no leading zeros. USER is made of ASCII letters, digits, '.', '_', '-'
// and '$' and must not start with '-'. Scheme names are case-insensitive and
// formatted in lower case. Nothing else (paths, queries, passwords,
// percent-encoding) is accepted.
//
// FP pins the hop's identity: "SHA256:" followed by the unpadded standard
// base64 encoding of a 32-byte SHA-256 digest (43 characters), as printed by
// ssh-keygen -l.
//
// NAME is 1 to 64 ASCII letters, digits, '-', '_' and '.', starting with a
// letter or digit.
//
// A stdio command is split into arguments the way a POSIX shell splits
// words, without any expansion: spaces separate arguments; '...' quotes
// everything up to the next single quote literally; "..." quotes too, and
// inside it a backslash escapes '"', '\', '$' and '`' (before any other
// character it is literal); outside quotes a backslash escapes the next
// character. Quoting can start and stop within one argument (a"b c"'d' is
// the single argument "ab cd"), and quotes with nothing between them make an empty argument. Commas and
// '#' must be quoted or escaped: a comma would split a chain, and a stdio hop
// takes no fingerprint (it is trusted as the command that was run), so an
// unquoted '#' is rejected rather than silently read as part of an argument.
// Control characters (tab and newline included) are rejected everywhere, and
// the command name must not be empty. [Addr.String] leaves arguments made of
// letters, digits and -_./:=+@%^ bare, single-quotes other arguments, and
// double-quotes (escaping '"', '\', '$' and '`') arguments that contain a
// single quote.
//
// A hop is at most 4096 bytes, both as given to Parse and as formatted by
// String.
//
// # Chains
//
// A chain, the value of a -J flag, is hops separated by commas with no
// spaces: tls://r1:7443,ssh://admin@bastion,agent-7. Commas inside quotes or
// after a backslash in a stdio command do not separate hops. [ParseChain]
// reads a chain of at most 32 hops and [FormatChain] writes one.
package hop
