package classic_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/classic"
)

// TestRootPutNames: the classic API takes whole paths, never a directory
// and a name, so the calls a put -r makes (MkdirAll, Chmod, AppendFile,
// Checksum, Rename, Remove) are each confined by Root. A client that
// sends ".." paths, or paths through a symlink in the root that leads out
// of it, writes nothing outside the root.
func TestRootPutNames(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "root")
	out := filepath.Join(top, "out")
	os.MkdirAll(root, 0o755)
	os.MkdirAll(out, 0o755)
	os.Symlink(out, filepath.Join(root, "link"))
	c := pair(t, &classic.Service{Root: root})
	ctx := t.Context()
	// ".." cannot climb above the root: it is taken from the root's "/".
	for _, p := range []string{"../../out/dotdot", "/../out/dotdot", "sub/../../../out/dotdot"} {
		if err := c.MkdirAll(ctx, filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("MkdirAll %s: %v", filepath.Dir(p), err)
		}
		if _, err := c.AppendFile(ctx, p+".hopwire-part", strings.NewReader("x"), 0o600); err != nil {
			t.Fatalf("AppendFile %s: %v", p, err)
		}
		if _, err := c.Checksum(ctx, p+".hopwire-part", -1); err != nil {
			t.Fatalf("Checksum %s: %v", p, err)
		}
		if err := c.Rename(ctx, p+".hopwire-part", p); err != nil {
			t.Fatalf("Rename %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "out", "dotdot")); err != nil {
		t.Errorf("the .. paths did not land inside the root: %v", err)
	}
	// Through the symlink: refused.
	for name, call := range map[string]func() error{
		"MkdirAll": func() error { return c.MkdirAll(ctx, "/link/d", 0o755) },
		"AppendFile": func() error {
			_, err := c.AppendFile(ctx, "/link/f.hopwire-part", strings.NewReader("x"), 0o600)
			return err
		},
		"Rename": func() error { return c.Rename(ctx, "/out/dotdot", "/link/f") },
		"Chmod":  func() error { return c.Chmod(ctx, "/link/", 0o777) },
		"Remove": func() error { return c.Remove(ctx, "/link/x") },
	} {
		if err := call(); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s through a symlink out of the root: %v", name, err)
		}
	}
	entries, _ := os.ReadDir(out)
	if fi, _ := os.Stat(out); len(entries) > 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("the directory outside the root changed: %v, mode %v", entries, fi.Mode())
	}
}
