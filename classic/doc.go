// Package classic is hopwire's classic administration: RPyC's `modules`
// and `execute` re-imagined as a typed Go service — files, processes and
// the host — that a node exposes to principals granted `classic`.
//
// The server side is [Service], exposed under the name "classic" by a node
// (relay) for granted peers. The client side is [Client], a set of typed
// stubs bound to a session:
//
//	c := classic.New(route.Target())
//	entries, err := c.ReadDir(ctx, "/var/log")
//	_, err = c.Stat(ctx, "/nope") // errors.Is(err, fs.ErrNotExist)
//
// Paths are the far side's. When the service has a Root, every path is
// resolved inside it and symlinks may not escape it.
package classic
