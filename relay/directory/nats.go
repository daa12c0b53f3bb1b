package directory

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configures [Open]. A nil *Options means the defaults.
type Options struct {
	// Lease is how long a relay's registrations outlive its last renewal:
	// after a crash, its agents read as absent within Lease, and can be
	// taken over. A relay renews every third of it. Default 15 s, at
	// least 1 s. It is a property of the fleet, stored with its buckets
	// by the first relay to open them; a relay configured otherwise uses
	// the fleet's and logs a warning.
	Lease time.Duration
	// Fleet names the fleet's buckets (<fleet>-relays, <fleet>-agents), so
	// that several fleets can share one NATS account: letters, digits,
	// '-' and '_', at most 32. Default "hopwire".
	Fleet string
	// Logger receives connection lifecycle events (Info), failed renewals
	// (Warn) and evictions (Debug). Nil discards them.
	Logger *slog.Logger
	// Metrics are optional hooks for counting what the directory does.
	Metrics Metrics
	// TLS, if not nil, configures TLS to the servers: the relay's
	// certificate, for servers that verify their clients (NATS's tls
	// block with verify: true), and the roots that verify the servers
	// (nil: the system's). The connection then refuses a server without
	// TLS. tls:// URLs need TLS: with TLS nil they use the system's roots
	// and present no certificate.
	TLS *tls.Config
	// Credentials, if set, is a NATS credentials file (a user JWT and its
	// nkey seed) for servers that authenticate users with them.
	Credentials string
	// Replicas is how many servers of a NATS cluster keep each of the
	// fleet's buckets (1 to 5; default 1): with 3, the directory outlives
	// one server. Like Lease, it is set by the relay that creates the
	// buckets; a relay configured otherwise logs a warning.
	Replicas int
}

// Metrics are hooks the directory calls so that its owner can count its
// work without this package depending on a metrics library. Nil fields
// are not called. Hooks run on the caller's goroutine (or the
// directory's own, for renewals) and must not block.
type Metrics struct {
	// Lookup is called after every Lookup with its duration and result:
	// nil, ErrNotFound, or an error wrapping ErrUnavailable.
	Lookup func(d time.Duration, err error)
	// Evicted is called for every stale entry this relay removed from the
	// store (an entry whose relay's lease had expired).
	Evicted func()
	// Failed is called for every operation the store could not serve; op
	// is one of register, unregister, lookup, list, relays, evict,
	// heartbeat, reassert and watch.
	Failed func(op string, err error)
}

const (
	defaultLease = 15 * time.Second
	minLease     = time.Second
	defaultFleet = "hopwire"
	// openTimeout bounds Open when its ctx has no deadline.
	openTimeout = 10 * time.Second
	// registerAttempts bounds Register's compare-and-set retries.
	registerAttempts = 8
)

var fleetRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Open joins the fleet whose directory is at url, as the relay self, and
// returns its directory. The caller closes it.
//
// url is nats://host:port or tls://host:port (TLS required), or several
// of them separated by commas (the servers of one NATS cluster, all of
// one scheme); user and password may be given in the URL, a credentials
// file and TLS in opts.
//
// self.ID and self.Addr are required; Open sets self.Since. ctx bounds
// Open only (10 s when it has no deadline): once it returns, the
// directory renews its lease in the background until Close. Open fails
// with an error wrapping [ErrUnavailable] if the server cannot be reached;
// from then on the connection is re-established by itself whenever it
// drops.
func Open(ctx context.Context, url string, self RelayInfo, opts *Options) (Directory, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Lease == 0 {
		o.Lease = defaultLease
	}
	if o.Lease < minLease {
		return nil, fmt.Errorf("directory: lease %v is too short (at least %v)", o.Lease, minLease)
	}
	if o.Fleet == "" {
		o.Fleet = defaultFleet
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Replicas < 1 || o.Replicas > 5 {
		return nil, fmt.Errorf("directory: %d replicas: want 1 to 5 (the servers of a NATS cluster that keep each bucket)", o.Replicas)
	}
	if !fleetRe.MatchString(o.Fleet) {
		return nil, fmt.Errorf("directory: bad fleet name %q: want letters, digits, '-', '_' (at most 32)", clip(o.Fleet))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if self.ID == "" || self.Addr == "" {
		return nil, errors.New("directory: the relay's ID and address are required")
	}
	redacted, secure, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	if o.TLS == nil && secure {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if o.Credentials != "" {
		if _, err := os.Stat(o.Credentials); err != nil {
			return nil, fmt.Errorf("directory: credentials file: %w", err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, openTimeout)
		defer cancel()
	}
	return openNATS(ctx, url, redacted, self, o)
}

// ParseURL checks a directory URL as [Open] takes it (one, or a
// comma-separated list) and returns it with any password masked, for
// messages, and whether it asks for TLS (tls://).
func ParseURL(s string) (redacted string, secure bool, err error) {
	var parts []string
	schemes := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.Scheme == "" {
			if i := strings.LastIndex(part, "@"); i >= 0 {
				part = "xxxxx" + part[i:] // no password in messages
			}
			return "", false, fmt.Errorf("directory: bad URL %q: want nats://host:port", clip(part))
		}
		switch u.Scheme {
		case "nats", "tls":
		case "etcd":
			return "", false, fmt.Errorf("directory: %s: etcd is not implemented; the fleet directory runs on NATS JetStream (nats://host:port)", u.Redacted())
		default:
			return "", false, fmt.Errorf("directory: %s: unsupported scheme %q; the fleet directory runs on NATS JetStream (nats://host:port, or tls://host:port for TLS)", u.Redacted(), u.Scheme)
		}
		if u.Host == "" {
			return "", false, fmt.Errorf("directory: %s: no host; want nats://host:port", u.Redacted())
		}
		schemes[u.Scheme] = true
		parts = append(parts, u.Redacted())
	}
	redacted = strings.Join(parts, ",")
	if len(schemes) > 1 {
		return "", false, fmt.Errorf("directory: %s: mixes nats:// and tls://; the servers of one directory take one scheme", redacted)
	}
	return redacted, schemes["tls"], nil
}

// natsDir is the Directory on NATS JetStream key-value: see the package
// documentation for its layout and leases.
type natsDir struct {
	url    string // redacted, for errors and logs
	self   RelayInfo
	inc    int64 // self.Since in unix nanoseconds: this incarnation
	lease  time.Duration
	log    *slog.Logger
	hooks  Metrics
	nc     *nats.Conn
	relays jetstream.KeyValue
	agents jetstream.KeyValue
	js     jetstream.JetStream
	view   *view
	hbKey  string // this relay's key in the relays bucket

	mu   sync.Mutex
	mine map[string]ownEntry // agent name → what this relay registered

	// reconnected and rewatch carry the connection's reconnect events to
	// the renewal and watch loops; one pending event is enough.
	reconnected chan struct{}
	rewatch     chan struct{}

	ctx       context.Context // the directory's lifetime, ended by Close
	cancel    context.CancelFunc
	closed    atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// ownEntry is an entry this relay registered, kept so that it can write it
// again if the store lost it during an outage.
type ownEntry struct {
	fingerprint string
	since       time.Time
}

// relayRecord is the value of a relay's heartbeat key.
type relayRecord struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Since int64  `json:"since"` // unix ns; the incarnation
}

// entryRecord is the value of an agent's key.
type entryRecord struct {
	Fingerprint string `json:"fp"`
	Relay       string `json:"relay"`
	Addr        string `json:"addr"`
	Inc         int64  `json:"inc"` // the home relay's incarnation
	Since       int64  `json:"since"`
}

func openNATS(ctx context.Context, rawURL, redacted string, self RelayInfo, o Options) (_ Directory, err error) {
	d := &natsDir{
		url:         redacted,
		lease:       o.Lease,
		log:         o.Logger.With("directory", redacted, "relay", self.ID),
		hooks:       o.Metrics,
		mine:        make(map[string]ownEntry),
		reconnected: make(chan struct{}, 1),
		rewatch:     make(chan struct{}, 1),
		view:        newView(o.Lease, self.ID),
	}
	dial := 2 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < dial {
		dial = max(time.Until(dl), 10*time.Millisecond)
	}
	var extra []nats.Option
	if o.TLS != nil {
		extra = append(extra, nats.Secure(o.TLS))
	}
	if o.Credentials != "" {
		extra = append(extra, nats.UserCredentials(o.Credentials))
	}
	d.nc, err = nats.Connect(rawURL, append(extra,
		nats.Name("hopwire relay "+self.ID),
		nats.Timeout(dial),
		// Reconnect for ever, soon: the directory is useless without it.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		// Fail writes at once while disconnected rather than buffer them:
		// a registration replayed minutes later could be stale.
		nats.ReconnectBufSize(-1),
		// Notice a silent server within about a lease, not minutes.
		nats.PingInterval(max(o.Lease/3, time.Second)),
		nats.MaxPingsOutstanding(2),
		nats.NoCallbacksAfterClientClose(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			d.view.suspend()
			d.log.Warn("directory disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			d.log.Info("directory reconnected")
			signal(d.reconnected)
			signal(d.rewatch)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			d.log.Debug("directory connection error", "err", err)
		}),
	)...)
	if err != nil {
		if o.TLS != nil && strings.Contains(err.Error(), "closed by remote after TLS handshake") {
			// TLS 1.3 tells a client its certificate was refused only by
			// closing the connection after the handshake.
			err = fmt.Errorf("%w (a server that verifies its clients refused this relay's certificate, or it needs one: its tls block's ca_file must hold the CA that issued it)", err)
		}
		return nil, d.unavailable(err)
	}
	defer func() {
		if err != nil {
			d.nc.Close()
		}
	}()
	js, err := jetstream.New(d.nc)
	if err != nil {
		return nil, fmt.Errorf("directory: %s: %w", d.url, err)
	}
	d.js = js
	d.relays, err = d.bucket(ctx, js, jetstream.KeyValueConfig{
		Bucket:      o.Fleet + "-relays",
		Description: "hopwire fleet relays: one heartbeat key per relay, expiring after the lease",
		TTL:         o.Lease,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return nil, err
	}
	if st, err := d.relays.Status(ctx); err != nil {
		return nil, d.unavailable(err)
	} else if st.TTL() != o.Lease {
		d.log.Warn("the fleet's lease differs from this relay's; using the fleet's", "fleet_lease", st.TTL(), "lease", o.Lease)
		d.lease = st.TTL()
		d.view.setLease(d.lease)
		if d.lease < minLease {
			return nil, fmt.Errorf("directory: %s: the fleet's lease %v is too short (at least %v)", d.url, d.lease, minLease)
		}
	}
	d.agents, err = d.bucket(ctx, js, jetstream.KeyValueConfig{
		Bucket:      o.Fleet + "-agents",
		Description: "hopwire fleet agents: agent name → its home relay",
		Replicas:    o.Replicas,
	})
	if err != nil {
		return nil, err
	}
	if st, err := d.agents.Status(ctx); err == nil {
		if kst, ok := st.(*jetstream.KeyValueBucketStatus); ok && kst.StreamInfo().Config.Replicas != o.Replicas {
			d.log.Warn("the fleet's buckets have another number of replicas than this relay's setting; they keep theirs", "fleet_replicas", kst.StreamInfo().Config.Replicas, "replicas", o.Replicas)
		}
	}

	// This incarnation: its start time, to the nanosecond.
	d.inc = time.Now().UnixNano()
	self.Since = time.Unix(0, d.inc)
	d.self = self
	d.hbKey = encodeKey(self.ID)
	if err := d.beat(ctx); err != nil {
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	w, stop, err := d.watch(ctx)
	if err == nil {
		err = d.loadSnapshot(ctx, w)
	}
	if err != nil {
		if stop != nil {
			stop()
		}
		d.cancel()
		return nil, err
	}
	d.wg.Add(2)
	go d.watchLoop(w, stop)
	go d.renewLoop()
	d.log.Info("directory opened", "lease", d.lease)
	return d, nil
}

// bucket binds the bucket cfg names, creating it if it does not exist.
func (d *natsDir) bucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) { // another relay was quicker
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		// A server without JetStream does not answer its API at all.
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
			errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			err = fmt.Errorf("%w (is JetStream enabled? nats-server -js)", err)
		}
		return nil, d.unavailable(fmt.Errorf("bucket %s: %w", cfg.Bucket, err))
	}
	return kv, nil
}

// signal makes one event pending on c.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// unavailableError is an operation the store could not serve.
type unavailableError struct {
	url string
	err error
}

func (e *unavailableError) Error() string {
	return "directory: " + e.url + " unavailable: " + e.err.Error()
}

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

func (d *natsDir) unavailable(err error) error {
	if errors.Is(err, nats.ErrReconnectBufExceeded) {
		// What a write meets while reconnecting (there is no buffer).
		err = errNotConnected
	}
	return &unavailableError{url: d.url, err: err}
}

// fail counts a failed operation and returns its error.
func (d *natsDir) fail(op string, err error) error {
	if d.hooks.Failed != nil {
		d.hooks.Failed(op, err)
	}
	return d.unavailable(err)
}

// errNotConnected: the connection to the store is down (reconnecting).
var errNotConnected = errors.New("not connected, reconnecting")

// usable returns ErrClosed after Close, and an error wrapping
// ErrUnavailable at once while the connection is down, rather than let a
// request wait for the ctx's deadline.
func (d *natsDir) usable(op string) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if d.nc.Status() != nats.CONNECTED {
		return d.fail(op, errNotConnected)
	}
	return nil
}

// conflict reports whether err is a lost compare-and-set.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// Register implements [Directory].
//
// It is a compare-and-set loop: read the name's key, decide, and write
// with Create (the key must still be absent) or Update (it must still be
// at the revision read). Of two relays racing for one name, one write
// fails, that relay reads again and sees the winner.
func (d *natsDir) Register(ctx context.Context, name, fingerprint string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkFingerprint(fingerprint); err != nil {
		return err
	}
	key := encodeKey(name)
	since := time.Now()
	val := d.entryValue(fingerprint, since)
	for range registerAttempts {
		if err := d.usable("register"); err != nil {
			return err
		}
		cur, err := d.agents.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if _, err := d.agents.Create(ctx, key, val); conflict(err) {
				continue
			} else if err != nil {
				return d.fail("register", err)
			}
			d.remember(name, ownEntry{fingerprint, since})
			return nil
		}
		if err != nil {
			return d.fail("register", err)
		}
		rec, ok := decodeEntry(cur.Value())
		if ok && rec.Fingerprint == fingerprint && rec.Relay == d.self.ID && rec.Inc == d.inc {
			d.remember(name, ownEntry{fingerprint, time.Unix(0, rec.Since)})
			return nil // registered already
		}
		takeover := false
		if ok && rec.Fingerprint != fingerprint {
			if d.state(rec, cur) != dead {
				return ErrTaken
			}
			takeover = true
		}
		if _, err := d.agents.Update(ctx, key, val, cur.Revision()); conflict(err) {
			continue
		} else if err != nil {
			return d.fail("register", err)
		}
		if takeover {
			d.evicted(name, rec)
		}
		d.remember(name, ownEntry{fingerprint, since})
		return nil
	}
	return fmt.Errorf("directory: register %s: the entry kept changing under %d attempts", name, registerAttempts)
}

