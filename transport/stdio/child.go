package stdio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/hopwire/hopwire/internal/shell"
)

// Defaults for [SpawnOptions].
const (
	DefaultLinger = 500 * time.Millisecond
	DefaultGrace  = 2 * time.Second
)

const (
	// maxLine is the longest stderr line passed whole to the callback;
	// longer lines are passed in pieces of this size.
	maxLine = 4096
	// stderrDrain is how long Close goes on reading the child's stderr
	// after reaping it, should something outside the process group still
	// hold the pipe open.
	stderrDrain = 200 * time.Millisecond
)

// ErrRunning is returned by [ChildConn.ExitErr] until the child has been
// reaped, which [ChildConn.Close] does.
var ErrRunning = errors.New("stdio: child not reaped yet; call Close first")

// SpawnOptions configures [Spawn]. A nil *SpawnOptions means the defaults.
// Spawn copies what it needs and never modifies it.
type SpawnOptions struct {
	// Stderr, if not nil, is called with each line the child writes to its
	// standard error, without the line ending; lines longer than 4 KiB are
	// passed in pieces. It is called from one goroutine, in order, and the
	// child blocks on its stderr while the callback runs, so it should be
	// quick. Nil sends the child's stderr to /dev/null.
	Stderr func(line string)

	// Env is the child's environment, as in exec.Cmd.Env; nil means the
	// environment of this process.
	Env []string

	// Dir is the child's working directory; empty means this process's.
	Dir string

	// Linger is how long Close waits, after closing the child's stdin, for
	// the child to exit by itself before it signals the process group.
	// Zero means DefaultLinger (500ms); negative means no wait.
	Linger time.Duration

	// Grace is how long Close waits after SIGTERM before it sends SIGKILL.
	// Zero means DefaultGrace (2s); negative means SIGKILL at once. On
	// Windows the child is terminated after Linger, with no grace.
	Grace time.Duration
}

// ChildConn is a net.Conn over the stdin and stdout of a child process: what
// is written to it goes to the child's stdin, and what the child writes to
// its stdout is read from it. Its addresses are placeholders: LocalAddr is
// "stdio", RemoteAddr the command line.
//
// The child runs in a process group of its own, so that Close can stop it
// and everything it started. Deadlines, half-close and errors are as for
// [Conn] (the pipes are pollable, so deadlines always work). Windows is
// the exception on both counts: see the package doc's Platforms.
//
// A ChildConn is safe for concurrent use. The caller must Close it, also
// after the child has exited, so that the child is reaped.
type ChildConn struct {
	conn   *Conn
	cmd    *exec.Cmd
	pid    int
	linger time.Duration
	grace  time.Duration
	stderr *os.File // read end of the child's stderr; nil when discarded

	wg     sync.WaitGroup // the exit watcher and the stderr reader
	exited chan struct{}  // closed when the child has exited (maybe not reaped)

	reapOnce sync.Once
	reaped   chan struct{} // closed once exitErr is set
	exitErr  error

	closeOnce sync.Once
	closeErr  error
}

// Spawn starts argv[0] (looked up in PATH as exec.Command does) with
// arguments argv[1:], in a new process group, and returns a conn over its
// stdin and stdout. The child's stderr goes to opts.Stderr line by line, or
// to /dev/null.
//
// ctx governs the start only: once Spawn has returned, cancelling ctx does
// not stop the child; Close does. The caller must Close the returned conn.
func Spawn(ctx context.Context, argv []string, opts *SpawnOptions) (*ChildConn, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("stdio: spawn: empty command")
	}
	name := shell.Join(argv)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stdio: spawn %s: %w", name, err)
	}
	var o SpawnOptions
	if opts != nil {
		o = *opts
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}

	// The parent's ends come from os.Pipe, so they are in non-blocking mode
	// and registered with the poller: deadlines and Close work on them.
	// exec puts the child's ends in blocking mode, as children expect
	// (they are separate open file descriptions, so ours stay as they are).
	var files []*os.File // everything to close if Spawn fails
	fail := func(err error) (*ChildConn, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("stdio: spawn %s: %w", name, err)
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return fail(err)
	}
	outR, outW, err := pipe()
	if err != nil {
		return fail(err)
	}
	var errR, errW *os.File
	if o.Stderr != nil {
		if errR, errW, err = pipe(); err != nil {
			return fail(err)
		}
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout = inR, outW
	if errW != nil {
		cmd.Stderr = errW
	}
	cmd.Env, cmd.Dir = o.Env, o.Dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	// The child has its own copies of its ends now.
	inR.Close()
	outW.Close()
	if errW != nil {
		errW.Close()
	}

	c := &ChildConn{
		conn:   newConn(outR, inW, Scheme, Addr(name)),
		cmd:    cmd,
		pid:    cmd.Process.Pid,
		linger: o.Linger,
		grace:  o.Grace,
		stderr: errR,
		exited: make(chan struct{}),
		reaped: make(chan struct{}),
	}
	c.wg.Add(1)
	go c.watch()
	if errR != nil {
		c.wg.Add(1)
		go c.readStderr(o.Stderr)
	}
	return c, nil
}

