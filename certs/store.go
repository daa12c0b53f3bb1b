package certs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// FingerprintStore is a set of trusted fingerprints read from a text file,
// the way ssh reads known_hosts and authorized_keys. It backs two files: the
// known-nodes file ([KnownNodesFile]: nodes a client trusts) and the
// authorized file ([AuthorizedFile]: clients a node accepts).
//
// The file has one entry per line:
//
//	FINGERPRINT [NAME [OPTION...]] [# comment]
//
// Blank lines and lines starting with '#' are ignored. A fingerprint may
// appear on several lines, each giving it another name or address. The
// options are:
//
//   - addr=HOST:PORT[,HOST:PORT…] binds the fingerprint to the addresses
//     of the hops it may answer for (known_nodes), the way known_hosts
//     binds a host key to a host: a node is accepted at a hop only with
//     the key bound to that hop (see [Trust.Addr]).
//   - shared lets the line's name belong to this fingerprint even though
//     another fingerprint has it too (a key rotation, a pool of nodes).
//     Without it a name held by two fingerprints is ambiguous, and is
//     nobody's: neither is accepted under that name, and neither gets it as
//     its principal.
//
// A name is a principal (authorized) or a node name (known_nodes); the
// names "stdio" and those with ':' (ssh:USER, fp:…) are reserved and
// cannot appear.
//
// The store follows its file: when the file changes (checked with one stat
// per lookup), the next lookup reads it again, so a running node sees entries
// added by "hopwire trust" and stops trusting removed ones. If the file
// becomes unreadable or invalid, the store trusts nothing until it is fixed
// (the reason shows in [UnknownPeerError]).
//
// A FingerprintStore is safe for concurrent use. The zero value is an empty
// store with no file.
type FingerprintStore struct {
	path string

	mu   sync.Mutex
	fi   fs.FileInfo // of the file entries came from; nil if none
	data storeData   // what the file says, plus entries added with Add
	mem  storeData   // entries added with Add (kept across reloads)
	err  error       // why the last read failed; data is then empty
}

// storeData is the parsed content of a fingerprint file.
type storeData struct {
	entries map[string]*storeEntry // canonical fingerprint → entry
	owners  map[string][]string    // name → fingerprints that have it, in file order
	shared  map[string]bool        // names marked shared on some line
}

// storeEntry is what the file says about one fingerprint.
type storeEntry struct {
	names []string // in file order, without duplicates
	addrs []string // normalised HOST:PORT, without duplicates
}

// add records one line's content.
func (d *storeData) add(fp, name string, addrs []string, shared bool) {
	if d.entries == nil {
		d.entries, d.owners, d.shared = map[string]*storeEntry{}, map[string][]string{}, map[string]bool{}
	}
	e := d.entries[fp]
	if e == nil {
		e = &storeEntry{}
		d.entries[fp] = e
	}
	if name != "" {
		if !slices.Contains(e.names, name) {
			e.names = append(e.names, name)
		}
		if !slices.Contains(d.owners[name], fp) {
			d.owners[name] = append(d.owners[name], fp)
		}
		if shared {
			d.shared[name] = true
		}
	}
	for _, a := range addrs {
		if !slices.Contains(e.addrs, a) {
			e.addrs = append(e.addrs, a)
		}
	}
}

// merge adds o's entries to d.
func (d *storeData) merge(o storeData) {
	for fp, e := range o.entries {
		if len(e.names) == 0 {
			d.add(fp, "", e.addrs, false)
		}
		for _, n := range e.names {
			d.add(fp, n, e.addrs, o.shared[n])
		}
	}
}

// unambiguous reports whether name belongs to fp alone, or is shared.
func (d *storeData) unambiguous(name, fp string) bool {
	owners := d.owners[name]
	return slices.Contains(owners, fp) && (len(owners) == 1 || d.shared[name])
}

