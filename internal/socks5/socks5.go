// Package socks5 is a small SOCKS5 server (RFC 1928) for hopwire's -D
// forwards: no authentication, or username and password (RFC 1929) when
// the caller sets Auth; CONNECT and UDP ASSOCIATE (BIND is answered
// "command not supported"), with every
// connection made by a dial function the caller gives, in the shape of
// tailscale's net/socks5. It knows nothing of hops: cmd hands it a route's
// DialContext, so connections leave from the route's target.
//
// A CONNECT is answered after the dial function returns, with the reply
// code its error maps to ([Server.ReplyCode]): a refusal by policy is "connection
// not allowed by ruleset", a refused or unreachable upstream says so. The
// dial function should therefore return only once the far side has given
// its verdict (hop routes do, on links that carry connect verdicts).
package socks5

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hopwire/hopwire/internal/udpflow"
)

// Reply codes (RFC 1928 §6).
const (
	Succeeded          byte = 0
	GeneralFailure     byte = 1
	NotAllowed         byte = 2 // connection not allowed by ruleset
	NetworkUnreachable byte = 3
	HostUnreachable    byte = 4
	ConnectionRefused  byte = 5
	TTLExpired         byte = 6
	CommandUnsupported byte = 7
	AddrUnsupported    byte = 8
)

// Server serves SOCKS5 clients. Its fields are set before ServeConn is
// first called and not changed after.
type Server struct {
	// Dial makes the connections: network "tcp" for a CONNECT, "udp"
	// for each destination of a UDP ASSOCIATE (a net.Conn whose reads and
	// writes are whole datagrams).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Splice joins a client's connection and its upstream until both are
	// done (default: copies both ways, passing half-closes on). hopwire
	// passes the one that turns an upstream failure into a reset.
	Splice func(client, upstream net.Conn)
	// Refused, if set, is told of every request that failed: its
	// destination, the reply code sent, and why.
	Refused func(dest string, code byte, err error)
	// Denied, if set, reports whether a dial error is a refusal by
	// policy, answered "connection not allowed by ruleset".
	Denied func(error) bool
	// HandshakeTimeout bounds the greeting and request (default 30s).
	HandshakeTimeout time.Duration
	// UDPIdle closes a UDP ASSOCIATE's flow to a destination after this
	// long without a datagram either way (0: udpflow.DefaultIdle).
	UDPIdle time.Duration
	// Auth, if set, requires username and password authentication
	// (RFC 1929) and reports whether a pair is accepted; a client that
	// does not offer it is refused. Nil: no authentication.
	Auth func(user, password string) bool
}

// ReplyCode maps a dial error to the SOCKS5 reply that explains it best.
func (s *Server) ReplyCode(err error) byte {
	if err == nil {
		return Succeeded
	}
	var ne net.Error
	msg := err.Error()
	switch {
	case s.Denied != nil && s.Denied(err):
		return NotAllowed
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(msg, "connection refused"):
		return ConnectionRefused
	case errors.Is(err, syscall.ENETUNREACH) || strings.Contains(msg, "network is unreachable"):
		return NetworkUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH) || strings.Contains(msg, "no route to host") ||
		strings.Contains(msg, "no such host") || strings.Contains(msg, "host unreachable"):
		return HostUnreachable
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() || strings.Contains(msg, "i/o timeout"):
		return TTLExpired
	}
	return GeneralFailure
}

// ServeConn serves one client connection until it ends, and closes it.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	timeout := s.HandshakeTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	c.SetDeadline(time.Now().Add(timeout))
	cmd, dest, err := s.readRequest(c)
	if err != nil {
		var re *replyError
		if errors.As(err, &re) {
			reply(c, re.code, nil)
		}
		return
	}
	switch cmd {
	case 1: // CONNECT
		up, err := s.Dial(ctx, "tcp", dest)
		if err != nil {
			code := s.ReplyCode(err)
			if s.Refused != nil {
				s.Refused(dest, code, err)
			}
			reply(c, code, nil)
			return
		}
		reply(c, Succeeded, nil)
		c.SetDeadline(time.Time{})
		if s.Splice != nil {
			s.Splice(c, up)
		} else {
			splice(c, up)
		}
	case 3: // UDP ASSOCIATE
		c.SetDeadline(time.Time{})
		s.associate(ctx, c)
	default:
		reply(c, CommandUnsupported, nil)
	}
}

