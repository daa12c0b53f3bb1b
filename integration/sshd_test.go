//go:build integration && linux

package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hopwire/hopwire/transport/transporttest"
)

type sshd struct {
	addr       string
	host, port string
	hostPub    string // the host key line, "ssh-ed25519 AAAA…"
	clientHome string // a HOME with .ssh/id_ed25519 and .ssh/known_hosts
}

// startSSHD runs a private OpenSSH server on 127.0.0.1 with its own host
// key (transporttest.StartSSHD); the client's key (in clientHome) is
// authorized and the host key is in the client's known_hosts. Sessions
// get HOPWIRE_HOME=remoteHome.
func startSSHD(t *testing.T, remoteHome string) *sshd { return startSSHDIn(t, remoteHome, "", "") }

// startSSHDIn is startSSHD in the network namespace netns, listening on
// listen (HOST:PORT); both empty: the host's 127.0.0.1.
func startSSHDIn(t *testing.T, remoteHome, netns, listen string) *sshd {
	t.Helper()
	if transporttest.SSHDPath() == "" {
		t.Skip("needs openssh-server (sshd)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sshd")
	}
	s := &sshd{clientHome: filepath.Join(t.TempDir(), "client")}
	os.MkdirAll(filepath.Join(s.clientHome, ".ssh"), 0o700)
	key := filepath.Join(s.clientHome, ".ssh", "id_ed25519")
	sh(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key)
	clientPub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	d := transporttest.StartSSHD(t, &transporttest.SSHDOptions{
		AuthorizedKeys: string(clientPub),
		Listen:         listen,
		Netns:          netns,
		Config: []string{
			// Each test's remote user has a home and a binary cache of
			// its own: runs side by side must not share (or uninstall)
			// them.
			"SetEnv HOPWIRE_HOME=" + remoteHome + " XDG_CACHE_HOME=" + filepath.Join(remoteHome, "cache"),
		},
	})
	s.addr = d.Addr
	s.host, s.port, _ = net.SplitHostPort(s.addr)
	s.hostPub = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(d.HostKeys[0])))
	s.trustHost(t, s.hostPub)
	return s
}

// trustHost writes the client's known_hosts with one host key.
func (s *sshd) trustHost(t *testing.T, pub string) {
	line := fmt.Sprintf("[%s]:%s %s\n", s.host, s.port, pub)
	if err := os.WriteFile(filepath.Join(s.clientHome, ".ssh", "known_hosts"), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

// asClient runs hopwire with the client's HOME (its ~/.ssh) and no agent.
func (s *sshd) asClient(ctx context.Context, hw string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, hw, args...)
	cmd.Env = append(os.Environ(), "HOME="+s.clientHome, "SSH_AUTH_SOCK=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestOpenSSH(t *testing.T) {
	hw, _ := binaries(t)
	dir := t.TempDir()
	home := func(n string) string { return filepath.Join(dir, n) }
	remoteHome := home("remote")
	s := startSSHD(t, remoteHome)
	fp := map[string]string{}
	for _, n := range []string{"client", "target", "remote"} {
		fp[n] = identity(t, hw, home(n), n)
	}
	trust(t, hw, home("target"), "--authorized", fp["client"], "client")
	target := "tls://127.0.0.1:" + freePort(t)
	trust(t, hw, home("client"), "--known", fp["target"], "target", "--addr", strings.TrimPrefix(target, "tls://"))
	startNS(t, "", "listening", hw, "serve", "--home", home("target"), "--listen", target)
	bastion := "ssh://root@127.0.0.1:" + s.port
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	t.Run("bastion", func(t *testing.T) {
		// OpenSSH has no hopwire: it forwards with direct-tcpip.
		out, err := s.asClient(ctx, hw, "trace", "--home", home("client"), "-J", bastion, target)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "ssh") || !strings.Contains(out, "target") || !strings.Contains(out, fp["target"]) {
			t.Fatalf("trace:\n%s", out)
		}
		t.Log("\n" + out)
	})
	t.Run("zero-install-target", func(t *testing.T) {
		// The host has no hopwire: the binary is uploaded, checked and run.
		out, err := s.asClient(ctx, hw, "trace", "--home", home("client"), bastion)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "ssh+stdio") {
			t.Fatalf("trace:\n%s", out)
		}
		t.Log("\n" + out)
		// A second time the cached binary is reused, and the spawned node
		// offers classic administration to whoever could spawn it.
		out, err = s.asClient(ctx, hw, "exec", "--home", home("client"), bastion, "--", "sh", "-c", "echo $HOPWIRE_HOME")
		if err != nil || strings.TrimSpace(out) != remoteHome {
			t.Fatalf("exec on the zero-install target: %v\n%s", err, out)
		}
	})
	t.Run("wrong-host-key", func(t *testing.T) {
		other := t.TempDir()
		sh(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", filepath.Join(other, "k"))
		b, _ := os.ReadFile(filepath.Join(other, "k.pub"))
		s.trustHost(t, strings.TrimSpace(string(b)))
		defer s.trustHost(t, s.hostPub)
		out, err := s.asClient(ctx, hw, "ping", "--home", home("client"), "-J", bastion, target)
		if err == nil || !strings.Contains(out, "known_hosts") {
			t.Fatalf("a changed host key was not refused: %v\n%s", err, out)
		}
	})
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}
