package transporttest

import "os/exec"

// ownGroup does nothing: Windows has no process groups.
func ownGroup(*exec.Cmd) {}

// killGroup kills cmd's process (Windows has no process groups).
func killGroup(cmd *exec.Cmd) { cmd.Process.Kill() }
