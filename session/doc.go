// Package session is hopwire's session layer: an authenticated,
// multiplexed [Link] to one neighbour, and the RPC session ([Conn]) that
// rides on it — RPyC's transparent, symmetric RPC re-imagined in Go.
//
// # Where it sits
//
// session is one of the three leaves of the stack (with transport and
// certs): it never dials and knows no transport. It takes a net.Conn that
// something above it (hop, relay, the hopwire facade) dialed and
// authenticated, runs the hopwire hello over it, then multiplexes it with
// xtaci/smux v2.
//
// # Links and streams
//
// [NewLink] exchanges hellos (protocol version, multiplexer version, node
// name, capabilities) before anything is multiplexed; nothing is allocated
// for the peer before the hello succeeds. Each [Stream] carries records, so
// that a reader tells a clean close (io.EOF) from every other ending (a
// *[StreamError]): a peer's [Stream.Abort], a relay whose other side
// failed, a dead link, a write deadline that fired mid-write. The link caps
// concurrent incoming streams (refusing the excess at once), reaps idle
// streams and half-closed ones gone silent, notices a silent peer, and
// holds every smux stream for its whole life (no reliance on smux's
// finalizers, xtaci/smux#116).
//
// A link over smux counts what its receive buffer holds, per stream
// ([Link.Buffered]); a node's links may draw from one [Budget] and refuse
// new streams while it is spent, and a server may refuse a link at its
// hello ([LinkConfig.Admit]). A [Conn] holds no data for data streams that
// no call names: it refuses them once it has read the calls sent before
// their data ([Options].UnclaimedBuffer).
//
// # RPC
//
// Both ends of a [Conn] are equal. Each exposes services:
//
//	conn.Expose("calc", &Calc{})
//
// (a pointer: a value whose pointer type has methods it lacks is
// refused), or only the methods of an interface, a narrow view of a rich
// object:
//
//	session.ExposeAs[Reader](conn, "store", st)
//
// and calls the other's through a dynamic proxy or a typed stub:
//
//	sum, err := session.Call[int](ctx, conn.Service("calc"), "Add", 1, 2)
//
//	var calc struct{ Add func(context.Context, int, int) (int, error) }
//	conn.Service("calc").Bind(&calc)
//	sum, err = calc.Add(ctx, 1, 2)
//
// For a contract written as a Go interface, the command
// cmd/hopwire-stub generates typed stubs, as stringer generates String
// methods: the serving side exposes an implementation with ExposeAs[Calc],
// the calling side writes NewCalcStub(conn.Service("calc")).Add(ctx, 1, 2),
// and the compiler checks both against the interface, as with gRPC's
// service interfaces. See ExampleNewCalcStub in
// cmd/hopwire-stub/internal/example.
//
// Values travel by value as CBOR: numbers (complex64 and complex128
// included, at any depth), strings, []byte, bool, time.Time, slices, maps
// and structs of these. Func values travel by
// reference (the receiver gets a func that calls back; callbacks nest to
// any depth in both directions), as do values wrapped with [ByRef] (the
// receiver gets a *[Ref]). io.Reader and io.Writer values are streamed on
// data streams of their own, not chopped into messages.
//
// [Ref.Go] starts a call and returns an [Async] handle (RPyC's
// AsyncResult). The caller's context deadline and cancellation reach the
// remote handler's context. A remote failure is a *[RemoteError]; a
// handler's panic becomes one and the server keeps serving; errors.Is sees
// through it to well-known sentinels (io.EOF, fs.ErrNotExist,
// fs.ErrPermission, context.Canceled, …) and to the application's own
// (Options.Errors). It names the peer's software version (PeerVersion,
// from the link hello), and, when the serving side sets
// Options.ErrorStacks, where the error came from (Stack). When the link breaks every pending call fails with an
// error matching [ErrLinkClosed].
//
// References are random per-session ids. A reference is released
// explicitly ([Ref.Release]), when its proxy and every copy of it become
// unreachable, or when the session ends; a call naming a released, forged
// or foreign id is refused with [ErrUnknownRef] and reaches no object.
// Release is final: once it returns, a call through the proxy, a copy of
// it or a stub bound to it fails at once with ErrUnknownRef, and the peer
// drops the object before it reads anything this side sends afterwards.
//
// A proxy is a value like any other: it may be passed back to the peer
// that owns its object, which then receives the object itself (not a
// proxy of a proxy), or to a third session, which receives a proxy whose
// calls are forwarded through this side (one more round trip per call;
// data streams copied through; cancellation, deadlines, errors and
// nested callbacks pass along; the object lives while any holder along
// the path keeps it). See passon.go for the cost model.
//
// # Ownership
//
// The creator of a Link closes it; a Conn owns its Link from NewConn on.
// A Stream belongs to whoever opened or accepted it. All types are safe for
// concurrent use. Every goroutine a Link or Conn starts is stopped by its
// Close.
//
// The wire format is specified in PROTOCOL.md beside this file.
//
// # References
//
//   - RPyC: https://rpyc.readthedocs.io (services, netrefs, async results)
//   - xtaci/smux v2 (per-stream flow control)
//   - RFC 8949 (CBOR), via github.com/fxamacker/cbor/v2
package session
