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
	return fmt.Sprintf("sent %d, retrans %d, sack-lost %d, rtos %d, random-loss %d, cwnd %d/%d, srtt %v, minrtt %v, round %v/%v lost %d/%d", s.sent, s.retrans, s.lost, s.rtos, s.randomLoss, c.cwnd, c.maxCwnd, c.srtt, c.minRTT, c.roundMinRTT, c.prevRoundMin, c.roundLost, c.roundDelivered)
}

// MTU returns the largest datagram the conn sends now.
func (c *Conn) MTU() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mtu
}
