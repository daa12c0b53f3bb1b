package classic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// FileInfo describes a file, as Stat and ReadDir return it.
type FileInfo struct {
	Name    string
	Size    int64
	Mode    uint32 // fs.FileMode bits
	ModTime time.Time
	IsDir   bool
	UID     int
	GID     int
	Link    string // a symlink's target (Lstat and ReadDir only)
}

// FileMode returns Mode as an fs.FileMode.
func (fi FileInfo) FileMode() fs.FileMode { return fs.FileMode(fi.Mode) }

// HostInfo describes the far side.
type HostInfo struct {
	Hostname string
	OS, Arch string
	User     string
	UID, GID int
	Home     string
	Dir      string // working directory
	Time     time.Time
	PID      int
}

// Service is the classic administration service. The zero value serves
// the whole file system; Root confines it. Its methods are called through
// a session; each is also usable directly.
type Service struct {
	// Root, if set, confines every path to this directory.
	Root string
}

// ErrEscape reports a path that leaves the service's root.
var ErrEscape = fmt.Errorf("classic: path escapes the root: %w", fs.ErrPermission)

// path resolves name on the far side, inside Root when there is one.
// With follow, symlinks along the whole path must stay inside Root;
// without it, the last element is not followed.
func (s *Service) path(name string, follow bool) (string, error) {
	if s.Root == "" {
		return name, nil
	}
	root, err := filepath.EvalSymlinks(s.Root)
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, filepath.Clean("/"+name))
	dir, base := filepath.Split(p)
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			real = filepath.Clean(dir)
		} else {
			return "", err
		}
	}
	if follow {
		if r, err := filepath.EvalSymlinks(filepath.Join(real, base)); err == nil {
			real, base = filepath.Split(r)
		}
	}
	full := filepath.Join(real, base)
	if full != root && !strings.HasPrefix(full, root+string(filepath.Separator)) {
		return "", &fs.PathError{Op: "resolve", Path: name, Err: ErrEscape}
	}
	return full, nil
}

func infoOf(name string, fi fs.FileInfo, link string) FileInfo {
	out := FileInfo{Name: name, Size: fi.Size(), Mode: uint32(fi.Mode()), ModTime: fi.ModTime().UTC(), IsDir: fi.IsDir(), UID: -1, GID: -1, Link: link}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.UID, out.GID = int(st.Uid), int(st.Gid)
	}
	return out
}

// Stat describes a file, following symlinks.
func (s *Service) Stat(name string) (FileInfo, error) {
	p, err := s.path(name, true)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return FileInfo{}, err
	}
	return infoOf(fi.Name(), fi, ""), nil
}

// Lstat describes a file without following a final symlink.
func (s *Service) Lstat(name string) (FileInfo, error) {
	p, err := s.path(name, false)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return FileInfo{}, err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		link, _ = os.Readlink(p)
	}
	return infoOf(fi.Name(), fi, link), nil
}

// ReadDir lists a directory, sorted by name.
func (s *Service) ReadDir(name string) ([]FileInfo, error) {
	p, err := s.path(name, true)
	if err != nil {
		return nil, err
	}
	des, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, 0, len(des))
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			continue // vanished meanwhile
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, _ = os.Readlink(filepath.Join(p, de.Name()))
		}
		out = append(out, infoOf(de.Name(), fi, link))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ReadFile streams a file's contents from offset (for resuming).
func (s *Service) ReadFile(name string, offset int64) (io.Reader, error) {
	p, err := s.path(name, true)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &fileReader{f}, nil // closed by the session once streamed
}

// fileReader hides *os.File's Write, so the session streams it one way
// (to the caller) without asking the caller which way it wants it.
type fileReader struct{ f *os.File }

func (r *fileReader) Read(p []byte) (int, error) { return r.f.Read(p) }
func (r *fileReader) Close() error               { return r.f.Close() }

// WriteFile replaces a file atomically with the contents of r: the data
// goes to a temporary file beside it, which is renamed over the file only
// once complete, with the given mode.
func (s *Service) WriteFile(name string, r io.Reader, mode uint32) (int64, error) {
	p, err := s.path(name, true)
	if err != nil {
		return 0, err
	}
	dir, base := filepath.Split(p)
	tmp, err := os.CreateTemp(dir, "."+base+".hopwire-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Chmod(fs.FileMode(mode).Perm())
	}
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return n, err
	}
	return n, nil
}

