package certs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
//	FINGERPRINT [NAME] [# comment]
//
// Blank lines and lines starting with '#' are ignored. A fingerprint may
// appear on several lines, each giving it another name.
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

	mu      sync.Mutex
	fi      fs.FileInfo         // of the file entries came from; nil if none
	entries map[string][]string // canonical fingerprint → names, in file order
	err     error               // why the last read failed; entries is then empty
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
	return slices.Clone(s.entries[fp])
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
	_, ok := s.entries[fp]
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
		s.fi, s.entries, s.err = nil, nil, fmt.Errorf("certs: %w", err)
		return
	}
	if sameFile(fi, s.fi) && s.err == nil {
		return
	}
	if err := s.reload(); err != nil {
		s.entries, s.err = nil, err
	}
}

// reload reads the file, recording its stat before reading so that a change
// made during the read is seen by the next refresh. Called with s.mu held.
func (s *FingerprintStore) reload() error {
	s.entries, s.err = nil, nil
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
	entries, err := parseStore(data, s.path)
	if err != nil {
		return err
	}
	s.entries = entries
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
func parseStore(data []byte, path string) (map[string][]string, error) {
	entries := map[string][]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(err error) error { return fmt.Errorf("certs: %s:%d: %w", path, i+1, err) }
		if len(f) > 2 {
			return nil, bad(errors.New("too many fields; want FINGERPRINT [NAME] [# comment]"))
		}
		fp, err := ParseFingerprint(f[0])
		if err != nil {
			return nil, bad(err)
		}
		names := entries[fp]
		if len(f) == 2 {
			if err := checkName(f[1]); err != nil {
				return nil, bad(err)
			}
			if !slices.Contains(names, f[1]) {
				names = append(names, f[1])
			}
		}
		entries[fp] = names
	}
	return entries, nil
}

// AddFingerprint appends the line "FINGERPRINT [NAME]" to the fingerprint
// file at path, creating the file (mode 0600) and its directory (mode 0700)
// if needed. It is idempotent: nothing is written if the file already has
// fp under that name, or has fp at all when name is empty. fp may be in any
// form [ParseFingerprint] accepts and is written in canonical form. A
// malformed existing file is an error, and is left alone.
func AddFingerprint(path, fp, name string) (err error) {
	fp, err = ParseFingerprint(fp)
	if err != nil {
		return err
	}
	if name != "" {
		if err := checkName(name); err != nil {
			return err
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
	entries, err := parseStore(data, path)
	if err != nil {
		return err
	}
	if names, ok := entries[fp]; ok && (name == "" || slices.Contains(names, name)) {
		return nil
	}
	line := fp
	if name != "" {
		line += " " + name
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
