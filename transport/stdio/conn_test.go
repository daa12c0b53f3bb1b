package stdio_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/hopwire/hopwire/transport/stdio"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// TestDeps keeps stdio a leaf.
func TestDeps(t *testing.T) {
	transporttest.StdlibOnly(t)
}

// pipePair returns two Conns over two pipes, each reading what the other
// writes.
func pipePair(t *testing.T) (*stdio.Conn, *stdio.Conn) {
	t.Helper()
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := os.Pipe()
	if err != nil {
		r1.Close()
		w1.Close()
		t.Fatal(err)
	}
	return stdio.Stdio(r1, w2), stdio.Stdio(r2, w1)
}

func TestStdioConformance(t *testing.T) {
	transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
		return pipePair(t)
	})
}

func TestStdioConn(t *testing.T) {
	t.Parallel()
	c1, c2 := pipePair(t)
	defer c2.Close()
	for _, a := range []net.Addr{c1.LocalAddr(), c1.RemoteAddr()} {
		if a.Network() != "stdio" || a.String() != "stdio" {
			t.Errorf("address %s %q; want stdio stdio", a.Network(), a)
		}
	}
	// Close is idempotent, and reads and writes fail like a net.Conn's.
	if err := c1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c1.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err := c1.Read(make([]byte, 1))
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" || oe.Net != "stdio" || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %#v; want a *net.OpError wrapping net.ErrClosed", err)
	}
	// The peer sees EOF, and its writes fail (broken pipe) rather than
	// killing the process with SIGPIPE.
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer Read: %v; want io.EOF", err)
	}
	if _, err := c2.Write([]byte("x")); err == nil {
		t.Error("peer Write to a closed pipe succeeded")
	}
}
