package classic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/hopwire/hopwire/session"
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

// Options configures a [Service] built by [NewService]. nil means the
// defaults: the whole file system, processes allowed.
type Options struct {
	// Root, if set, confines the service's file operations to this
	// directory tree (see the package documentation for what it does not
	// confine). It is opened once, by NewService.
	Root string
	// AllowProcesses lets a service with a Root run and signal processes
	// (Run, RunTTY, Start, Signal). They are not confined by the Root: a
	// process reaches whatever the node's user can. Grant it only to
	// principals that may run commands on the node anyway. Without a Root,
	// processes are always allowed.
	AllowProcesses bool
	// AllowCommand, if set, is asked about every command line a service
	// with a Root and AllowProcesses runs (Run, RunTTY, Start); an error
	// refuses it (wrapped in ErrProcessDenied). A relay passes its exec
	// policy here, so that under a root a principal runs exactly the
	// commands its exec grants name.
	AllowCommand func(argv []string) error
	// Audit, if set, receives one INFO record per action the service
	// carries out (see audit.go): a relay passes its log with the
	// principal's name and fingerprint.
	Audit *slog.Logger
}

// Service is the classic administration service. Its methods are called
// through a session; each is also usable directly, by several goroutines
// at once.
//
// The zero value serves the whole file system and runs processes. A
// Service confined to a root comes from [NewService]; its owner closes it
// once the session it serves has ended. Build one per session: the peer
// can call Close too (every exported method is callable), which ends only
// its own use of the root, and Signal reaches only the processes this
// Service started.
type Service struct {
	// Root, if set, confines the service's file operations to this
	// directory, as Options.Root does.
	//
	// Deprecated: use [NewService] with Options.Root, which opens the root
	// at once and reports a bad one. A Service literal with Root opens it
	// on its first file operation, refuses processes (AllowProcesses is
	// false) and is released by Close.
	Root string

	allowProcs bool
	allowCmd   func([]string) error
	audit      *slog.Logger // nil: no audit records

	open     sync.Once // opens the root: in NewService, or on first use
	root     *os.Root  // nil without a Root, or when opening failed (openErr)
	rootPath string    // Root made absolute, for the Dir of a process
	openErr  error
	escape   error // os.Root's error for an escape (see escapes)

	mu    sync.Mutex
	procs map[int]*os.Process // started and not yet reaped, by pid
}

// Sentinel errors, also seen through a session (both match
// fs.ErrPermission, and ErrProcessDenied session.ErrDenied too).
var (
	// ErrEscape reports a path or a symlink target that leaves the
	// service's root.
	ErrEscape = fmt.Errorf("classic: path escapes the root: %w", fs.ErrPermission)
	// ErrProcessDenied reports a process operation refused because the
	// service has a root and was not built with AllowProcesses.
	ErrProcessDenied error = processDenied{}
)

type processDenied struct{}

func (processDenied) Error() string {
	return "classic: processes are not confined by the classic root; running them needs an explicit exec grant"
}

func (processDenied) Is(target error) bool {
	return target == session.ErrDenied || target == fs.ErrPermission
}

// NewService returns a classic service configured by opts (nil: the whole
// file system, processes allowed). With a Root, it opens the root
// directory once, here, as an [os.Root]; every later file operation is
// resolved beneath that descriptor, even if the directory is renamed or
// replaced meanwhile. The caller closes the Service.
func NewService(opts *Options) (*Service, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Service{Root: o.Root, allowProcs: o.AllowProcesses, allowCmd: o.AllowCommand, audit: o.Audit}
	s.open.Do(s.openRoot)
	if s.openErr != nil {
		return nil, s.openErr
	}
	return s, nil
}

func (s *Service) openRoot() {
	if s.Root == "" {
		return
	}
	abs, err := filepath.Abs(s.Root)
	if err == nil {
		s.root, err = os.OpenRoot(abs)
	}
	if err != nil {
		s.openErr = fmt.Errorf("classic: root: %w", err)
		return
	}
	s.rootPath = abs
	s.escape = escapes(s.root)
}