// watch waits for the child to exit, without reaping it: as long as the
// exited leader is not reaped, its pid stays reserved, and with it the
// process group ID that Close signals. Only Close reaps.
func (c *ChildConn) watch() {
	defer c.wg.Done()
	defer close(c.exited)
	if err := waitNoReap(c.pid); err != nil {
		// Unexpected; fall back to a plain wait, which reaps.
		c.reap()
	}
}

// reap waits for the child and records its exit status, once.
func (c *ChildConn) reap() {
	c.reapOnce.Do(func() {
		c.exitErr = c.cmd.Wait()
		close(c.reaped)
	})
}

// readStderr passes the child's stderr to fn line by line until EOF or
// until Close gives up on it.
func (c *ChildConn) readStderr(fn func(string)) {
	defer c.wg.Done()
	r := bufio.NewReaderSize(c.stderr, maxLine)
	for {
		line, err := r.ReadSlice('\n')
		if n := len(line); n > 0 {
			if line[n-1] == '\n' {
				n--
				if n > 0 && line[n-1] == '\r' {
					n--
				}
			}
			fn(string(line[:n]))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// Pid returns the child's process ID, which is also its process group ID.
func (c *ChildConn) Pid() int { return c.pid }

// Exited returns a channel that is closed when the child process has
// exited. Processes it started may still be running, and the child is not
// reaped until Close.
func (c *ChildConn) Exited() <-chan struct{} { return c.exited }

// ExitErr reports how the child ended, once Close has reaped it: nil if it
// exited with status 0, an *exec.ExitError otherwise (including when Close
// had to signal it, which shows as "signal: terminated" or "signal:
// killed"). Before that it returns [ErrRunning].
func (c *ChildConn) ExitErr() error {
	select {
	case <-c.reaped:
		return c.exitErr
	default:
		return ErrRunning
	}
}

// Close closes the pipes to and from the child, so the child reads EOF,
// waits up to SpawnOptions.Linger for it to exit by itself, then sends
// SIGTERM to its process group, waits up to SpawnOptions.Grace, and sends
// SIGKILL to whatever remains of the group. It then reaps the child, lets
// the stderr reader finish, and returns. Reads and writes blocked on the
// conn return errors wrapping net.ErrClosed.
//
// Close is idempotent and safe to call concurrently; every call waits until
// the child is reaped and returns the same result: nil, unless the child
// could not be reaped. The exit status is reported by ExitErr.
func (c *ChildConn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.shutdown() })
	return c.closeErr
}

// shutdown does Close's work.
func (c *ChildConn) shutdown() error {
	c.conn.Close()
	if !c.waitExit(c.linger) {
		c.signal(syscall.SIGTERM)
		c.waitExit(c.grace)
	}
	// Whatever else is left in the group, and the leader if it ignored
	// SIGTERM. The leader is not reaped yet, so the group ID is still ours.
	c.signal(syscall.SIGKILL)
	<-c.exited
	c.reap()
	if c.stderr != nil {
		// The group is gone, so EOF is normally already there; this bounds
		// the wait should a process outside the group hold the pipe.
		c.stderr.SetReadDeadline(time.Now().Add(stderrDrain))
	}
	c.wg.Wait()
	if c.stderr != nil {
		c.stderr.Close()
	}
	var ee *exec.ExitError
	if err := c.exitErr; err != nil && !errors.As(err, &ee) {
		return fmt.Errorf("stdio: reap %s: %w", c.conn.remote, err)
	}
	return nil
}

// waitExit waits up to d for the child to exit and reports whether it has.
func (c *ChildConn) waitExit(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-c.exited:
			return true
		default:
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
		return false
	}
}

// Read reads what the child wrote to its stdout.
func (c *ChildConn) Read(p []byte) (int, error) { return c.conn.Read(p) }

// Write writes to the child's stdin.
func (c *ChildConn) Write(p []byte) (int, error) { return c.conn.Write(p) }

// CloseWrite closes the child's stdin, so it reads EOF, while Read goes on
// working. Close must still be called.
func (c *ChildConn) CloseWrite() error { return c.conn.CloseWrite() }

// LocalAddr returns the placeholder address "stdio".
func (c *ChildConn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the command line as an [Addr].
func (c *ChildConn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *ChildConn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the deadline for Read calls, pending ones included.
func (c *ChildConn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for Write calls, pending ones
// included.
func (c *ChildConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
