package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// checkControlPeer refuses a control-socket client that is not this user
// (SO_PEERCRED), whatever the socket's mode says.
func checkControlPeer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("uid %d (pid %d) is not this user (uid %d)", cred.Uid, cred.Pid, os.Getuid())
	}
	return nil
}
