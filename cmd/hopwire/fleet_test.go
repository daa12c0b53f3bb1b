package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/internal/lockedbuf"
)

// TestServeDirectoryTLS: serve --directory tls:// --directory-ca joins a
// fleet whose NATS server requires TLS and verifies its clients against
// the fleet's CA: the relay presents its own certificate (issued by that
// CA) and verifies the server's against --directory-ca. Without
// --directory-ca (the system's roots) serve exits with one line saying
// why. serve --check prints the directory settings.
func TestServeDirectoryTLS(t *testing.T) {
	natsBin, err := exec.LookPath("nats-server")
	if err != nil {
		msg := "needs nats-server: apt-get install -y nats-server (.ci/run installs it)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "; CI is set, so this fails rather than skips")
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	ca, err := certs.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca", "ca.crt")
	home := filepath.Join(dir, "r1")
	relayCert, relayKey, err := ca.Issue("r1", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"id.crt": relayCert, "id.key": relayKey} {
		if err := os.WriteFile(filepath.Join(home, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srvCert, srvKey, err := ca.Issue("nats", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"nats.crt": srvCert, "nats.key": srvKey} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n}\n",
		filepath.Join(dir, "nats.crt"), filepath.Join(dir, "nats.key"), caFile), 0o600); err != nil {
		t.Fatal(err)
	}
	var natsOut lockedbuf.Buffer
	nats := exec.Command(natsBin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", filepath.Join(dir, "js"), "-c", conf)
	nats.Stdout, nats.Stderr = &natsOut, &natsOut
	if err := nats.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { nats.Process.Kill(); nats.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(natsOut.String(), "Server is ready"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start:\n%s", natsOut.String())
		}
	}
	dirURL := fmt.Sprintf("tls://127.0.0.1:%d", port)
	args := []string{"serve", "--home", home, "--listen", "tls://127.0.0.1:0", "--fleet-addr", "tls://127.0.0.1:7443", "--directory", dirURL}

	out, errOut, code := runCmd(t, "serve", "--home", home, "--listen", "tls://127.0.0.1:7443", "--directory", dirURL, "--directory-ca", caFile, "--check")
	if want := fmt.Sprintf("fleet directory %s (TLS, servers verified against %s), lease 15s, 1 replica(s)", dirURL, caFile); code != 0 || !strings.Contains(out, want) {
		t.Errorf("serve --check: exit %d, want a line %q:\n%s%s", code, want, out, errOut)
	}

	// Verifying the server against the system's roots: refused, said.
	out, errOut, code = runCmd(t, args...)
	if code == 0 || !strings.Contains(errOut, "joining the fleet") || !strings.Contains(errOut, dirURL) ||
		!strings.Contains(errOut, "certificate signed by unknown authority") || !strings.Contains(errOut, "--directory-ca FILE") {
		t.Errorf("serve against the system's roots: exit %d, want the reason:\n%s%s", code, out, errOut)
	}

	// With the fleet's CA: the relay joins, its certificate verified.
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append(args, "--directory-ca", caFile), strings.NewReader(""), &stdout, &stderr)
	}()
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(stdout.String(), "listening"); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve ended: %v\n%s%s", err, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("serve did not start:\n%s%s", stdout.String(), stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "directory opened") {
		t.Errorf("no directory opened in the log:\n%s", stderr.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
