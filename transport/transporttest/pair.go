package transporttest

import (
	"net"
	"testing"
)

// TCPPair returns the two ends of a fresh loopback TCP connection, c1 the
// dialing end and c2 the accepted one. Both are closed by t.Cleanup.
func TCPPair(t testing.TB) (c1, c2 net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	c1, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-ch
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		c1.Close()
		t.Fatal(a.err)
	}
	t.Cleanup(func() {
		c1.Close()
		a.c.Close()
	})
	return c1, a.c
}
