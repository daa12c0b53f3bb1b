package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/hopwire/hopwire/session"
)

// VerdictCap is the link capability of connect verdicts. When both ends
// of a link announce it (LinkConfig.Caps), the side that accepts a connect
// stream tells the opener its verdict before any data: [Accept] sends one
// byte once the connection stands, and a refusal stays an abort. [Open]
// then returns only after the verdict, so a refused CONNECT is a dial
// error (net/http sees "dial: denied by policy", not a failed read) and a
// SOCKS5 server can answer its client with the right code. Links to peers
// that do not announce it work as before: the opener learns of a refusal
// at its first read.
const VerdictCap = "connect-verdict"

// verdictOK is the byte that accepts a connect stream.
const verdictOK = 0

// verdicts reports whether connect streams on l carry a verdict.
func verdicts(l *session.Link) bool {
	return slices.Contains(l.Caps(), VerdictCap) && slices.Contains(l.Peer().Caps, VerdictCap)
}

// Open opens a connect stream on l asking the peer for req, and, where
// the link carries verdicts (see [VerdictCap]), waits for the peer's:
// a refusal comes back as the stream's abort, a *session.StreamError
// (errors.Is(err, session.ErrDenied) for a policy refusal). ctx governs
// the open and the wait, not the stream after Open returns.
func Open(ctx context.Context, l *session.Link, req *Request) (*session.Stream, error) {
	hdr, err := req.Encode()
	if err != nil {
		return nil, err
	}
	s, err := l.OpenStream(ctx, session.KindConnect, hdr)
	if err != nil {
		return nil, err
	}
	if !verdicts(l) {
		return s, nil
	}
	if err := awaitVerdict(ctx, s); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// awaitVerdict reads the verdict byte of s, within ctx.
func awaitVerdict(ctx context.Context, s *session.Stream) error {
	if d, ok := ctx.Deadline(); ok {
		s.SetReadDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { s.SetReadDeadline(time.Unix(1, 0)) })
	var b [1]byte
	_, err := io.ReadFull(s, b[:])
	if !stop() && ctx.Err() != nil {
		err = ctx.Err()
	}
	s.SetReadDeadline(time.Time{})
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("connect: the peer closed the stream without a verdict")
	case err != nil:
		return err
	case b[0] != verdictOK:
		return fmt.Errorf("connect: unknown verdict %d", b[0])
	}
	return nil
}

// Accept tells the opener of st, a connect stream this side accepted,
// that its request stands (see [VerdictCap]); it does nothing on a link
// without verdicts. Every side that accepts connect streams calls it once
// the connection it splices the stream to is up, and aborts the stream
// instead to refuse.
func Accept(st *session.Stream) error {
	if !verdicts(st.Link()) {
		return nil
	}
	_, err := st.Write([]byte{verdictOK})
	return err
}

// Dial opens a connection from l's peer to addr, like a net.Dialer whose
// packets leave from there: network "tcp" (a stream of bytes) or "udp" (a
// net.Conn whose reads and writes are whole datagrams). The peer's policy
// decides whether it may.
func Dial(ctx context.Context, l *session.Link, network, addr string) (net.Conn, error) {
	var n Network
	switch network {
	case "tcp", "tcp4", "tcp6":
		n = TCP
	case "udp", "udp4", "udp6":
		n = UDP
	default:
		return nil, fmt.Errorf("connect: network %q: want tcp or udp", network)
	}
	s, err := Open(ctx, l, &Request{Network: n, Address: addr})
	if err != nil {
		return nil, err
	}
	if n == UDP {
		raddr, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			raddr = &net.UDPAddr{}
		}
		return &udpStream{Stream: s, pc: NewPacketConn(s, raddr)}, nil
	}
	return s, nil
}

// DialPacket opens a connect udp stream from l's peer to addr (HOST:PORT)
// and presents it as a PacketConn talking to that one address, for packet
// transports (QUIC, DTLS) that run over a hop. The returned address labels
// the remote; the peer resolves the name.
func DialPacket(ctx context.Context, l *session.Link, addr string) (*PacketConn, net.Addr, error) {
	s, err := Open(ctx, l, &Request{Network: UDP, Address: addr})
	if err != nil {
		return nil, nil, err
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		raddr = &net.UDPAddr{IP: net.IPv4zero}
	}
	return NewPacketConn(s, raddr), raddr, nil
}

// udpStream is a connect udp stream: a net.Conn whose Read and Write are
// whole datagrams.
type udpStream struct {
	*session.Stream
	pc *PacketConn
}

func (u *udpStream) Read(p []byte) (int, error) {
	n, _, err := u.pc.ReadFrom(p)
	return n, err
}

func (u *udpStream) Write(p []byte) (int, error) { return u.pc.WriteTo(p, nil) }
