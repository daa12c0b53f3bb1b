package relay

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/internal/lockedbuf"
	"github.com/hopwire/hopwire/session"
)

// Every classic action on a node leaves an INFO record naming who asked:
// a command's argv and exit status, a file's path and size, the digest of
// evaluated source (never its text).
func TestClassicAudit(t *testing.T) {
	var logs lockedbuf.Buffer
	client := newIdentity(t, "client")
	n := startNodeWith(t, "node", "tls://127.0.0.1:0", []*certs.Identity{client}, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}, "client:classic=eval")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	route, err := dialer(client, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	cl := classic.New(route.Target())
	dir := t.TempDir()
	file := filepath.Join(dir, "victim")
	if _, err := cl.WriteFile(ctx, file, strings.NewReader("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	status, err := cl.Run(ctx, classic.RunRequest{Argv: []string{"rm", "-f", file}}, nil, nil, nil)
	if err != nil || status != 0 {
		t.Fatalf("rm: %d, %v", status, err)
	}
	if status, _ := cl.Run(ctx, classic.RunRequest{Argv: []string{"sh", "-c", "exit 3"}}, nil, nil, nil); status != 3 {
		t.Fatalf("exit 3: %d", status)
	}
	if err := cl.Remove(ctx, file); err == nil {
		t.Fatal("removing a removed file worked")
	}
	secret := `"the source itself, which must not be logged"`
	if _, err := route.Target().Service(classic.EvalServiceName).Call(ctx, "Eval", secret); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("rm did not run")
	}

	want := []struct {
		action string
		check  func(m map[string]any) bool
	}{
		{"put", func(m map[string]any) bool { return m["path"] == file && m["bytes"] == float64(5) }},
		{"exec", func(m map[string]any) bool {
			return strings.Contains(toJSON(m["argv"]), `"rm","-f"`) && m["status"] == float64(0)
		}},
		{"exec", func(m map[string]any) bool { return m["status"] == float64(3) }},
		{"rm", func(m map[string]any) bool { return m["path"] == file && m["err"] != nil }},
		{"eval", func(m map[string]any) bool { return strings.HasPrefix(m["source"].(string), "sha256:") }},
	}
	var recs []map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		recs = auditRecords(logs.String())
		if len(recs) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	if len(recs) != len(want) {
		t.Fatalf("%d audit records, want %d:\n%s", len(recs), len(want), logs.String())
	}
	for i, w := range want {
		m := recs[i]
		if m["action"] != w.action || m["peer"] != "client" || m["fp"] != client.Fingerprint() || m["level"] != "INFO" || !w.check(m) {
			t.Errorf("record %d: %v, want action %q by client", i, m, w.action)
		}
	}
	if strings.Contains(logs.String(), "must not be logged") {
		t.Error("the evaluated source reached the log")
	}
}

func auditRecords(logs string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["audit"] == "classic" {
			out = append(out, m)
		}
	}
	return out
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A key removed from the authorized file: new handshakes are refused at
// once (the file is re-read on change) and Revalidate closes the session
// already up; a key still named keeps its session.
func TestRevalidateClosesRevokedPeers(t *testing.T) {
	alice, bob := newIdentity(t, "alice"), newIdentity(t, "bob")
	file := filepath.Join(t.TempDir(), "authorized")
	for _, id := range []*certs.Identity{alice, bob} {
		if err := certs.AddEntry(file, certs.Entry{Fingerprint: id.Fingerprint(), Name: id.Name()}); err != nil {
			t.Fatal(err)
		}
	}
	store, err := certs.LoadFingerprints(file)
	if err != nil {
		t.Fatal(err)
	}
	n := startNodeWith(t, "node", "tls://127.0.0.1:0", nil, func(o *Options) { o.Trust = certs.Trust{Store: store} })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ra, err := dialer(alice, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := dialer(bob, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	// Revoke bob: rewrite the file with alice alone.
	os.Remove(file)
	time.Sleep(10 * time.Millisecond) // a new mtime for the re-read
	if err := certs.AddEntry(file, certs.Entry{Fingerprint: alice.Fingerprint(), Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if got := n.srv.Revalidate(); got != 1 {
		t.Fatalf("Revalidate closed %d sessions, want 1 (bob's)", got)
	}
	select {
	case <-rb.Done():
	case <-ctx.Done():
		t.Fatal("bob's session outlived his key's removal")
	}
	if _, err := ra.Target().Ping(ctx); err != nil {
		t.Fatalf("alice's session: %v", err)
	}
	if _, err := dialer(bob, n).Dial(ctx, nil, mustAddr(t, n.url)); err == nil {
		t.Fatal("bob dialed again after his key was removed")
	}
}

// An agent's re-dial waits grow from 1 s to 30 s, jittered by a quarter
// either way, and start again after a link that stayed up 30 s.
func TestAgentBackoff(t *testing.T) {
	var b agentBackoff
	for i, base := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
		base *= time.Second
		d := b.next(time.Second)
		if d < base-base/4 || d > base+base/4 {
			t.Fatalf("wait %d: %v, want %v ±25%%", i, d, base)
		}
	}
	if d := b.next(time.Minute); d > 1250*time.Millisecond {
		t.Fatalf("after a stable link: %v, want about 1s", d)
	}
	seen := map[time.Duration]bool{}
	for range 20 {
		var fresh agentBackoff
		seen[fresh.next(0)] = true
	}
	if len(seen) < 2 {
		t.Fatal("no jitter")
	}
}

// One access record per forwarded connection: who, where, the bytes each
// way, how it ended.
func TestAccessRecord(t *testing.T) {
	var logs lockedbuf.Buffer
	client := newIdentity(t, "client")
	echo := echoServer(t)
	n := startNodeWith(t, "node", "tls://127.0.0.1:0", []*certs.Identity{client}, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}, "client:connect="+echo)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	route, err := dialer(client, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	c, err := route.DialContext(ctx, "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("x", 1000)
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || len(got) != len(msg) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	c.Close()
	var rec map[string]any
	for deadline := time.Now().Add(5 * time.Second); rec == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "connect ended" {
				rec = m
			}
		}
	}
	if rec == nil {
		t.Fatalf("no access record:\n%s", logs.String())
	}
	if rec["peer"] != "client" || rec["fp"] != client.Fingerprint() || rec["dest"] != echo || rec["level"] != "INFO" ||
		rec["bytes_up"] != float64(1000) || rec["bytes_down"] != float64(1000) || rec["result"] != "ok" {
		t.Fatalf("access record %v", rec)
	}

	// An upstream that ignores the client's end keeps the connection
	// until the half-close timeout reaps the stream: the record says so,
	// not "use of closed network connection" (the splice's own close).
	hold := tcpServer(t, func(c net.Conn) { io.Copy(io.Discard, c); <-t.Context().Done() })
	n2 := startNodeWith(t, "node2", "tls://127.0.0.1:0", []*certs.Identity{client}, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		o.Link = &session.LinkConfig{HalfCloseTimeout: 200 * time.Millisecond}
	}, "client:connect="+hold)
	r2, err := dialer(client, n2).Dial(ctx, nil, mustAddr(t, n2.url))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	h, err := r2.DialContext(ctx, "tcp", hold)
	if err != nil {
		t.Fatal(err)
	}
	h.(interface{ CloseWrite() error }).CloseWrite()
	var released bool
	for deadline := time.Now().Add(5 * time.Second); !released && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		released = strings.Contains(logs.String(), "released first")
	}
	h.Close()
	if !released || strings.Contains(logs.String(), "use of closed") {
		t.Fatalf("the access record of a reaped connection:\n%s", logs.String())
	}
}
