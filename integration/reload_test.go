//go:build integration && linux

package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
)

// TestServeConfigReload (issue 17, "Configuration"): a node run from a
// config file is checked with --check, then reloaded with SIGHUP under
// live traffic after its grant changed and its certificate was renewed:
// no link drops, the next request is decided by the new grant, the next
// handshake gets the new certificate, and a reload that fails changes
// nothing.
func TestServeConfigReload(t *testing.T) {
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "client", "node")
	port := freePort(t)
	node := "tls://127.0.0.1:" + port
	trust(t, hw, home("node"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["node"], "node", "--addr", "127.0.0.1:"+port)
	echo1, echo2 := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	echoIn(t, "", echo1)
	echoIn(t, "", echo2)
	conf := filepath.Join(t.TempDir(), "node.conf")
	write := func(grant string) {
		t.Helper()
		text := "# a node of the reload test\n" +
			"home " + home("node") + "\n" +
			"listen   " + node + "   # the only listener\n" +
			"grant " + grant + "\n" +
			"log-level info\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// --check reads everything and says what would run.
	write("client:connect=" + echo1)
	out, err := run(ctx, "", hw, "serve", "--check", "--config", conf)
	if err != nil || !strings.Contains(out, "configuration OK") || !strings.Contains(out, "grant client:connect="+echo1) {
		t.Fatalf("serve --check: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("listen "+node+"\nlisten-on "+node+"\n"), 0o600)
	if out, err := run(ctx, "", hw, "serve", "--check", "--config", bad); err == nil || !strings.Contains(out, bad+`:2: unknown setting "listen-on"`) {
		t.Fatalf("serve --check of a bad file: %v\n%s", err, out)
	}

	// The node, with its log in a file.
	logPath := filepath.Join(t.TempDir(), "node.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	serve := exec.Command(hw, "serve", "--config", conf)
	serve.Stderr = logFile
	stdout, _ := serve.StdoutPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		serve.Process.Kill()
		serve.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("node log:\n%s", b)
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening") {
	}
	go io.Copy(io.Discard, stdout)

	local1, local2 := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	startNS(t, "", "forwarding", hw, "forward", "--home", home("client"), node, "-L", local1+":"+echo1, "-L", local2+":"+echo2)
	echo := func(c net.Conn, msg string) error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		return err
	}
	fresh := func(addr string) error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		return echo(c, "fresh")
	}
	live, err := net.Dial("tcp", local1)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := echo(live, "before"); err != nil {
		t.Fatalf("the live connection before the reload: %v", err)
	}
	if fresh(local2) == nil {
		t.Fatal("echo2 answered before any grant allowed it")
	}
	presented := func() string {
		t.Helper()
		client, err := certs.LoadOrCreate(home("client"), "")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := certs.ClientConfig(client, certs.Trust{Pinned: []string{fp["node"]}}, "")
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", "127.0.0.1:"+port, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := presented(); got != "node" {
		t.Fatalf("the node presents %q", got)
	}

	// Traffic keeps flowing on the live connection while the node reloads.
	stop := make(chan struct{})
	liveErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				liveErr <- nil
				return
			default:
			}
			if err := echo(live, "during"); err != nil {
				liveErr <- err
				return
			}
		}
	}()
	write("client:connect=" + echo2) // the grant moves from echo1 to echo2
	sh(t, hw, "id", "--home", home("node"), "--name", "node-renewed")
	if err := serve.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logPath, "SIGHUP: reloaded")
	deadline := time.Now().Add(15 * time.Second)
	for fresh(local2) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the new grant does not apply to the next request")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if fresh(local1) == nil {
		t.Fatal("a new connection to echo1 works after its grant went")
	}
	if got := presented(); got != "node-renewed" {
		t.Fatalf("the next handshake got %q, want the renewed certificate", got)
	}
	close(stop)
	if err := <-liveErr; err != nil {
		t.Fatalf("the live connection broke during the reload: %v", err)
	}

	// A reload that fails keeps the running configuration.
	os.WriteFile(conf, []byte("listen "+node+"\ngrant client:teleport\n"), 0o600)
	serve.Process.Signal(syscall.SIGHUP)
	waitLog(t, logPath, "reload failed")
	if err := fresh(local2); err != nil {
		t.Fatalf("after a failed reload the grant in force is gone: %v", err)
	}
	if err := serve.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the node is gone: %v", err)
	}
}

// waitLog waits for a line containing want in the log file at path.
func waitLog(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the node's log:\n%s", want, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
