package stdio

import (
	"fmt"
	"syscall"
)

// sysProcAttr: Windows has no process groups; Close stops the child
// alone.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// waitNoReap blocks until process pid has exited. os.Process holds a
// handle to the child until it is waited for, which keeps pid from being
// reused, so the child can be opened again by pid here.
func waitNoReap(pid int) error {
	h, err := syscall.OpenProcess(syscall.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return err
	}
	defer syscall.CloseHandle(h)
	ev, err := syscall.WaitForSingleObject(h, syscall.INFINITE)
	if ev != syscall.WAIT_OBJECT_0 {
		return fmt.Errorf("wait for process %d: %d %w", pid, ev, err)
	}
	return nil
}

// signal ends the child: Windows has neither process groups nor SIGTERM,
// so every signal terminates the child (TerminateProcess); processes it
// started are not reached. Errors (it has exited) are ignored.
func (c *ChildConn) signal(syscall.Signal) {
	c.cmd.Process.Kill() // by handle: never reaches another process
}
