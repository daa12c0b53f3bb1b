package ssh

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hopwire/hopwire/internal/shell"
)

// Limits of the exec helpers.
const (
	maxStderrLine = 4 << 10  // longer stderr lines are passed on in pieces
	maxRunOutput  = 16 << 20 // Run refuses more standard output than this
	stderrTail    = 4 << 10  // how much standard error an ExitError keeps
	cleanupTime   = 5 * time.Second
)

// ExecConn is a command running on the server, over an SSH exec channel:
// a *[Conn] whose Read reads the command's standard output and whose
// Write writes its standard input. CloseWrite sends EOF on standard
// input; Close closes the channel (the command typically gets SIGHUP or
// EOF and dies). Standard error goes to ClientOptions.Stderr, line by
// line, or is discarded; it is always read, so it never stalls the
// command.
//
// An ExecConn is safe for concurrent use. The caller closes it; the
// [Client] must stay open while it is used.
type ExecConn struct {
	*Conn
	cmd string

	ended      chan struct{} // closed when the channel has closed
	stderrDone chan struct{} // closed when standard error has been read to its end
	mu         sync.Mutex
	exit       ExitError
	got        bool // exit-status or exit-signal received
	errTail    tail // the end of standard error, for Wait's ExitError
}

// ExitError reports a command that exited with a non-zero status, was
// killed by a signal, or ended without reporting either.
type ExitError struct {
	// Command is the command line that was run.
	Command string
	// Status is the exit status, or -1 if there was none (see Signal).
	Status int
	// Signal is the name of the signal that killed the command ("TERM",
	// without "SIG"), if any.
	Signal string
	// Message is the server's message accompanying a signal, if any.
	Message string
	// Stderr is the end of the command's standard error.
	Stderr string
}

// Error describes how the command ended.
func (e *ExitError) Error() string {
	var s string
	switch {
	case e.Signal != "":
		s = fmt.Sprintf("ssh: command %q killed by signal %s", e.Command, e.Signal)
		if e.Message != "" {
			s += " (" + e.Message + ")"
		}
	case e.Status < 0:
		s = fmt.Sprintf("ssh: command %q ended without an exit status", e.Command)
	default:
		s = fmt.Sprintf("ssh: command %q exited with status %d", e.Command, e.Status)
	}
	if st := strings.TrimSpace(e.Stderr); st != "" {
		s += ": " + st
	}
	return s
}

// Exec runs command on the server (through the user's login shell, as
// ssh does) and returns its standard input and output as a conn, for
// instance to run "hopwire serve --stdio" on the far host.
//
// ctx governs starting the command only. The caller closes the ExecConn.
func (c *Client) Exec(ctx context.Context, command string) (*ExecConn, error) {
	return c.exec(ctx, command, c.cfg.Stderr)
}

// exec starts command with stderr lines going to onStderr (nil: discard).
func (c *Client) exec(ctx context.Context, command string, onStderr func(string)) (*ExecConn, error) {
	ch, reqs, err := c.openChannel(ctx, "session", nil)
	if err != nil {
		return nil, fmt.Errorf("ssh: exec %q on %s: %w", command, c.cfg, err)
	}
	e := &ExecConn{cmd: command, ended: make(chan struct{}), stderrDone: make(chan struct{})}
	c.spawn(func() { e.handleRequests(reqs) })
	stderr := ch.Stderr()
	c.spawn(func() {
		defer close(e.stderrDone)
		readLines(stderr, func(line string) {
			e.errTail.line(line)
			if onStderr != nil {
				onStderr(line)
			}
		})
	})

	stop := context.AfterFunc(ctx, func() { ch.Close() })
	ok, err := ch.SendRequest("exec", true, ssh.Marshal(&struct{ Command string }{command}))
	if !stop() {
		ch.Close()
		return nil, fmt.Errorf("ssh: exec %q on %s: %w", command, c.cfg, context.Cause(ctx))
	}
	if err != nil || !ok {
		ch.Close()
		if err == nil {
			err = errors.New("the server refused the exec request")
		}
		return nil, fmt.Errorf("ssh: exec %q on %s: %w", command, c.cfg, err)
	}
	e.Conn = c.newConn(ch, nil, Addr{Net: Scheme, S: c.cfg.Addr()})
	return e, nil
}

