//go:build integration && linux

package integration

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// homes creates a hopwire home with an identity for each name, and
// returns where each home is and each fingerprint.
func homes(t *testing.T, hw string, names ...string) (home func(string) string, fp map[string]string) {
	t.Helper()
	dir := t.TempDir()
	home = func(n string) string { return filepath.Join(dir, n) }
	fp = map[string]string{}
	for _, n := range names {
		fp[n] = identity(t, hw, home(n), n)
	}
	return home, fp
}

// run runs the hopwire binary (in the host namespace when ns is "") and
// returns its combined output.
func run(ctx context.Context, ns string, args ...string) (string, error) {
	if ns == "" {
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		return string(out), err
	}
	return inNS(ctx, ns, args...)
}

// TestPrincipalSpoof (issue 13 §1, the review's F1): a client the node
// authorized as bob, with no grants, re-signs its own key (so its
// fingerprint is unchanged) with the CommonName alice, who holds
// classic=eval. It stays bob: denied everything alice may do.
func TestPrincipalSpoof(t *testing.T) {
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "alice", "bob", "node")
	node := "tls://127.0.0.1:" + freePort(t)
	for _, n := range []string{"alice", "bob"} {
		trust(t, hw, home(n), "--known", fp["node"], "node", "--addr", strings.TrimPrefix(node, "tls://"))
		trust(t, hw, home("node"), "--authorized", fp[n], n)
	}
	startNS(t, "", "listening", hw, "serve", "--home", home("node"), "--listen", node, "--grant", "alice:classic=eval")

	// bob2 is bob's key under the name alice.
	sh(t, "cp", "-a", home("bob"), home("bob2"))
	if err := os.Remove(filepath.Join(home("bob2"), "id.crt")); err != nil {
		t.Fatal(err)
	}
	if got := identity(t, hw, home("bob2"), "alice"); got != fp["bob"] {
		t.Fatalf("re-signed key has fingerprint %s, want bob's %s", got, fp["bob"])
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	// Control: alice herself gets eval.
	out, err := run(ctx, "", hw, "call", "--home", home("alice"), node, "eval.Eval", `"6*7"`)
	if err != nil || !strings.Contains(out, "42") {
		t.Fatalf("alice's eval: %v\n%s", err, out)
	}
	out, err = run(ctx, "", hw, "call", "--home", home("bob2"), node, "node.Info")
	if err != nil || !strings.Contains(out, `"Peer":"bob"`) {
		t.Fatalf("node.Info as the forged alice: %v\n%s (want the node to see bob)", err, out)
	}
	out, err = run(ctx, "", hw, "call", "--home", home("bob2"), node, "eval.Eval", `"6*7"`)
	if err == nil || regexp.MustCompile(`(?m)^42$`).MatchString(out) {
		t.Fatalf("bob under a self-chosen name alice ran eval:\n%s", out)
	}
	out, err = run(ctx, "", hw, "exec", "--home", home("bob2"), node, "--", "id")
	if err == nil || strings.Contains(out, "uid=") {
		t.Fatalf("bob under a self-chosen name alice ran a command:\n%s", out)
	}
}

// TestRelayAnswersForNextHop (issue 13 §2, F2): r1, a relay the client
// trusts, takes over node1's address on its own side and answers the
// client's CONNECT to node1 itself, with its own (trusted) key. The client
// refuses it however node1 is trusted: bound to its address, pinned in
// the hop, or by an old known_nodes file with no addresses at all.
func TestRelayAnswersForNextHop(t *testing.T) {
	hw, _ := binaries(t)
	ns, addr := segmented(t, 3) // client, r1, node1
	home, fp := homes(t, hw, "client", "r1", "node1")
	r1HP := net.JoinHostPort(addr(1, 0), "7443")
	node1HP := net.JoinHostPort(addr(2, 1), "7443")
	r1, node1 := "tls://"+r1HP, "tls://"+node1HP
	for _, n := range []string{"r1", "node1"} {
		trust(t, hw, home(n), "--authorized", fp["client"], "client")
	}
	bound := home("client")
	trust(t, hw, bound, "--known", fp["r1"], "r1", "--addr", r1HP)
	trust(t, hw, bound, "--known", fp["node1"], "node1", "--addr", node1HP)
	// The same client with an old known_nodes file: names, no addresses.
	legacy := home("legacy")
	sh(t, "cp", "-a", bound, legacy)
	os.WriteFile(filepath.Join(legacy, "known_nodes"), []byte(fp["r1"]+" r1\n"+fp["node1"]+" node1\n"), 0o600)

	startNS(t, ns[2], "listening", hw, "serve", "--home", home("node1"), "--listen", node1, "--grant", "client:classic")
	startNS(t, ns[1], "listening", hw, "serve", "--home", home("r1"), "--listen", r1, "--grant", "client:connect="+node1HP)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Control: the real node1 answers, bound, pinned or legacy.
	for _, h := range []string{bound, legacy} {
		out, err := run(ctx, ns[0], hw, "exec", "--home", h, "-J", r1, node1, "--", "cat", "/proc/sys/kernel/hostname")
		if err != nil {
			t.Fatalf("exec on the real node1 (%s): %v\n%s", filepath.Base(h), err, out)
		}
	}

	// r1 hijacks node1's address: on r1's side it is a local address, and
	// a second node with r1's key listens there.
	sh(t, "ip", "-n", ns[1], "addr", "add", addr(2, 1)+"/32", "dev", "lo")
	startNS(t, ns[1], "listening", hw, "serve", "--home", home("r1"), "--listen", node1, "--grant", "client:classic")

	for _, tc := range []struct {
		name, home, target string
		want               []string
	}{
		{"bound", bound, node1, []string{"hop 2", node1HP + " answered with " + fp["r1"], "binds " + fp["node1"], "another node is answering for it"}},
		{"pinned", legacy, node1 + "#" + fp["node1"], []string{"hop 2", "does not match the pinned " + fp["node1"]}},
		{"legacy file", legacy, node1, []string{"hop 2", "answered with the key of hop 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{
				{"exec", "--home", tc.home, "-J", r1, tc.target, "--", "cat", "/proc/sys/kernel/hostname"},
				{"trace", "--home", tc.home, "-J", r1, tc.target},
			} {
				out, err := run(ctx, ns[0], append([]string{hw}, cmd...)...)
				if err == nil {
					t.Fatalf("%s through a relay answering for node1 succeeded:\n%s", cmd[0], out)
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s: error lacks %q:\n%s", cmd[0], w, out)
					}
				}
			}
		})
	}
}

