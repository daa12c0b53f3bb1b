//go:build linux

package classic_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/classic"
)

const (
	secret   = "outside the root\n"
	harmless = "harmless\n"
)

// jail lays out base/secret (0600, outside) and base/jail/race (inside),
// and returns a service confined to base/jail.
func jail(t *testing.T, opts *classic.Options) (svc *classic.Service, base, root string) {
	t.Helper()
	base = t.TempDir()
	root = filepath.Join(base, "jail")
	if err := os.MkdirAll(filepath.Join(root, "race"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	o := classic.Options{}
	if opts != nil {
		o = *opts
	}
	o.Root = root
	svc, err := classic.NewService(&o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc, base, root
}

// checkSecret fails the test if the file outside the root was changed.
func checkSecret(t *testing.T, base string) {
	t.Helper()
	p := filepath.Join(base, "secret")
	b, err := os.ReadFile(p)
	if err != nil || string(b) != secret {
		t.Errorf("the file outside the root now holds %q (%v)", b, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the file outside the root changed mode: %v %v", fi.Mode(), err)
	}
}

// ctimeOf returns a file's change time.
func ctimeOf(t *testing.T, name string) syscall.Timespec {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ctim
}

// changed reports whether base/secret changed: its contents, its mode or
// its change time (which a chown to the same owner moves too).
func changed(base string, ctime syscall.Timespec) bool {
	p := filepath.Join(base, "secret")
	b, err := os.ReadFile(p)
	if err != nil || string(b) != secret {
		return true
	}
	fi, err := os.Stat(p)
	return err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Ctim != ctime
}

func readAll(r io.Reader, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

// F5 (b): a link through "a -> ." is lexically inside the root, but the
// kernel resolves each "a" before the "..": the link is refused, and one
// made on the host is not followed out.
func TestRootSymlinkLoop(t *testing.T) {
	svc, base, root := jail(t, nil)
	c := pair(t, svc)
	ctx := t.Context()
	if err := c.Symlink(ctx, ".", "/race/a"); err != nil {
		t.Fatal(err)
	}
	evil := "a/a/../../secret" // lexically /race/secret; really base/secret
	err := c.Symlink(ctx, evil, "/race/evil")
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Symlink(%q): %v; want a refusal", evil, err)
	}
	if err := os.Symlink(evil, filepath.Join(root, "race", "host-evil")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/race/evil", "/race/host-evil", "race/a/a/../../secret"} {
		if got, err := readAll(c.ReadFile(ctx, name, 0)); err == nil || got == secret {
			t.Errorf("ReadFile(%s) = %q, %v; want a refusal", name, got, err)
		}
		if sum, err := c.Checksum(ctx, name, -1); err == nil {
			t.Errorf("Checksum(%s) = %s; want a refusal", name, sum)
		}
	}
	if got, err := readAll(c.ReadFile(ctx, "/race/host-evil", 0)); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("ReadFile through an escaping link: %q %v; want fs.ErrPermission", got, err)
	}
	checkSecret(t, base)
}

// Symlink refuses the targets that could lead out of the root for whoever
// follows the link without the root (an admin, a backup, a process).
func TestRootSymlinkTargets(t *testing.T) {
	svc, _, root := jail(t, nil)
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"f", true},
		{"sub/f", true},
		{".", true},
		{"./f", true},
		{"../f", false},
		{"sub/../f", false},
		{"..", false},
		{"/etc/hostname", false},
		{filepath.Join(root, "f"), false}, // absolute, even inside: os.Root never follows it
		{"", false},
	} {
		t.Run(tc.target, func(t *testing.T) {
			err := svc.Symlink(tc.target, "/race/link")
			if tc.ok && err != nil {
				t.Fatalf("Symlink(%q): %v", tc.target, err)
			}
			if !tc.ok && (err == nil || (tc.target != "" && !errors.Is(err, fs.ErrPermission))) {
				t.Fatalf("Symlink(%q): %v; want a refusal", tc.target, err)
			}
			os.Remove(filepath.Join(root, "race", "link"))
		})
	}
}

// F5 (c): a swapper renames an escaping link and a regular file in turn
// at /race/f while the service works on /race/f. Whatever the
// interleaving, nothing outside the root is read or changed. The loop is
// bounded by time only to keep the test short; it asserts no timing.
func TestRootRenameRace(t *testing.T) {
	sum := sha256.Sum256([]byte(secret))
	secretSum := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		name string
		op   func(svc *classic.Service) (leaked bool)
	}{
		{"ReadFile", func(svc *classic.Service) bool {
			got, err := readAll(svc.ReadFile("/race/f", 0))
			return err == nil && got == secret
		}},
		{"Checksum", func(svc *classic.Service) bool {
			got, err := svc.Checksum("/race/f", -1)
			return err == nil && got == secretSum
		}},
		{"AppendFile", func(svc *classic.Service) bool {
			svc.AppendFile("/race/f", strings.NewReader(""), 0o644) // O_APPEND|O_CREAT alone is enough to tell
			svc.AppendFile("/race/f", strings.NewReader("x"), 0o644)
			return false // checked on the file itself
		}},
		{"Chmod", func(svc *classic.Service) bool {
			svc.Chmod("/race/f", 0o644)
			return false
		}},
		{"Chown", func(svc *classic.Service) bool {
			svc.Chown("/race/f", os.Getuid(), os.Getgid())
			return false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, base, root := jail(t, nil)
			race := filepath.Join(root, "race")
			f, real, evil := filepath.Join(race, "f"), filepath.Join(race, "f.real"), filepath.Join(race, "evil")
			if err := os.WriteFile(f, []byte(harmless), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../secret", evil); err != nil {
				t.Fatal(err)
			}
			ctime := ctimeOf(t, filepath.Join(base, "secret"))
			var stop atomic.Bool
			var leaks, tries atomic.Int64
			var wg sync.WaitGroup
			wg.Go(func() { // the swapper: a file, nothing, the link, nothing, …
				for !stop.Load() {
					os.Rename(f, real)
					os.Rename(evil, f)
					os.Rename(f, evil)
					os.Rename(real, f)
				}
			})
			deadline := time.Now().Add(300 * time.Millisecond)
			for range 2 {
				wg.Go(func() {
					for time.Now().Before(deadline) && !stop.Load() {
						tries.Add(1)
						if tc.op(svc) {
							leaks.Add(1)
							stop.Store(true)
						}
						if changed(base, ctime) {
							leaks.Add(1)
							stop.Store(true)
						}
					}
					stop.Store(true)
				})
			}
			wg.Wait()
			if n := leaks.Load(); n > 0 {
				t.Errorf("%s reached outside the root (after %d tries)", tc.name, tries.Load())
			}
			checkSecret(t, base)
		})
	}
}