// Unregister implements [Directory]. The delete is revision-checked, so an
// entry another relay writes meanwhile survives it.
func (d *natsDir) Unregister(ctx context.Context, name, fingerprint string) error {
	d.mu.Lock()
	if own, ok := d.mine[name]; ok && own.fingerprint == fingerprint {
		delete(d.mine, name)
	}
	d.mu.Unlock()
	if checkName(name) != nil {
		return nil // never registered
	}
	if err := d.usable("unregister"); err != nil {
		return err
	}
	key := encodeKey(name)
	cur, err := d.agents.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return d.fail("unregister", err)
	}
	rec, ok := decodeEntry(cur.Value())
	if !ok || rec.Fingerprint != fingerprint || rec.Relay != d.self.ID || rec.Inc != d.inc {
		return nil // not ours (any more)
	}
	if err := d.agents.Delete(ctx, key, jetstream.LastRevision(cur.Revision())); err != nil && !conflict(err) {
		return d.fail("unregister", err)
	}
	return nil
}

// Lookup implements [Directory]: one read from the store, and the
// liveness of the entry's relay from the local view. An entry whose lease
// has expired is deleted (if it has not changed since it was read) and
// reported as not found.
func (d *natsDir) Lookup(ctx context.Context, name string) (Entry, error) {
	start := time.Now()
	e, err := d.lookup(ctx, name)
	if d.hooks.Lookup != nil {
		d.hooks.Lookup(time.Since(start), err)
	}
	return e, err
}

