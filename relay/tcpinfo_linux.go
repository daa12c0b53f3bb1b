package relay

import (
	"net"

	"golang.org/x/sys/unix"
)

// tcpBytes is what the kernel says c has sent (and had acknowledged) and
// received so far (TCP_INFO), without a counter on the copy's path.
func tcpBytes(c *net.TCPConn) (sent, received int64, ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var info *unix.TCPInfo
	cerr := rc.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if cerr != nil || err != nil {
		return 0, 0, false
	}
	return int64(info.Bytes_acked), int64(info.Bytes_received), true
}