// AppendFile, Chmod, Chown and Open through a link that leads out of the
// root are refused.
func TestRootLinkOut(t *testing.T) {
	svc, base, root := jail(t, nil)
	os.Symlink("../../secret", filepath.Join(root, "race", "rel"))
	os.Symlink(filepath.Join(base, "secret"), filepath.Join(root, "race", "abs"))
	os.Symlink(base, filepath.Join(root, "race", "dir"))
	for _, name := range []string{"/race/rel", "/race/abs", "/race/dir/secret"} {
		if _, err := svc.AppendFile(name, strings.NewReader("x"), 0o644); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("AppendFile(%s): %v", name, err)
		}
		if err := svc.Chmod(name, 0o644); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Chmod(%s): %v", name, err)
		}
		if err := svc.Chown(name, os.Getuid(), os.Getgid()); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Chown(%s): %v", name, err)
		}
		if _, err := svc.Open(name, os.O_RDONLY, 0); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open(%s): %v", name, err)
		}
		if _, err := svc.Stat(name); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Stat(%s): %v", name, err)
		}
	}
	if _, err := svc.WriteFile("/race/dir/secret", strings.NewReader("x"), 0o644); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("WriteFile through a directory link: %v", err)
	}
	if m, err := svc.Glob("/race/dir/*"); err != nil || len(m) != 0 {
		t.Errorf("Glob through a directory link: %v %v", m, err)
	}
	if _, err := svc.ReadDir("/race/dir"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("ReadDir through a directory link: %v", err)
	}
	if n, err := svc.DiskUsage(t.Context(), "/race/dir"); err == nil && n > 0 {
		t.Errorf("DiskUsage through a directory link: %d", n)
	}
	// The links themselves are inside: Lstat and Readlink see them.
	if fi, err := svc.Lstat("/race/abs"); err != nil || fi.Link != filepath.Join(base, "secret") {
		t.Errorf("Lstat of a link: %+v %v", fi, err)
	}
	checkSecret(t, base)
}

