package socks5

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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

// FuzzReadRequest: a greeting and request of any bytes never panics,
// with or without username and password authentication.
func FuzzReadRequest(f *testing.F) {
	f.Add(append([]byte{5, 1, 0, 5, 1, 0}, ipv4Dest("1.2.3.4", 80)...))
	f.Add([]byte{5, 1, 0, 5, 1, 0, 3, 3, 'a', 'b', 'c', 0, 80})
	f.Add([]byte{5, 0})
	f.Add(append([]byte{5, 1, 2, 1, 1, 'u', 1, 'p', 5, 1, 0}, ipv4Dest("1.2.3.4", 80)...))
	open, auth := &Server{}, &Server{Auth: func(u, p string) bool { return u == "u" && p == "p" }}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range []*Server{open, auth} {
			rw := struct {
				io.Reader
				io.Writer
			}{bytes.NewReader(b), io.Discard}
			s.readRequest(rw)
		}
	})
}

// greet connects to addr offering methods, and returns the method the
// proxy chose and the connection.
func greet(t *testing.T, addr string, methods ...byte) (byte, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(append([]byte{5, byte(len(methods))}, methods...))
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m[0] != 5 {
		t.Fatalf("method reply %v %v", m, err)
	}
	return m[1], c
}

// Username and password (RFC 1929): the right pair is let through, a
// wrong one gets status 1 and the connection closed, and a client that
// does not offer the method is refused.
func TestPasswordAuth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-echoDone })
	echo := ln.Addr().String()
	s := &Server{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}, Auth: func(u, p string) bool { return u == "alice" && p == "s3cret" }}
	addr := serve(t, s)
	login := func(user, pass string) (byte, net.Conn) {
		m, c := greet(t, addr, 0, 2)
		if m != 2 {
			t.Fatalf("the proxy chose method %d, want 2 (username/password)", m)
		}
		c.Write(append(append(append([]byte{1, byte(len(user))}, user...), byte(len(pass))), pass...))
		var st [2]byte
		if _, err := io.ReadFull(c, st[:]); err != nil || st[0] != 1 {
			t.Fatalf("auth reply %v %v", st, err)
		}
		return st[1], c
	}
	st, c := login("alice", "s3cret")
	if st != 0 {
		t.Fatalf("the right pair: status %d", st)
	}
	host, port, _ := net.SplitHostPort(echo)
	p, _ := strconv.Atoi(port)
	c.Write(append([]byte{5, 1, 0}, ipv4Dest(host, uint16(p))...))
	var h [10]byte
	if _, err := io.ReadFull(c, h[:]); err != nil || h[1] != Succeeded {
		t.Fatalf("CONNECT after auth: %v %v", h, err)
	}
	c.Write([]byte("ping"))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo after auth: %q %v", got, err)
	}
	for _, pair := range [][2]string{{"alice", "wrong"}, {"bob", "s3cret"}, {"", ""}} {
		st, c := login(pair[0], pair[1])
		if st == 0 {
			t.Fatalf("%q/%q accepted", pair[0], pair[1])
		}
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("the connection stays open after a refused login (%d bytes)", n)
		}
	}
	if m, _ := greet(t, addr, 0); m != 0xff {
		t.Fatalf("a client offering no authentication: method %d, want 0xff", m)
	}
	// BIND stays unsupported, with its reply code.
	st, c = login("alice", "s3cret")
	if st != 0 {
		t.Fatal("login")
	}
	c.Write(append([]byte{5, 2, 0}, ipv4Dest(host, uint16(p))...))
	if _, err := io.ReadFull(c, h[:]); err != nil || h[1] != CommandUnsupported {
		t.Fatalf("BIND: %v %v, want reply %d", h, err, CommandUnsupported)
	}
}
