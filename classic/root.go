package classic

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// fsys is where a Service's file operations go: the host's file system
// ([hostFS]) or, under a root, an [os.Root] ([rootFS]). Names are the
// host's for the one and root-relative for the other; Service.fs
// translates the client's names.
type fsys interface {
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	Readlink(name string) (string, error)
	Remove(name string) error
	RemoveAll(name string) error
	MkdirAll(name string, perm fs.FileMode) error
	Rename(oldname, newname string) error
	Chmod(name string, mode fs.FileMode) error
	Chown(name string, uid, gid int) error
	Symlink(oldname, newname string) error
	Glob(pattern string) ([]string, error)
	WalkDir(name string, fn fs.WalkDirFunc) error
}

// hostFS is the whole file system, through package os: a Service
// without a root.
type hostFS struct{}

func (hostFS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (hostFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }
func (hostFS) Lstat(name string) (fs.FileInfo, error)       { return os.Lstat(name) }
func (hostFS) Readlink(name string) (string, error)         { return os.Readlink(name) }
func (hostFS) Remove(name string) error                     { return os.Remove(name) }
func (hostFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (hostFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }
func (hostFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (hostFS) Chmod(name string, mode fs.FileMode) error    { return os.Chmod(name, mode) }
func (hostFS) Chown(name string, uid, gid int) error        { return os.Chown(name, uid, gid) }
func (hostFS) Symlink(oldname, newname string) error        { return os.Symlink(oldname, newname) }
func (hostFS) Glob(pattern string) ([]string, error)        { return filepath.Glob(pattern) }
func (hostFS) WalkDir(name string, fn fs.WalkDirFunc) error { return filepath.WalkDir(name, fn) }

// rootFS is a directory tree held open as an os.Root: every name is
// resolved beneath the root's descriptor, one component at a time and
// without following a link out of it (openat with O_NOFOLLOW, links read
// and resolved in user space: the effect of openat2's RESOLVE_BENEATH).
// A name is never turned into a host path and opened again, so swapping
// a component for a link between two steps cannot lead outside. Its
// methods report an escape as [ErrEscape].
type rootFS struct {
	r      *os.Root
	escape error // os.Root's own error for an escape (see escapes)
}

func (f rootFS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	file, err := f.r.OpenFile(name, flag, perm)
	return file, f.err(err)
}
func (f rootFS) Stat(name string) (fs.FileInfo, error) {
	fi, err := f.r.Stat(name)
	return fi, f.err(err)
}
func (f rootFS) Lstat(name string) (fs.FileInfo, error) {
	fi, err := f.r.Lstat(name)
	return fi, f.err(err)
}
func (f rootFS) Readlink(name string) (string, error) {
	target, err := f.r.Readlink(name)
	return target, f.err(err)
}
func (f rootFS) Remove(name string) error                     { return f.err(f.r.Remove(name)) }
func (f rootFS) RemoveAll(name string) error                  { return f.err(f.r.RemoveAll(name)) }
func (f rootFS) MkdirAll(name string, perm fs.FileMode) error { return f.err(f.r.MkdirAll(name, perm)) }
func (f rootFS) Rename(oldname, newname string) error         { return f.err(f.r.Rename(oldname, newname)) }
func (f rootFS) Chmod(name string, mode fs.FileMode) error    { return f.err(f.r.Chmod(name, mode)) }
func (f rootFS) Chown(name string, uid, gid int) error        { return f.err(f.r.Chown(name, uid, gid)) }
func (f rootFS) Symlink(oldname, newname string) error        { return f.err(f.r.Symlink(oldname, newname)) }

// Glob matches beneath the root: a directory reached through a link that
// leads out cannot be read, so nothing in it matches.
func (f rootFS) Glob(pattern string) ([]string, error) { return fs.Glob(f.r.FS(), pattern) }

// WalkDir walks beneath the root; the entries' Info is read relative to
// their directory's descriptor (os.File.ReadDir does so for a Root's files).
func (f rootFS) WalkDir(name string, fn fs.WalkDirFunc) error {
	return fs.WalkDir(f.r.FS(), name, func(p string, d fs.DirEntry, err error) error {
		return fn(p, d, f.err(err))
	})
}

// err turns os.Root's "path escapes from parent" into ErrEscape, which
// matches fs.ErrPermission on both sides of a session.
func (f rootFS) err(err error) error {
	if err == nil || f.escape == nil || !errors.Is(err, f.escape) {
		return err
	}
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return &fs.PathError{Op: pe.Op, Path: pe.Path, Err: ErrEscape}
	}
	return fmt.Errorf("%w: %w", err, ErrEscape)
}

// rootName translates a client's name to one inside the root, with
// today's meaning: the name is cleaned as if absolute, so "/a/b", "a/b"
// and "/../a/b" are all <root>/a/b, and "/" is the root itself (".").
func rootName(name string) string {
	p := filepath.Clean("/" + name)
	if p == "/" {
		return "."
	}
	return p[1:]
}

// escapes is the error os.Root gives for a name or link that leads out of
// the root. The package does not export it, so it is learnt from the
// root itself by asking for "..".
func escapes(r *os.Root) error {
	_, err := r.Lstat("..")
	if pe, ok := errors.AsType[*fs.PathError](err); ok && pe.Err != nil {
		return pe.Err
	}
	return nil
}

// checkLinkTarget refuses, under a root, the symlink targets that could
// lead out of it: absolute ones and any with a ".." element. A lexical
// check of ".." cannot be trusted (with "a -> .", "a/a/../.." climbs two
// levels while it cleans to nothing), and whatever a link's target
// resolves to when it is made, a later rename of the link or of a
// directory on the way can change. A target that is relative and only
// descends stays beneath the link's directory wherever the link is moved,
// for every reader: os.Root would refuse to follow an escaping link
// anyway, but the node's admin, a backup or a process would not.
func checkLinkTarget(target string) error {
	if target == "" {
		return &fs.PathError{Op: "symlink", Path: target, Err: fs.ErrInvalid}
	}
	if filepath.IsAbs(target) {
		return &fs.PathError{Op: "symlink", Path: target, Err: ErrEscape}
	}
	for _, el := range strings.Split(target, string(filepath.Separator)) {
		if el == ".." {
			return &fs.PathError{Op: "symlink", Path: target, Err: ErrEscape}
		}
	}
	return nil
}

// createTemp creates a new file beside name, as os.CreateTemp does
// (mode 0600, never an existing file), in fsys.
func createTemp(fsys fsys, name string) (*os.File, string, error) {
	dir, base := filepath.Split(name)
	for range 100 {
		var b [8]byte
		rand.Read(b[:])
		tmp := filepath.Join(dir, "."+base+".hopwire-"+hex.EncodeToString(b[:]))
		f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, tmp, err
	}
	return nil, "", &fs.PathError{Op: "createtemp", Path: name, Err: fs.ErrExist}
}
