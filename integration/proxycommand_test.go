//go:build integration && linux

package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProxyCommand: the real ssh and scp reach a real sshd behind two
// hopwire relays with `hopwire forward -W %h:%p -J r1 r2` as their
// ProxyCommand: a command's output and exit status come back, and a file
// copied with scp arrives whole. Neither relay can be skipped: r1 may reach
// only r2, r2 only the sshd.
func TestProxyCommand(t *testing.T) {
	hw, _ := binaries(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("needs openssh-client (ssh)")
	}
	s := startSSHD(t, t.TempDir())
	home, fp := homes(t, hw, "client", "r1", "r2")
	r1, r2 := "tls://127.0.0.1:"+freePort(t), "tls://127.0.0.1:"+freePort(t)
	for _, r := range []struct{ name, addr string }{{"r1", r1}, {"r2", r2}} {
		trust(t, hw, home(r.name), "--authorized", fp["client"], "client")
		trust(t, hw, home("client"), "--known", fp[r.name], r.name, "--addr", strings.TrimPrefix(r.addr, "tls://"))
	}
	startNS(t, "", "listening", hw, "serve", "--home", home("r2"), "--listen", r2, "--grant", "client:connect="+s.addr)
	startNS(t, "", "listening", hw, "serve", "--home", home("r1"), "--listen", r1, "--grant", "client:connect="+strings.TrimPrefix(r2, "tls://"))
	proxy := "ProxyCommand=" + hw + " forward --home " + home("client") + " -J " + r1 + " -W %h:%p " + r2
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// OpenSSH finds ~/.ssh through the password database, not $HOME:
	// name the client's key and known_hosts.
	sshOpts := []string{"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-i", filepath.Join(s.clientHome, ".ssh", "id_ed25519"),
		"-o", "UserKnownHostsFile=" + filepath.Join(s.clientHome, ".ssh", "known_hosts")}
	run := func(name string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, name, append(append([]string{"-o", proxy}, sshOpts...), args...)...)
		cmd.Env = append(os.Environ(), "HOME="+s.clientHome, "SSH_AUTH_SOCK=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run("ssh", "-p", s.port, "root@127.0.0.1", "echo through-hopwire; exit 7")
	if !strings.Contains(out, "through-hopwire") {
		t.Fatalf("ssh through the ProxyCommand: %v\n%s", err, out)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("remote exit 7 came back as %v", err)
	}

	src := filepath.Join(t.TempDir(), "payload")
	payload := bytes.Repeat([]byte("hopwire-scp "), 1<<16) // 768 KiB
	if err := os.WriteFile(src, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copied")
	if out, err := run("scp", "-O", "-P", s.port, src, "root@127.0.0.1:"+dst); err != nil {
		t.Fatalf("scp through the ProxyCommand: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("scp copied %d of %d bytes: %v", len(got), len(payload), err)
	}

	// A destination the last relay does not grant: ssh fails, and says why.
	bad := "ProxyCommand=" + hw + " forward --home " + home("client") + " -J " + r1 + " -W 127.0.0.1:1 " + r2
	cmd := exec.CommandContext(ctx, "ssh", append(append([]string{"-o", bad}, sshOpts...), "-p", s.port, "root@127.0.0.1", "true")...)
	cmd.Env = append(os.Environ(), "HOME="+s.clientHome, "SSH_AUTH_SOCK=")
	out2, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "denied by policy") {
		t.Fatalf("ungranted -W: %v\n%s", err, out2)
	}
}
