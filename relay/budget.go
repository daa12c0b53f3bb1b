package relay

import (
	"fmt"
	"sync"

	"github.com/hopwire/hopwire/session"
)

// Defaults of Options.MaxLinksPerPeer and Options.MemoryBudget.
const (
	defaultMaxLinksPerPeer = 16
	defaultMemoryBudget    = 512 << 20
)

// admission caps what peers may hold at the node: links per key, and
// bytes buffered by all links (a [session.Budget] they draw from). A peer
// is counted by its key's fingerprint, whatever principal it is given;
// peers without one (a stdio link, an insecure tcp listener) are not
// capped by key.
type admission struct {
	maxLinks int             // per fingerprint; 0: no cap
	budget   *session.Budget // nil: none

	mu    sync.Mutex
	links map[string]int // open links by fingerprint
}

func newAdmission(o *Options) *admission {
	a := &admission{links: make(map[string]int)}
	switch {
	case o.MaxLinksPerPeer == 0:
		a.maxLinks = defaultMaxLinksPerPeer
	case o.MaxLinksPerPeer > 0:
		a.maxLinks = o.MaxLinksPerPeer
	}
	switch {
	case o.MemoryBudget == 0:
		a.budget = session.NewBudget(defaultMemoryBudget)
	case o.MemoryBudget > 0:
		a.budget = session.NewBudget(o.MemoryBudget)
	}
	return a
}

// admit is the links' session.LinkConfig.Admit: it refuses a link past
// the peer's cap or while the memory budget is spent. The refusal's text
// is what the client reads; the node logs it with the link's other
// refusals.
func (a *admission) admit(p session.Peer) (func(), error) {
	if a.budget.Exhausted() {
		return nil, fmt.Errorf("relay: node memory budget exhausted (%d MiB buffered); try again later", a.budget.Used()>>20)
	}
	fp := p.Fingerprint
	if fp == "" || a.maxLinks == 0 {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.links[fp] >= a.maxLinks {
		return nil, fmt.Errorf("relay: too many links from %s (cap %d per key)", fp, a.maxLinks)
	}
	a.links[fp]++
	return func() { // once, when the link ends
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.links[fp]--; a.links[fp] <= 0 {
			delete(a.links, fp)
		}
	}, nil
}
