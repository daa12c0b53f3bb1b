//go:build !linux

package dtls

import "net"

// forbidFragments is not implemented here: conns stay at their MTU.
func forbidFragments(*net.UDPConn) (func(), bool) { return nil, false }