// LoadFingerprints reads the fingerprint file at path. A missing file is an
// empty store, not an error (it may be created later, for instance by
// [AddFingerprint]); a malformed line is an error that names the line.
func LoadFingerprints(path string) (*FingerprintStore, error) {
	s := &FingerprintStore{path: path}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the file the store reads, as given to [LoadFingerprints].
func (s *FingerprintStore) Path() string { return s.path }

// Contains reports whether the fingerprint fp (in any form
// [ParseFingerprint] accepts) is in the store.
func (s *FingerprintStore) Contains(fp string) bool {
	ok, _ := s.lookup(fp)
	return ok
}

// Names returns the names the store gives the fingerprint fp, in file order
// and without duplicates; nil if fp is not in the store or has no name.
func (s *FingerprintStore) Names(fp string) []string {
	fp, err := ParseFingerprint(fp)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	if e := s.data.entries[fp]; e != nil {
		return slices.Clone(e.names)
	}
	return nil
}

// Principal returns the name the store gives fp as a principal: its first
// name in file order that no other fingerprint has (unless the name is
// marked shared). It returns "" if fp is not in the store or has no such
// name. The certificate's own CommonName plays no part: a fingerprint-
// trusted peer is who the trust file says it is.
func (s *FingerprintStore) Principal(fp string) string {
	fp, err := ParseFingerprint(fp)
	if err != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	if e := s.data.entries[fp]; e != nil {
		for _, n := range e.names {
			if s.data.unambiguous(n, fp) {
				return n
			}
		}
	}
	return ""
}

// Owners returns the fingerprints the store gives name, in file order.
func (s *FingerprintStore) Owners(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	return slices.Clone(s.data.owners[name])
}

// Add adds an entry to the store in memory only (the file is not
// written; see [AddFingerprint] for that): fp under name (optional), bound
// to addrs (HOST:PORT, optional). It is how a program that keeps its trust
// elsewhere fills a store, and a store with no file starts empty.
func (s *FingerprintStore) Add(fp, name string, addrs ...string) error {
	fp, err := ParseFingerprint(fp)
	if err != nil {
		return err
	}
	if name != "" {
		if err := checkName(name); err != nil {
			return err
		}
	}
	norm := make([]string, 0, len(addrs))
	for _, a := range addrs {
		n, err := normAddr(a)
		if err != nil {
			return err
		}
		norm = append(norm, n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mem.add(fp, name, norm, false)
	s.data.add(fp, name, norm, false)
	return nil
}

// binding is what the store says about fp at a hop reached at addr (a
// normalised HOST:PORT, or "") that should be called name (or ""): whether
// fp is in the store at all, whether it is bound to that hop, and the
// fingerprints that are.
func (s *FingerprintStore) binding(fp, addr, name string) (known, bound bool, want []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	d := &s.data
	for f, e := range d.entries {
		if (addr != "" && slices.Contains(e.addrs, addr)) || (name != "" && d.unambiguous(name, f)) {
			want = append(want, f)
		}
	}
	slices.Sort(want)
	_, known = d.entries[fp]
	return known, slices.Contains(want, fp), want, s.err
}

// unbound reports whether fp is in the store without any address, and its
// names (if any) are its own.
func (s *FingerprintStore) unbound(fp string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	e := s.data.entries[fp]
	if e == nil || len(e.addrs) > 0 {
		return false
	}
	for _, n := range e.names {
		if !s.data.unambiguous(n, fp) {
			return false
		}
	}
	return true
}

// addrs returns the addresses fp is bound to (for messages).
func (s *FingerprintStore) addrs(fp string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	if e := s.data.entries[fp]; e != nil {
		return slices.Clone(e.addrs)
	}
	return nil
}

// lookup reports whether fp is in the store and, if the file could not be
// read, why.
func (s *FingerprintStore) lookup(fp string) (bool, error) {
	fp, err := ParseFingerprint(fp)
	if err != nil {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	_, ok := s.data.entries[fp]
	return ok, s.err
}

// refresh re-reads the file if it changed since it was last read. On failure
// the store is left empty, with the reason in s.err. Called with s.mu held.
func (s *FingerprintStore) refresh() {
	if s.path == "" {
		return
	}
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fi = nil
	case err != nil:
		s.fi, s.data, s.err = nil, storeData{}, fmt.Errorf("certs: %w", err)
		return
	}
	if sameFile(fi, s.fi) && s.err == nil {
		return
	}
	if err := s.reload(); err != nil {
		s.data, s.err = storeData{}, err
	}
}

// reload reads the file, recording its stat before reading so that a change
// made during the read is seen by the next refresh. Called with s.mu held.
func (s *FingerprintStore) reload() error {
	s.data, s.err = storeData{}, nil
	s.data.merge(s.mem)
	if s.path == "" {
		return nil
	}
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.fi = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	s.fi = fi
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	parsed, err := parseStore(data, s.path)
	if err != nil {
		return err
	}
	s.data = parsed
	s.data.merge(s.mem)
	return nil
}

// sameFile reports whether two stats describe the same unchanged file (or
// both no file).
func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// parseStore parses the contents of a fingerprint file; path names it in
// errors.
func parseStore(data []byte, path string) (storeData, error) {
	d := storeData{entries: map[string]*storeEntry{}, owners: map[string][]string{}, shared: map[string]bool{}}
	for i, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(err error) error { return fmt.Errorf("certs: %s:%d: %w", path, i+1, err) }
		fp, err := ParseFingerprint(f[0])
		if err != nil {
			return storeData{}, bad(err)
		}
		name, shared, addrs := "", false, []string(nil)
		if len(f) >= 2 {
			name = f[1]
			if err := checkName(name); err != nil {
				return storeData{}, bad(err)
			}
		}
		for _, opt := range f[min(len(f), 2):] {
			switch {
			case opt == "shared":
				shared = true
			case strings.HasPrefix(opt, "addr="):
				for _, a := range strings.Split(opt[len("addr="):], ",") {
					n, err := normAddr(a)
					if err != nil {
						return storeData{}, bad(err)
					}
					addrs = append(addrs, n)
				}
			default:
				return storeData{}, bad(fmt.Errorf("unknown option %q; want FINGERPRINT [NAME [addr=HOST:PORT,…] [shared]] [# comment]", clip(opt)))
			}
		}
		d.add(fp, name, addrs, shared)
	}
	return d, nil
}

// normAddr checks a HOST:PORT and returns it normalised (host lower-case,
// IP addresses in canonical form, IPv6 in brackets), so that the addresses
// in a trust file compare equal to the ones dialled.
func normAddr(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("bad address %q: want HOST:PORT", clip(a))
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", fmt.Errorf("bad address %q: bad port", clip(a))
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	} else if err := checkHost(host); err != nil || strings.HasPrefix(host, "*") {
		return "", fmt.Errorf("bad address %q: bad host", clip(a))
	} else {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		if host == "" || strings.HasSuffix(host, ".") {
			return "", fmt.Errorf("bad address %q: bad host", clip(a))
		}
	}
	return net.JoinHostPort(host, port), nil
}

// Entry is one line of a fingerprint file (see [FingerprintStore]).
type Entry struct {
	// Fingerprint is the key's fingerprint, in any form [ParseFingerprint]
	// accepts; it is written in canonical form.
	Fingerprint string
	// Name is the principal (authorized) or node name (known_nodes);
	// optional.
	Name string
	// Addrs are the HOST:PORT addresses the key is bound to (known_nodes).
	Addrs []string
	// Shared marks Name as one that other fingerprints may have too.
	Shared bool
}

// AddFingerprint appends the line "FINGERPRINT [NAME]" to the fingerprint
// file at path, as [AddEntry] does.
func AddFingerprint(path, fp, name string) error {
	return AddEntry(path, Entry{Fingerprint: fp, Name: name})
}

// NameTakenError is the error of [AddEntry] for a name that another
// fingerprint already has in the file.
type NameTakenError struct {
	Name, Owner, Path string
}

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("certs: %s already gives the name %q to %s; a name is one key's unless the operator shares it (--shared), or pick another name", e.Path, e.Name, e.Owner)
}

