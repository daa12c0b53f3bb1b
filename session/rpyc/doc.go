// Package rpyc speaks RPyC's own wire protocol, so that Go programs and
// hopwire nodes meet the Python RPyC servers and clients labs already run:
// a Go program calls into an RPyC server (directly, over TLS, or through a
// hopwire chain), and a stock Python RPyC client calls a Go service.
//
// The protocol, as this package implements it, is described in
// PROTOCOL-RPYC.md beside this file: channel frames (with zlib), brine
// values, boxing, id packs, the twenty request handlers, exceptions and
// reference counting, in both message dialects (RPyC 5.x and 6.x).
//
// # Client
//
//	c, err := rpyc.Dial(ctx, "lab-rig:18812", nil) // or NewConn(anyNetConn, opts)
//	defer c.Close()
//	k, err := rpyc.NewClassic(ctx, c)              // a classic (SlaveService) server
//	osm, err := k.Module(ctx, "os")
//	v, err := osm.CallAttr(ctx, "listdir", "/tmp")  // a *Ref to a Python list
//	names, err := v.(*rpyc.Ref).Items(ctx)
//
// Values travel as brine: None (nil), bool, int (int64, or *big.Int
// beyond), float64, complex128, str (string), bytes ([]byte), [Tuple],
// [FrozenSet], [Slice], [NotImplemented] and [Ellipsis]. Go slices and
// arrays are sent as tuples and maps as tuples of (key, value) pairs.
// Everything else is sent by reference: the receiver gets a *[Ref] (a
// proxy) whose Getattr, Setattr, Call, CallAttr, Repr, Str, Dir, Hash and
// Iter operate on the real object. A trailing [Kw] argument holds
// keyword arguments. [As] converts what arrives into Go types, including a
// remote callable into a Go func.
//
// Go funcs passed as arguments reach the peer as callables; when Python
// calls them, they run here, and may call the peer again (callbacks nest
// in both directions; each request from the peer runs on its own
// goroutine). [Ref.Go] and [Ref.GoAttr] start a call and return an
// [Async] (Done, Ready, Wait, OnReady, Result). An exception raised on the
// far side is a *[RemoteError] carrying the Python module, type, args and
// the remote traceback; errors.Is sees through it to fs.ErrNotExist,
// fs.ErrPermission, io.EOF and the like, and to templates such as
// &RemoteError{Type: "OSError"} (builtin base classes included).
//
// Proxies hold the remote object alive. [Ref.Release] gives it back at
// once; otherwise a proxy that becomes unreachable is released when the
// garbage collector notices (RPyC's DEL, with the peer's send count, so
// that a proxy dying while the object is re-sent is harmless). Everything
// is released when the connection closes. The other way round, objects
// this side sent by reference stay in its table until the peer's DEL
// releases them (a Python proxy's DEL goes when it is garbage
// collected); [Conn.Stats] counts the table.
//
// # Server
//
// [Serve] (or [NewConn] with Options.Root) serves any Go value as the root
// object: its exported methods are callable from Python under their Go
// name and their snake_case name (GetPath and get_path; an exposed_
// prefix is accepted too), its exported fields readable. Setting or
// deleting an attribute raises AttributeError in the peer, as RPyC's
// allow_setattr and allow_delattr (both False by default) do, unless
// Options.AllowSetattr (fields of structs reached through a pointer) or
// Options.AllowDelattr (which resets a field to its zero value) allows
// it for the objects that Options serves. Arguments are converted to
// the parameter types (a Python list, set or dict, which arrives by
// reference, is fetched into a Go slice or map parameter); a leading
// context.Context parameter receives a context that ends with the
// connection and carries it ([FromContext]), so a handler can call back
// into the client's own service. Results: none is None, one is itself,
// several are a tuple, a trailing error is raised: fs.ErrNotExist as
// FileNotFoundError (with errno), fs.ErrPermission as PermissionError,
// bad arguments as TypeError, a missing attribute as AttributeError, a
// *RemoteError as exactly that exception, anything else as RuntimeError.
// A panic in a handler becomes a RuntimeError and the connection keeps
// serving. Funcs and pointers returned go by reference. A [Namespace]
// root offers several services by name. Everything exported on the
// objects handed out is reachable by the peer: hand out only what it may
// use.
//
// # Dialects
//
// RPyC 5.x frames each message as a brine 3-tuple; 6.x sends a kind byte
// and a 2-tuple, and neither understands the other: each answers the
// other's first message with its own CLOSE and hangs up. A Conn accepts
// both at any time, and sends in Options.Dialect. With [DialectAuto]
// (the default), [Dial] asks the server in 5.x, then, if refused, on a
// new connection in 6.x, and remembers the answer per address in the
// process; a Conn of [NewConn] (a server's) answers in the dialect of
// the peer's first message. When a peer hangs up on this side's dialect
// the error matches [ErrDialect] and says which one the peer speaks.
//
// # Limits and differences from RPyC
//
// Frames are limited (Options.MaxFrame, 256 MiB by default, also after
// inflation); brine nesting, int length (Python's 4300 digits) and every
// declared length are checked before anything is allocated for them, and
// malformed input closes the connection with an error matching
// [ErrProtocol], never a panic. The thread-binding prefix of RPyC 5.3's
// experimental bind_threads, pickling and teleportation are not supported
// (PICKLE is refused as Python's own default does). RPyC has no cancel
// message: a Wait whose context ends abandons the request, whose late
// reply is dropped. Exceptions sent to Python carry "<version denied>"
// and a one-line Go traceback, not Go stacks.
//
// # Tests
//
// The interoperability tests run Debian's python3-rpyc (5.3) with the
// system python3 (/usr/bin/python3, or $HOPWIRE_PYTHON) and skip with a
// message when it is missing:
//
//	apt-get install -y python3-rpyc
//	go test -race ./session/rpyc/
//
// No RPyC 6.x is packaged; the 6.x interop tests run the RPyC 6.0.1
// vendored (unmodified, with its MIT licence) in testdata/rpyc6 with the
// same python, or the rpyc 6.x package in the directory $HOPWIRE_RPYC6
// names (e.g. a checkout of github.com/tomerfiliba-org/rpyc at a 6.x
// tag), put first on PYTHONPATH:
//
//	git clone -b 6.0.2 https://github.com/tomerfiliba-org/rpyc /tmp/rpyc6
//	HOPWIRE_RPYC6=/tmp/rpyc6 go test -race ./session/rpyc/
package rpyc
