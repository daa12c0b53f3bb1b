package preauth

import (
	"sync"
	"sync/atomic"
	"time"
)

// dropLogInterval is the least time between two "cap reached" warnings.
const dropLogInterval = time.Second

// Stats is a snapshot of a listener's connections that have not
// authenticated. The transports' own Stats types have the same fields
// (and convert from it); a node's state endpoint shows them.
type Stats struct {
	// PreAuth counts connections held between the accept and Accept.
	PreAuth int
	// Dropped counts connections closed before authentication, by
	// reason: "cap", "silent" and "refused" (see [Drops]).
	Dropped map[string]uint64
}

// Drops counts a listener's connections closed before authentication, by
// reason: "cap" (the pre-auth cap was reached), "silent" (the peer left,
// stalled, reset or was evicted without completing the handshake) and
// "refused" (the handshake failed or the peer was not trusted). The tls,
// ssh and dtls listeners all count with it, so the reasons a node's state
// endpoint shows ("tls:cap", "dtls:silent", …) are the same for each. A
// Drops is safe for concurrent use; its zero value is ready.
type Drops struct {
	cap, silent, refused atomic.Uint64

	mu       sync.Mutex
	lastWarn time.Time // of the last "cap reached" warning
	unwarned int       // cap drops since then
}

// CapReached counts a connection dropped at the cap. It reports whether a
// warning is due (the first drop, then at most one a second), and how many
// drops it covers.
func (d *Drops) CapReached() (n int, warn bool) {
	d.cap.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unwarned++
	if now := time.Now(); now.Sub(d.lastWarn) >= dropLogInterval {
		n, d.unwarned, d.lastWarn = d.unwarned, 0, now
		return n, true
	}
	return 0, false
}

// Failed counts a handshake that failed: as "silent" if the peer went
// away, stalled or was evicted, else as "refused".
func (d *Drops) Failed(silent bool) {
	if silent {
		d.silent.Add(1)
	} else {
		d.refused.Add(1)
	}
}

// Snapshot returns the counts by reason.
func (d *Drops) Snapshot() map[string]uint64 {
	return map[string]uint64{"cap": d.cap.Load(), "silent": d.silent.Load(), "refused": d.refused.Load()}
}
