package session

import (
	"github.com/hopwire/hopwire/session/internal/wire"
)

// ConnectNetwork says what a connect stream asks the peer to reach.
type ConnectNetwork uint8

// Connect networks.
const (
	ConnectTCP   ConnectNetwork = wire.ConnectTCP   // a TCP destination; the stream carries its bytes
	ConnectUDP   ConnectNetwork = wire.ConnectUDP   // a UDP destination; the stream carries framed datagrams
	ConnectExec  ConnectNetwork = wire.ConnectExec  // a command to spawn; the stream is its stdin/stdout
	ConnectAgent ConnectNetwork = wire.ConnectAgent // an agent registered at the peer, by name
)

func (n ConnectNetwork) String() string {
	switch n {
	case ConnectTCP:
		return "tcp"
	case ConnectUDP:
		return "udp"
	case ConnectExec:
		return "exec"
	case ConnectAgent:
		return "agent"
	}
	return "unknown"
}

// ConnectRequest is the header of a KindConnect stream: what the opener
// asks the peer (a relay) to connect the stream to. See PROTOCOL.md.
type ConnectRequest struct {
	Network ConnectNetwork
	Address string   // host:port, a command, or an agent name
	Args    []string // exec: the command's arguments
}

// Encode returns the header bytes for Link.OpenStream.
func (r *ConnectRequest) Encode() ([]byte, error) {
	return wire.AppendConnect(nil, &wire.Connect{Network: uint8(r.Network), Address: r.Address, Args: r.Args})
}

// ParseConnectRequest decodes the header of a connect stream.
func ParseConnectRequest(hdr []byte) (*ConnectRequest, error) {
	c, err := wire.ParseConnect(hdr)
	if err != nil {
		return nil, err
	}
	return &ConnectRequest{Network: ConnectNetwork(c.Network), Address: c.Address, Args: c.Args}, nil
}