// replyError is a request the server answers with a code.
type replyError struct{ code byte }

func (e *replyError) Error() string { return "socks5: reply " + strconv.Itoa(int(e.code)) }

// Authentication methods (RFC 1928 §3).
const (
	methodNone     byte = 0
	methodPassword byte = 2
	methodNoneOK   byte = 0xff // no acceptable method
)

// readRequest reads the greeting (answering it, and authenticating the
// client when s.Auth is set) and the request, and returns its command and
// destination.
func (s *Server) readRequest(c io.ReadWriter) (cmd byte, dest string, err error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, "", err
	}
	if hdr[0] != 5 {
		return 0, "", errors.New("socks5: not version 5")
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return 0, "", err
	}
	want := methodNone
	if s.Auth != nil {
		want = methodPassword
	}
	if !slices.Contains(methods, want) {
		c.Write([]byte{5, methodNoneOK})
		if want == methodPassword {
			return 0, "", errors.New("socks5: the client offers no username and password authentication, which this proxy requires")
		}
		return 0, "", errors.New("socks5: the client offers no method without authentication")
	}
	if _, err := c.Write([]byte{5, want}); err != nil {
		return 0, "", err
	}
	if want == methodPassword {
		if err := s.authenticate(c); err != nil {
			return 0, "", err
		}
	}
	var req [3]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return 0, "", err
	}
	if req[0] != 5 {
		return 0, "", errors.New("socks5: request is not version 5")
	}
	host, err := readAddr(c)
	if err != nil {
		return 0, "", err
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return 0, "", err
	}
	return req[1], net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:])))), nil
}

// authenticate runs RFC 1929's sub-negotiation: VER 1, ULEN, UNAME,
// PLEN, PASSWD; the reply is VER 1 and status 0 for success. A refused
// client gets a non-zero status and the connection is closed.
func (s *Server) authenticate(c io.ReadWriter) error {
	var ver [1]byte
	if _, err := io.ReadFull(c, ver[:]); err != nil {
		return err
	}
	if ver[0] != 1 {
		return errors.New("socks5: username/password sub-negotiation is not version 1")
	}
	field := func() (string, error) {
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return "", err
		}
		b := make([]byte, n[0])
		_, err := io.ReadFull(c, b)
		return string(b), err
	}
	user, err := field()
	if err != nil {
		return err
	}
	pass, err := field()
	if err != nil {
		return err
	}
	if !s.Auth(user, pass) {
		c.Write([]byte{1, 1})
		return errors.New("socks5: wrong username or password")
	}
	_, err = c.Write([]byte{1, 0})
	return err
}

// readAddr reads ATYP and the address that follows.
func readAddr(r io.Reader) (string, error) {
	var atyp [1]byte
	if _, err := io.ReadFull(r, atyp[:]); err != nil {
		return "", err
	}
	switch atyp[0] {
	case 1, 4:
		ip := make([]byte, 4)
		if atyp[0] == 4 {
			ip = make([]byte, 16)
		}
		if _, err := io.ReadFull(r, ip); err != nil {
			return "", err
		}
		return net.IP(ip).String(), nil
	case 3:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return "", err
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(r, name); err != nil {
			return "", err
		}
		if !hostName(string(name)) {
			return "", &replyError{AddrUnsupported}
		}
		return string(name), nil
	}
	return "", &replyError{AddrUnsupported}
}

// hostName reports whether a SOCKS domain name can stand as the host of a
// HOST:PORT: not empty, and none of ':', brackets, '/', '%', white space
// or control characters (which would make another address of it).
func hostName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(":[]/%\\", r) {
			return false
		}
	}
	return true
}

