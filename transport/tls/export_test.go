package tls

// InFlight reports how many connections hold a slot: handshakes in progress
// and authenticated conns not yet accepted.
func (l *Listener) InFlight() int { return l.pre.Stats().PreAuth }