func (d *natsDir) lookup(ctx context.Context, name string) (Entry, error) {
	if err := checkName(name); err != nil {
		return Entry{}, err
	}
	if err := d.usable("lookup"); err != nil {
		return Entry{}, err
	}
	cur, err := d.agents.Get(ctx, encodeKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, d.fail("lookup", err)
	}
	rec, ok := decodeEntry(cur.Value())
	if !ok || d.state(rec, cur) == dead {
		d.evict(ctx, name, rec, cur.Revision())
		return Entry{}, ErrNotFound
	}
	return rec.entry(name), nil
}

// List implements [Directory]. It reads the whole agents bucket (one
// ordered consumer, not a request per key) and evicts the expired entries
// it meets.
func (d *natsDir) List(ctx context.Context) ([]Entry, error) {
	if err := d.usable("list"); err != nil {
		return nil, err
	}
	// The watch's subscription lasts until its ctx ends: end it on return.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := d.agents.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, d.fail("list", err)
	}
	defer stopWatch(w)
	type stale struct {
		name string
		rec  entryRecord
		rev  uint64
	}
	var list []Entry
	var expired []stale
	now := d.view.now()
	for {
		select {
		case kve, ok := <-w.Updates():
			if !ok {
				return nil, d.fail("list", nats.ErrConnectionClosed)
			}
			if kve == nil { // the end of the snapshot
				for _, s := range expired {
					d.evict(ctx, s.name, s.rec, s.rev)
				}
				slices.SortFunc(list, func(a, b Entry) int { return cmp.Compare(a.Name, b.Name) })
				return list, nil
			}
			name, err := decodeKey(kve.Key())
			if err != nil {
				continue // not written by this package
			}
			rec, ok := decodeEntry(kve.Value())
			if !ok || d.view.state(rec.Relay, rec.Inc, kve.Created(), now) == dead {
				expired = append(expired, stale{name, rec, kve.Revision()})
				continue
			}
			list = append(list, rec.entry(name))
		case <-ctx.Done():
			return nil, d.fail("list", ctx.Err())
		}
	}
}

