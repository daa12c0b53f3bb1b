package tcp_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/tcp"
)

// sockopt reads an integer socket option from c.
func sockopt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

func TestSocketOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		keepAlive time.Duration
		wantOn    int
		wantIdle  int // seconds; checked when keep-alive is on
	}{
		{"default", 0, 1, 15},
		{"custom", 7 * time.Second, 1, 7},
		{"disabled", -1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := &tcp.Options{KeepAlive: tt.keepAlive}
			ln := listen(t, "127.0.0.1:0", opts)
			accepted := make(chan net.Conn, 1)
			go func() {
				c, _ := ln.Accept()
				accepted <- c
			}()
			c, err := tcp.Dial(t.Context(), ln.Addr().String(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := <-accepted
			if s == nil {
				t.Fatal("Accept failed")
			}
			defer s.Close()
			for _, side := range []struct {
				name string
				c    net.Conn
			}{{"dialed", c}, {"accepted", s}} {
				if v := sockopt(t, side.c, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); v == 0 {
					t.Errorf("%s: TCP_NODELAY off", side.name)
				}
				on := sockopt(t, side.c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
				if (on != 0) != (tt.wantOn != 0) {
					t.Errorf("%s: SO_KEEPALIVE = %d, want %d", side.name, on, tt.wantOn)
				}
				if tt.wantOn != 0 {
					if v := sockopt(t, side.c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE); v != tt.wantIdle {
						t.Errorf("%s: TCP_KEEPIDLE = %d, want %d", side.name, v, tt.wantIdle)
					}
				}
			}
		})
	}
}
