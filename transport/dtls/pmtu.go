package dtls

import (
	"net"
	"sync"
)

// Path MTU probing, after RFC 8899 (datagram packetization-layer PMTU
// discovery). A conn starts at Options.MTU, which fits any path. When it
// runs on a UDP socket of its own that forbids fragmentation (the DF bit),
// it then sends a few PROBE packets padded to larger sizes, largest
// first: MaxMTU, then the sizes of the common Ethernet paths. A probe
// that the peer acknowledges crossed the path whole, so the conn sends
// segments of that size from then on; a probe that is lost (three times)
// or that the kernel refuses (EMSGSIZE) rules its size out. Per-datagram
// cost bounds this transport's throughput (a syscall and pion's record
// handling on each side), so on loopback and jumbo-frame paths larger
// datagrams are worth several times the goodput.
//
// A path can shrink under a conn that raised its MTU (a route change).
// Sequence numbers count packets, so a segment already cut cannot be cut
// again; instead, when the kernel refuses a data packet as too large or
// two retransmission timeouts pass in a row, the conn goes back to its
// starting MTU for new segments and allows the socket to fragment, so the
// large ones still in flight get through.
//
// Behind a stream hop (DialPacket over a relay's CONNECT udp) the conn
// cannot forbid fragmentation on the relay's socket, so it does not probe.

// mtuCandidates are the sizes probed below MaxMTU: a 1500-byte Ethernet
// path under IPv4 (1500-20-8) and under IPv6 (1500-40-8).
var mtuCandidates = []int{1472, 1452}

// maxProbes is how many times a size is probed before it is ruled out.
const maxProbes = 3

// pathMTU is a socket's side of probing: it forbids fragmentation, and
// allows it again if a conn finds its path has shrunk. A listener's socket
// is shared by its conns; once fragmentation is allowed, probes prove
// nothing, so none probes any more.
type pathMTU struct {
	allow func() // allows fragmentation on the socket

	mu       sync.Mutex
	fragment bool
}

// newPathMTU forbids fragmentation on c and returns its control, or nil if
// c is not a UDP socket or the system does not let us.
func newPathMTU(pc net.PacketConn) *pathMTU {
	var uc *net.UDPConn
	switch c := pc.(type) {
	case *net.UDPConn:
		uc = c
	case connectedPC:
		uc = c.UDPConn
	default:
		return nil
	}
	allow, ok := forbidFragments(uc)
	if !ok {
		return nil
	}
	return &pathMTU{allow: allow}
}

// probing reports whether probes still prove a path's MTU.
func (p *pathMTU) probing() bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.fragment
}

// fallback allows fragmentation on the socket.
func (p *pathMTU) fallback() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.fragment {
		p.fragment = true
		p.allow()
	}
}

// probeSizes returns the sizes to probe above base, largest first.
func probeSizes(base, max int) []int {
	var s []int
	if max > base {
		s = append(s, max)
	}
	for _, c := range mtuCandidates {
		if c > base && c < max {
			s = append(s, c)
		}
	}
	return s
}
