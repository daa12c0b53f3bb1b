package main

import (
	"context"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/hopwire/hopwire/classic"
)

// runTTY runs req under a remote PTY. When stdin is a terminal it is put
// in raw mode (keys, Ctrl-C included, go to the remote side) and restored
// on the way out, and its size follows SIGWINCH (on Windows, which has no
// SIGWINCH, a poll of the console size).
func runTTY(ctx context.Context, c *classic.Client, req classic.RunRequest, stdin io.Reader, stdout io.Writer) (int, error) {
	rows, cols := 24, 80
	var fd = -1
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd = int(f.Fd())
		if w, h, err := term.GetSize(fd); err == nil {
			cols, rows = w, h
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return -1, err
		}
		defer term.Restore(fd, old)
		defer vtOutput(stdout)()
	}
	events := make(chan classic.TTYEvent, 4)
	winch, stopWinch := notifyResize(fd)
	defer stopWinch()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-winch:
				if fd >= 0 {
					if w, h, err := term.GetSize(fd); err == nil {
						select {
						case events <- classic.TTYEvent{Rows: h, Cols: w}:
						default:
						}
					}
				}
			case <-stop:
				return
			}
		}
	}()
	next := func(ctx context.Context) (classic.TTYEvent, error) {
		select {
		case ev := <-events:
			return ev, nil
		case <-ctx.Done():
			return classic.TTYEvent{}, ctx.Err()
		case <-stop:
			return classic.TTYEvent{}, io.EOF
		}
	}
	return c.RunTTY(ctx, req, rows, cols, &eofToTTY{r: stdin, stop: stop}, stdout, next)
}

// eofToTTY passes the end of stdin on to the remote terminal as the
// terminal's EOF character, Ctrl-D (twice after a partial line: the first
// ends the line, the second is the EOF), so that a shell or a program
// reading its terminal sees the end of input and exits, as with ssh. A
// program that was not reading its terminal yet (a login shell still
// starting, whose line editor then resets the terminal) may miss it, so
// Ctrl-D is sent again every second until stop is closed.
type eofToTTY struct {
	r       io.Reader
	stop    <-chan struct{}
	last    byte
	pending []byte
	done    bool
}

// eofRepeat is how often Ctrl-D is sent again after stdin's end.
const eofRepeat = time.Second

func (e *eofToTTY) Read(b []byte) (int, error) {
	if len(e.pending) > 0 {
		n := copy(b, e.pending)
		e.pending = e.pending[n:]
		return n, nil
	}
	if e.done {
		select {
		case <-e.stop:
			return 0, io.EOF
		case <-time.After(eofRepeat):
			b[0] = 4
			return 1, nil
		}
	}
	n, err := e.r.Read(b)
	if n > 0 {
		e.last = b[n-1]
	}
	if err == io.EOF {
		e.done = true
		e.pending = []byte{4}
		if e.last != 0 && e.last != '\n' && e.last != '\r' {
			e.pending = []byte{4, 4}
		}
		if n > 0 {
			return n, nil
		}
		return e.Read(b)
	}
	return n, err
}

// runShell: hopwire shell [-J chain] TARGET — an interactive login shell
// under a PTY, like ssh.
func runShell(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	rc := newRouteCmd("shell", stderr)
	route, err := rc.dial(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer route.Close()
	c := classic.New(route.Target())
	code, err := runTTY(ctx, c, classic.RunRequest{Argv: []string{"sh", "-c", "exec ${SHELL:-/bin/sh} -l"}}, stdin, stdout)
	if err != nil {
		return explainRemote(ctx, route, err)
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}
