// Package stdio is hopwire's stdio transport, for stdio: hops: a link over
// the standard input and output of a process.
//
// On the dialing side, [Spawn] starts a command — sudo, docker exec -i,
// kubectl exec -i, ssh -T host hopwire serve --stdio — and returns a
// [ChildConn] over its stdin and stdout. On the serving side, `hopwire
// serve --stdio` calls [TakeStdio] to get a [Conn] over its own stdin and
// stdout. [Stdio] makes a Conn of any two files. stdio does not listen.
//
// A stdio link has no identity of its own: it is trusted as the command
// that was run (or, on the serving side, as whoever started the process).
//
// # Children
//
// A spawned child runs in a process group of its own. Its stderr is read
// line by line and passed to a callback ([SpawnOptions].Stderr), or sent to
// /dev/null, so it can never block on a full stderr pipe. [ChildConn.Close]
// closes the pipes, gives the child a moment to exit on the EOF, then sends
// SIGTERM to the whole group, and SIGKILL after a grace period, and reaps
// the child before it returns, so no zombie and no stray process is left
// behind (processes that moved to another group or session, as daemons do,
// are out of its reach). The exit status is then available from
// [ChildConn.ExitErr].
//
// The parent's ends of the pipes are non-blocking *os.File values, so
// deadlines work and Close interrupts blocked reads and writes.
//
// # Where it sits
//
// stdio is a leaf at the bottom of the stack (STYLE.md §1): it imports only
// the standard library and knows nothing of sessions or hops. hop calls
// Spawn for a stdio: hop; cmd calls TakeStdio.
//
// # Platforms
//
// Conn and Stdio are portable. Spawn works on Linux, macOS and Windows:
// on Linux the exited child is watched with waitid(WNOWAIT) and on macOS
// with kqueue (EVFILT_PROC, NOTE_EXIT), both without reaping it, so that
// its process group ID cannot be reused before Close signals the group.
// Windows has no process groups and no SIGTERM: Close terminates the child
// alone (by its handle, so never another process), processes it started
// are not reached, and os.Pipe's pipes there are not pollable, so
// deadlines do not work on a ChildConn. TakeStdio works on Linux and
// macOS; elsewhere it returns an error wrapping errors.ErrUnsupported.
// Only the Linux code runs in this module's tests; the macOS and Windows
// code is compiled and vetted (make cross).
//
// # Who closes what
//
// The caller closes every Conn and ChildConn. A Conn owns its two files. A
// ChildConn owns its child, its pipes and its two goroutines (one waits for
// the child to exit, one reads its stderr); Close stops and waits for all
// of them. Contexts govern only the start of a child, never its lifetime.
//
// # Usage
//
//	// Dialing side.
//	c, err := stdio.Spawn(ctx, []string{"ssh", "-T", "host", "hopwire", "serve", "--stdio"},
//		&stdio.SpawnOptions{Stderr: func(line string) { logger.Info("child", "stderr", line) }})
//	if err != nil { … }
//	defer c.Close()
//	// … run a link over c; after Close, c.ExitErr() says how the child ended.
//
//	// Serving side, first thing in `hopwire serve --stdio`.
//	conn, restore, err := stdio.TakeStdio()
//	if err != nil { … }
//	// … serve a link over conn; fmt.Println now writes to stderr.
//	conn.Close()
//	restore()
//
// # References
//
//   - setpgid(2), kill(2) with a negative pid, waitid(2) with WNOWAIT.
//   - kqueue(2) on macOS: EVFILT_PROC with NOTE_EXIT.
//   - os.Pipe and (*os.File).SetDeadline for pollable files.
package stdio