// Close releases the root directory. Afterwards, file operations fail
// with fs.ErrClosed: a closed Service never falls back to the whole file
// system. Processes it started are not affected. Close is idempotent, and
// a no-op without a root.
func (s *Service) Close() error {
	s.open.Do(func() { // a literal that never opened its root never will
		if s.Root != "" {
			s.openErr = fmt.Errorf("classic: root: %w", fs.ErrClosed)
		}
	})
	if s.root != nil {
		return s.root.Close()
	}
	return nil
}

// confined reports whether the service has a root.
func (s *Service) confined() bool { return s.Root != "" }

// fs returns where the client's name is, and its name there: the host's
// file system and the name as given, or the root and the name made
// relative to it ("/a/b" is <root>/a/b; see rootName).
func (s *Service) fs(name string) (fsys, string, error) {
	if !s.confined() {
		return hostFS{}, name, nil
	}
	s.open.Do(s.openRoot)
	if s.openErr != nil {
		return nil, "", s.openErr
	}
	return rootFS{r: s.root, escape: s.escape}, rootName(name), nil
}

// notRoot refuses an operation on the root directory itself.
func (s *Service) notRoot(op, name, p string) error {
	if s.confined() && p == "." {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrPermission}
	}
	return nil
}

func infoOf(name string, fi fs.FileInfo, link string) FileInfo {
	out := FileInfo{Name: name, Size: fi.Size(), Mode: uint32(fi.Mode()), ModTime: fi.ModTime().UTC(), IsDir: fi.IsDir(), UID: -1, GID: -1, Link: link}
	if uid, gid, ok := owner(fi); ok {
		out.UID, out.GID = uid, gid
	}
	return out
}

// baseName is fi's name as the client sees it: the root is "/", not the
// name of a directory on the node.
func (s *Service) baseName(fi fs.FileInfo, p string) string {
	if s.confined() && p == "." {
		return "/"
	}
	return fi.Name()
}

// Stat describes a file, following symlinks.
func (s *Service) Stat(name string) (FileInfo, error) {
	fsys, p, err := s.fs(name)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := fsys.Stat(p)
	if err != nil {
		return FileInfo{}, err
	}
	return infoOf(s.baseName(fi, p), fi, ""), nil
}

// Lstat describes a file without following a final symlink.
func (s *Service) Lstat(name string) (FileInfo, error) {
	fsys, p, err := s.fs(name)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := fsys.Lstat(p)
	if err != nil {
		return FileInfo{}, err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		link, _ = fsys.Readlink(p)
	}
	return infoOf(s.baseName(fi, p), fi, link), nil
}

// ReadDir lists a directory, sorted by name.
func (s *Service) ReadDir(name string) ([]FileInfo, error) {
	fsys, p, err := s.fs(name)
	if err != nil {
		return nil, err
	}
	f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	des, err := f.ReadDir(-1)
	f.Close()
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
			link, _ = fsys.Readlink(filepath.Join(p, de.Name()))
		}
		out = append(out, infoOf(de.Name(), fi, link))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ReadFile streams a file's contents from offset (for resuming).
func (s *Service) ReadFile(name string, offset int64) (_ io.Reader, err error) {
	defer func() { audit(s.audit, "get", err, "path", bounded(name), "offset", offset) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return nil, err
	}
	f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
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
// once complete, with the given mode. A symlink at name is replaced, not
// followed.
func (s *Service) WriteFile(name string, r io.Reader, mode uint32) (n int64, err error) {
	defer func() { audit(s.audit, "put", err, "path", bounded(name), "bytes", n) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return 0, err
	}
	tmp, tmpName, err := createTemp(fsys, p)
	if err != nil {
		return 0, err
	}
	n, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Chmod(fs.FileMode(mode).Perm())
	}
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err == nil {
		err = fsys.Rename(tmpName, p)
	}
	if err != nil {
		fsys.Remove(tmpName)
		return n, err
	}
	return n, nil
}

