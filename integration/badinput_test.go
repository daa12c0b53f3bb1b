//go:build integration && linux

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/internal/lockedbuf"
)

// goTypeName is a Go type name in a message: *fs.PathError, *fmt.wrapError.
var goTypeName = regexp.MustCompile(`\*[a-z]+\.[A-Za-z]\w+`)

// badCase is one bad input: the command (run on the client), the exit
// status it must end with, what its message must say (what failed, and
// what to do), and how long it may take.
type badCase struct {
	name  string
	args  []string
	stdin string
	code  int
	want  []string
	not   []string
	limit time.Duration
}

// TestBadInput (issue 15): bad input through the real binary, in
// namespaces (client, relay r1, target only r1 reaches). Every failure
// exits with the right status, says what failed and what to do, names no
// Go type, and is quick. Denied -L/-D/-R forwards are the forward
// engineer's cases, not these.
func TestBadInput(t *testing.T) {
	hw, _ := binaries(t)
	ns, addr := segmented(t, 3)
	home, fp := homes(t, hw, "client", "r1", "target", "stranger", "fresh")
	r1Addr := net.JoinHostPort(addr(1, 0), "7443")
	tAddr := net.JoinHostPort(addr(2, 1), "7443")
	r1, target := "tls://"+r1Addr, "quic://"+tAddr
	for _, n := range []string{"r1", "target"} {
		trust(t, hw, home(n), "--authorized", fp["client"], "client")
	}
	trust(t, hw, home("client"), "--known", fp["r1"], "r1", "--addr", r1Addr)
	trust(t, hw, home("client"), "--known", fp["target"], "target", "--addr", tAddr)
	trust(t, hw, home("stranger"), "--known", fp["r1"], "r1", "--addr", r1Addr)
	startNS(t, ns[2], "listening", hw, "serve", "--home", home("target"), "--listen", target, "--grant", "client:classic")
	startNS(t, ns[1], "listening", hw, "serve", "--home", home("r1"), "--listen", r1, "--grant", "client:connect="+tAddr)
	r1b := "tls://" + net.JoinHostPort(addr(1, 0), "7444") // killed mid-command below
	relayB := startNS(t, ns[1], "listening", hw, "serve", "--home", home("r1"), "--listen", r1b, "--grant", "client:connect="+tAddr)
	trust(t, hw, home("client"), "--known", fp["r1"], "r1", "--addr", net.JoinHostPort(addr(1, 0), "7444"))

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(dir, "full", "sub"), 0o755)
	notDir := filepath.Join(dir, "file")
	J := []string{"-J", r1}
	on := func(args ...string) []string { // a command on the target through r1
		return append(append(append([]string{args[0]}, J...), target), args[1:]...)
	}
	const fast = 10 * time.Second
	cases := []badCase{
		{name: "wrong-scheme", args: []string{"ping", "htp://" + r1Addr}, code: 2, want: []string{`unknown scheme "htp"`, "known schemes"}},
		{name: "wrong-scheme-in-J", args: []string{"ping", "-J", "htp://" + r1Addr, target}, code: 2, want: []string{"-J", `unknown scheme "htp"`}},
		{name: "missing-port", args: []string{"ping", "tls://" + addr(1, 0)}, code: 2, want: []string{"missing port"}},
		{name: "missing-scheme", args: []string{"ping", r1Addr}, code: 2, want: []string{"did you mean tls://" + r1Addr}},
		{name: "bare-host", args: []string{"ping", "inner"}, code: 2, want: []string{`"inner" is not a hop`, "ssh://inner", "-J"}},
		{name: "closed-port", args: []string{"ping", "tls://" + net.JoinHostPort(addr(1, 0), "7449")}, code: 1, want: []string{"hop 1", "connection refused"}},
		{name: "unknown-node", args: []string{"--home", home("fresh"), "ping", r1}, code: 1, want: []string{"hop 1", fp["r1"], "hopwire trust --known"}},
		{name: "node-at-wrong-address", args: []string{"ping", "tls://" + net.JoinHostPort(addr(1, 0), "7444") + "#" + fp["target"]}, code: 1, want: []string{"does not match the pinned", fp["r1"]}},
		{name: "malformed-pin", args: []string{"ping", r1 + "#SHA256:xyz"}, code: 2, want: []string{"43 base64"}},
		{name: "unauthorized-client", args: []string{"--home", home("stranger"), "ping", r1}, code: 1,
			want: []string{"hop 1 (" + r1 + ") refused this client", fp["stranger"], "hopwire trust --authorized " + fp["stranger"] + " stranger"}},
		{name: "unauthorized-client-exec", args: []string{"--home", home("stranger"), "exec", r1, "--", "true"}, code: 1,
			want: []string{"refused this client", "hopwire trust --authorized " + fp["stranger"]}},
		{name: "relay-denies-connect", args: []string{"ping", "-J", r1, "tls://" + net.JoinHostPort(addr(2, 1), "22")}, code: 1, want: []string{"hop 2", "denied by policy", "operator of hop 1 can allow it with --grant client:connect=" + net.JoinHostPort(addr(2, 1), "22")}},
		{name: "no-classic-grant", args: []string{"exec", r1, "--", "id"}, code: 1, want: []string{"does not grant you (client) classic administration", "--grant client:classic"}, limit: 5 * time.Second},
		{name: "no-classic-grant-ls", args: []string{"ls", r1, "/"}, code: 1, want: []string{"--grant client:classic"}, limit: 5 * time.Second},
		{name: "no-eval-grant", args: on("call", "eval.Eval", `"1+1"`), code: 1, want: []string{"Go evaluation", "--grant client:classic=eval"}},
		{name: "missing-service", args: on("call", "nosuch.Method"), code: 1, want: []string{`no service "nosuch"`}},
		{name: "missing-method", args: on("call", "classic.Nope"), code: 1, want: []string{"no such method", "Nope"}},
		{name: "call-arg-not-json", args: on("call", "classic.Stat", "len(x)"), code: 2, want: []string{"is not JSON"}},
		{name: "call-not-service-method", args: on("call", "Host"), code: 2, want: []string{"SERVICE.METHOD"}},
		{name: "exec-missing-dir", args: on("exec", "-C", "/nonexistent", "--", "pwd"), code: 1, want: []string{"chdir /nonexistent", "no such file"}, not: []string{"pwd"}},
		{name: "exec-missing-program", args: on("exec", "--", "/nonexistent/cmd"), code: 1, want: []string{"/nonexistent/cmd", "no such file"}},
		{name: "exec-no-command", args: on("exec"), code: 2, want: []string{"exec TARGET -- CMD"}},
		{name: "exec-remote-status", args: on("exec", "--", "sh", "-c", "exit 7"), code: 7},
		{name: "put-missing-remote-dir", args: on("put", notDir, "/nonexistent/dir/"), code: 1, want: []string{"/nonexistent/dir", "does not exist", "hopwire mkdir"}, not: []string{"resume", "hopwire-part"}},
		{name: "put-missing-remote-parent", args: on("put", notDir, "/nonexistent/dir/f"), code: 1, want: []string{"/nonexistent/dir", "does not exist"}, not: []string{"resume", "hopwire-part"}},
		{name: "put-missing-local", args: on("put", "/nonexistent.local", "/tmp/"), code: 1, want: []string{"/nonexistent.local", "no such file"}},
		{name: "put-dir-without-r", args: on("put", dir, "/tmp/"), code: 1, want: []string{"is a directory", "-r"}},
		{name: "get-missing-local-dir", args: on("get", notDir, "/nonexistent/localdir/x"), code: 1, want: []string{"/nonexistent/localdir", "no such file"}},
		{name: "get-missing-remote", args: on("get", "/nonexistent/remote", dir), code: 1, want: []string{"/nonexistent/remote", "no such file"}},
		{name: "get-dir-without-r", args: on("get", dir, t.TempDir()), code: 1, want: []string{"is a directory", "-r"}},
		{name: "cat-directory", args: on("cat", "/etc"), code: 1, want: []string{"/etc", "is a directory", "ls"}},
		{name: "cat-missing", args: on("cat", "/nope"), code: 1, want: []string{"/nope", "no such file"}},
		{name: "ls-missing", args: on("ls", "/nope"), code: 1, want: []string{"/nope", "no such file"}},
		{name: "rm-missing", args: on("rm", "/nope"), code: 1, want: []string{"/nope", "no such file"}},
		{name: "rm-non-empty-dir", args: on("rm", filepath.Join(dir, "full")), code: 1, want: []string{"directory not empty", "rm -r"}},
		{name: "typo-flag", args: []string{"exec", "--tragets", "hosts.txt", "--", "uptime"}, code: 2, want: []string{"unknown flag --tragets", "did you mean --targets?", "--help"}},
		{name: "typo-command", args: []string{"exce", r1}, code: 2, want: []string{`unknown command "exce"`, "did you mean exec?"}, not: []string{"commands:"}},
		{name: "unknown-global-flag", args: []string{"--hmoe", dir, "id"}, code: 2, want: []string{"--hmoe", "global flags"}},
		{name: "missing-home", args: []string{"--home", filepath.Join(dir, "clinet"), "ping", r1}, code: 1, want: []string{"does not exist", "hopwire --home " + filepath.Join(dir, "clinet") + " id"}},
		{name: "home-is-a-file", args: []string{"--home", notDir, "ping", r1}, code: 1, want: []string{notDir, "not a directory"}},
		{name: "id-positional", args: []string{"id", "client"}, code: 2, want: []string{"did you mean --name client?"}},
		{name: "serve-listen-no-scheme", args: []string{"serve", "--listen", "0.0.0.0:7443"}, code: 2, want: []string{"want SCHEME://HOST:PORT", "tls://0.0.0.0:7443"}},
		{name: "serve-typo-capability", args: []string{"serve", "--listen", "tls://127.0.0.1:0", "--grant", "client:conect=10.0.0.1"}, code: 2, want: []string{`unknown capability "conect"`, "connect"}},
		{name: "serve-forward-remote-no-scope", args: []string{"serve", "--listen", "tls://127.0.0.1:0", "--grant", "client:forward-remote"}, code: 2, want: []string{"forward-remote needs a scope"}},
		{name: "serve-nothing", args: []string{"serve"}, code: 2, want: []string{"--listen", "--stdio", "--connect"}},
		{name: "forward-bad-spec", args: on("forward", "-L", "8080:intranet"), code: 2, want: []string{"[BIND:]PORT:HOST:PORT"}},
		{name: "state-missing-socket", args: []string{"state", "/nonexistent.sock"}, code: 1, want: []string{"/nonexistent.sock", "no such file"}},
		{name: "rpyc-nothing-listening", args: []string{"rpyc", "127.0.0.1:1", "modules.sys.platform"}, code: 1, want: []string{"connection refused"}},
		{name: "trust-remove-unknown", args: []string{"trust", "--remove", fp["stranger"]}, code: 1, want: []string{"trust --list"}},
		{name: "trust-neither", args: []string{"trust", fp["r1"], "r1"}, code: 2, want: []string{"--known or --authorized"}},
		{name: "certs-no-verb", args: []string{"certs"}, code: 2, want: []string{"init or issue"}},
		{name: "completion-no-shell", args: []string{"completion"}, code: 2, want: []string{"bash|zsh"}},
		{name: "uninstall-not-ssh", args: []string{"uninstall", r1}, code: 2, want: []string{"ssh://"}},
		{name: "shell-stdin-eof", args: on("shell"), code: 0, limit: 20 * time.Second},
		{name: "exec-t-stdin-eof", args: on("exec", "-t", "--", "sh"), stdin: "echo hi\nexit 3\n", code: 3, limit: 20 * time.Second},
		{name: "exec-t-stdin-eof-no-exit", args: on("exec", "-t", "--", "sh"), stdin: "echo hi\n", code: 0, limit: 20 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.limit
			if limit == 0 {
				limit = fast
			}
			out, code, took := runClient(t, hw, home("client"), ns[0], tc.args, tc.stdin, limit+10*time.Second)
			checkBad(t, tc, out, code, took, limit)
		})
	}

	t.Run("connect-timeout", func(t *testing.T) {
		// A TCP peer that never speaks TLS.
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
				defer c.Close()
			}
		}()
		tc := badCase{args: []string{"ping", "--connect-timeout", "1s", "tls://" + ln.Addr().String()}, code: 1,
			want: []string{"hop 1", "no answer within 1s", "--connect-timeout"}}
		out, code, took := runClient(t, hw, home("client"), "", tc.args, "", 20*time.Second)
		checkBad(t, tc, out, code, took, 3*time.Second)
	})

	t.Run("agent-says-why-it-cannot-register", func(t *testing.T) {
		// An agent that does not trust its relay says so by default (no
		// -v), with the command that would fix it, and keeps retrying.
		cmd := exec.Command("ip", "netns", "exec", ns[0], hw, "serve", "--home", home("fresh"), "--name", "db1", "--connect", r1)
		log := &lockedbuf.Buffer{}
		cmd.Stderr = log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), "hopwire trust --known "+fp["r1"]); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no reason logged in 10s:\n%s", log.String())
			}
		}
		if !strings.Contains(log.String(), "re-dialing") {
			t.Errorf("no backoff logged:\n%s", log.String())
		}
	})

	t.Run("ctrl-c-during-get", func(t *testing.T) {
		big := filepath.Join(dir, "big.bin")
		f, _ := os.Create(big)
		f.Truncate(4 << 30) // sparse: read fast on the far side, slow through the chain
		f.Close()
		local := t.TempDir()
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns[0], "env", "HOPWIRE_HOME=" + home("client"), hw}, on("get", big, local)...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		part := filepath.Join(local, "big.bin.hopwire-part")
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if fi, err := os.Stat(part); err == nil && fi.Size() > 1<<20 {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no part file growing: %s", out.String())
			}
		}
		start := time.Now()
		// ip netns exec execs the command: the pid is hopwire's.
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		took := time.Since(start)
		code := exitStatus(err)
		t.Logf("stopped %v after SIGINT, exit %d: %s", took, code, out.String())
		tc := badCase{code: 130, want: []string{"interrupted", "run get again to resume"}}
		checkBad(t, tc, out.String(), code, took, time.Second)
		fi, err := os.Stat(part)
		if err != nil || fi.Size() == 0 || fi.Size() >= 4<<30 {
			t.Fatalf("part file: %v %v", fi, err)
		}
	})

	t.Run("dead-relay-mid-command", func(t *testing.T) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns[0], "env", "HOPWIRE_HOME=" + home("client"), hw}, "exec", "-J", r1b, target, "--", "sleep", "60")...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		relayB.Process.Kill()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			tc := badCase{code: 1, want: []string{"connection", "lost"}}
			checkBad(t, tc, out.String(), exitStatus(err), 0, time.Minute)
			if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n > 0 {
				t.Errorf("more than one line:\n%s", out.String())
			}
		case <-time.After(45 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("exec went on after its relay died: %s", out.String())
		}
	})
	if n := len(cases) + 4; n < 40 {
		t.Fatalf("only %d cases", n)
	}
}

