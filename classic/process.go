package classic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// RunRequest describes a command to run on the far side.
type RunRequest struct {
	Argv []string
	Env  []string // added to the service's environment
	Dir  string
}

// mayRun refuses process operations under a root, unless the service
// was built with AllowProcesses, and then command lines its
// AllowCommand refuses (argv is nil for Signal).
func (s *Service) mayRun(argv []string) error {
	if !s.confined() {
		return nil
	}
	if !s.allowProcs {
		return ErrProcessDenied
	}
	if argv != nil && s.allowCmd != nil {
		if err := s.allowCmd(argv); err != nil {
			return fmt.Errorf("%w: %w", ErrProcessDenied, err)
		}
	}
	return nil
}

// dir returns the working directory for a command. Under a root, req.Dir
// is a directory inside it, like any name; the process starts there but
// is not confined to it (nor is this look-up race-free: the process could
// leave anyway).
func (s *Service) dir(dir string) (string, error) {
	if dir == "" {
		return dir, nil
	}
	if !s.confined() {
		// Checked here so that the error blames the directory, not the
		// command (exec reports a missing dir as the program's ENOENT).
		fi, err := os.Stat(dir)
		if err != nil {
			return "", &fs.PathError{Op: "chdir", Path: dir, Err: errors.Unwrap(err)}
		}
		if !fi.IsDir() {
			return "", &fs.PathError{Op: "chdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return dir, nil
	}
	fsys, p, err := s.fs(dir)
	if err != nil {
		return "", err
	}
	fi, err := fsys.Stat(p)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", &fs.PathError{Op: "chdir", Path: dir, Err: syscall.ENOTDIR}
	}
	return filepath.Join(s.rootPath, p), nil
}

// track records a process this service started, for Signal, until untrack
// is called once it has been reaped.
func (s *Service) track(p *os.Process) (untrack func()) {
	s.mu.Lock()
	if s.procs == nil {
		s.procs = make(map[int]*os.Process)
	}
	s.procs[p.Pid] = p
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.procs, p.Pid)
		s.mu.Unlock()
	}
}

// Run runs a command with its stdin, stdout and stderr streamed to and
// from the caller, and returns its exit status (-1 and an error when it
// could not start or was killed by a signal). The command runs in a
// process group of its own; when the call is cancelled or the session
// ends, the whole group is killed (SIGTERM, then SIGKILL after 2 s) — no
// orphans. (On a Windows node, which has no process groups, the command
// alone is terminated at once.) Under a root it needs AllowProcesses
// ([ErrProcessDenied]).
func (s *Service) Run(ctx context.Context, req RunRequest, stdin io.Reader, stdout, stderr io.Writer) (status int, err error) {
	defer func(start time.Time) {
		audit(s.audit, "exec", err, "argv", boundedArgv(req.Argv), "status", status, "took", since(start))
	}(time.Now())
	if err := s.mayRun(req.Argv); err != nil {
		return -1, err
	}
	if len(req.Argv) == 0 {
		return -1, errors.New("classic: empty command")
	}
	dir, err := s.dir(req.Dir)
	if err != nil {
		return -1, err
	}
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Dir = dir
	if len(req.Env) > 0 {
		cmd.Env = append(cmd.Environ(), req.Env...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = groupAttr()
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	defer s.track(cmd.Process)()
	stop := killGroupOnCancel(ctx, cmd.Process)
	err = cmd.Wait()
	stop()
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

// killGroupOnCancel ends p's process group (killGroup) if ctx ends
// before stop is called; stop is called once p has been waited for.
func killGroupOnCancel(ctx context.Context, p *os.Process) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			killGroup(p, done)
		case <-done:
		}
	}()
	return func() { close(done) }
}

// Start starts a detached command: in a session of its own, with its
// standard input and output on /dev/null, and not killed when the call or
// the session ends (nohup-like). It returns the process id; the service
// reaps the process when it exits. Under a root it needs AllowProcesses
// ([ErrProcessDenied]).
func (s *Service) Start(req RunRequest) (pid int, err error) {
	defer func() { audit(s.audit, "start", err, "argv", boundedArgv(req.Argv), "pid", pid) }()
	if err := s.mayRun(req.Argv); err != nil {
		return -1, err
	}
	if len(req.Argv) == 0 {
		return -1, errors.New("classic: empty command")
	}
	dir, err := s.dir(req.Dir)
	if err != nil {
		return -1, err
	}
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Dir = dir
	if len(req.Env) > 0 {
		cmd.Env = append(cmd.Environ(), req.Env...)
	}
	cmd.SysProcAttr = sessionAttr()
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	untrack := s.track(cmd.Process)
	go func() { // reap it whenever it ends; nothing else waits for it
		cmd.Wait()
		untrack()
	}()
	return cmd.Process.Pid, nil
}

// Signal sends a signal ("TERM", "INT", "HUP", "KILL", "QUIT", or a
// number) to a process, or to a process group when pid is negative. It
// never signals the node itself (its pid or its process group), init
// (pid 1) or every process (0, -1). Under a root it needs AllowProcesses
// ([ErrProcessDenied]), and then reaches only the processes this Service
// started (Run, RunTTY, Start) and has not yet reaped, or their groups.
// On a Windows node KILL, INT and TERM terminate the process, and other
// signals and process groups are refused as unsupported.
func (s *Service) Signal(pid int, sig string) (err error) {
	defer func() { audit(s.audit, "signal", err, "pid", pid, "signal", bounded(sig)) }()
	if err := s.mayRun(nil); err != nil {
		return err
	}
	n, ok := signals[sig]
	if !ok {
		var num int
		if _, err := fmt.Sscanf(sig, "%d", &num); err != nil || num <= 0 || num > 64 {
			return fmt.Errorf("classic: unknown signal %q", sig)
		}
		n = syscall.Signal(num)
	}
	self := os.Getpid()
	if pid == 0 || pid == 1 || pid == -1 || pid == self || pid == -self || pid == -ownGroup() {
		return fmt.Errorf("classic: refusing to signal pid %d: %w", pid, fs.ErrPermission)
	}
	if !s.confined() {
		return signalPid(pid, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.procs[max(pid, -pid)]
	if !ok {
		return fmt.Errorf("classic: refusing to signal pid %d, which this service did not start: %w", pid, fs.ErrPermission)
	}
	if pid > 0 {
		return signalProc(p, n) // by pidfd or handle: never a process that took over a reaped pid
	}
	return signalPid(pid, n) // the group is led by p, which is not reaped yet
}