// AddEntry appends e as a line to the fingerprint file at path, creating
// the file (mode 0600) and its directory (mode 0700) if needed. It is
// idempotent: nothing is written if the file already has the fingerprint
// under that name (or at all, when the name is empty) bound to every
// address given. A name that another fingerprint has already is refused
// with a [*NameTakenError] unless e.Shared is set. A malformed existing
// file is an error, and is left alone.
func AddEntry(path string, e Entry) (err error) {
	fp, err := ParseFingerprint(e.Fingerprint)
	if err != nil {
		return err
	}
	if e.Name != "" {
		if err := checkName(e.Name); err != nil {
			return err
		}
	} else if len(e.Addrs) > 0 || e.Shared {
		return errors.New("certs: an address or the shared mark needs a name")
	}
	addrs := make([]string, 0, len(e.Addrs))
	for _, a := range e.Addrs {
		n, err := normAddr(a)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		if !slices.Contains(addrs, n) {
			addrs = append(addrs, n)
		}
	}
	if err := mkdir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, fileMode)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("certs: %w", cerr)
		}
	}()
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	d, err := parseStore(data, path)
	if err != nil {
		return err
	}
	if e.Name != "" && !e.Shared {
		for _, o := range d.owners[e.Name] {
			if o != fp && !d.shared[e.Name] {
				return &NameTakenError{Name: e.Name, Owner: o, Path: path}
			}
		}
	}
	if ent, ok := d.entries[fp]; ok && (e.Name == "" || slices.Contains(ent.names, e.Name)) {
		var missing []string
		for _, a := range addrs {
			if !slices.Contains(ent.addrs, a) {
				missing = append(missing, a)
			}
		}
		if len(missing) == 0 && (!e.Shared || d.shared[e.Name]) {
			return nil
		}
		addrs = missing
	}
	line := fp
	if e.Name != "" {
		line += " " + e.Name
	}
	if len(addrs) > 0 {
		line += " addr=" + strings.Join(addrs, ",")
	}
	if e.Shared {
		line += " shared"
	}
	line += "\n"
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// StoreOf returns a store with no file that trusts each identity's key
// under the name its certificate carries: for a program that holds its
// peers' identities itself (tests, an embedded fleet). Identities whose
// names are invalid or reserved are trusted without a name.
func StoreOf(ids ...*Identity) *FingerprintStore {
	s := &FingerprintStore{}
	for _, id := range ids {
		if s.Add(id.Fingerprint(), id.Name()) != nil {
			s.Add(id.Fingerprint(), "")
		}
	}
	return s
}

