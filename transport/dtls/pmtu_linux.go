package dtls

import (
	"net"
	"syscall"
)

// forbidFragments sets the DF bit on c's datagrams (IP_PMTUDISC_DO: the
// kernel never fragments them and refuses, with EMSGSIZE, those larger
// than the path MTU it knows) and returns how to allow fragmentation
// again.
func forbidFragments(c *net.UDPConn) (allow func(), ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, false
	}
	v4 := false
	if a, isUDP := c.LocalAddr().(*net.UDPAddr); isUDP && a.IP.To4() != nil {
		v4 = true
	}
	set := func(mode4, mode6 int) (ok bool) {
		rc.Control(func(fd uintptr) {
			e4 := syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, mode4)
			if v4 {
				ok = e4 == nil
				return
			}
			// An IPv6 socket, maybe dual-stack: the IPv4 option then
			// covers its IPv4-mapped peers.
			ok = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_MTU_DISCOVER, mode6) == nil
		})
		return ok
	}
	if !set(syscall.IP_PMTUDISC_DO, syscall.IPV6_PMTUDISC_DO) {
		return nil, false
	}
	return func() { set(syscall.IP_PMTUDISC_DONT, syscall.IPV6_PMTUDISC_DONT) }, true
}