// AppendFile appends the contents of r to a file, creating it with mode.
func (s *Service) AppendFile(name string, r io.Reader, mode uint32) (int64, error) {
	p, err := s.path(name, true)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fs.FileMode(mode).Perm())
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Remove removes a file or an empty directory.
func (s *Service) Remove(name string) error {
	p, err := s.path(name, false)
	if err != nil {
		return err
	}
	return os.Remove(p)
}

// RemoveAll removes a path and everything below it.
func (s *Service) RemoveAll(name string) error {
	p, err := s.path(name, false)
	if err != nil {
		return err
	}
	if s.Root != "" && filepath.Clean(p) == filepath.Clean(s.Root) {
		return &fs.PathError{Op: "removeall", Path: name, Err: fs.ErrPermission}
	}
	return os.RemoveAll(p)
}

// MkdirAll creates a directory and its parents (mkdir -p).
func (s *Service) MkdirAll(name string, mode uint32) error {
	p, err := s.path(name, true)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, fs.FileMode(mode).Perm())
}

// Rename renames a file.
func (s *Service) Rename(from, to string) error {
	pf, err := s.path(from, false)
	if err != nil {
		return err
	}
	pt, err := s.path(to, false)
	if err != nil {
		return err
	}
	return os.Rename(pf, pt)
}

// Chmod changes a file's mode.
func (s *Service) Chmod(name string, mode uint32) error {
	p, err := s.path(name, true)
	if err != nil {
		return err
	}
	return os.Chmod(p, fs.FileMode(mode))
}

// Chown changes a file's owner and group (-1 keeps one).
func (s *Service) Chown(name string, uid, gid int) error {
	p, err := s.path(name, true)
	if err != nil {
		return err
	}
	return os.Chown(p, uid, gid)
}

// Symlink creates newname as a symlink to oldname. Under a Root, the
// target must resolve inside it.
func (s *Service) Symlink(oldname, newname string) error {
	pn, err := s.path(newname, false)
	if err != nil {
		return err
	}
	if s.Root != "" {
		target := oldname
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(pn), target)
		}
		root, _ := filepath.EvalSymlinks(s.Root)
		if t := filepath.Clean(target); t != root && !strings.HasPrefix(t, root+string(filepath.Separator)) {
			return &fs.PathError{Op: "symlink", Path: oldname, Err: ErrEscape}
		}
	}
	return os.Symlink(oldname, pn)
}

// Readlink returns a symlink's target.
func (s *Service) Readlink(name string) (string, error) {
	p, err := s.path(name, false)
	if err != nil {
		return "", err
	}
	return os.Readlink(p)
}

// Glob returns the paths matching pattern (filepath.Match syntax).
func (s *Service) Glob(pattern string) ([]string, error) {
	if s.Root == "" {
		return filepath.Glob(pattern)
	}
	root, err := filepath.EvalSymlinks(s.Root)
	if err != nil {
		return nil, err
	}
	m, err := filepath.Glob(filepath.Join(root, filepath.Clean("/"+pattern)))
	if err != nil {
		return nil, err
	}
	for i := range m {
		m[i] = "/" + strings.TrimPrefix(strings.TrimPrefix(m[i], root), "/")
	}
	return m, nil
}

// Checksum returns a file's SHA-256 in hex, of its first n bytes when n ≥ 0
// (to check a partial transfer before resuming it).
func (s *Service) Checksum(name string, n int64) (string, error) {
	p, err := s.path(name, true)
	if err != nil {
		return "", err
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	var r io.Reader = f
	if n >= 0 {
		r = io.LimitReader(f, n)
	}
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// DiskUsage returns the bytes used by the files below name.
func (s *Service) DiskUsage(ctx context.Context, name string) (int64, error) {
	p, err := s.path(name, true)
	if err != nil {
		return 0, err
	}
	var total int64
	err = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable parts are skipped, as du does
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	return total, err
}

// Host describes the far side.
func (s *Service) Host() HostInfo {
	h := HostInfo{OS: runtime.GOOS, Arch: runtime.GOARCH, UID: os.Getuid(), GID: os.Getgid(), Time: time.Now().UTC(), PID: os.Getpid()}
	h.Hostname, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		h.User, h.Home = u.Username, u.HomeDir
	}
	h.Dir, _ = os.Getwd()
	return h
}

// Environ returns the far side's environment.
func (s *Service) Environ() []string { return os.Environ() }

// Getenv returns one variable and whether it is set.
func (s *Service) Getenv(key string) (string, bool) { return os.LookupEnv(key) }
