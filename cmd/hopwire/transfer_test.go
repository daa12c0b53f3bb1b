package main

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/relay/relaytest"
)

func TestProgressOnlyOnATerminal(t *testing.T) {
	var piped bytes.Buffer
	p := newProgress(&piped, false)
	p.start("f", 10, 0)
	io.Copy(io.Discard, p.reader(strings.NewReader("0123456789")))
	p.done()
	if piped.Len() != 0 {
		t.Fatalf("progress written to a pipe: %q", piped.String())
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip("no pty:", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	p = newProgress(tty, false)
	p.start("file.bin", 10, 0)
	io.Copy(io.Discard, p.reader(strings.NewReader("0123456789")))
	p.done()
	tty.Close()
	out, _ := io.ReadAll(ptmx)
	if !strings.Contains(string(out), "file.bin") || !strings.Contains(string(out), "100.0%") {
		t.Fatalf("no progress bar on the terminal: %q", out)
	}
}

// outside lists the files and links below top that are not below local.
func outside(t *testing.T, top, local string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(p, local+string(filepath.Separator)) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestGetRefusesRemoteNames: get -r from a hostile node whose ReadDir
// names entries "../../…" (scp's CVE-2019-6111) and the like fails, names
// the entry, and writes nothing outside LOCAL.
func TestGetRefusesRemoteNames(t *testing.T) {
	file := func(name string) classic.FileInfo {
		return classic.FileInfo{Name: name, Size: int64(len(hostilePayload)), Mode: 0o755}
	}
	dir := func(name string) classic.FileInfo {
		return classic.FileInfo{Name: name, IsDir: true, Mode: uint32(fs.ModeDir | 0o755)}
	}
	for _, tc := range []struct {
		name  string
		entry classic.FileInfo
		below map[string][]classic.FileInfo // further directories
	}{
		{"dotdot", file("../../../escape"), nil},
		{"dotdot-escapes", file("../\x1b[2J"), nil},
		{"inner-dotdot", file("sub/../../../escape"), nil},
		{"absolute", file("/tmp/escape"), nil},
		{"backslash", file(`..\..\escape`), nil},
		{"nul", file("a\x00b"), nil},
		{"empty", file(""), nil},
		{"dot", file("."), nil},
		{"parent-dir", dir(".."), map[string][]classic.FileInfo{"/": {file("escape")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs := map[string][]classic.FileInfo{"/src": {file("fine"), tc.entry}}
			for k, v := range tc.below {
				dirs[k] = v
			}
			addr, home := startHostile(t, &hostileFS{dirs: dirs})
			top := t.TempDir()
			local := filepath.Join(top, "a", "b", "local")
			os.MkdirAll(local, 0o755)
			_, errOut, code := runCmdErr(t, "get", "-r", "--home", home, addr, "/src", local)
			want := "refusing remote entry " + strconv.Quote(tc.entry.Name) + " in /src"
			if code != 1 || !strings.Contains(errOut, want) {
				t.Errorf("exit %d, want 1 and %q in:\n%s", code, want, errOut)
			}
			if strings.Contains(errOut, "\x1b") {
				t.Errorf("an escape reached stderr: %q", errOut)
			}
			if out := outside(t, top, local); len(out) > 0 {
				t.Errorf("written outside LOCAL: %q", out)
			}
		})
	}
}

// TestGetWritesThroughNoLocalSymlink: a symlink already in LOCAL that
// leads outside it does not take the hostile node's files there.
func TestGetWritesThroughNoLocalSymlink(t *testing.T) {
	addr, home := startHostile(t, &hostileFS{dirs: map[string][]classic.FileInfo{
		"/src":     {{Name: "sub", IsDir: true, Mode: uint32(fs.ModeDir | 0o755)}},
		"/src/sub": {{Name: "f", Size: int64(len(hostilePayload)), Mode: 0o644}},
	}})
	top := t.TempDir()
	local := filepath.Join(top, "local")
	elsewhere := filepath.Join(top, "elsewhere")
	os.MkdirAll(filepath.Join(local, "src"), 0o755)
	os.MkdirAll(elsewhere, 0o755)
	if err := os.Symlink(elsewhere, filepath.Join(local, "src", "sub")); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCmdErr(t, "get", "-r", "--home", home, addr, "/src", local)
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, errOut)
	}
	if out := outside(t, top, local); len(out) > 0 {
		t.Errorf("written outside LOCAL: %q", out)
	}
}

// TestGetModesAndLinks: what a node sends that get -r does accept comes
// without setuid, setgid or sticky bits and within the umask; remote
// symlinks are made when they stay inside LOCAL, and the others and special
// files are skipped with a warning and exit 1.
func TestGetModesAndLinks(t *testing.T) {
	addr, home := startHostile(t, &hostileFS{dirs: map[string][]classic.FileInfo{
		"/src": {
			{Name: "tool", Size: int64(len(hostilePayload)), Mode: uint32(fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o777)},
			{Name: "link", Link: "/etc/passwd", Mode: uint32(fs.ModeSymlink | 0o777)},
			{Name: "fifo", Mode: uint32(fs.ModeNamedPipe | 0o666)},
			{Name: "rel", Link: "sub/../tool", Mode: uint32(fs.ModeSymlink | 0o777)},
			{Name: "up", Link: "../..", Mode: uint32(fs.ModeSymlink | 0o777)},
			{Name: "sub", IsDir: true, Mode: uint32(fs.ModeDir | fs.ModeSticky | 0o777)},
		},
		"/src/sub": {},
	}})
	local := t.TempDir()
	_, errOut, code := runCmdErr(t, "get", "-r", "--home", home, addr, "/src", local)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, errOut)
	}
	for _, want := range []string{"get: skipped symlink /src/link -> /etc/passwd: its target is absolute", "get: skipped symlink /src/up -> ../..: its target leads out of LOCAL",
		"get: skipped /src/fifo: not a regular file", "get: 3 entries skipped"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, f := range []string{"tool", "sub"} {
		fi, err := os.Stat(filepath.Join(local, "src", f))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode()&^fs.ModeDir, 0o777&^umask(); got != want {
			t.Errorf("%s: mode %v, want %v", f, got, want)
		}
	}
	for _, f := range []string{"link", "fifo", "up"} {
		if _, err := os.Lstat(filepath.Join(local, "src", f)); err == nil {
			t.Errorf("%s was created", f)
		}
	}
	if to, err := os.Readlink(filepath.Join(local, "src", "rel")); err != nil || to != "sub/../tool" {
		t.Errorf("rel: %q %v", to, err)
	}
}

// TestGetDestinations: where get puts what it fetches, now that every
// write goes through an os.Root on the directory the user named.
func TestGetDestinations(t *testing.T) {
	addr, home := startHostile(t, &hostileFS{dirs: map[string][]classic.FileInfo{
		"/":    {{Name: "top", Size: int64(len(hostilePayload)), Mode: 0o644}},
		"/src": {{Name: "f", Size: int64(len(hostilePayload)), Mode: 0o644}},
	}})
	tmp := t.TempDir()
	for _, tc := range []struct {
		args []string // after TARGET
		want string   // a file that then holds the payload
	}{
		{[]string{"/src/f", filepath.Join(tmp, "named")}, "named"},
		{[]string{"/src/f", tmp}, "f"},
		{[]string{"-r", "/src", filepath.Join(tmp, "new", "dir")}, "new/dir/f"},
		{[]string{"-r", "/src", tmp}, "src/f"},
		{[]string{"-r", "/", tmp}, "top"},
	} {
		args := append([]string{"get", "--home", home}, tc.args...)
		args = slices.Insert(args, len(args)-2, addr) // TARGET after the flags
		if _, errOut, code := runCmdErr(t, args...); code != 0 {
			t.Errorf("%v: exit %d:\n%s", tc.args, code, errOut)
		}
		if b, err := os.ReadFile(filepath.Join(tmp, tc.want)); err != nil || string(b) != hostilePayload {
			t.Errorf("%v: %s: %q %v", tc.args, tc.want, b, err)
		}
	}
}

// TestPutCopiesSymlinks: put -r copies regular files and directories, and
// the symlinks below the tree as symlinks (not followed, even one to a
// directory outside it); a symlink the user names is followed.
func TestPutCopiesSymlinks(t *testing.T) {
	home := t.TempDir()
	client, err := certs.LoadOrCreate(home, "client")
	if err != nil {
		t.Fatal(err)
	}
	srv, id := relaytest.Start(t, "node", client, "client:classic")
	if _, errOut, code := runCmd(t, "trust", "--home", home, "--known", id.Fingerprint()); code != 0 {
		t.Fatal(errOut)
	}
	top := t.TempDir()
	src := filepath.Join(top, "tree")
	secret := filepath.Join(top, "secret")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.MkdirAll(secret, 0o700)
	os.WriteFile(filepath.Join(secret, "key"), []byte("k"), 0o600)
	os.WriteFile(filepath.Join(src, "f.txt"), []byte("f"), 0o644)
	os.WriteFile(filepath.Join(src, "sub", "g.txt"), []byte("g"), 0o640)
	os.Symlink(secret, filepath.Join(src, "out"))
	os.Symlink("f.txt", filepath.Join(src, "sub", "in"))
	os.Symlink(src, filepath.Join(top, "named"))
	remote := t.TempDir()
	for _, from := range []string{src, filepath.Join(top, "named")} {
		_, errOut, code := runCmdErr(t, "put", "-r", "--home", home, srv.Addrs()[0], from, remote)
		if code != 0 {
			t.Fatalf("put -r %s: exit %d:\n%s", from, code, errOut)
		}
		to := filepath.Join(remote, filepath.Base(from))
		for _, f := range []string{"f.txt", "sub/g.txt"} {
			if b, err := os.ReadFile(filepath.Join(to, f)); err != nil || len(b) != 1 {
				t.Errorf("%s: %q %v", f, b, err)
			}
		}
		for f, want := range map[string]string{"out": secret, "sub/in": "f.txt"} {
			if got, err := os.Readlink(filepath.Join(to, f)); err != nil || got != want {
				t.Errorf("%s: a link to %q %v, want one to %q", f, got, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(to, "out", "key")); err != nil {
			t.Errorf("the link was not kept as one: %v", err)
		}
	}
}
