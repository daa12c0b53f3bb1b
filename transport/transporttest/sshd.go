package transporttest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hopwire/hopwire/internal/lockedbuf"
)

// SSHDOptions says what differs between the private OpenSSH servers the
// tests start. The zero value is one Ed25519 host key, nobody authorized,
// and a free port on 127.0.0.1.
type SSHDOptions struct {
	// HostKeys are the server's host keys (ed25519.PrivateKey,
	// *ecdsa.PrivateKey, *rsa.PrivateKey), offered in this order. None: a
	// new Ed25519 key.
	HostKeys []crypto.Signer
	// AuthorizedKeys is the authorized_keys file, which holds for every
	// user: authorized_keys(5) lines.
	AuthorizedKeys string
	// Listen is HOST:PORT. Empty means 127.0.0.1:0; port 0 means a port
	// of HOST that was free a moment before sshd starts (not with Netns:
	// the port is looked for in the test's namespace).
	Listen string
	// Netns, if set, runs sshd in that network namespace (ip netns exec;
	// needs root). The test cannot dial into it, so sshd is taken to be
	// up when its log says "Server listening": Config must then keep
	// LogLevel at INFO or more verbose.
	Netns string
	// Config lines go into sshd_config before the defaults, and sshd takes
	// the first value of a keyword, so they can override one (LogLevel,
	// say). No Match blocks: they would swallow the defaults after them.
	Config []string
	// SkipOnFailure skips the test instead of failing it when sshd cannot
	// start or does not come up, or Listen's host has no free port (a
	// benchmark's OpenSSH reference, say, where an sshd that cannot run
	// here is no failure of hopwire's).
	SkipOnFailure bool
}

// SSHD is a private OpenSSH server started by [StartSSHD].
type SSHD struct {
	Addr     string          // HOST:PORT it listens on
	Dir      string          // its sshd_config, host keys, authorized_keys and pid file
	HostKeys []ssh.PublicKey // in the order of SSHDOptions.HostKeys
}

// SSHDPath returns the absolute path of OpenSSH's sshd (which refuses to
// run by a relative one, and is often outside a user's PATH), or "" if it
// is not installed.
func SSHDPath() string {
	if p, err := exec.LookPath("sshd"); err == nil && filepath.IsAbs(p) {
		return p
	}
	for _, p := range []string{"/usr/sbin/sshd", "/usr/local/sbin/sshd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// StartSSHD starts a private sshd with its own sshd_config, host keys and
// authorized_keys in a temporary directory, and returns once it accepts
// connections. It skips the test when sshd is not installed. t.Cleanup
// kills it (its process group, so the per-connection children too) and,
// if the test failed, logs what sshd said.
//
// Besides opts.Config, the config allows public keys only, root too, TCP
// forwarding, no PAM, no TTYs, and no StrictModes (the files live in a
// temporary directory): what an sshd run by a test as the current user
// needs.
func StartSSHD(t testing.TB, opts *SSHDOptions) *SSHD {
	t.Helper()
	if opts == nil {
		opts = &SSHDOptions{}
	}
	bin := SSHDPath()
	if bin == "" {
		t.Skip("sshd not found: install openssh-server to run the tests against a real OpenSSH server")
	}
	if os.Geteuid() == 0 {
		// The privilege separation directory sshd insists on.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fail := t.Fatalf
	if opts.SkipOnFailure {
		fail = t.Skipf
	}
	dir := t.TempDir()
	d := &SSHD{Dir: dir, Addr: opts.Listen}
	if d.Addr == "" {
		d.Addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(d.Addr)
	if err != nil {
		t.Fatalf("sshd: listen address %q: %v", d.Addr, err)
	}
	if port == "0" {
		ln, err := net.Listen("tcp", d.Addr)
		if err != nil {
			fail("sshd: no free port on %s: %v", host, err)
		}
		d.Addr = ln.Addr().String()
		ln.Close()
	}

	keys := opts.HostKeys
	if len(keys) == 0 {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys = []crypto.Signer{k}
	}
	config := append([]string(nil), opts.Config...)
	for i, k := range keys {
		signer, err := ssh.NewSignerFromSigner(k)
		if err != nil {
			t.Fatalf("sshd: host key %d: %v", i, err)
		}
		d.HostKeys = append(d.HostKeys, signer.PublicKey())
		block, err := ssh.MarshalPrivateKey(k, "")
		if err != nil {
			t.Fatalf("sshd: host key %d: %v", i, err)
		}
		path := filepath.Join(dir, fmt.Sprintf("host_key_%d", i))
		writeFile(t, path, pem.EncodeToMemory(block))
		config = append(config, "HostKey "+path)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	writeFile(t, authorized, []byte(opts.AuthorizedKeys))
	config = append(config,
		"ListenAddress "+d.Addr,
		"PidFile "+filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile "+authorized,
		"StrictModes no",
		"UsePAM no",
		"PermitRootLogin yes",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"PermitTTY no",
	)
	cfgPath := filepath.Join(dir, "sshd_config")
	writeFile(t, cfgPath, []byte(strings.Join(config, "\n")+"\n"))

	argv := []string{bin, "-D", "-e", "-f", cfgPath}
	if opts.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", opts.Netns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	ownGroup(cmd)
	log := &lockedbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.WaitDelay = 5 * time.Second // should a child outlive the group kill holding the log pipe
	if err := cmd.Start(); err != nil {
		fail("start sshd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			killGroup(cmd)
			<-exited
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("sshd %s log:\n%s", d.Addr, log.String())
		}
	})
	up := func() bool {
		if opts.Netns != "" {
			return strings.Contains(log.String(), "Server listening")
		}
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	for deadline := time.Now().Add(20 * time.Second); !up(); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			exited <- err
			fail("sshd exited: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			fail("sshd not listening on %s after 20s:\n%s", d.Addr, log.String())
		}
	}
	return d
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
