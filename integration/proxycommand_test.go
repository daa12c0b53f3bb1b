//go:build integration && linux

package integration

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProxyCommand: the real ssh and scp reach a real sshd behind two
// hopwire relays, each host in a network namespace of its own, with `hopwire forward -W %h:%p -J r1 r2` as their
// ProxyCommand: a command's output and exit status come back, and a file
// copied with scp arrives whole, rsync copies a tree, git clones and
// pushes over ssh, Ansible runs a module. Neither relay can be skipped: r1 may reach
// only r2, r2 only the sshd.
func TestProxyCommand(t *testing.T) {
	hw, _ := binaries(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("needs openssh-client (ssh)")
	}
	// client (h0) - r1 (h1) - r2 (h2) - sshd (h3): each host reaches only
	// its neighbours, so the ssh tools reach the sshd through both relays
	// or not at all.
	ns, addr := segmented(t, 4)
	s := startSSHDIn(t, t.TempDir(), ns[3], net.JoinHostPort(addr(3, 2), "2222"))
	home, fp := homes(t, hw, "client", "r1", "r2")
	r1 := "tls://" + net.JoinHostPort(addr(1, 0), "7443")
	r2 := "tls://" + net.JoinHostPort(addr(2, 1), "7443")
	for _, r := range []struct{ name, addr string }{{"r1", r1}, {"r2", r2}} {
		trust(t, hw, home(r.name), "--authorized", fp["client"], "client")
		trust(t, hw, home("client"), "--known", fp[r.name], r.name, "--addr", strings.TrimPrefix(r.addr, "tls://"))
	}
	startNS(t, ns[2], "listening", hw, "serve", "--home", home("r2"), "--listen", r2, "--grant", "client:connect="+s.addr)
	startNS(t, ns[1], "listening", hw, "serve", "--home", home("r1"), "--listen", r1, "--grant", "client:connect="+strings.TrimPrefix(r2, "tls://"))
	proxy := "ProxyCommand=" + hw + " forward --home " + home("client") + " -J " + r1 + " -W %h:%p " + r2
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// OpenSSH finds ~/.ssh through the password database, not $HOME:
	// name the client's key and known_hosts.
	sshOpts := []string{"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
		"-i", filepath.Join(s.clientHome, ".ssh", "id_ed25519"),
		"-o", "UserKnownHostsFile=" + filepath.Join(s.clientHome, ".ssh", "known_hosts")}
	// inClient is a command run on the client host (h0).
	inClient := func(name string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns[0], name}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+s.clientHome, "SSH_AUTH_SOCK=")
		return cmd
	}
	run := func(name string, args ...string) (string, error) {
		out, err := inClient(name, append(append([]string{"-o", proxy}, sshOpts...), args...)...).CombinedOutput()
		return string(out), err
	}
	sshHost := "root@" + s.host

	if out, err := inClient("ssh", append(sshOpts, "-o", "ConnectTimeout=3", "-p", s.port, sshHost, "true")...).CombinedOutput(); err == nil {
		t.Fatalf("the client reached the sshd without the relays:\n%s", out)
	}
	out, err := run("ssh", "-p", s.port, sshHost, "echo through-hopwire; exit 7")
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
	if out, err := run("scp", "-O", "-P", s.port, src, sshHost+":"+dst); err != nil {
		t.Fatalf("scp through the ProxyCommand: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("scp copied %d of %d bytes: %v", len(got), len(payload), err)
	}

	// rsync and git, both over ssh through the same ProxyCommand: a
	// wrapper script is their ssh, as a user's ~/.ssh/config would be.
	wrapper := filepath.Join(t.TempDir(), "ssh-via-hopwire")
	script := "#!/bin/sh\nexec ssh -o '" + proxy + "' " + strings.Join(sshOpts, " ") + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	tool := func(t *testing.T, dir string, env []string, name string, args ...string) {
		t.Helper()
		cmd := inClient(name, args...)
		cmd.Dir = dir
		cmd.Env = append(cmd.Env, env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s through the ProxyCommand: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	t.Run("rsync", func(t *testing.T) {
		needTool(t, "rsync", "rsync")
		tree := t.TempDir()
		os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
		os.WriteFile(filepath.Join(tree, "sub", "a"), payload, 0o600)
		os.WriteFile(filepath.Join(tree, "b"), []byte("small"), 0o600)
		dstTree := t.TempDir()
		tool(t, "", nil, "rsync", "-a", "-e", wrapper+" -p "+s.port, tree+"/", sshHost+":"+dstTree+"/")
		if got, err := os.ReadFile(filepath.Join(dstTree, "sub", "a")); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("rsync copied %d of %d bytes: %v", len(got), len(payload), err)
		}
	})
	t.Run("git", func(t *testing.T) {
		needTool(t, "git", "git")
		bare := filepath.Join(t.TempDir(), "repo.git")
		tool(t, "", nil, "git", "init", "-q", "--bare", bare)
		work := filepath.Join(t.TempDir(), "work")
		gitEnv := []string{"GIT_SSH_COMMAND=" + wrapper, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_GLOBAL=/dev/null"}
		url := "ssh://" + sshHost + ":" + s.port + bare
		tool(t, "", gitEnv, "git", "clone", "-q", url, work)
		os.WriteFile(filepath.Join(work, "f"), []byte("through hopwire\n"), 0o644)
		tool(t, work, gitEnv, "git", "add", "f")
		tool(t, work, gitEnv, "git", "commit", "-q", "-m", "over two relays")
		tool(t, work, gitEnv, "git", "push", "-q", "origin", "HEAD")
		clone2 := filepath.Join(t.TempDir(), "clone2")
		tool(t, "", gitEnv, "git", "clone", "-q", url, clone2)
		if got, err := os.ReadFile(filepath.Join(clone2, "f")); err != nil || string(got) != "through hopwire\n" {
			t.Fatalf("git push then clone through the ProxyCommand: %q, %v", got, err)
		}
	})

	t.Run("ansible", func(t *testing.T) {
		ansible := needTool(t, "ansible", "ansible-core")
		dir := t.TempDir()
		inv := filepath.Join(dir, "inventory")
		// The ProxyCommand as an Ansible user writes it, in the inventory.
		line := "target ansible_host=" + s.host + " ansible_port=" + s.port + " ansible_user=root" +
			" ansible_ssh_private_key_file=" + filepath.Join(s.clientHome, ".ssh", "id_ed25519") +
			" ansible_remote_tmp=" + filepath.Join(dir, "remote-tmp") +
			` ansible_ssh_common_args='-o "` + proxy + `" -o UserKnownHostsFile=` + filepath.Join(s.clientHome, ".ssh", "known_hosts") + ` -o IdentitiesOnly=yes'` + "\n"
		if err := os.WriteFile(inv, []byte("[hosts]\n"+line), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := inClient(ansible, "-i", inv, "target", "-m", "command", "-a", "echo ansible-through-hopwire")
		cmd.Env = append(cmd.Env, "ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "local-tmp"),
			"ANSIBLE_NOCOWS=1", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ansible-through-hopwire") || !strings.Contains(string(out), "CHANGED") {
			t.Fatalf("ansible through the ProxyCommand: %v\n%s", err, out)
		}
	})

	// A destination the last relay does not grant: ssh fails, and says why.
	bad := "ProxyCommand=" + hw + " forward --home " + home("client") + " -J " + r1 + " -W 127.0.0.1:1 " + r2
	cmd := inClient("ssh", append(append([]string{"-o", bad}, sshOpts...), "-p", s.port, sshHost, "true")...)
	out2, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "denied by policy") {
		t.Fatalf("ungranted -W: %v\n%s", err, out2)
	}
}
