//go:build integration && linux

package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShellPTY drives `hopwire shell` in a real terminal (tmux): a
// command typed at the remote shell runs, the shell exits, and the local
// terminal's settings are restored; then the same through a hopwire mux.
func TestShellPTY(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux")
	}
	hw, _ := binaries(t)
	dir := t.TempDir()
	home := func(n string) string { return filepath.Join(dir, n) }
	fpc := identity(t, hw, home("client"), "client")
	fpn := identity(t, hw, home("node"), "node")
	fpr := identity(t, hw, home("relay"), "relay")
	trust(t, hw, home("node"), "--authorized", fpc, "client")
	trust(t, hw, home("relay"), "--authorized", fpc, "client")
	nodePort := freePort(t)
	node := "quic://127.0.0.1:" + nodePort
	trust(t, hw, home("client"), "--known", fpn, "node", "--addr", "127.0.0.1:"+nodePort)
	startNS(t, "", "listening", hw, "serve", "--home", home("node"), "--listen", node, "--grant", "client:classic")
	relay := "tls://127.0.0.1:" + freePort(t)
	trust(t, hw, home("client"), "--known", fpr, "relay", "--addr", strings.TrimPrefix(relay, "tls://"))
	startNS(t, "", "listening", hw, "serve", "--home", home("relay"), "--listen", relay, "--grant", "client:connect=127.0.0.1:"+nodePort)

	sock := filepath.Join(dir, "tmux.sock")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-x", "120", "-y", "30", "-s", "hw", "sh")
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	wait := func(what string) string {
		deadline := time.Now().Add(15 * time.Second)
		for {
			screen := tmux("capture-pane", "-p", "-t", "hw")
			if strings.Contains(screen, what) {
				return screen
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q on the screen:\n%s", what, screen)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	tmux("send-keys", "-t", "hw", "stty -g > "+filepath.Join(dir, "before")+"; echo READY", "Enter")
	wait("READY")
	// Two hops: a TLS relay, then the node over QUIC behind it.
	tmux("send-keys", "-t", "hw", hw+" shell --home "+home("client")+" -J "+relay+" "+node, "Enter")
	time.Sleep(500 * time.Millisecond)
	tmux("send-keys", "-t", "hw", "echo remote-$((40+2)) $(stty size)", "Enter")
	wait("remote-42 30 120") // the remote terminal has the local size
	tmux("resize-window", "-t", "hw", "-x", "100", "-y", "25")
	time.Sleep(300 * time.Millisecond)
	tmux("send-keys", "-t", "hw", "echo resized-$(stty size | tr ' ' x)", "Enter")
	wait("resized-25x100") // and follows it
	tmux("send-keys", "-t", "hw", "exit", "Enter")
	// Type the next command only once hopwire is gone (keys typed while
	// it still runs go to the remote side).
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strings.TrimSpace(tmux("display-message", "-p", "-t", "hw", "#{pane_current_command}")) != "hopwire" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hopwire shell did not exit:\n%s", tmux("capture-pane", "-p", "-t", "hw"))
		}
	}
	tmux("send-keys", "-t", "hw", "stty -g > "+filepath.Join(dir, "after")+"; echo DONE-$?", "Enter")
	wait("DONE-0")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	before, _ := exec.CommandContext(ctx, "cat", filepath.Join(dir, "before")).Output()
	after, _ := exec.CommandContext(ctx, "cat", filepath.Join(dir, "after")).Output()
	if len(before) == 0 || string(before) != string(after) {
		t.Fatalf("terminal not restored:\nbefore %s\nafter  %s", before, after)
	}

	// The same shell riding a hopwire mux that holds the chain.
	ctl := filepath.Join(dir, "mux.sock")
	startNS(t, "", "control", hw, "mux", "--home", home("client"), "--control", ctl, "-J", relay, node)
	tmux("send-keys", "-t", "hw", "clear; "+hw+" shell --home "+home("client")+" --control "+ctl+" "+node, "Enter")
	time.Sleep(500 * time.Millisecond)
	tmux("send-keys", "-t", "hw", "echo via-mux-$((40+2)) $(stty size)", "Enter")
	wait("via-mux-42 25 100")
	tmux("send-keys", "-t", "hw", "exit", "Enter")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strings.TrimSpace(tmux("display-message", "-p", "-t", "hw", "#{pane_current_command}")) != "hopwire" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hopwire shell --control did not exit:\n%s", tmux("capture-pane", "-p", "-t", "hw"))
		}
	}
}
