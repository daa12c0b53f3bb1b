//go:build integration && linux

package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMux (issue 19, "Shared connections"): a hopwire mux holds a chain
// through a relay to a target on a unix socket; exec, put, get, ls, cat
// and ping with --control ride it without dialing, a socket holding
// another target is refused, the socket is the user's alone (0600), and
// the daemon ends after --persist without clients.
func TestMux(t *testing.T) {
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "client", "relay", "target")
	relay, target := "tls://127.0.0.1:"+freePort(t), "tls://127.0.0.1:"+freePort(t)
	for _, n := range []struct{ name, addr string }{{"relay", relay}, {"target", target}} {
		trust(t, hw, home(n.name), "--authorized", fp["client"], "client")
		trust(t, hw, home("client"), "--known", fp[n.name], n.name, "--addr", strings.TrimPrefix(n.addr, "tls://"))
	}
	startNS(t, "", "listening", hw, "serve", "--home", home("target"), "--listen", target, "--grant", "client:classic")
	startNS(t, "", "listening", hw, "serve", "--home", home("relay"), "--listen", relay, "--grant", "client:connect="+strings.TrimPrefix(target, "tls://"))
	sock := filepath.Join(t.TempDir(), "ctl", "target.sock")
	mux := startNS(t, "", "control", hw, "mux", "--home", home("client"), "--control", sock, "--persist", "3s", "-J", relay, target)
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	hwc := func(args ...string) (string, error) {
		return run(ctx, "", append([]string{hw, args[0], "--home", home("client"), "--control", sock}, args[1:]...)...)
	}
	if out, err := hwc("exec", target, "--", "sh", "-c", "echo via-mux; exit 3"); !strings.Contains(out, "via-mux") || exitCode(err) != 3 {
		t.Fatalf("exec through the mux: %v\n%s", err, out)
	}
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte(strings.Repeat("mux ", 1<<16)), 0o644)
	dir := t.TempDir()
	if out, err := hwc("put", "-q", target, src, dir+"/f"); err != nil {
		t.Fatalf("put through the mux: %v\n%s", err, out)
	}
	back := filepath.Join(t.TempDir(), "back")
	if out, err := hwc("get", "-q", target, dir+"/f", back); err != nil {
		t.Fatalf("get through the mux: %v\n%s", err, out)
	}
	if a, b := readFile(t, src), readFile(t, back); a != b {
		t.Fatal("the file came back different")
	}
	if out, err := hwc("ls", target, dir); err != nil || !strings.Contains(out, "f") {
		t.Fatalf("ls through the mux: %v\n%s", err, out)
	}
	// A socket that holds another target is refused, not silently used.
	if out, err := hwc("exec", relay, "--", "true"); err == nil || !strings.Contains(out, "holds a chain to") {
		t.Fatalf("another target through the mux: %v\n%s", err, out)
	}
	// forward dials its own chain: --control is refused there.
	if out, err := hwc("forward", target, "-L", freePort(t)+":127.0.0.1:1"); err == nil || !strings.Contains(out, "--control") {
		t.Fatalf("forward with --control: %v\n%s", err, out)
	}
	// No client for --persist: the daemon ends, and takes its socket.
	done := make(chan error, 1)
	go func() { done <- mux.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the mux outlived --persist without clients")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("the control socket is left behind: %v", err)
	}
	if out, err := hwc("exec", target, "--", "true"); err == nil || !strings.Contains(out, "no hopwire mux answers") {
		t.Fatalf("exec with a dead control socket: %v\n%s", err, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