// AppendFile appends the contents of r to a file, creating it with mode.
func (s *Service) AppendFile(name string, r io.Reader, mode uint32) (n int64, err error) {
	defer func() { audit(s.audit, "append", err, "path", bounded(name), "bytes", n) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return 0, err
	}
	f, err := fsys.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fs.FileMode(mode).Perm())
	if err != nil {
		return 0, err
	}
	n, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Remove removes a file or an empty directory (never the root).
func (s *Service) Remove(name string) (err error) {
	defer func() { audit(s.audit, "rm", err, "path", bounded(name)) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return err
	}
	if err := s.notRoot("remove", name, p); err != nil {
		return err
	}
	return fsys.Remove(p)
}

// RemoveAll removes a path and everything below it (never the root).
func (s *Service) RemoveAll(name string) (err error) {
	defer func() { audit(s.audit, "rm -r", err, "path", bounded(name)) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return err
	}
	if err := s.notRoot("removeall", name, p); err != nil {
		return err
	}
	return fsys.RemoveAll(p)
}

// MkdirAll creates a directory and its parents (mkdir -p).
func (s *Service) MkdirAll(name string, mode uint32) (err error) {
	defer func() { audit(s.audit, "mkdir", err, "path", bounded(name)) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return err
	}
	return fsys.MkdirAll(p, fs.FileMode(mode).Perm())
}

// Rename renames a file (never the root).
func (s *Service) Rename(from, to string) (err error) {
	defer func() { audit(s.audit, "rename", err, "from", bounded(from), "to", bounded(to)) }()
	fsys, pf, err := s.fs(from)
	if err != nil {
		return err
	}
	_, pt, err := s.fs(to)
	if err != nil {
		return err
	}
	if err := s.notRoot("rename", from, pf); err != nil {
		return err
	}
	if err := s.notRoot("rename", to, pt); err != nil {
		return err
	}
	return fsys.Rename(pf, pt)
}

// Chmod changes a file's mode.
func (s *Service) Chmod(name string, mode uint32) (err error) {
	defer func() { audit(s.audit, "chmod", err, "path", bounded(name), "mode", fmt.Sprintf("%#o", mode)) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return err
	}
	return fsys.Chmod(p, fs.FileMode(mode))
}

// Chown changes a file's owner and group (-1 keeps one).
func (s *Service) Chown(name string, uid, gid int) (err error) {
	defer func() { audit(s.audit, "chown", err, "path", bounded(name), "uid", uid, "gid", gid) }()
	fsys, p, err := s.fs(name)
	if err != nil {
		return err
	}
	return fsys.Chown(p, uid, gid)
}

// Symlink creates newname as a symlink to oldname. Under a root, oldname
// must be relative and have no ".." element, so that the link leads out
// of the root for no one who follows it, wherever it is later moved (see
// checkLinkTarget).
func (s *Service) Symlink(oldname, newname string) (err error) {
	defer func() { audit(s.audit, "symlink", err, "target", bounded(oldname), "path", bounded(newname)) }()
	fsys, pn, err := s.fs(newname)
	if err != nil {
		return err
	}
	if s.confined() {
		if err := checkLinkTarget(oldname); err != nil {
			return err
		}
	}
	return fsys.Symlink(oldname, pn)
}

// Readlink returns a symlink's target.
func (s *Service) Readlink(name string) (string, error) {
	fsys, p, err := s.fs(name)
	if err != nil {
		return "", err
	}
	return fsys.Readlink(p)
}

// Glob returns the paths matching pattern (filepath.Match syntax).
func (s *Service) Glob(pattern string) ([]string, error) {
	fsys, p, err := s.fs(pattern)
	if err != nil {
		return nil, err
	}
	m, err := fsys.Glob(p)
	if err != nil || !s.confined() {
		return m, err
	}
	for i := range m {
		m[i] = filepath.Clean("/" + m[i])
	}
	return m, nil
}

// Checksum returns a file's SHA-256 in hex, of its first n bytes when n ≥ 0
// (to check a partial transfer before resuming it).
func (s *Service) Checksum(name string, n int64) (string, error) {
	fsys, p, err := s.fs(name)
	if err != nil {
		return "", err
	}
	f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
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
	fsys, p, err := s.fs(name)
	if err != nil {
		return 0, err
	}
	var total int64
	err = fsys.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
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
