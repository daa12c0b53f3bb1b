package relay

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/internal/lockedbuf"
	hssh "github.com/hopwire/hopwire/transport/ssh"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// The OpenSSH references of the chain benchmarks: private sshd instances
// on 127.0.0.x loopback addresses, each with a host key of its own, and a
// client configuration (ssh -F, passed on by ssh to the ProxyJump
// processes it spawns) that trusts exactly those keys and offers one
// generated user key. Nothing of the user's ~/.ssh or agent is used.

// openSSH is a set of private sshd instances: hosts[:len-1] are the jump
// hosts j1, j2, …, the last is the target.
type openSSH struct {
	dir    string
	ssh    string       // the ssh client
	config string       // the client's ssh_config
	known  string       // the client's known_hosts
	user   string       // the remote (and local) user
	signer gossh.Signer // the client's key, for hopwire's ssh:// hops
	hosts  []sshHost
	pgids  []int // the sshd instances' process groups
}

type sshHost struct {
	alias string // j1, j2, …, target
	host  string // 127.0.0.x
	port  string
}

func (h sshHost) addr() string { return net.JoinHostPort(h.host, h.port) }

// startOpenSSH starts jumps+1 sshd instances (transporttest.StartSSHD:
// jump hosts, then the target) on 127.0.0.2, 127.0.0.3, …; the benchmark is skipped with a note
// when OpenSSH (server or client) is absent or sshd cannot run here. All
// processes are killed and the files removed when b ends.
func startOpenSSH(b testing.TB, jumps int) *openSSH {
	b.Helper()
	return startOpenSSHWith(b, jumps)
}

// startOpenSSHWith is startOpenSSH with extra client options for every
// host (for one, "Ciphers …", which also reaches the ProxyJump hops).
func startOpenSSHWith(b testing.TB, jumps int, clientOpts ...string) *openSSH {
	b.Helper()
	sshBin, err := exec.LookPath("ssh")
	if transporttest.SSHDPath() == "" || err != nil {
		b.Skip("skipped: OpenSSH reference needs sshd and ssh (Debian: openssh-server, openssh-client)")
	}
	u, err := user.Current()
	if err != nil {
		b.Skipf("skipped: OpenSSH reference: no current user: %v", err)
	}
	dir := b.TempDir()
	o := &openSSH{dir: dir, ssh: sshBin, user: u.Username,
		config: filepath.Join(dir, "ssh_config"), known: filepath.Join(dir, "known_hosts")}
	clientKey := writeSSHKey(b, filepath.Join(dir, "id_ed25519"))
	o.signer = clientKey
	authorized := string(gossh.MarshalAuthorizedKey(clientKey.PublicKey()))

	var known, cfg bytes.Buffer
	for i := range jumps + 1 {
		h := sshHost{alias: fmt.Sprintf("j%d", i+1), host: fmt.Sprintf("127.0.0.%d", i+2)}
		if i == jumps {
			h.alias = "target"
		}
		_, hostKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		sshd := transporttest.StartSSHD(b, &transporttest.SSHDOptions{
			HostKeys:       []crypto.Signer{hostKey},
			AuthorizedKeys: authorized,
			Listen:         net.JoinHostPort(h.host, "0"),
			Config: []string{"X11Forwarding no", "PrintMotd no", "UseDNS no", "LogLevel ERROR",
				"MaxStartups 100", "MaxSessions 100"},
			SkipOnFailure: true,
		})
		_, h.port, _ = net.SplitHostPort(sshd.Addr)
		if pid, err := os.ReadFile(filepath.Join(sshd.Dir, "sshd.pid")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
				o.pgids = append(o.pgids, n) // sshd runs in a process group of its own
			}
		}
		fmt.Fprintf(&known, "[%s]:%s %s", h.host, h.port, gossh.MarshalAuthorizedKey(sshd.HostKeys[0]))
		fmt.Fprintf(&cfg, "Host %s\n  HostName %s\n  Port %s\n", h.alias, h.host, h.port)
		o.hosts = append(o.hosts, h)
	}
	writeFile(b, o.known, known.Bytes())
	// Host-specific entries first: ssh_config keeps the first value.
	fmt.Fprintf(&cfg, "Host *\n")
	for _, opt := range append(clientOpts,
		"User "+o.user,
		"IdentityFile "+filepath.Join(dir, "id_ed25519"),
		"IdentitiesOnly yes", "IdentityAgent none",
		"UserKnownHostsFile "+o.known, "GlobalKnownHostsFile /dev/null",
		"StrictHostKeyChecking yes", "CheckHostIP no", "UpdateHostKeys no",
		"BatchMode yes", "LogLevel ERROR",
		"ControlMaster no", "ControlPath none", "Compression no",
		"ForwardAgent no", "ForwardX11 no", "ServerAliveInterval 0",
	) {
		fmt.Fprintf(&cfg, "  %s\n", opt)
	}
	writeFile(b, o.config, cfg.Bytes())
	return o
}

