package directory

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// liveness is what a relay's heartbeats say about one of its entries.
type liveness int

const (
	// dead: the entry's relay incarnation has not renewed its lease for a
	// whole lease, or a newer incarnation of that relay is alive. The entry
	// reads as absent and may be evicted or taken over.
	dead liveness = iota
	// unknown: no heartbeat of the entry's incarnation within the lease,
	// but not for long enough to be sure either: the entry was written
	// less than a lease ago (its relay's first heartbeat may still be on
	// its way to us), or the watch was restarted less than a lease ago
	// (after an outage of the store, relays need a moment to renew).
	// The entry reads as present and keeps its name; nothing evicts it.
	unknown
	// live: its relay incarnation renewed within the lease.
	live
)

// heartbeat is the latest heartbeat of one relay incarnation.
type heartbeat struct {
	info RelayInfo // info.Since is the incarnation
	at   time.Time // when the store wrote it, by the store's clock
}

// view is this relay's picture of the relays bucket, fed by a watch on it,
// so that deciding whether an entry is alive costs no round trip.
//
// All times in it are the store's: the time the store wrote a heartbeat or
// an entry. To compare them with now, the view estimates the store's clock
// from this relay's own heartbeats, which it sees moments after writing
// them (see [view.ownBeat]), so the hosts' clocks need not agree.
//
// A view is safe for concurrent use.
type view struct {
	lease time.Duration
	self  string // this relay's ID

	mu     sync.RWMutex
	relays map[string]map[int64]heartbeat // relay ID → incarnation → its latest heartbeat
	// base is the store time from which the current watch has been
	// running: silence before it proves nothing. Zero for the first
	// watch, whose snapshot of the bucket is the store's own account of
	// which heartbeats are younger than the lease. After the watch is
	// restarted (a reconnect, typically) it is the restart time, because
	// heartbeats may have expired while nobody could renew them.
	base time.Time
	// suspended is set from the moment the connection drops (or the
	// watch ends) until a new watch runs: meanwhile the view misses
	// heartbeats, so it declares nothing dead.
	suspended bool
	// skew is this host's clock minus the store's, from the newest own
	// heartbeat seen (delivery latency included, which errs on the side
	// of entries looking younger).
	skew time.Duration
	// ownAt is the store time of the newest own heartbeat seen, and
	// ownSeen when (this host's clock) the watch delivered it: a watch
	// that stops delivering them is stuck.
	ownAt, ownSeen time.Time
}

func newView(lease time.Duration, self string) *view {
	return &view{lease: lease, self: self, relays: make(map[string]map[int64]heartbeat)}
}

// setLease sets the lease, before the view is in use.
func (v *view) setLease(l time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lease = l
}

// now returns the store's clock, estimated.
func (v *view) now() time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return time.Now().Add(-v.skew)
}

// beat records a heartbeat the watch delivered, at local time recv.
func (v *view) beat(hb heartbeat, recv time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	// A restarted watch delivers the last heartbeat again, which may be
	// old news (written before an outage): only a newer one says when now is.
	if hb.info.ID == v.self && hb.at.After(v.ownAt) {
		v.skew = recv.Sub(hb.at)
		v.ownAt, v.ownSeen = hb.at, recv
	}
	incs := v.relays[hb.info.ID]
	if incs == nil {
		incs = make(map[int64]heartbeat)
		v.relays[hb.info.ID] = incs
	}
	inc := hb.info.Since.UnixNano()
	if old, ok := incs[inc]; !ok || hb.at.After(old.at) {
		incs[inc] = hb
	}
	v.pruneLocked(recv.Add(-v.skew))
}

// gone records that a relay's heartbeat key was deleted (not expired:
// expiry by the bucket's age limit makes no event on this server version).
func (v *view) gone(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.relays, id)
}

// pruneLocked forgets incarnations silent for two leases: by then every
// entry of theirs reads as dead without them (its base is older still).
func (v *view) pruneLocked(now time.Time) {
	for id, incs := range v.relays {
		for inc, hb := range incs {
			if now.Sub(hb.at) > 2*v.lease {
				delete(incs, inc)
			}
		}
		if len(incs) == 0 {
			delete(v.relays, id)
		}
	}
}

// suspend records that the view stopped receiving heartbeats.
func (v *view) suspend() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.suspended = true
}

// restarted records that the watch started again at store time at. The
// new watch has a lease to deliver an own heartbeat before it is stuck.
func (v *view) restarted(at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.base, v.suspended = at, false
	v.ownSeen = time.Now()
}

// stuck reports whether the watch has delivered none of this relay's own
// heartbeats for a lease, though they are renewed every third of one.
func (v *view) stuck(now time.Time) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return now.Sub(v.ownSeen) > v.lease
}

// state tells whether an entry that incarnation inc of relay wrote at
// store time written is alive at store time now.
func (v *view) state(relay string, inc int64, written, now time.Time) liveness {
	v.mu.RLock()
	defer v.mu.RUnlock()
	incs := v.relays[relay]
	for i, hb := range incs {
		// The relay restarted: its previous run's agents are not
		// connected to the new one (those that reconnect register again).
		if i > inc && now.Sub(hb.at) < v.lease {
			return dead
		}
	}
	if v.suspended {
		if hb, ok := incs[inc]; ok && now.Sub(hb.at) < v.lease {
			return live
		}
		return unknown
	}
	base := written
	if hb, ok := incs[inc]; ok {
		if now.Sub(hb.at) < v.lease {
			return live
		}
		base = later(base, hb.at)
	}
	if now.Sub(later(base, v.base)) >= v.lease {
		return dead
	}
	return unknown
}

// live returns the relays with a live incarnation, the newest one each,
// sorted by ID.
func (v *view) live(now time.Time) []RelayInfo {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var list []RelayInfo
	for _, incs := range v.relays {
		var best *heartbeat
		for _, hb := range incs {
			if now.Sub(hb.at) < v.lease && (best == nil || hb.info.Since.After(best.info.Since)) {
				best = &hb
			}
		}
		if best != nil {
			list = append(list, best.info)
		}
	}
	slices.SortFunc(list, func(a, b RelayInfo) int { return cmp.Compare(a.ID, b.ID) })
	return list
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
