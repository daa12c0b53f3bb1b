//go:build unix

package classic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// runTTY is RunTTY once the request has passed its checks, under a PTY
// from creack/pty.
func (s *Service) runTTY(ctx context.Context, req RunRequest, dir string, rows, cols int, stdin io.Reader, stdout io.Writer,
	events func(context.Context) (TTYEvent, error)) (status int, err error) {
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), req.Env...)
	if !hasTERM(cmd.Env) {
		cmd.Env = append(cmd.Env, "TERM=xterm-256color")
	}
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: uint16(rows), Cols: uint16(cols)})
	if err != nil {
		return -1, err
	}
	pid := cmd.Process.Pid
	defer s.track(cmd.Process)()
	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	var ptyMu sync.Mutex // Setsize against the final Close
	ptyClosed := false
	go func() {
		for events != nil {
			ev, err := events(evctx)
			if err != nil {
				return
			}
			if ev.Rows > 0 && ev.Cols > 0 {
				ptyMu.Lock()
				if !ptyClosed {
					pty.Setsize(ptmx, &pty.Winsize{Rows: uint16(ev.Rows), Cols: uint16(ev.Cols)})
				}
				ptyMu.Unlock()
			}
			if sig, ok := signals[ev.Signal]; ok {
				syscall.Kill(-pid, sig) // the command's whole session
			}
		}
	}()
	go io.Copy(ptmx, stdin)
	copied := make(chan struct{})
	go func() {
		io.Copy(stdout, ptmx) // ends with EIO once the command and its children are gone
		close(copied)
	}()
	stop := killGroupOnCancel(ctx, cmd.Process)
	err = cmd.Wait()
	stop()
	// The output the command left in the terminal is read to the end
	// (EIO once every holder of the terminal is gone); what lingers gets
	// a hangup, and the terminal is closed after a grace period.
	syscall.Kill(-pid, syscall.SIGHUP)
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	ptyMu.Lock()
	ptyClosed = true
	ptmx.Close()
	ptyMu.Unlock()
	<-copied
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			return 128 + int(st.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return -1, fmt.Errorf("classic: %w", err)
}

func hasTERM(env []string) bool {
	for _, e := range env {
		if len(e) > 5 && e[:5] == "TERM=" {
			return true
		}
	}
	return false
}
