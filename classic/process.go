package classic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// RunRequest describes a command to run on the far side.
type RunRequest struct {
	Argv []string
	Env  []string // added to the service's environment
	Dir  string
}

// Run runs a command with its stdin, stdout and stderr streamed to and
// from the caller, and returns its exit status (-1 and an error when it
// could not start or was killed by a signal). The command runs in a
// process group of its own; when the call is cancelled or the session
// ends, the whole group is killed (SIGTERM, then SIGKILL after 2 s) — no
// orphans.
func (s *Service) Run(ctx context.Context, req RunRequest, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(req.Argv) == 0 {
		return -1, errors.New("classic: empty command")
	}
	dir := req.Dir
	if dir != "" {
		p, err := s.path(dir, true)
		if err != nil {
			return -1, err
		}
		dir = p
	}
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Dir = dir
	if len(req.Env) > 0 {
		cmd.Env = append(cmd.Environ(), req.Env...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			killGroup(cmd.Process.Pid, done)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			if ctx.Err() != nil {
				return -1, fmt.Errorf("classic: %s killed: %w", req.Argv[0], ctx.Err())
			}
			return -1, fmt.Errorf("classic: %s killed by %v", req.Argv[0], st.Signal())
		}
		return ee.ExitCode(), nil
	}
	return -1, err
}

// killGroup ends a process group: SIGTERM, then SIGKILL if it lingers.
func killGroup(pid int, done <-chan struct{}) {
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	syscall.Kill(-pid, syscall.SIGKILL)
}
