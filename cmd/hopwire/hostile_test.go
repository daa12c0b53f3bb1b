package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

// hostileFS is the classic service of a hostile node: the directories in
// dirs list what the test chose (names with "..", "/", NUL, escapes…),
// every other path is a regular file holding hostilePayload, and
// ReadFile and Checksum agree on it, so a get's SHA-256 check passes.
type hostileFS struct {
	classic.Service
	dirs map[string][]classic.FileInfo
}

const hostilePayload = "written by a hostile node\n"

func (h *hostileFS) Stat(name string) (classic.FileInfo, error) {
	if name == "/boom" {
		return classic.FileInfo{}, errors.New("no \x1b[2J such file")
	}
	if _, ok := h.dirs[name]; ok {
		return classic.FileInfo{Name: path.Base(name), IsDir: true, Mode: uint32(fs.ModeDir | 0o755)}, nil
	}
	return classic.FileInfo{Name: path.Base(name), Size: int64(len(hostilePayload)), Mode: 0o644}, nil
}

func (h *hostileFS) ReadDir(name string) ([]classic.FileInfo, error) {
	if e, ok := h.dirs[name]; ok {
		return e, nil
	}
	return nil, fs.ErrNotExist
}

func (h *hostileFS) ReadFile(name string, offset int64) (io.Reader, error) {
	return strings.NewReader(hostilePayload[min(offset, int64(len(hostilePayload))):]), nil
}

func (h *hostileFS) Checksum(name string, n int64) (string, error) {
	p := hostilePayload
	if n >= 0 && n < int64(len(p)) {
		p = p[:n]
	}
	s := sha256.Sum256([]byte(p))
	return hex.EncodeToString(s[:]), nil
}

// startHostile runs a node on loopback TLS whose classic service is svc,
// and returns its address and the home of a client that trusts it.
func startHostile(t *testing.T, svc any) (addr, home string) {
	t.Helper()
	home = t.TempDir()
	client, err := certs.LoadOrCreate(home, "client")
	if err != nil {
		t.Fatal(err)
	}
	id, err := certs.LoadOrCreate(t.TempDir(), "evil")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(&relay.Options{Name: "evil", Identity: id, Trust: certs.Trust{Pinned: []string{client.Fingerprint()}},
		Policy: relay.NewPolicy(nil), Listen: []string{"tls://127.0.0.1:0"},
		Services: func(session.Peer) map[string]any { return map[string]any{classic.ServiceName: svc} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if _, errOut, code := runCmd(t, "trust", "--home", home, "--known", id.Fingerprint()); code != 0 {
		t.Fatal(errOut)
	}
	return srv.Addrs()[0], home
}
