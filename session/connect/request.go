package connect

import (
	"strings"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// Network says what a connect stream asks the peer to reach.
type Network uint8

// Connect networks.
const (
	TCP   Network = wire.ConnectTCP   // a TCP destination; the stream carries its bytes
	UDP   Network = wire.ConnectUDP   // a UDP destination; the stream carries framed datagrams
	Exec  Network = wire.ConnectExec  // a command to spawn; the stream is its stdin/stdout
	Agent Network = wire.ConnectAgent // an agent registered at the peer, by name
)

func (n Network) String() string {
	switch n {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case Exec:
		return "exec"
	case Agent:
		return "agent"
	}
	return "unknown"
}

// Request is the header of a KindConnect stream: what the opener asks the
// peer (a relay) to connect the stream to. See session/PROTOCOL.md.
type Request struct {
	Network Network
	Address string   // host:port, a command, or an agent name
	Args    []string // exec: the command's arguments
}

// reversePrefix starts the address of the TCP connect stream a node opens
// back to a client for a remote forward (-R): "reverse:" and the tag the
// client gave when it asked the node to listen. No host name has a colon
// right after its first label, so the two cannot be confused.
const reversePrefix = "reverse:"

// Reverse is the request a node sends back to a client with each
// connection accepted by a remote forward (ssh -R) the client opened
// under tag.
func Reverse(tag string) *Request {
	return &Request{Network: TCP, Address: reversePrefix + tag}
}

// ReverseTag reports whether r is a remote forward's connection (see
// [Reverse]) and its tag.
func (r *Request) ReverseTag() (string, bool) {
	if r.Network != TCP || !strings.HasPrefix(r.Address, reversePrefix) {
		return "", false
	}
	return r.Address[len(reversePrefix):], true
}

// Encode returns the header bytes for Link.OpenStream.
func (r *Request) Encode() ([]byte, error) {
	return wire.AppendConnect(nil, &wire.Connect{Network: uint8(r.Network), Address: r.Address, Args: r.Args})
}

// ParseRequest decodes the header of a connect stream.
func ParseRequest(hdr []byte) (*Request, error) {
	c, err := wire.ParseConnect(hdr)
	if err != nil {
		return nil, err
	}
	return &Request{Network: Network(c.Network), Address: c.Address, Args: c.Args}, nil
}
