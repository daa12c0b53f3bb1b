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
// Paths are the far side's.
//
// # The root
//
// A node confines the service with [NewService] and [Options].Root
// (hopwire's --classic-root), one Service per session, which it closes
// when the session ends. The root confines file operations, and only
// them:
//
//   - The root directory is opened once, as an [os.Root], when the
//     service is built. Every file method (Stat, Lstat, ReadDir,
//     ReadFile, WriteFile, AppendFile, Open, Remove, RemoveAll, MkdirAll,
//     Rename, Chmod, Chown, Symlink, Readlink, Glob, Checksum, DiskUsage)
//     resolves its name beneath that descriptor, one component at a time:
//     ".." stops at the root, and a symlink is followed only while it
//     stays beneath it (an absolute one never is). That is what openat2's
//     RESOLVE_BENEATH guarantees. A name is never resolved to a host path
//     and opened again, so renaming files and links meanwhile cannot lead
//     outside; renaming the root itself does not move the service.
//   - The client's names keep their meaning: "/a/b" and "a/b" are both
//     <root>/a/b, and "/" is the root, which cannot be removed or
//     renamed. An escape is refused with [ErrEscape] (fs.ErrPermission).
//   - Symlink refuses absolute targets and targets with a ".." element.
//     The service would never follow such a link out, but the node's
//     admin, a backup or a process might: a relative target that only
//     descends stays beneath the root wherever the link is moved.
//
// The root does not confine:
//
//   - Processes. Under a root, Run, RunTTY, Start and Signal are refused
//     with [ErrProcessDenied] (session.ErrDenied, fs.ErrPermission)
//     unless the service was built with Options.AllowProcesses. Allowed,
//     a process runs as the node's user and reaches everything that user
//     can: RunRequest.Dir only picks where it starts. Signal then reaches
//     only processes this Service started. Without a root, Signal may
//     reach any process but the node itself, its process group, init
//     and -1.
//   - Host, Environ and Getenv: they describe the node (its user, working
//     directory and whole environment).
//   - What os.Root leaves open: file systems mounted beneath the root,
//     device files and /proc within it, and hard links others placed in
//     it. When a file is swapped for a symlink during Chmod or Chown, the
//     call may act on the link itself (never on what it points to).
//   - The evaluator ([Evaluator], grant classic=eval), which runs Go code
//     in the node's process.
//
// # Platforms
//
// The service runs on Unix (Linux, where it is tested, and macOS). It
// builds on Windows, where process groups, signals and PTYs are missing:
// Run's command is terminated alone when cancelled, Signal turns KILL, INT
// and TERM into termination and refuses other signals and process groups,
// RunTTY returns an error (use Run), and FileInfo carries no UID or GID.
package classic
