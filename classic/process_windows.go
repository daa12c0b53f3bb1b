package classic

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// signals are the signals Signal may send by name. Windows has no signals
// to send to another process: KILL, INT and TERM all terminate it
// (TerminateProcess), and the others are refused.
var signals = map[string]syscall.Signal{
	"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL,
}

// groupAttr: Windows has no process groups in the Unix sense; a command
// runs as a plain child, and killGroup reaches it alone.
func groupAttr() *syscall.SysProcAttr { return nil }

// sessionAttr starts a detached command in a console process group of its
// own, so that a Ctrl-C or Ctrl-Break for the node does not reach it.
func sessionAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// killGroup terminates p at once: there is no SIGTERM to try first, and
// no process group, so processes p started are not reached.
func killGroup(p *os.Process, done <-chan struct{}) { p.Kill() }

// ownGroup returns 0: Windows has no process groups (and Signal refuses
// pid 0 anyway).
func ownGroup() int { return 0 }

// terminating returns nil for the signals Windows can deliver (by
// terminating the process), and an error saying so for the others.
func terminating(sig syscall.Signal) error {
	switch sig {
	case syscall.SIGKILL, syscall.SIGINT, syscall.SIGTERM:
		return nil
	}
	return fmt.Errorf("classic: signal %v is not supported on Windows (KILL, INT and TERM terminate the process): %w",
		sig, errors.ErrUnsupported)
}

// signalPid terminates process pid for KILL, INT and TERM. Process groups
// (a negative pid) and other signals are not supported.
func signalPid(pid int, sig syscall.Signal) error {
	if pid < 0 {
		return fmt.Errorf("classic: signalling process group %d: Windows has no process groups: %w", -pid, errors.ErrUnsupported)
	}
	if err := terminating(sig); err != nil {
		return err
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	return p.Kill()
}

// signalProc terminates p (by handle) for KILL, INT and TERM.
func signalProc(p *os.Process, sig syscall.Signal) error {
	if err := terminating(sig); err != nil {
		return err
	}
	return p.Kill()
}