// ReadEntries returns the entries of the fingerprint file at path, in
// file order, one per fingerprint and name (a missing file has none).
func ReadEntries(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if _, err := parseStore(data, path); err != nil {
		return nil, err
	}
	var out []Entry
	for _, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		fp, _ := ParseFingerprint(f[0])
		e := Entry{Fingerprint: fp}
		if len(f) >= 2 {
			e.Name = f[1]
		}
		for _, opt := range f[min(len(f), 2):] {
			if opt == "shared" {
				e.Shared = true
			} else if a, ok := strings.CutPrefix(opt, "addr="); ok {
				for _, x := range strings.Split(a, ",") {
					n, _ := normAddr(x)
					e.Addrs = append(e.Addrs, n)
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// RemoveEntries removes every line of the fingerprint file at path that
// names the fingerprint fp (in any form [ParseFingerprint] accepts), and
// returns how many it removed. Other lines, comments included, are kept
// as they are; the file is replaced atomically with the same mode.
func RemoveEntries(path, fp string) (int, error) {
	fp, err := ParseFingerprint(fp)
	if err != nil {
		return 0, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("certs: %w", err)
	}
	if _, err := parseStore(data, path); err != nil {
		return 0, err
	}
	lines := strings.SplitAfter(string(data), "\n")
	var kept strings.Builder
	removed := 0
	for _, line := range lines {
		body, _, _ := strings.Cut(line, "#")
		if f := strings.Fields(body); len(f) > 0 {
			if got, _ := ParseFingerprint(f[0]); got == fp {
				removed++
				continue
			}
		}
		kept.WriteString(line)
	}
	if removed == 0 {
		return 0, nil
	}
	tmp, err := writeTemp(filepath.Dir(path), "."+filepath.Base(path)+".*", []byte(kept.String()))
	if err != nil {
		return 0, fmt.Errorf("certs: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("certs: %w", err)
	}
	return removed, nil
}
