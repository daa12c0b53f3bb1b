//go:build linux || darwin

package stdio

import "syscall"

// sysProcAttr puts the child in a process group of its own, whose ID is
// its pid.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signal sends sig to the child's process group, and to the child itself
// in case it left the group. Errors (the group is already gone) are
// ignored.
func (c *ChildConn) signal(sig syscall.Signal) {
	select {
	case <-c.reaped:
		// Reaped by watch's fallback: the group ID may have been reused.
		return
	default:
	}
	syscall.Kill(-c.pid, sig)
	c.cmd.Process.Signal(sig) // by pidfd on Linux: never reaches another process
}