// handleRequests records the exit status and declines anything else,
// until the channel closes.
func (e *ExecConn) handleRequests(reqs <-chan *ssh.Request) {
	defer close(e.ended)
	for r := range reqs {
		switch r.Type {
		case "exit-status":
			var m struct{ Status uint32 }
			if ssh.Unmarshal(r.Payload, &m) == nil {
				e.mu.Lock()
				e.exit.Status, e.got = int(m.Status), true
				e.mu.Unlock()
			}
		case "exit-signal":
			var m struct {
				Signal     string
				CoreDumped bool
				Message    string
				Lang       string
			}
			if ssh.Unmarshal(r.Payload, &m) == nil {
				e.mu.Lock()
				e.exit.Status, e.exit.Signal, e.exit.Message, e.got = -1, m.Signal, m.Message, true
				e.mu.Unlock()
			}
		}
		if r.WantReply {
			r.Reply(false, nil)
		}
	}
}

// readLines reads r to its end, passing each line to fn (nil: discard).
func readLines(r io.Reader, fn func(string)) {
	if fn == nil {
		io.Copy(io.Discard, r)
		return
	}
	br := bufio.NewReaderSize(r, maxStderrLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			fn(strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"))
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// ExitStatus returns the command's exit status once the server has
// reported it; ok is false while the command runs, and also if it was
// killed by a signal (see [ExecConn.Wait]).
func (e *ExecConn) ExitStatus() (status int, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.got || e.exit.Signal != "" {
		return 0, false
	}
	return e.exit.Status, true
}

// Wait waits until the command has ended, the server has closed the
// channel and every line of standard error has been passed on, or until
// ctx is done. It returns nil if the command exited with status 0, and an
// *[ExitError] otherwise. Reading standard output to its end first is
// usually needed, as the server does not close the channel while output
// is pending.
func (e *ExecConn) Wait(ctx context.Context) error {
	for _, ch := range []chan struct{}{e.ended, e.stderrDone} {
		select {
		case <-ch:
		case <-e.kill:
			select {
			case <-ch:
			default:
				return e.opErr("wait", net.ErrClosed)
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.got && e.exit.Signal == "" && e.exit.Status == 0 {
		return nil
	}
	err := e.exit
	err.Command = e.cmd
	if !e.got {
		err.Status = -1
	}
	if err.Stderr == "" {
		err.Stderr = e.errTail.String()
	}
	return &err
}

// tail keeps the last stderrTail bytes of what it is given, line by line.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) line(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, s...)
	t.buf = append(t.buf, '\n')
	if over := len(t.buf) - stderrTail; over > 0 {
		t.buf = t.buf[over:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// Run runs command with no standard input and returns its standard
// output, for small queries such as "uname -sm" or "sha256sum PATH".
// Output beyond 16 MiB is an error. A command that fails gives an
// *[ExitError] carrying the end of its standard error, along with the
// output it produced. ctx governs the whole run.
func (c *Client) Run(ctx context.Context, command string) ([]byte, error) {
	var stderr tail
	e, err := c.exec(ctx, command, stderr.line)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	stop := context.AfterFunc(ctx, func() { e.Close() })
	defer stop()
	if err := e.CloseWrite(); err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("ssh: run %q: %w", command, err)
	}
	out, err := io.ReadAll(io.LimitReader(e, maxRunOutput+1))
	if ctx.Err() != nil {
		return out, fmt.Errorf("ssh: run %q: %w", command, context.Cause(ctx))
	}
	if err != nil {
		return out, fmt.Errorf("ssh: run %q: %w", command, err)
	}
	if len(out) > maxRunOutput {
		return out[:maxRunOutput], fmt.Errorf("ssh: run %q: more than %d bytes of output", command, maxRunOutput)
	}
	if err := e.Wait(ctx); err != nil {
		var xe *ExitError
		if errors.As(err, &xe) {
			xe.Stderr = stderr.String()
			return out, xe
		}
		return out, fmt.Errorf("ssh: run %q: %w", command, err)
	}
	return out, nil
}

// Upload writes what r yields to remotePath on the server, creating its
// directory (mode 0700) if needed, and sets its mode (permission bits
// only). The file appears complete or not at all: the data goes to a
// temporary file beside it, which is checked for size and then renamed.
// A remotePath starting with "~/" is relative to the remote home; other
// relative paths are relative to the directory the login shell starts
// in (usually the home too).
//
// It runs two commands through the remote login shell, which must be
// POSIX-compatible (as for scp): "sh -c 'umask 077; mkdir -p DIR && cat >
// TMP'" fed with the data, then one that checks TMP's size, chmods it
// and moves it onto remotePath (or removes it). Paths are single-quoted
// for the shell. If anything fails or ctx ends, the temporary file is
// removed on a best-effort basis and remotePath is left as it was.
//
// ctx governs the whole upload.
func (c *Client) Upload(ctx context.Context, r io.Reader, remotePath string, mode os.FileMode) error {
	if remotePath == "" || strings.HasSuffix(remotePath, "/") || strings.ContainsAny(remotePath, "\x00\n\r") {
		return fmt.Errorf("ssh: upload: invalid remote path %q", remotePath)
	}
	if strings.HasPrefix(remotePath, "-") {
		remotePath = "./" + remotePath // not an option to mkdir, mv or chmod
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	dir, base := path.Split(remotePath)
	tmp := dir + "." + base + ".hopwire-" + hex.EncodeToString(rnd[:]) + ".tmp"
	if dir == "" {
		dir = "."
	}
	qdir, qtmp, qdst := shellPath(dir), shellPath(tmp), shellPath(remotePath)

	fail := func(err error) error {
		c.cleanup(ctx, qtmp)
		return fmt.Errorf("ssh: upload to %s:%s: %w", c.cfg.Host, remotePath, err)
	}
	var stderr tail
	e, err := c.exec(ctx, "sh -c "+shell.Quote("umask 077; mkdir -p "+qdir+" && cat > "+qtmp), stderr.line)
	if err != nil {
		return fail(err)
	}
	stop := context.AfterFunc(ctx, func() { e.Close() })
	n, err := io.Copy(e, r)
	if err == nil {
		err = e.CloseWrite()
	}
	if err == nil {
		// cat prints nothing; read to the end so the server can close.
		_, err = io.Copy(io.Discard, e)
	}
	if err == nil {
		err = e.Wait(ctx)
	} else if ctx.Err() == nil {
		// Writing fails when the command died early (mkdir refused, say):
		// its exit status and standard error say why.
		wctx, cancel := context.WithTimeout(ctx, cleanupTime)
		if werr := e.Wait(wctx); werr != nil && errors.As(werr, new(*ExitError)) {
			err = werr
		}
		cancel()
	}
	stop()
	e.Close()
	if ctx.Err() != nil {
		return fail(context.Cause(ctx))
	}
	if err != nil {
		var xe *ExitError
		if errors.As(err, &xe) {
			xe.Stderr = stderr.String()
		}
		return fail(err)
	}
	script := fmt.Sprintf("n=$(wc -c < %s) && [ $n -eq %d ] && chmod %04o %s && mv -f %s %s || "+
		"{ rm -f %s; echo 'hopwire: upload incomplete or not installed' >&2; exit 1; }",
		qtmp, n, mode.Perm(), qtmp, qtmp, qdst, qtmp)
	if _, err := c.Run(ctx, "sh -c "+shell.Quote(script)); err != nil {
		return fail(err)
	}
	return nil
}

// cleanup removes a temporary file after a failed upload, briefly and on
// a best-effort basis, even if ctx has ended.
func (c *Client) cleanup(ctx context.Context, qtmp string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTime)
	defer cancel()
	if _, err := c.Run(ctx, "rm -f "+qtmp); err != nil {
		c.log.Debug("ssh: upload: temporary file not removed", "err", err)
	}
}

// shellPath quotes a remote path, keeping a leading "~/" as "$HOME"/ so
// that the remote shell expands it.
func shellPath(p string) string {
	if p == "~" {
		return `"$HOME"`
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if rest == "" {
			return `"$HOME"/`
		}
		return `"$HOME"/` + shell.Quote(rest)
	}
	return shell.Quote(p)
}
