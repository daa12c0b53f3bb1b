package relay

import (
	"os/exec"
	"syscall"
)

// groupAttr: Windows has no process groups.
func groupAttr() *syscall.SysProcAttr { return nil }

// killGroup kills cmd's process (not its children: no process groups).
func killGroup(cmd *exec.Cmd) { cmd.Process.Kill() }
