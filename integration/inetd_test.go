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
)

// TestStdioSocket plays inetd: it accepts a TCP connection and starts
// `hopwire serve --stdio` with the socket as stdin. The node must then
// authenticate the peer as a network listener does (TLS, authorized
// fingerprints), not trust it like a spawning parent.
func TestStdioSocket(t *testing.T) {
	hw, _ := binaries(t)
	dir := t.TempDir()
	home := func(n string) string { return filepath.Join(dir, n) }
	fp := map[string]string{}
	for _, n := range []string{"client", "stranger", "node"} {
		fp[n] = identity(t, hw, home(n), n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	trust(t, hw, home("node"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["node"], "node", "--addr", ln.Addr().String())
	trust(t, hw, home("stranger"), "--known", fp["node"], "node", "--addr", ln.Addr().String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f, err := c.(*net.TCPConn).File()
			c.Close()
			if err != nil {
				continue
			}
			cmd := exec.Command(hw, "serve", "--stdio", "--home", home("node"))
			cmd.Stdin = f
			cmd.Start()
			f.Close()
			go cmd.Wait()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	target := "tls://" + ln.Addr().String()
	out, err := exec.CommandContext(ctx, hw, "trace", "--home", home("client"), target).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "node") {
		t.Fatalf("authorized client: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, hw, "ping", "--home", home("stranger"), target).CombinedOutput()
	if err == nil {
		t.Fatalf("an unauthorized client got through a socket-activated node:\n%s", out)
	}
}

// TestExecHop: a stdio: hop after a relay — the relay spawns the command
// (if granted exec) and the link runs over its pipes.
func TestExecHop(t *testing.T) {
	hw, _ := binaries(t)
	dir := t.TempDir()
	home := func(n string) string { return filepath.Join(dir, n) }
	fp := map[string]string{}
	for _, n := range []string{"client", "relay", "inner"} {
		fp[n] = identity(t, hw, home(n), n)
	}
	trust(t, hw, home("relay"), "--authorized", fp["client"], "client")
	relay := "tls://127.0.0.1:" + freePort(t)
	trust(t, hw, home("client"), "--known", fp["relay"], "relay", "--addr", strings.TrimPrefix(relay, "tls://"))
	stdioHop := "stdio:" + hw + " serve --stdio --home " + home("inner")
	startNS(t, "", "listening", hw, "serve", "--home", home("relay"), "--listen", relay, "--grant", "client:exec="+strings.TrimPrefix(stdioHop, "stdio:"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, hw, "trace", "--home", home("client"), "-J", relay, stdioHop).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "stdio") || !strings.Contains(string(out), "inner") {
		t.Fatalf("exec hop: %v\n%s", err, out)
	}
	t.Log("\n" + string(out))
	// Another command is not granted.
	out, err = exec.CommandContext(ctx, hw, "ping", "--home", home("client"), "-J", relay, "stdio:/bin/cat").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "denied by policy") {
		t.Fatalf("ungranted exec: %v\n%s", err, out)
	}
}

// TestFanOut runs one command on 20 targets (four nodes, five times each)
// in parallel: every line is prefixed with its target and the summary
// counts them.
func TestFanOut(t *testing.T) {
	hw, _ := binaries(t)
	dir := t.TempDir()
	home := func(n string) string { return filepath.Join(dir, n) }
	fpc := identity(t, hw, home("client"), "client")
	var lines []string
	for i := range 4 {
		name := fmt.Sprintf("n%d", i)
		fp := identity(t, hw, home(name), name)
		trust(t, hw, home(name), "--authorized", fpc, "client")
		addr := "tls://127.0.0.1:" + freePort(t)
		trust(t, hw, home("client"), "--known", fp, name, "--addr", strings.TrimPrefix(addr, "tls://"))
		startNS(t, "", "listening", hw, "serve", "--home", home(name), "--listen", addr, "--grant", "client:classic")
		for range 5 {
			lines = append(lines, addr)
		}
	}
	targets := filepath.Join(dir, "targets")
	os.WriteFile(targets, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hw, "exec", "--home", home("client"), "--targets", targets, "-P", "6", "--", "echo", "fan")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errOut.String())
	}
	if n := strings.Count(out.String(), ": fan\n"); n != 20 {
		t.Fatalf("%d prefixed lines, want 20:\n%s", n, out.String())
	}
	if !strings.Contains(errOut.String(), "20 targets, 20 ok, 0 failed") {
		t.Fatalf("summary:\n%s", errOut.String())
	}
}
