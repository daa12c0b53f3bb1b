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
// [FrozenSet], [Slice], [NotImplemented] and [Ellipsis]. As arguments,
// Go slices and arrays are sent as tuples and maps as tuples of (key,
// value) pairs; as results, see "Dicts and lists" below. Everything else
// is sent by reference: the receiver gets a *[Ref] (a
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
// # Dicts and lists
//
// A Python programmer expects a service's dict or list result to be a
// dict or a list: RPyC passes them by reference, and code indexes them,
// iterates, asks len() and in, calls keys(), items(), get(), append().
// Brine has no dict or list, and a tuple of pairs (what a map once
// became) fails all of that, so what a Go handler returns — results,
// attribute values, callback results, items fetched from them — goes as
// Python expects: a map as a dict, a slice as a list ([]byte stays
// bytes, [Tuple] a tuple, arrays tuples), by reference, under the names
// builtins.dict and builtins.list, so that the Python side proxies them
// with its own dict and list classes (isinstance(x, dict) holds):
//
//	func (s *Svc) Table() map[string]int { return map[string]int{"one": 1} }
//	func (s *Svc) Log() *[]string        { return &s.log }
//
//	t = root.table()        # Python
//	t["one"], len(t), "one" in t, dict(t.items()), t.get("two", 0)
//	t["two"] = 2            # the client's own copy
//	root.log().append("x")  # the service's s.log grows
//
// A map or slice returned by value is a copy that becomes the client's
// own (as a Python function that returns a new dict): its changes stay
// in the copy, never racing with the service. Returned as a pointer
// (*map[K]V, *[]T) it is the service's own: reads see its current
// contents, and __setitem__, append, pop… change it (append assigns the
// grown slice through the pointer); the peers' accesses are serialized
// with each other, and the service's own code touches it inside [Guard].
// Keys and
// items are converted to the Go types (TypeError if they do not fit);
// keys(), values() and items() are tuples and iteration a snapshot, in
// sorted key order where keys order (Go maps have none). A dict or list
// handed back to Go arrives as a copy in a map or slice parameter.
//
// # Keywords, numbers, services
//
// Go keeps no parameter names, so keyword arguments (root.add(a=1, b=2))
// reach a method that takes a trailing [Kw], or fill the fields of a
// method's sole struct parameter (matched case-insensitively with the Go
// name or its snake_case, or exactly with an rpyc:"name" tag; positional
// arguments fill the fields in order; fields left out stay zero), or
// take the places the receiver names in an RPyCParams method:
//
//	type AddArgs struct{ A, B int }
//	func (s *Svc) Add(p AddArgs) int { return p.A + p.B }   // add(1, b=2)
//	func (s *Svc) Sub(a, b int) int  { return a - b }
//	func (s *Svc) RPyCParams() map[string][]string { return map[string][]string{"Sub": {"a", "b"}} }
//
// Otherwise a keyword call is a TypeError that says why. An integral
// float (2.0) is accepted for a Go integer, 2.5 is a TypeError. The root
// answers get_service_name() and get_service_aliases() (RPyCAliases, or
// the Go type's name, upper case, less "SERVICE", as RPyC derives it);
// its OnConnect(ctx, *Conn) error and OnDisconnect(*Conn) methods are
// RPyC's on_connect and on_disconnect (see Options.Root); these methods
// are not reachable by the peer. A Go value that implements io.Closer is
// a context manager: with root.open(...) as f: enters with f itself and
// closes it at the end of the block (the block's exception goes on).
// fs.ErrClosed is raised as ValueError, as Python's closed files do. A
// request a Go handler makes of the peer (a callback) without a
// deadline of its own gets Options.SyncRequestTimeout, 30 s by default,
// RPyC's sync_request_timeout; its expiry is a TimeoutError in the
// caller.
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
// reply is dropped. Exceptions sent to Python carry the protocol line as
// _remote_version ("6.0 (hopwire)"; Options.DenyVersion denies it) and a
// traceback shaped like Python's naming the Go handler, not Go stacks.
// isinstance questions: a Python proxy of a Go dict or list is an
// instance of dict or list; INSTANCECHECK between other Go classes
// answers False.
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
//
// Both lines run as clients of Go services (testdata/pyclient.py, and
// testdata/pyidioms.py for the Python idioms above), as servers for Go
// clients (testdata/pyserver.py), in the README's example (TestREADME),
// and in ports of RPyC's own test modules that exercise a service
// (testdata/ported, run with unittest by TestPortedRPyCTests, which
// checks how many pass and are skipped; each module says what it
// adapts and why a test cannot run against Go).
package rpyc
