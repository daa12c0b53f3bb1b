package directory

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Entry is one registered agent: who it is and which relay it is
// connected to.
type Entry struct {
	// Name is the agent's name, unique in the fleet.
	Name string
	// Fingerprint is the agent's key fingerprint, as hopwire prints it
	// (certs.Fingerprint). A name belongs to a key, not to a connection:
	// the same key may move between relays, another key may not take it.
	Fingerprint string
	// Relay is the ID of the agent's home relay (its key fingerprint).
	Relay string
	// Addr is the hop address at which other relays reach the home relay,
	// such as tls://10.0.0.1:7443.
	Addr string
	// Since is when the agent registered at its home relay.
	Since time.Time
}

// RelayInfo describes one relay of the fleet.
type RelayInfo struct {
	// ID identifies the relay in the fleet: its key fingerprint.
	ID string
	// Addr is the hop address at which other relays reach this one.
	Addr string
	// Since is when this relay joined the fleet (opened its directory).
	// The directory sets it; it also tells the relay's incarnations apart,
	// so that a relay which restarts under the same ID does not revive
	// the entries of agents that were connected to its previous run.
	Since time.Time
}

// Directory is the fleet's shared record of which agent is registered at
// which relay. A relay registers the agents connected to it and looks up
// the home relay of an agent it is asked for.
//
// Registrations are leased: they last while the registering relay keeps
// its directory open (renewing in the background), and after [Directory.Close]
// or a crash they expire within the lease. An expired entry reads as
// absent and another key may take its name.
//
// Implementations are safe for concurrent use. Every method that can wait
// on the network is bounded by its ctx; once the store is unreachable
// they fail with an error wrapping [ErrUnavailable] rather than wait for
// it. After Close they return [ErrClosed].
type Directory interface {
	// Register records that the agent called name, holding the key
	// fingerprint, is connected to this relay. If the name is held by
	// another fingerprint whose lease is alive, it fails with [ErrTaken]:
	// the first holder keeps the name, fleet-wide. If the same fingerprint
	// holds it at another relay (an agent that failed over), the entry
	// moves here. Registering again what is already registered does nothing.
	Register(ctx context.Context, name, fingerprint string) error
	// Unregister removes name if it is still registered here with that
	// fingerprint; an entry that has since moved to another relay (or been
	// taken over after its lease expired) is left alone. Removing an
	// absent name is not an error.
	Unregister(ctx context.Context, name, fingerprint string) error
	// Lookup returns the live entry for name, or [ErrNotFound].
	Lookup(ctx context.Context, name string) (Entry, error)
	// List returns the live entries of the whole fleet, sorted by name.
	List(ctx context.Context) ([]Entry, error)
	// Relays returns the live relays of the fleet, this one included,
	// sorted by ID.
	Relays(ctx context.Context) ([]RelayInfo, error)
	// Close stops renewing this relay's lease and releases the connection
	// to the store. It is idempotent. The entries this relay registered are
	// not deleted: they expire with the lease, so a relay that restarts
	// quickly does not make its agents briefly unreachable.
	Close() error
}

// Errors a caller branches on.
var (
	// ErrNotFound: no live entry has that name.
	ErrNotFound = errors.New("directory: agent not found")
	// ErrTaken: another key holds the name and its lease is alive.
	ErrTaken = errors.New("directory: agent name is taken by another key")
	// ErrUnavailable: the store did not answer (down, unreachable, or
	// the ctx ended first). The directory reconnects by itself; callers
	// retry later. Errors wrapping it name the store's address.
	ErrUnavailable = errors.New("directory: store unavailable")
	// ErrClosed: the directory was closed.
	ErrClosed = errors.New("directory: closed")
)

// maxNameLen bounds an agent name, as hop's agent addresses do.
const maxNameLen = 64

// checkName accepts the names hop accepts for agents: 1 to 64 bytes of
// ASCII letters, digits, '-', '_' and '.'. The directory does not need
// the rule for itself (its key encoding takes any string), but refusing
// other names here keeps a bad name out of the fleet's shared store.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("directory: bad agent name %q: want 1 to %d letters, digits, '-', '_', '.'", clip(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) && name[i] != '.' {
			return fmt.Errorf("directory: bad agent name %q: want 1 to %d letters, digits, '-', '_', '.'", clip(name), maxNameLen)
		}
	}
	return nil
}

// checkFingerprint rejects an empty fingerprint, which would let any key
// match it.
func checkFingerprint(fp string) error {
	if fp == "" {
		return errors.New("directory: empty fingerprint")
	}
	return nil
}

// nameByte reports whether c is kept as is in a store key: the characters
// of agent names that NATS key-value keys also allow anywhere. '.' is a
// name character too, but a key may not start or end with it nor repeat
// it, so it is escaped.
func nameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
