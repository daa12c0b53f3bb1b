package rpyc

import (
	"net"
	"syscall"
)

// quickAck asks Linux to acknowledge received TCP data at once instead of
// delaying the ACK. Python's RPyC server leaves Nagle on, so when two of
// its replies are due back to back (a DEL's and a call's), the second
// waits for the ACK of the first: up to 40 ms of delayed ACK per call.
// The kernel drops the flag after a while, so it is set before each read.
func quickAck(c net.Conn) func() {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return func() {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
}
