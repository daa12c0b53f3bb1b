//go:build integration && linux

package integration

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/transporttest"
)

// The README's command blocks, run as written: each line ends with a
// comment saying where it runs ("# on r1 and the target: …"), each
// machine is a network namespace with its own $HOME, and only host names,
// addresses and the fingerprints `hopwire id` printed are put in.

// readmeBlock returns the lines of the first ```sh block after the line
// that starts with heading.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, heading) {
			continue
		}
		for j := i + 1; j < len(lines); j++ {
			if lines[j] == "```sh" {
				for k := j + 1; k < len(lines); k++ {
					if lines[k] == "```" {
						return lines[j+1 : k]
					}
				}
			}
		}
	}
	t.Fatalf("README has no sh block after %q", heading)
	return nil
}

// onRole is the "# on WHO[: or , …]" comment that ends a README line.
var onRole = regexp.MustCompile(`\s+# on ([^:,]+)(?:[:,].*)?$`)

// readmeConfig returns the first plain ``` block after the line that
// starts with heading (the config file example).
func readmeConfig(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "\n"+heading)
	if !ok {
		t.Fatalf("README has no %q", heading)
	}
	_, block, ok := strings.Cut(after, "\n```\n")
	if !ok {
		t.Fatalf("README has no plain block after %q", heading)
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}

// readmeStep is one README line and the machines it runs on.
type readmeStep struct {
	roles []string
	line  string
}

func readmeSteps(t *testing.T, block []string, roles []string) []readmeStep {
	t.Helper()
	var steps []readmeStep
	for _, l := range block {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := onRole.FindStringSubmatchIndex(l)
		if m == nil {
			t.Fatalf("README line %q does not say where it runs (# on …)", l)
		}
		who := l[m[2]:m[3]]
		st := readmeStep{line: strings.TrimSpace(l[:m[0]])}
		if who == "each machine" {
			st.roles = roles
		} else {
			for _, w := range strings.Split(who, " and ") {
				w = strings.TrimPrefix(strings.TrimSpace(w), "the ")
				found := false
				for _, r := range roles {
					found = found || r == w
				}
				if !found {
					t.Fatalf("README line %q runs on %q, not one of %v", l, w, roles)
				}
				st.roles = append(st.roles, w)
			}
		}
		steps = append(steps, st)
	}
	return steps
}

// readmeLab runs README lines on its machines.
type readmeLab struct {
	t       *testing.T
	bin     string            // directory holding the hopwire binary
	dir     string            // homes live here
	ns      map[string]string // role → namespace
	subs    map[string][]string
	path    string            // extra directory at the head of PATH (wrappers)
	fpName  map[string]string // role → its fingerprint placeholder
	fps     []string          // placeholder, fingerprint pairs for strings.NewReplacer
	prelude map[string]string // role → variable assignments seen so far
	serves  map[string]map[string]*exec.Cmd
}