// Relays implements [Directory], from the local view: no round trip.
func (d *natsDir) Relays(ctx context.Context) ([]RelayInfo, error) {
	if err := d.usable("relays"); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.view.live(d.view.now()), nil
}

// Close implements [Directory].
func (d *natsDir) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.cancel()
		d.wg.Wait()
		d.nc.Close()
		d.log.Info("directory closed")
	})
	return nil
}

// state is the liveness of an entry read from the store.
func (d *natsDir) state(rec entryRecord, cur jetstream.KeyValueEntry) liveness {
	return d.view.state(rec.Relay, rec.Inc, cur.Created(), d.view.now())
}

// evict deletes the expired entry of name at revision rev; an entry
// rewritten since then (a new registration) stays.
func (d *natsDir) evict(ctx context.Context, name string, rec entryRecord, rev uint64) {
	err := d.agents.Delete(ctx, encodeKey(name), jetstream.LastRevision(rev))
	switch {
	case conflict(err):
	case err != nil:
		d.fail("evict", err)
	default:
		d.evicted(name, rec)
	}
}

// evicted counts and logs an expired entry removed from the store.
func (d *natsDir) evicted(name string, rec entryRecord) {
	if d.hooks.Evicted != nil {
		d.hooks.Evicted()
	}
	d.log.Debug("evicted an expired entry", "agent", name, "home", rec.Relay)
}

func (d *natsDir) remember(name string, e ownEntry) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mine[name] = e
}

func (d *natsDir) entryValue(fingerprint string, since time.Time) []byte {
	b, _ := json.Marshal(entryRecord{
		Fingerprint: fingerprint, Relay: d.self.ID, Addr: d.self.Addr, Inc: d.inc, Since: since.UnixNano(),
	})
	return b
}

// decodeEntry decodes an agent's value; false for anything else, which
// the directory treats as expired (it cannot route to it).
func decodeEntry(b []byte) (entryRecord, bool) {
	var rec entryRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Fingerprint == "" || rec.Relay == "" {
		return entryRecord{}, false
	}
	return rec, true
}

func (rec entryRecord) entry(name string) Entry {
	return Entry{Name: name, Fingerprint: rec.Fingerprint, Relay: rec.Relay, Addr: rec.Addr, Since: time.Unix(0, rec.Since)}
}