// TestExecGrantIsNotEval (issue 13 §5, F4): a grant to run hopwire as a
// stdio hop lets the client spawn exactly that command line, and the node
// so spawned grants the client nothing on the relay host that the relay
// did not grant it itself: no classic, no eval.
func TestExecGrantIsNotEval(t *testing.T) {
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "client", "relay", "inner")
	relay := "tls://127.0.0.1:" + freePort(t)
	trust(t, hw, home("relay"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["relay"], "relay", "--addr", strings.TrimPrefix(relay, "tls://"))
	stdioCmd := hw + " serve --stdio --home " + home("inner")
	startNS(t, "", "listening", hw, "serve", "--home", home("relay"), "--listen", relay, "--grant", "client:exec="+stdioCmd)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	out, err := run(ctx, "", hw, "ping", "--home", home("client"), "-J", relay, "stdio:"+stdioCmd)
	if err != nil {
		t.Fatalf("the granted stdio hop: %v\n%s", err, out)
	}
	for _, cmd := range [][]string{
		{"call", "--home", home("client"), "-J", relay, "stdio:" + stdioCmd, "eval.Eval", `"6*7"`},
		{"exec", "--home", home("client"), "-J", relay, "stdio:" + stdioCmd, "--", "id"},
	} {
		if out, err := run(ctx, "", append([]string{hw}, cmd...)...); err == nil || regexp.MustCompile(`(?m)^42$`).MatchString(out) || strings.Contains(out, "uid=") {
			t.Errorf("%s through an exec grant: %v\n%s", cmd[0], err, out)
		}
	}
	// Other arguments to the granted program are other command lines.
	for _, hopCmd := range []string{
		hw + " serve --stdio --home " + home("inner") + " --grant client:classic=eval",
		hw + " exec --home " + home("inner") + " tls://127.0.0.1:1 -- id",
	} {
		out, err := run(ctx, "", hw, "ping", "--home", home("client"), "-J", relay, "stdio:"+hopCmd)
		if err == nil || !strings.Contains(out, "denied by policy") {
			t.Errorf("ungranted command line %q: %v\n%s", hopCmd, err, out)
		}
	}
}

// TestHangupRevokes: SIGHUP does not end a node (it used to exit 129); it
// closes the sessions of keys its authorized file no longer names, so a
// client removed with `hopwire trust --remove` loses its running forward
// while the node and the clients still named keep going.
func TestHangupRevokes(t *testing.T) {
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "alice", "bob", "node")
	node := "tls://127.0.0.1:" + freePort(t)
	for _, c := range []string{"alice", "bob"} {
		trust(t, hw, home("node"), "--authorized", fp[c], c)
		trust(t, hw, home(c), "--known", fp["node"], "node", "--addr", strings.TrimPrefix(node, "tls://"))
	}
	echo := "127.0.0.1:" + freePort(t)
	echoIn(t, "", echo)
	serve := startNS(t, "", "listening", hw, "serve", "--home", home("node"), "--listen", node,
		"--grant", "alice:connect="+echo, "--grant", "bob:connect="+echo)
	local := map[string]string{}
	for _, c := range []string{"alice", "bob"} {
		local[c] = "127.0.0.1:" + freePort(t)
		startNS(t, "", "forwarding", hw, "forward", "--home", home(c), node, "-L", local[c]+":"+echo)
	}
	ping := func(c string) error {
		conn, err := net.DialTimeout("tcp", local[c], 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("hi")); err != nil {
			return err
		}
		buf := make([]byte, 2)
		_, err = io.ReadFull(conn, buf)
		return err
	}
	for _, c := range []string{"alice", "bob"} {
		if err := ping(c); err != nil {
			t.Fatalf("%s before: %v", c, err)
		}
	}
	sh(t, hw, "trust", "--home", home("node"), "--remove", fp["bob"])
	if err := serve.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// bob's link is closed; his forward redials and is refused.
	deadline := time.Now().Add(15 * time.Second)
	for ping("bob") == nil {
		if time.Now().After(deadline) {
			t.Fatal("bob's forward still works after his key was removed and the node got SIGHUP")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := ping("alice"); err != nil {
		t.Fatalf("alice after the hangup: %v", err)
	}
	if serve.ProcessState != nil {
		t.Fatalf("the node exited on SIGHUP: %v", serve.ProcessState)
	}
	if err := serve.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the node is gone after SIGHUP: %v", err)
	}
}