// jumpTo returns the ssh arguments that reach the target through the
// first jumps jump hosts.
func (o *openSSH) jumpTo(jumps int) []string {
	args := []string{"-F", o.config}
	if jumps > 0 {
		var js []string
		for _, h := range o.hosts[:jumps] {
			js = append(js, h.alias)
		}
		args = append(args, "-J", strings.Join(js, ","))
	}
	return args
}

// sshCmd is an ssh client command with this set's private HOME.
func (o *openSSH) sshCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(o.ssh, args...)
	cmd.Env = append(os.Environ(), "HOME="+o.dir, "SSH_AUTH_SOCK=")
	cmd.SysProcAttr = groupAttr() // with its ProxyJump children
	return cmd
}

// forward runs `ssh -N -L PORT:dest -J j1,… [extra…]` to the target for
// the length of b and returns the dialer of the local end: the -L forward
// users write with ssh -J.
func (o *openSSH) forward(b testing.TB, jumps int, dest string, extra ...string) chainDialer {
	b.Helper()
	local := net.JoinHostPort("127.0.0.1", freeTCPPort(b, "127.0.0.1"))
	args := append(append(o.jumpTo(jumps), extra...), "-N", "-o", "ExitOnForwardFailure=yes", "-L", local+":"+dest, "target")
	startProcess(b, strings.Join(append([]string{"ssh -L"}, extra...), " "), o.sshCmd(args...), local)
	return func(ctx context.Context) (net.Conn, func(), error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", local)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
}

// opensshChain is a chain function of the benchmarks: ssh -L through two
// jump hosts.
func opensshChain(b testing.TB, dest string) func(context.Context) (net.Conn, func(), error) {
	return opensshChainOf(2)(b, dest)
}

// stdioSetup is one cold `ssh -W dest -J …` to the first byte echoed by
// dest: the spawn, every jump's key exchange and authentication, and the
// channel. The process is gone when it returns; the timer is stopped while
// it exits.
func (o *openSSH) stdioSetup(b *testing.B, jumps int, dest string) {
	args := append(o.jumpTo(jumps), "-W", dest, "target")
	cmd := o.sshCmd(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	msg := []byte{1}
	_, err = in.Write(msg)
	if err == nil {
		_, err = io.ReadFull(out, msg)
	}
	b.StopTimer()
	in.Close()
	waitOrKill(cmd, 5*time.Second)
	if err != nil {
		b.Fatalf("ssh -W: %v\n%s", err, stderr.String())
	}
	b.StartTimer()
}

// hopwireViaOpenSSH is a hopwire node (TLS) reached through the jump hosts
// as ssh:// hops (direct-tcpip, like ssh -J); the dialer reaches dest from
// that node.
func (o *openSSH) hopwireViaOpenSSH(b testing.TB, jumps int, dest string) chainDialer {
	client := newIdentity(b, "client")
	target := startNode(b, "target", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+dest)
	d := dialer(client, target)
	d.SSH = &hssh.ClientOptions{ConfigFile: "none", AgentSocket: "none", Home: o.dir, User: o.user,
		Signers: []gossh.Signer{o.signer}, KnownHostsFiles: []string{o.known}}
	var via []hop.Addr
	for _, h := range o.hosts[:jumps] {
		via = append(via, mustAddr(b, "ssh://"+o.user+"@"+h.addr()))
	}
	return routeDialer(d, via, mustAddr(b, target.url), dest)
}

// startProcess starts cmd (in a process group of its own, so that its
// children go with it) and waits until addr accepts a connection; at the
// end of b the group is killed and waited for. A process that does not
// come up skips b with its log: the reference is unavailable here.
func startProcess(b testing.TB, what string, cmd *exec.Cmd, addr string) {
	b.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = groupAttr()
	}
	var log lockedbuf.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		b.Skipf("skipped: %s: %v", what, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	b.Cleanup(func() {
		killGroup(cmd)
		<-exited
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		select {
		case <-exited:
			b.Skipf("skipped: %s exited: %s", what, log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Skipf("skipped: %s did not come up on %s: %s", what, addr, log.String())
		}
	}
}

// waitOrKill waits for cmd to exit on its own for up to d, then kills its
// process group.
func waitOrKill(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		killGroup(cmd)
		<-done
	}
}

// writeSSHKey writes a new Ed25519 private key in OpenSSH format and
// returns its signer.
func writeSSHKey(b testing.TB, path string) gossh.Signer {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	blk, err := gossh.MarshalPrivateKey(key, "")
	if err != nil {
		b.Fatal(err)
	}
	writeFile(b, path, pem.EncodeToMemory(blk))
	s, err := gossh.NewSignerFromKey(key)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func writeFile(b testing.TB, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
}

// freeTCPPort returns a port on host that was free a moment ago.
func freeTCPPort(b testing.TB, host string) string {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		b.Skipf("skipped: cannot listen on %s: %v", host, err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// opensshChainOf is opensshChain through the given number of jump hosts.
func opensshChainOf(jumps int) func(testing.TB, string) func(context.Context) (net.Conn, func(), error) {
	return func(b testing.TB, dest string) func(context.Context) (net.Conn, func(), error) {
		return startOpenSSH(b, jumps).forward(b, jumps, dest)
	}
}

// The SSH link against OpenSSH with the same cipher (issue 3): a hopwire
// node's embedded SSH listener reached with an ssh:// hop, the link over a
// hopwire channel, and a -L style forward to dest through it; beside
// OpenSSH's ssh -L to a private sshd, forced to aes128-gcm@openssh.com,
// the cipher x/crypto/ssh (both ends of the hopwire link) prefers.

// sshCipher is the cipher both sides of the comparison use.
const sshCipher = "aes128-gcm@openssh.com"

func hopwireSSHDirect(b testing.TB, dest string) func(context.Context) (net.Conn, func(), error) {
	dir := b.TempDir()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := gossh.NewSignerFromSigner(key)
	if err != nil {
		b.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	writeFile(b, authorized, gossh.MarshalAuthorizedKey(signer.PublicKey()))
	id := newIdentity(b, "sshnode")
	srv, err := New(&Options{Name: "sshnode", Identity: id, Listen: []string{"ssh://127.0.0.1:0"},
		SSHAuthorizedKeys: authorized, Policy: NewPolicy([]*Grant{mustGrant(b, "*:connect="+dest)})})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	a := mustAddr(b, srv.Addrs()[0])
	hostKey, err := gossh.NewSignerFromSigner(id.TLSCertificate().PrivateKey.(crypto.Signer))
	if err != nil {
		b.Fatal(err)
	}
	known := filepath.Join(dir, "known_hosts")
	writeFile(b, known, fmt.Appendf(nil, "[%s]:%s %s", a.Host, a.Port, gossh.MarshalAuthorizedKey(hostKey.PublicKey())))
	d := &hop.Dialer{SSH: &hssh.ClientOptions{ConfigFile: "none", AgentSocket: "none", User: "bench",
		Signers: []gossh.Signer{signer}, KnownHostsFiles: []string{known}, Home: dir}}
	return routeDialer(d, nil, mustAddr(b, "ssh://bench@"+a.Host+":"+a.Port), dest)
}

// opensshDirectGCM is ssh -L to the private target sshd with sshCipher.
func opensshDirectGCM(b testing.TB, dest string) func(context.Context) (net.Conn, func(), error) {
	return startOpenSSH(b, 0).forward(b, 0, dest, "-c", sshCipher)
}