// beat writes this relay's heartbeat: the one write per lease period that
// keeps all of its entries alive.
func (d *natsDir) beat(ctx context.Context) error {
	if err := d.usable("heartbeat"); err != nil {
		return err
	}
	b, _ := json.Marshal(relayRecord{ID: d.self.ID, Addr: d.self.Addr, Since: d.inc})
	if _, err := d.relays.Put(ctx, d.hbKey, b); err != nil {
		return d.fail("heartbeat", err)
	}
	return nil
}

// renewLoop renews the lease every third of it, and at once after a
// reconnect. After renewals failed, the first that succeeds writes this
// relay's entries again where the store lost them (see reassert).
func (d *natsDir) renewLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.lease / 3)
	defer t.Stop()
	failing := false
	nextPurge := time.Now().Add(markerPurgeEvery + rand.N(markerPurgeEvery))
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		case <-d.reconnected:
			failing = true
		}
		ctx, cancel := context.WithTimeout(d.ctx, d.lease/3)
		err := d.beat(ctx)
		cancel()
		if err == nil && failing {
			ctx, cancel := context.WithTimeout(d.ctx, d.lease)
			err = d.reassert(ctx)
			cancel()
		}
		switch {
		case err != nil && d.ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				d.log.Warn("lease renewal failed", "err", err)
			}
			failing = true
		case failing:
			d.log.Info("lease renewed again")
			failing = false
		}
		if err == nil && time.Now().After(nextPurge) {
			nextPurge = time.Now().Add(markerPurgeEvery + rand.N(markerPurgeEvery))
			ctx, cancel := context.WithTimeout(d.ctx, time.Minute)
			n, err := d.purgeMarkers(ctx, markerAge)
			cancel()
			if err != nil && d.ctx.Err() == nil {
				d.log.Info("old delete markers not purged", "err", err)
			} else if n > 0 {
				d.log.Debug("old delete markers purged", "markers", n)
			}
		}
	}
}

// The agents bucket keeps a delete marker for every name ever
// unregistered or evicted (watchers learn of deletions by them); relays
// purge those older than markerAge, every markerPurgeEvery or so (each
// relay, at a random point of its own period: the purges are idempotent).
const (
	markerAge        = 30 * time.Minute
	markerPurgeEvery = 30 * time.Minute
)

// purgeMarkers removes the agents bucket's delete markers older than age
// (all of them for age 0) and returns how many.
func (d *natsDir) purgeMarkers(ctx context.Context, age time.Duration) (int, error) {
	old, err := d.oldMarkers(ctx, age)
	n := 0
	for _, e := range old {
		if err != nil {
			break
		}
		if err = d.purgeUpTo(ctx, e); err == nil {
			n++
		}
	}
	return n, err
}

// oldMarkers returns the agents bucket's delete markers older than age.
func (d *natsDir) oldMarkers(ctx context.Context, age time.Duration) ([]jetstream.KeyValueEntry, error) {
	w, err := d.agents.WatchAll(ctx, jetstream.MetaOnly())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var old []jetstream.KeyValueEntry
	limit := time.Now().Add(-age)
	for e := range w.Updates() {
		if e == nil {
			break // caught up
		}
		if op := e.Operation(); (op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge) && !e.Created().After(limit) {
			old = append(old, e)
		}
	}
	return old, nil
}

// purgeUpTo removes marker's key from the store up to the marker itself,
// never past it: an entry written for that name since (a new
// registration) stays, whatever the timing.
func (d *natsDir) purgeUpTo(ctx context.Context, marker jetstream.KeyValueEntry) error {
	bucket := d.agents.Bucket()
	st, err := d.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return err
	}
	return st.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bucket+"."+marker.Key()), jetstream.WithPurgeSequence(marker.Revision()+1))
}

// reassert writes this relay's entries again where they are missing. After
// an outage of the store longer than the lease, another relay that came
// back first may have evicted them before this one could renew; they are
// written only where the key is absent, so a name that has since moved or
// been taken stays where it is.
func (d *natsDir) reassert(ctx context.Context) error {
	d.mu.Lock()
	own := maps.Clone(d.mine)
	d.mu.Unlock()
	n := 0
	for name, e := range own {
		key := encodeKey(name)
		rev, err := d.agents.Create(ctx, key, d.entryValue(e.fingerprint, e.since))
		switch {
		case conflict(err):
			continue
		case err != nil:
			d.fail("reassert", err)
			return d.unavailable(err)
		}
		d.mu.Lock()
		still := d.mine[name] == e
		d.mu.Unlock()
		if !still {
			// Unregistered meanwhile, perhaps before the entry was
			// written: take it back (Unregister may have found nothing).
			d.agents.Delete(ctx, key, jetstream.LastRevision(rev))
			continue
		}
		n++
	}
	if n > 0 {
		d.log.Info("wrote again entries the store had lost", "entries", n)
	}
	return nil
}