func newReadmeLab(t *testing.T, ns map[string]string, subs map[string][]string, fpName map[string]string) *readmeLab {
	hw, _ := binaries(t)
	lab := &readmeLab{t: t, bin: filepath.Dir(hw), dir: t.TempDir(), ns: ns, subs: subs, fpName: fpName,
		prelude: map[string]string{}, serves: map[string]map[string]*exec.Cmd{}}
	for role := range ns {
		if err := os.MkdirAll(lab.home(role), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return lab
}

func (l *readmeLab) home(role string) string { return filepath.Join(l.dir, role) }

// command is the shell line as role runs it.
func (l *readmeLab) command(role, line string) string {
	line = strings.NewReplacer(l.subs[role]...).Replace(line)
	return strings.NewReplacer(l.fps...).Replace(line)
}

func (l *readmeLab) shell(role, line string) *exec.Cmd {
	script := "cd " + l.home(role) + " && " + l.prelude[role] + line
	path := l.bin + ":" + os.Getenv("PATH")
	if l.path != "" {
		path = l.path + ":" + path
	}
	args := []string{"env", "HOME=" + l.home(role), "PATH=" + path, "sh", "-c", script}
	return exec.Command("ip", append([]string{"netns", "exec", l.ns[role]}, args...)...)
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

func (l *readmeLab) run(steps []readmeStep) {
	t := l.t
	for _, st := range steps {
		for _, role := range st.roles {
			line := l.command(role, st.line)
			t.Logf("%s$ %s", role, line)
			switch {
			case assignment.MatchString(line) && !strings.Contains(line, "hopwire "):
				l.prelude[role] += line + "; "
			case strings.HasPrefix(line, "hopwire serve"), strings.HasPrefix(line, "hopwire forward"), strings.HasPrefix(line, "nats-server"):
				l.background(role, line)
			default:
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				cmd := l.shell(role, line)
				cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
				cmd.Stdin = strings.NewReader("exit\n") // for hopwire shell
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil {
					t.Fatalf("on %s: %s: %v\n%s", role, line, err, out)
				}
				t.Logf("%s", out)
				if line == "hopwire id" {
					f := strings.Fields(string(out))
					if len(f) == 0 || !strings.HasPrefix(f[0], "SHA256:") {
						t.Fatalf("hopwire id printed %q", out)
					}
					l.fps = append(l.fps, l.fpName[role], f[0])
				}
			}
		}
	}
}

// background starts a serve or forward line and waits until it is up; a
// serve on a listener a previous serve of this role had replaces it.
func (l *readmeLab) background(role, line string) {
	ready, redirect := "listening", ""
	switch {
	case strings.HasPrefix(line, "hopwire forward"):
		ready = "forwarding"
	case strings.Contains(line, "--connect"):
		ready = "registered"
	case strings.HasPrefix(line, "nats-server"):
		ready, redirect = "Server is ready", " 2>&1" // it logs on stderr
	}
	key := line
	if f := strings.Fields(line); len(f) > 3 && f[2] == "--listen" {
		key = f[3]
	}
	if l.serves[role] == nil {
		l.serves[role] = map[string]*exec.Cmd{}
	}
	if old := l.serves[role][key]; old != nil {
		old.Process.Kill()
		old.Wait()
	}
	cmd := l.shell(role, "exec "+line+redirect)
	l.serves[role][key] = startNS(l.t, l.ns[role], ready, cmd.Args[4:]...)
}

// TestReadmeQuickStartAndClassic runs the README's quick start, then its
// classic administration block on the same chain: client, r1 and a target
// only r1 can reach.
func TestReadmeQuickStartAndClassic(t *testing.T) {
	ns, addr := segmented(t, 3)
	roles := []string{"client", "r1", "target"}
	r1, target := addr(1, 0), addr(2, 1)
	hosts := []string{"r1.example", r1, "10.0.2.2", target}
	lab := newReadmeLab(t, map[string]string{"client": ns[0], "r1": ns[1], "target": ns[2]},
		map[string][]string{"client": hosts, "r1": hosts, "target": hosts},
		map[string]string{"client": "SHA256:CLIENT", "r1": "SHA256:R1", "target": "SHA256:TARGET"})
	lab.run(readmeSteps(t, readmeBlock(t, "## Quick start (CLI)"), roles))
	lab.run(readmeSteps(t, readmeBlock(t, "## Driving the far side"), roles))

	// The config aliases: the README's file, as written, in the client's
	// home, then the commands that use it.
	config := lab.command("client", readmeConfig(t, "### Config aliases"))
	if err := os.WriteFile(filepath.Join(lab.home("client"), ".hopwire", "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	lab.run(readmeSteps(t, readmeBlock(t, "### Config aliases"), roles))
}

// TestReadmeOpenSSH runs the README's OpenSSH bastion block: the client
// reaches only a plain OpenSSH bastion; behind it a host runs a hopwire
// node and a plain sshd without hopwire. The test's machines share one
// /etc/passwd, so the README's user ops is root here, whose sessions get
// a home of their own, and ssh (which takes ~ from the password file, not
// $HOME) is told where the client's keys and known_hosts are.
func TestReadmeOpenSSH(t *testing.T) {
	if transporttest.SSHDPath() == "" {
		t.Skip("needs openssh-server (sshd)")
	}
	ns, addr := segmented(t, 3)
	roles := []string{"client", "bastion", "host"}
	bastion, host := addr(1, 0), addr(2, 1)
	subs := []string{"bastion.example", bastion, "10.0.3.7", host, "10.0.3.9", host, "ops@", "root@"}
	lab := newReadmeLab(t, map[string]string{"client": ns[0], "bastion": ns[1], "host": ns[2]},
		map[string][]string{"client": subs, "bastion": subs, "host": subs},
		map[string]string{"client": "SHA256:CLIENT", "host": "SHA256:HOST"})
	sshDir := filepath.Join(lab.home("client"), ".ssh")
	os.MkdirAll(sshDir, 0o700)
	sh(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", filepath.Join(sshDir, "id_ed25519"))
	pub, err := os.ReadFile(filepath.Join(sshDir, "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	remoteHome := filepath.Join(lab.dir, "remote-home")
	os.MkdirAll(remoteHome, 0o755)
	sshdIn(t, ns[1], bastion, string(pub), remoteHome)
	sshdIn(t, ns[2], host, string(pub), remoteHome)
	lab.path = t.TempDir()
	wrapper := "#!/bin/sh\nexec /usr/bin/ssh -F none -o BatchMode=yes -o UserKnownHostsFile=\"$HOME/.ssh/known_hosts\" -i \"$HOME/.ssh/id_ed25519\" \"$@\"\n"
	if err := os.WriteFile(filepath.Join(lab.path, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	lab.run(readmeSteps(t, readmeBlock(t, "### Through an OpenSSH bastion"), roles))
	// uninstall left nothing of the upload behind.
	if left, _ := filepath.Glob(filepath.Join(remoteHome, ".cache", "hopwire", "hopwire-*")); len(left) > 0 {
		t.Errorf("uninstall left %v", left)
	}
	if _, err := os.Stat(filepath.Join(remoteHome, ".hopwire", "id.key")); err == nil {
		t.Error("uninstall left the identity")
	}
}

// sshdIn runs a plain OpenSSH server (transporttest.StartSSHD) in a
// namespace on addr:22 that accepts the client key for root, with HOME
// and HOPWIRE_HOME set to remoteHome in its sessions.
func sshdIn(t *testing.T, ns, addr, clientPub, remoteHome string) {
	t.Helper()
	transporttest.StartSSHD(t, &transporttest.SSHDOptions{
		Netns:          ns,
		Listen:         net.JoinHostPort(addr, "22"),
		AuthorizedKeys: clientPub,
		Config:         []string{"SetEnv HOME=" + remoteHome + " HOPWIRE_HOME=" + filepath.Join(remoteHome, ".hopwire")},
	})
}

// TestReadmeReverseAgent runs the README's reverse agent block: the client
// and the agent each reach only the relay, by different addresses.
func TestReadmeReverseAgent(t *testing.T) {
	ns, addr := segmented(t, 3)
	roles := []string{"client", "relay", "agent"}
	lab := newReadmeLab(t, map[string]string{"client": ns[0], "relay": ns[1], "agent": ns[2]},
		map[string][]string{
			"client": {"relay.example", addr(1, 0)},
			"agent":  {"relay.example", addr(1, 2)},
			"relay":  {"relay.example", addr(1, 0)},
		},
		map[string]string{"client": "SHA256:CLIENT", "relay": "SHA256:RELAY", "agent": "SHA256:DB1"})
	lab.run(readmeSteps(t, readmeBlock(t, "### Reverse agents"), roles))
}

// TestReadmeFleet runs the README's fleet block with a real nats-server:
// in a line agent – r1 – r2 – client, the agent registers at r1 and the
// client, which reaches only r2, runs a command on it through r2 and r1's
// mesh link.
func TestReadmeFleet(t *testing.T) {
	needTool(t, "nats-server", "nats-server")
	ns, addr := segmented(t, 4)
	roles := []string{"agent", "r1", "r2", "client"}
	lab := newReadmeLab(t, map[string]string{"agent": ns[0], "r1": ns[1], "r2": ns[2], "client": ns[3]},
		map[string][]string{
			"agent":  {"r1.example", addr(1, 0), "r2.example", addr(2, 1)}, // r2 is out of its reach here
			"r1":     {"r1.example", addr(1, 2), "directory.example", "127.0.0.1"},
			"r2":     {"r2.example", addr(2, 1), "directory.example", addr(1, 2)},
			"client": {"r2.example", addr(2, 3)},
		},
		map[string]string{"client": "SHA256:CLIENT", "r1": "SHA256:R1", "r2": "SHA256:R2", "agent": "SHA256:DB1"})
	lab.run(readmeSteps(t, readmeBlock(t, "## Running a fleet"), roles))
}

// TestReadmeBlocksCovered: every sh block of the README is run by a test
// above, or is listed here with the reason it is not, so that a new
// block cannot go untested unnoticed.
func TestReadmeBlocksCovered(t *testing.T) {
	run := map[string]bool{
		"## Quick start (CLI)":                  true,  // TestReadmeQuickStartAndClassic
		"## Driving the far side":               true,  // TestReadmeQuickStartAndClassic
		"### Config aliases":                    true,  // TestReadmeQuickStartAndClassic
		"### Through an OpenSSH bastion":        true,  // TestReadmeOpenSSH
		"### Reverse agents":                    true,  // TestReadmeReverseAgent
		"## Running a fleet":                    true,  // TestReadmeFleet
		"# hopwire":                             false, // go run demo and make test: TestDemo and CI themselves
		"### Existing RPyC servers and clients": false, // Python RPyC servers: TestRPyCSegmented
		"## Performance":                        false, // the benchmarks: hopwire bench, not a test
	}
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	heading, inBlock := "", false
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "```") {
			inBlock = !inBlock
		}
		if !inBlock && strings.HasPrefix(l, "#") {
			heading = l
		}
		if l != "```sh" {
			continue
		}
		found := false
		for h := range run {
			found = found || strings.HasPrefix(heading, h)
		}
		if !found {
			t.Errorf("README sh block under %q is run by no test: add it to readme_test.go", heading)
		}
	}
}
