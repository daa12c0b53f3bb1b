//go:build !linux

package rpyc

import "net"

func quickAck(net.Conn) func() { return nil }
