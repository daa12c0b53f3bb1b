//go:build unix

package classic

import (
	"os"
	"syscall"
	"time"
)

// signals are the signals Signal and a terminal client may send by name.
var signals = map[string]syscall.Signal{
	"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "KILL": syscall.SIGKILL, "WINCH": syscall.SIGWINCH,
}

// groupAttr starts a command in a process group of its own.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// sessionAttr starts a command in a session of its own.
func sessionAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// killGroup ends the process group p leads: SIGTERM, then SIGKILL if it
// lingers.
func killGroup(p *os.Process, done <-chan struct{}) {
	syscall.Kill(-p.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	syscall.Kill(-p.Pid, syscall.SIGKILL)
}

// ownGroup returns the node's own process group ID.
func ownGroup() int { return syscall.Getpgrp() }

// signalPid sends sig to a process, or to a process group when pid is
// negative.
func signalPid(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// signalProc sends sig to p (by pidfd on Linux).
func signalProc(p *os.Process, sig syscall.Signal) error { return p.Signal(sig) }