// runClient runs hopwire as the client (in ns, or here when ns is ""),
// with stdin, and returns its combined output, exit status and duration.
func runClient(t *testing.T, hw, home, ns string, args []string, stdin string, kill time.Duration) (string, int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), kill)
	defer cancel()
	argv := append([]string{"env", "HOPWIRE_HOME=" + home, hw}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	return string(out), exitStatus(err), time.Since(start)
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

func checkBad(t *testing.T, tc badCase, out string, code int, took, limit time.Duration) {
	t.Helper()
	msg := fmt.Sprintf("hopwire %s\nexit %d after %v:\n%s", strings.Join(tc.args, " "), code, took.Round(time.Millisecond), out)
	if code != tc.code {
		t.Errorf("exit %d, want %d; %s", code, tc.code, msg)
	}
	for _, w := range tc.want {
		if !strings.Contains(out, w) {
			t.Errorf("message lacks %q; %s", w, msg)
		}
	}
	for _, w := range tc.not {
		if strings.Contains(out, w) {
			t.Errorf("message has %q; %s", w, msg)
		}
	}
	if m := goTypeName.FindString(out); m != "" {
		t.Errorf("Go type %s in the message; %s", m, msg)
	}
	if took > limit {
		t.Errorf("took %v, limit %v; %s", took, limit, msg)
	}
}
