package dtls

import "fmt"

// Peers returns how many peers the listener holds state for: handshakes in
// progress, conns waiting for Accept, and accepted conns.
func (l *Listener) Peers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}

// Stats returns the sender's counters: segments sent (retransmissions
// included), retransmitted, deemed lost by SACK, and retransmission
// timeouts; and the current cwnd and smoothed RTT.
func (c *Conn) Stats() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	return fmt.Sprintf("sent %d, retrans %d, sack-lost %d, rtos %d, cwnd %d, srtt %v", s.sent, s.retrans, s.lost, s.rtos, c.cwnd, c.srtt)
}
