package relay

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/internal/lockedbuf"
	"github.com/hopwire/hopwire/session"
)

// A caller's name or address is echoed in errors and logs clipped: a
// 20,000-byte agent name (review F10: it came back as an 80 KB error and
// made an 80 KB log line) gives an error under 1 KiB, and so does every
// other bad name and remote-forward argument.
func TestPeerStringsClipped(t *testing.T) {
	var logs lockedbuf.Buffer
	srv, err := New(&Options{Name: "n", Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Policy: NewPolicy([]*Grant{mustGrant(t, "c:forward-remote=127.0.0.1:1-65535")})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	n := &nodeService{s: srv, peer: session.Peer{Principal: "c", Fingerprint: "SHA256:x"}, ready: make(chan struct{})}
	close(n.ready)
	huge := strings.Repeat("\x01", 20000)
	for _, name := range []string{huge, strings.Repeat("a", 20000), strings.Repeat("é", 10000) + "\xff",
		"", "tls://127.0.0.1:1", "web-1#SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", strings.Repeat("a", 65)} {
		err := n.Register(t.Context(), name)
		if err == nil {
			t.Errorf("Register(%s) succeeded", clip(name))
			continue
		}
		if len(err.Error()) >= 1024 {
			t.Errorf("Register(%s): a %d-byte error", clip(name), len(err.Error()))
		}
		if name == huge {
			t.Logf("Register(20,000 × \\x01): %v", err)
		}
	}
	if err := n.ListenRemote(t.Context(), huge, "0"); err == nil || len(err.Error()) >= 1024 {
		t.Errorf("ListenRemote with a huge bind: %d-byte error %v", len(err.Error()), err == nil)
	}
	if err := n.ListenRemote(t.Context(), "127.0.0.1:0", huge); err == nil || len(err.Error()) >= 1024 {
		t.Errorf("ListenRemote with a huge tag: %d-byte error %v", len(err.Error()), err == nil)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) >= 1024 {
			t.Errorf("a %d-byte log line: %.100s...", len(line), line)
		}
	}
}

func TestClip(t *testing.T) {
	for in, want := range map[string]string{
		"web-1":                       `"web-1"`,
		strings.Repeat("a", 64):       `"` + strings.Repeat("a", 64) + `"`,
		strings.Repeat("a", 65):       `"` + strings.Repeat("a", 64) + `"... (65 bytes)`,
		strings.Repeat("é", 40):       `"` + strings.Repeat("é", 32) + `"... (80 bytes)`,
		"a" + strings.Repeat("é", 40): `"a` + strings.Repeat("é", 31) + `"... (81 bytes)`,
	} {
		if got := clip(in); got != want {
			t.Errorf("clip(%d bytes) = %s, want %s", len(in), got, want)
		}
	}
}
