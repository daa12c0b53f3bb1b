package socks5

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errDenied = errors.New("denied by policy")

// serve runs s on a loopback listener until the test ends.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(t.Context(), c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// request greets the proxy at addr and sends a request; it returns the
// reply's code and bound address and the open connection.
func request(t *testing.T, addr string, cmd byte, dest []byte) (byte, []byte, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte{5, 1, 0})
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{5, 0} {
		t.Fatalf("method reply %v %v", m, err)
	}
	c.Write(append([]byte{5, cmd, 0}, dest...))
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatal(err)
	}
	n := 4
	if h[3] == 4 {
		n = 16
	}
	bnd := make([]byte, n+2)
	if _, err := io.ReadFull(c, bnd); err != nil {
		t.Fatal(err)
	}
	return h[1], bnd, c
}

func ipv4Dest(ip string, port uint16) []byte {
	return binary.BigEndian.AppendUint16(append([]byte{1}, net.ParseIP(ip).To4()...), port)
}

// The reply comes after the dial's verdict, with the code that explains
// it: a policy refusal is "not allowed by ruleset", not a success followed
// by a closed connection (issue 15).
func TestConnectReplyCodes(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		c, err := echo.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	refused := make(chan byte, 8)
	s := &Server{
		Denied: func(err error) bool { return errors.Is(err, errDenied) },
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			switch addr {
			case "10.0.0.1:1":
				return nil, fmt.Errorf("relay: connect %s: %w", addr, errDenied)
			case "10.0.0.2:1":
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
			case "10.0.0.3:1":
				return nil, context.DeadlineExceeded
			}
			return net.Dial(network, addr)
		},
		Refused: func(dest string, code byte, err error) { refused <- code },
	}
	addr := serve(t, s)
	for _, tc := range []struct {
		ip   string
		port uint16
		want byte
	}{
		{"10.0.0.1", 1, NotAllowed},
		{"10.0.0.2", 1, ConnectionRefused},
		{"10.0.0.3", 1, TTLExpired},
	} {
		code, _, c := request(t, addr, 1, ipv4Dest(tc.ip, tc.port))
		c.Close()
		if code != tc.want {
			t.Errorf("%s: reply %d, want %d", tc.ip, code, tc.want)
		}
	}
	_, port, _ := net.SplitHostPort(echo.Addr().String())
	var p int
	fmt.Sscan(port, &p)
	code, _, c := request(t, addr, 1, ipv4Dest("127.0.0.1", uint16(p)))
	defer c.Close()
	if code != Succeeded {
		t.Fatalf("connect to the echo server: reply %d", code)
	}
	c.Write([]byte("ping"))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("through the proxy: %q %v", got, err)
	}
	if len(refused) != 3 {
		t.Errorf("Refused told of %d refusals, want 3", len(refused))
	}
	// Unsupported command and address type.
	code, _, c2 := request(t, addr, 2, ipv4Dest("127.0.0.1", 1)) // BIND
	c2.Close()
	if code != CommandUnsupported {
		t.Errorf("BIND: reply %d", code)
	}
}

// UDP ASSOCIATE on an IPv6 control connection replies with the IPv6
// address of its UDP socket (it used to reply 0.0.0.0).
func TestAssociateIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback")
	}
	s := &Server{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, errors.New("unused")
	}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err == nil {
			s.ServeConn(t.Context(), c)
		}
	}()
	code, bnd, c := request(t, ln.Addr().String(), 3, ipv4Dest("0.0.0.0", 0))
	if code != Succeeded || len(bnd) != 18 || !net.IP(bnd[:16]).Equal(net.IPv6loopback) || binary.BigEndian.Uint16(bnd[16:]) == 0 {
		t.Errorf("UDP ASSOCIATE over IPv6: reply %d, bound %x", code, bnd)
	}
	c.Close()
	ln.Close()
	<-done
}

func TestUDPHeaderRoundTrip(t *testing.T) {
	for _, dest := range []string{"10.1.2.3:53", "[2001:db8::1]:443", "example.com:8080"} {
		d, payload, ok := ParseUDP(append(UDPHeader(dest), "data"...))
		if !ok || d != dest || string(payload) != "data" {
			t.Errorf("%s: parsed %q %q %v", dest, d, payload, ok)
		}
	}
	if _, _, ok := ParseUDP([]byte{0, 0, 1, 1, 10, 0, 0, 1, 0, 53}); ok {
		t.Error("a fragment was accepted")
	}
}

// FuzzParseUDP: no panic, and what parses is a destination whose header
// parses back to it.
func FuzzParseUDP(f *testing.F) {
	f.Add(append(UDPHeader("10.1.2.3:53"), 1, 2, 3))
	f.Add(append(UDPHeader("[::1]:1"), 0))
	f.Add(UDPHeader("a.example:65535"))
	f.Add([]byte{0, 0, 0, 3, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		dest, payload, ok := ParseUDP(b)
		if !ok {
			return
		}
		if !bytes.HasSuffix(b, payload) {
			t.Fatalf("payload %x is not the datagram's tail", payload)
		}
		host, _, err := net.SplitHostPort(dest)
		if err != nil {
			t.Fatalf("destination %q: %v", dest, err)
		}
		if len(host) > 255 {
			t.Fatalf("host of %d bytes", len(host))
		}
	})
}

// FuzzReadRequest: a greeting and request of any bytes never panics.
func FuzzReadRequest(f *testing.F) {
	f.Add(append([]byte{5, 1, 0, 5, 1, 0}, ipv4Dest("1.2.3.4", 80)...))
	f.Add([]byte{5, 1, 0, 5, 1, 0, 3, 3, 'a', 'b', 'c', 0, 80})
	f.Add([]byte{5, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(b), io.Discard}
		readRequest(rw)
	})
}