// watch starts a watch on the relays bucket. Its subscription lasts until
// stop is called; starting it is bounded by ctx.
func (d *natsDir) watch(ctx context.Context) (jetstream.KeyWatcher, func(), error) {
	if err := d.usable("watch"); err != nil {
		return nil, nil, err
	}
	// The subscription ends when the ctx given to WatchAll does, so it
	// gets one of its own, cancelled by stop or if ctx ends before the
	// watch is up.
	wctx, wcancel := context.WithCancel(d.ctx)
	unbind := context.AfterFunc(ctx, wcancel)
	w, err := d.relays.WatchAll(wctx)
	if !unbind() || err != nil {
		wcancel()
		if err == nil {
			stopWatch(w)
			err = ctx.Err()
		}
		return nil, nil, d.fail("watch", err)
	}
	return w, func() { wcancel(); stopWatch(w) }, nil
}

// stopWatch stops w and waits for its last update: the library's delivery
// goroutine blocks on the updates channel, which it closes when done.
func stopWatch(w jetstream.KeyWatcher) {
	w.Stop()
	for range w.Updates() {
	}
}

// loadSnapshot applies the watch's first updates, the bucket as it is,
// up to their end.
func (d *natsDir) loadSnapshot(ctx context.Context, w jetstream.KeyWatcher) error {
	for {
		select {
		case kve, ok := <-w.Updates():
			if !ok {
				return d.fail("watch", nats.ErrConnectionClosed)
			}
			if kve == nil {
				return nil
			}
			d.apply(kve)
		case <-ctx.Done():
			return d.fail("watch", ctx.Err())
		}
	}
}

// apply feeds one update of the relays bucket to the view.
func (d *natsDir) apply(kve jetstream.KeyValueEntry) {
	id, err := decodeKey(kve.Key())
	if err != nil {
		return
	}
	if kve.Operation() != jetstream.KeyValuePut {
		d.view.gone(id)
		return
	}
	var rec relayRecord
	if json.Unmarshal(kve.Value(), &rec) != nil || rec.ID != id {
		return
	}
	d.view.beat(heartbeat{info: RelayInfo{ID: rec.ID, Addr: rec.Addr, Since: time.Unix(0, rec.Since)}, at: kve.Created()}, time.Now())
}

// watchLoop keeps the view current. It restarts the watch after a
// reconnect (the server may have restarted, and its consumer with it),
// when the watch ends, and when it stops delivering this relay's own
// heartbeats.
func (d *natsDir) watchLoop(w jetstream.KeyWatcher, stop func()) {
	defer d.wg.Done()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	t := time.NewTicker(d.lease / 3)
	defer t.Stop()
	var updates <-chan jetstream.KeyValueEntry
	if w != nil {
		updates = w.Updates()
	}
	restart := func() {
		d.view.suspend()
		if stop != nil {
			stop()
		}
		w, stop, updates = nil, nil, nil
		ctx, cancel := context.WithTimeout(d.ctx, d.lease/3)
		defer cancel()
		at := d.view.now()
		var err error
		if w, stop, err = d.watch(ctx); err != nil {
			return // the next tick or reconnect tries again
		}
		d.view.restarted(at)
		updates = w.Updates()
		d.log.Debug("relays watch restarted")
	}
	for {
		select {
		case <-d.ctx.Done():
			return
		case kve, ok := <-updates:
			switch {
			case !ok: // ended by itself
				restart()
			case kve != nil:
				d.apply(kve)
			}
		case <-d.rewatch:
			restart()
		case <-t.C:
			switch {
			case w == nil:
				restart()
			case d.view.stuck(time.Now()):
				d.log.Warn("the relays watch delivered none of this relay's heartbeats for a lease; restarting it")
				restart()
			}
		}
	}
}
