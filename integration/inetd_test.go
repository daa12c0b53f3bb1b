//go:build integration && linux

package integration

import (
	"context"
	"net"
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
	trust(t, hw, home("node"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["node"], "node")
	trust(t, hw, home("stranger"), "--known", fp["node"], "node")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
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
	trust(t, hw, home("client"), "--known", fp["relay"], "relay")
	relay := "tls://127.0.0.1:" + freePort(t)
	startNS(t, "", "listening", hw, "serve", "--home", home("relay"), "--listen", relay, "--grant", "client:exec="+hw)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stdioHop := "stdio:" + hw + " serve --stdio --home " + home("inner")
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
