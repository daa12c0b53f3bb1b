//go:build integration && linux

package integration

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStatusPageChromium is issue 17's acceptance test of the status
// page: a relay with an admin listener, two reverse agents registered at
// it (a1, a2: hopwire serve --connect) and a forward with a TCP
// connection open through it (hopwire forward -L), all real processes;
// a real headless Chromium loads the page, runs its script and dumps the
// DOM, on which the test finds both agents, the counts of links,
// agents, forwards and denials, and evidence that the script refreshed the live
// part (the body's data-refreshes, set only after a fetch of status/live
// was swapped in). Chromium writes the page's console to its stderr
// (--enable-logging=stderr): the page logs nothing when all is well
// (its script reports a failed refresh with console.error), so any
// console line — an uncaught exception, a resource that failed to load,
// a CSP violation — fails the test. A screenshot is kept as an artifact,
// in $HOPWIRE_ARTIFACTS if set, else in the test's temporary directory.
func TestStatusPageChromium(t *testing.T) {
	chromium := needTool(t, "chromium", "chromium")
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "client", "relay", "a1", "a2")
	relay := "127.0.0.1:" + freePort(t)
	admin := "127.0.0.1:" + freePort(t)
	echo := "127.0.0.1:" + freePort(t)
	echoIn(t, "", echo)
	for _, n := range []string{"client", "a1", "a2"} {
		trust(t, hw, home("relay"), "--authorized", fp[n], n)
		trust(t, hw, home(n), "--known", fp["relay"], "relay", "--addr", relay)
	}
	startNS(t, "", "admin http://", hw, "serve", "--home", home("relay"), "--listen", "tls://"+relay, "--admin", admin,
		"--grant", "client:connect="+echo, "--grant", "a1:register=a1", "--grant", "a2:register=a2")
	for _, n := range []string{"a1", "a2"} {
		startNS(t, "", "registered", hw, "serve", "--home", home(n), "--name", n, "--connect", "tls://"+relay)
	}
	local := "127.0.0.1:" + freePort(t)
	startNS(t, "", "forwarding", hw, "forward", "--home", home("client"), "tls://"+relay, "-L", local+":"+echo)
	// A connection through the forward, open while Chromium looks.
	c, err := net.DialTimeout("tcp", local, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("hopwire "), 4096)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go c.Write(msg)
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatalf("echo through the forward: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// A connect the relay's policy denies: a row among the recent denials.
	if out, err := run(ctx, "", hw, "ping", "--home", home("client"), "-J", "tls://"+relay, "tls://127.0.0.1:1"); err == nil ||
		!strings.Contains(out, "denied by policy") {
		t.Fatalf("a connect the relay does not grant: %v\n%s", err, out)
	}

	artifacts := os.Getenv("HOPWIRE_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	url := "http://" + admin + "/"
	// browse runs headless Chromium on the page with extra flags, letting
	// its timers run (virtual time) long enough for a refresh or two, and
	// fails the test on any console line.
	browse := func(extra ...string) string {
		t.Helper()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + t.TempDir(),
			"--no-first-run", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=7000"}, extra...)
		cmd := exec.CommandContext(ctx, chromium, append(args, url)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
				t.Errorf("the page wrote to the console: %s", line)
			}
		}
		return stdout.String()
	}
	dom := browse("--dump-dom")
	if err := os.WriteFile(filepath.Join(artifacts, "status-page.html"), []byte(dom), 0o644); err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`<body data-refreshes="(\d+)"`).FindStringSubmatch(dom); m == nil || m[1] == "0" {
		t.Errorf("the page's script did not refresh the live part (body %v)", m)
	}
	if !strings.Contains(dom, `id="updated" class="live"`) {
		t.Error(`the page does not say it is live (#updated.live)`)
	}
	for _, want := range []string{
		`<span id="node-name">relay</span>`,
		`<td class="agent-name">a1</td>`, `<td class="agent-name">a2</td>`,
		`<b id="n-links">4</b>`, `<b id="n-agents">2</b>`, `<b id="n-forwards">1</b>`, `<b id="n-denials">1</b>`,
		`<tr class="denial">`,
		`<td class="dest"><code>` + echo + `</code>`,
		`<svg id="topology-svg"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	// In the picture: the client on the left, both agents and the
	// forward's destination on the right.
	for _, want := range []string{`<g class="n-client"`, `<g class="n-dest"`, `<text y="-2">a1</text>`, `<text y="-2">a2</text>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("topology lacks %s", want)
		}
	}

	shot := filepath.Join(artifacts, "status-page.png")
	browse("--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10<<10 {
		t.Fatalf("screenshot %s: %d bytes, %v", shot, len(png), err)
	}
	t.Logf("screenshot: %s (%d bytes); DOM: %s", shot, len(png), filepath.Join(artifacts, "status-page.html"))
}
