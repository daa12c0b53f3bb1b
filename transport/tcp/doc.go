// Package tcp is hopwire's plain TCP transport, for the tcp:// hop scheme.
//
// Plain TCP carries no identity and no encryption, so by default it works on
// loopback only: [Listen] refuses to bind anything but a loopback address,
// and [Dial] refuses to connect to an IP address that is not a loopback
// address. The check runs in the socket control hook on the numeric address
// actually bound or dialled (after name resolution, before any packet is
// sent), so a name that resolves off loopback is refused as well. Setting
// [Options.Insecure] — the CLI's --insecure-tcp flag ([InsecureFlag]) —
// lifts the restriction. Over a network, use the tls transport instead.
//
// # Where it sits
//
// tcp is a leaf at the bottom of the stack (STYLE.md §1): it imports only
// the standard library and knows nothing of sessions, hops or certificates.
// hop (dialing a tcp:// hop) and relay (listening) call it.
//
// # Who closes what
//
// Dial and Listen start no goroutines. The caller closes every conn and
// listener they return; the context passed in governs only the dial or the
// bind, never the lifetime of what is returned.
//
// # Usage
//
//	ln, err := tcp.Listen(ctx, "127.0.0.1:7000", nil)
//	if err != nil { … }
//	defer ln.Close()
//
//	c, err := tcp.Dial(ctx, "127.0.0.1:7000", nil)
//	if err != nil { … }
//	defer c.Close()
//
//	_, err = tcp.Listen(ctx, ":7000", nil) // refused: errors.Is(err, tcp.ErrNotLoopback)
//	ln, err = tcp.Listen(ctx, ":7000", &tcp.Options{Insecure: true}) // allowed
//
// # References
//
//   - [net.Dialer.Control] and [net.ListenConfig.Control], where the check runs.
//   - [net.KeepAliveConfig], the keep-alive settings applied.
package tcp
