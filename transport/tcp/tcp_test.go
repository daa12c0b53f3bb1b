package tcp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/transport/tcp"
	"github.com/hopwire/hopwire/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDeps keeps tcp a leaf.
func TestDeps(t *testing.T) {
	transporttest.StdlibOnly(t)
}

// haveIPv6Loopback reports whether ::1 can be bound here.
func haveIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// listen starts a tcp.Listen listener closed by t.Cleanup.
func listen(t *testing.T, addr string, opts *tcp.Options) net.Listener {
	t.Helper()
	ln, err := tcp.Listen(t.Context(), addr, opts)
	if err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serveEcho accepts one conn on ln and echoes it; t.Cleanup closes ln and
// waits for it.
func serveEcho(t *testing.T, ln net.Listener) {
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	})
}

func TestEcho(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		listen string
		dial   func(port string) string
		ipv6   bool
	}{
		{"ipv4", "127.0.0.1:0", func(p string) string { return "127.0.0.1:" + p }, false},
		{"ipv6", "[::1]:0", func(p string) string { return "[::1]:" + p }, true},
		{"localhost", "localhost:0", func(p string) string { return "localhost:" + p }, false},
		{"mapped", "127.0.0.1:0", func(p string) string { return "[::ffff:127.0.0.1]:" + p }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.ipv6 && !haveIPv6Loopback() {
				t.Skip("no IPv6 loopback")
			}
			ln := listen(t, tt.listen, nil)
			serveEcho(t, ln)
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			c, err := tcp.Dial(t.Context(), tt.dial(port), nil)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
				t.Fatalf("echo: %q, %v", buf, err)
			}
		})
	}
}

func TestListenNonLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		addr string
		ipv6 bool
	}{
		{"empty host", ":0", false},
		{"ipv4 any", "0.0.0.0:0", false},
		{"ipv6 any", "[::]:0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.ipv6 && !haveIPv6Loopback() {
				t.Skip("no IPv6")
			}
			ln, err := tcp.Listen(t.Context(), tt.addr, nil)
			if err == nil {
				ln.Close()
				t.Fatalf("Listen(%q) succeeded without Insecure", tt.addr)
			}
			if !errors.Is(err, tcp.ErrNotLoopback) {
				t.Errorf("error %v does not wrap ErrNotLoopback", err)
			}
			if !strings.Contains(err.Error(), tcp.InsecureFlag) {
				t.Errorf("error %q does not name %s", err, tcp.InsecureFlag)
			}

			ln, err = tcp.Listen(t.Context(), tt.addr, &tcp.Options{Insecure: true})
			if err != nil {
				t.Fatalf("Listen(%q) with Insecure: %v", tt.addr, err)
			}
			ln.Close()
		})
	}
}

func TestDialNonLoopback(t *testing.T) {
	t.Parallel()
	// TEST-NET addresses (RFC 5737, RFC 3849): nothing answers there, so a
	// dial that got as far as sending a SYN would hang until the context
	// expires. The refusal must come from the control hook, at once.
	tests := []struct {
		name string
		addr string
	}{
		{"ipv4", "192.0.2.1:80"},
		{"ipv6", "[2001:db8::1]:80"},
		{"ipv4-mapped", "[::ffff:192.0.2.1]:80"},
		{"unspecified", "0.0.0.0:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var called atomic.Bool
			opts := &tcp.Options{Control: func(string, string, syscall.RawConn) error {
				called.Store(true)
				return nil
			}}
			start := time.Now()
			c, err := tcp.Dial(ctx, tt.addr, opts)
			took := time.Since(start)
			if err == nil {
				c.Close()
				t.Fatalf("Dial(%q) succeeded", tt.addr)
			}
			if !errors.Is(err, tcp.ErrNotLoopback) {
				t.Fatalf("Dial(%q): %v; want ErrNotLoopback", tt.addr, err)
			}
			if !strings.Contains(err.Error(), tcp.InsecureFlag) {
				t.Errorf("error %q does not name %s", err, tcp.InsecureFlag)
			}
			if took > time.Second {
				t.Errorf("refusal took %v; it must not wait for the network", took)
			}
			if called.Load() {
				t.Error("the caller's Control ran for a refused address")
			}
		})
	}
}

func TestControl(t *testing.T) {
	t.Parallel()
	ln := listen(t, "127.0.0.1:0", nil)
	serveEcho(t, ln)
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	var (
		mu  sync.Mutex // Control may run for several addresses at once
		got []string
	)
	deny := errors.New("policy says no")
	opts := &tcp.Options{Control: func(network, address string, _ syscall.RawConn) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, network+" "+address)
		return deny
	}}
	_, err := tcp.Dial(t.Context(), "localhost:"+port, opts)
	if !errors.Is(err, deny) {
		t.Fatalf("Dial: %v; want the Control error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 {
		t.Fatal("Control was not called")
	}
	for _, g := range got {
		if !strings.HasSuffix(g, ":"+port) || strings.Contains(g, "localhost") {
			t.Errorf("Control got %q; want a numeric address", g)
		}
	}
}

func TestDialCancelled(t *testing.T) {
	t.Parallel()
	ln := listen(t, "127.0.0.1:0", nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c, err := tcp.Dial(ctx, ln.Addr().String(), nil)
	if err == nil {
		c.Close()
		t.Fatal("Dial with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Dial: %v; want context.Canceled", err)
	}
}

func TestConformance(t *testing.T) {
	transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
		ln := listen(t, "127.0.0.1:0", nil)
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		c1, err := tcp.Dial(t.Context(), ln.Addr().String(), nil)
		if err != nil {
			ln.Close()
			<-accepted
			t.Fatal(err)
		}
		c2 := <-accepted
		if c2 == nil {
			c1.Close()
			t.Fatal("Accept failed")
		}
		return c1, c2
	})
}