// Under a root, the client's paths keep their meaning: "/x" is <root>/x,
// and every file method works inside.
func TestRootFiles(t *testing.T) {
	svc, _, root := jail(t, nil)
	c, conn := pairConn(t, svc)
	ctx := t.Context()
	if err := c.MkdirAll(ctx, "/a/b", 0o750); err != nil {
		t.Fatal(err)
	}
	if n, err := c.WriteFile(ctx, "/a/b/f.txt", strings.NewReader("hello"), 0o640); err != nil || n != 5 {
		t.Fatalf("WriteFile: %d %v", n, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "a", "b", "f.txt")); err != nil || string(b) != "hello" {
		t.Fatalf("on the host: %q %v", b, err)
	}
	if fi, err := c.Stat(ctx, "a/b/f.txt"); err != nil || fi.Size != 5 || fi.FileMode().Perm() != 0o640 {
		t.Fatalf("Stat: %+v %v", fi, err)
	}
	if _, err := c.AppendFile(ctx, "/a/b/f.txt", strings.NewReader("!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(c.ReadFile(ctx, "/../../a/b/f.txt", 1)); err != nil || got != "ello!" {
		t.Fatalf("ReadFile: %q %v", got, err)
	}
	if err := c.Symlink(ctx, "b/f.txt", "/a/link"); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(c.ReadFile(ctx, "/a/link", 0)); err != nil || got != "hello!" {
		t.Fatalf("ReadFile through an inside link: %q %v", got, err)
	}
	if target, err := c.Readlink(ctx, "/a/link"); err != nil || target != "b/f.txt" {
		t.Fatalf("Readlink: %q %v", target, err)
	}
	entries, err := c.ReadDir(ctx, "/a")
	if err != nil || len(entries) != 2 || entries[0].Name != "b" || entries[1].Link != "b/f.txt" {
		t.Fatalf("ReadDir: %+v %v", entries, err)
	}
	if err := c.Chmod(ctx, "/a/link", 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Chown(ctx, "/a/b/f.txt", -1, -1); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Glob(ctx, "/a/*/*.txt"); err != nil || len(m) != 1 || m[0] != "/a/b/f.txt" {
		t.Fatalf("Glob: %v %v", m, err)
	}
	if sum, err := c.Checksum(ctx, "/a/link", 5); err != nil || len(sum) != 64 {
		t.Fatalf("Checksum: %q %v", sum, err)
	}
	if du, err := c.DiskUsage(ctx, "/"); err != nil || du != 6+int64(len("b/f.txt")) {
		t.Fatalf("DiskUsage: %d %v", du, err)
	}
	f, err := classic.OpenFile(ctx, conn, "/a/b/g", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "handle")
	f.Close()
	if b, err := os.ReadFile(filepath.Join(root, "a", "b", "g")); err != nil || string(b) != "handle" {
		t.Fatalf("Open: %q %v", b, err)
	}
	if err := c.Rename(ctx, "/a/b/g", "/g"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, "/g"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/", "", "/..", "."} {
		if err := c.RemoveAll(ctx, name); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("RemoveAll(%q): %v", name, err)
		}
		if err := c.Remove(ctx, name); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Remove(%q): %v", name, err)
		}
	}
	if err := c.RemoveAll(ctx, "/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("the root itself: %v", err)
	}
}

// The root is opened once: renaming the directory afterwards does not
// move the service, and a root that cannot be opened fails NewService.
func TestRootOpenedOnce(t *testing.T) {
	svc, base, root := jail(t, nil)
	if err := os.Rename(root, filepath.Join(base, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o755); err != nil { // a new, empty directory under the old name
		t.Fatal(err)
	}
	if _, err := svc.Stat("/race"); err != nil {
		t.Fatalf("the service lost its root when it was renamed: %v", err)
	}
	if _, err := classic.NewService(&classic.Options{Root: filepath.Join(base, "nope")}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("NewService with a missing root: %v", err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Stat("/race"); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Stat after Close: %v", err)
	}
	if _, err := svc.Stat(base); err == nil {
		t.Fatal("a closed service fell back to the whole file system")
	}
	if err := svc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
