package directory

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is a [Directory] held in this process's memory: the directory of
// a relay that is not part of a fleet (today's single-relay registry), and
// a fleet in one process for tests, through [Memory.Join].
//
// It has no lease. A relay's entries die the moment its Memory is closed,
// or when the same relay ID joins again (a restart), which is what a
// lease's expiry does in a real fleet, without the wait.
//
// A Memory is safe for concurrent use; every method returns at once, and
// ctx only matters in that a ctx already done fails the call.
type Memory struct {
	fleet *memFleet
	self  RelayInfo
	// closed is guarded by fleet.mu.
	closed bool
}

// memFleet is the state the Memory values of one fleet share.
type memFleet struct {
	mu      sync.Mutex
	relays  map[string]*Memory  // relay ID → its current incarnation
	entries map[string]memEntry // agent name → its entry
}

// memEntry is an entry with the incarnation that registered it.
type memEntry struct {
	Entry
	home *Memory
}

// NewMemory returns the directory of a fleet of one relay, self. Its Since
// is set to now. The caller closes it.
func NewMemory(self RelayInfo) *Memory {
	f := &memFleet{relays: make(map[string]*Memory), entries: make(map[string]memEntry)}
	return f.join(self)
}

// Join returns the directory of another relay, self, of m's fleet: what
// it registers, the others see. If a relay with self.ID is in the fleet
// already, self replaces it, as a restarted relay replaces its previous
// run, and the previous Memory's entries are gone. The caller closes it.
func (m *Memory) Join(self RelayInfo) *Memory {
	return m.fleet.join(self)
}

func (f *memFleet) join(self RelayInfo) *Memory {
	self.Since = time.Now()
	m := &Memory{fleet: f, self: self}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.relays[self.ID]; old != nil {
		f.dropLocked(old)
	}
	f.relays[self.ID] = m
	return m
}

// liveLocked reports whether m is the open, current incarnation of its
// relay.
func (f *memFleet) liveLocked(m *Memory) bool {
	return !m.closed && f.relays[m.self.ID] == m
}

// dropLocked removes the entries m registered.
func (f *memFleet) dropLocked(m *Memory) {
	for name, e := range f.entries {
		if e.home == m {
			delete(f.entries, name)
		}
	}
}

// usableLocked returns the error of a call on m: ErrClosed once m is
// closed or replaced, ctx's error once it is done.
func (m *Memory) usableLocked(ctx context.Context) error {
	if !m.fleet.liveLocked(m) {
		return ErrClosed
	}
	return ctx.Err()
}

// Register implements [Directory].
func (m *Memory) Register(ctx context.Context, name, fingerprint string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkFingerprint(fingerprint); err != nil {
		return err
	}
	f := m.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := m.usableLocked(ctx); err != nil {
		return err
	}
	if cur, ok := f.entries[name]; ok && f.liveLocked(cur.home) {
		if cur.Fingerprint != fingerprint {
			return ErrTaken
		}
		if cur.home == m {
			return nil
		}
	}
	f.entries[name] = memEntry{
		Entry: Entry{Name: name, Fingerprint: fingerprint, Relay: m.self.ID, Addr: m.self.Addr, Since: time.Now()},
		home:  m,
	}
	return nil
}

// Unregister implements [Directory].
func (m *Memory) Unregister(ctx context.Context, name, fingerprint string) error {
	f := m.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := m.usableLocked(ctx); err != nil {
		return err
	}
	if cur, ok := f.entries[name]; ok && cur.home == m && cur.Fingerprint == fingerprint {
		delete(f.entries, name)
	}
	return nil
}

// Lookup implements [Directory].
func (m *Memory) Lookup(ctx context.Context, name string) (Entry, error) {
	f := m.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := m.usableLocked(ctx); err != nil {
		return Entry{}, err
	}
	cur, ok := f.entries[name]
	if !ok || !f.liveLocked(cur.home) {
		return Entry{}, ErrNotFound
	}
	return cur.Entry, nil
}

// List implements [Directory].
func (m *Memory) List(ctx context.Context) ([]Entry, error) {
	f := m.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := m.usableLocked(ctx); err != nil {
		return nil, err
	}
	list := make([]Entry, 0, len(f.entries))
	for _, e := range f.entries {
		if f.liveLocked(e.home) {
			list = append(list, e.Entry)
		}
	}
	slices.SortFunc(list, func(a, b Entry) int { return cmp.Compare(a.Name, b.Name) })
	return list, nil
}

// Relays implements [Directory].
func (m *Memory) Relays(ctx context.Context) ([]RelayInfo, error) {
	f := m.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := m.usableLocked(ctx); err != nil {
		return nil, err
	}
	list := make([]RelayInfo, 0, len(f.relays))
	for _, r := range f.relays {
		list = append(list, r.self)
	}
	slices.SortFunc(list, func(a, b RelayInfo) int { return cmp.Compare(a.ID, b.ID) })
	return list, nil
}

// Close implements [Directory]: m's entries are gone at once.
func (m *Memory) Close() error {
	f := m.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if f.relays[m.self.ID] == m {
		delete(f.relays, m.self.ID)
		f.dropLocked(m)
	}
	return nil
}

var _ Directory = (*Memory)(nil)