// reply sends a reply with bound address bnd (nil: 0.0.0.0:0), in the
// family of bnd.
func reply(w io.Writer, code byte, bnd *net.UDPAddr) {
	b := []byte{5, code, 0}
	ip, port := net.IP(net.IPv4zero), 0
	if bnd != nil {
		ip, port = bnd.IP, bnd.Port
	}
	if ip4 := ip.To4(); ip4 != nil {
		b = append(append(b, 1), ip4...)
	} else {
		b = append(append(b, 4), ip.To16()...)
	}
	w.Write(binary.BigEndian.AppendUint16(b, uint16(port)))
}

// splice copies both ways until both are done, passing a clean end on as
// a half-close and a failure as a close.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { pass(b, a) })
	pass(a, b)
	wg.Wait()
	a.Close()
	b.Close()
}

func pass(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// associate serves a UDP ASSOCIATE: a UDP socket beside the client's
// control connection takes its datagrams (each with a SOCKS header naming
// the destination), every destination gets a connection from Dial("udp"),
// and answers come back with a header naming their source. The
// association lasts as long as the control connection.
func (s *Server) associate(ctx context.Context, ctrl net.Conn) {
	host, _, _ := net.SplitHostPort(ctrl.LocalAddr().String())
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		reply(ctrl, GeneralFailure, nil)
		return
	}
	defer pc.Close()
	reply(ctrl, Succeeded, pc.LocalAddr().(*net.UDPAddr))
	go func() {
		io.Copy(io.Discard, ctrl) // the association ends with the TCP connection
		pc.Close()
	}()
	// One flow a destination, closed after UDPIdle without datagrams.
	flows := &udpflow.Table{Idle: s.UDPIdle}
	defer flows.Close()
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		dest, payload, ok := ParseUDP(buf[:n])
		if !ok {
			continue // fragments and malformed datagrams are dropped, as RFC 1928 allows
		}
		hdr := UDPHeader(dest)
		err = flows.Send(dest, payload, func() (net.Conn, error) { return s.Dial(ctx, "udp", dest) }, func(b []byte) {
			pc.WriteTo(append(append([]byte(nil), hdr...), b...), from)
		})
		if err != nil && s.Refused != nil {
			s.Refused(dest, s.ReplyCode(err), err)
		}
	}
}

// ParseUDP splits a SOCKS5 UDP datagram, RSV(2) FRAG(1) ATYP ADDR PORT
// DATA, into its destination and payload. Fragments (FRAG ≠ 0) are not
// supported and, like malformed datagrams, report !ok.
func ParseUDP(b []byte) (dest string, payload []byte, ok bool) {
	if len(b) < 4 || b[2] != 0 {
		return "", nil, false
	}
	var host string
	rest := b[4:]
	switch b[3] {
	case 1:
		if len(rest) < 4 {
			return "", nil, false
		}
		host, rest = net.IP(rest[:4]).String(), rest[4:]
	case 4:
		if len(rest) < 16 {
			return "", nil, false
		}
		host, rest = net.IP(rest[:16]).String(), rest[16:]
	case 3:
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return "", nil, false
		}
		host, rest = string(rest[1:1+int(rest[0])]), rest[1+int(rest[0]):]
		if !hostName(host) {
			return "", nil, false
		}
	default:
		return "", nil, false
	}
	if len(rest) < 2 {
		return "", nil, false
	}
	port := binary.BigEndian.Uint16(rest)
	return net.JoinHostPort(host, strconv.Itoa(int(port))), rest[2:], true
}

// UDPHeader is the header of a datagram from src (HOST:PORT) to a client.
func UDPHeader(src string) []byte {
	host, port, _ := net.SplitHostPort(src)
	p, _ := strconv.Atoi(port)
	h := []byte{0, 0, 0}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		h = append(append(h, 1), ip.To4()...)
	} else if ip != nil {
		h = append(append(h, 4), ip.To16()...)
	} else {
		h = append(append(h, 3, byte(len(host))), host...)
	}
	return binary.BigEndian.AppendUint16(h, uint16(p))
}
