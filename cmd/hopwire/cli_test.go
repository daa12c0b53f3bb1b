package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session"
)

// TestHelp: every command's --help, -h and help CMD go to stdout with exit
// 0, and show a usage line, an example and --double-dash flags.
func TestHelp(t *testing.T) {
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			t.Run(strings.Join(args, "_"), func(t *testing.T) {
				out, errOut, code := runCmdErr(t, args...)
				if code != 0 || errOut != "" {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				if !strings.HasPrefix(out, "usage: hopwire "+c.name) || !strings.Contains(out, "examples:") {
					t.Fatalf("help lacks usage or examples:\n%s", out)
				}
				if regexp.MustCompile(`(?m)^  -[a-z]{2,}`).MatchString(out) {
					t.Fatalf("a long flag with one dash:\n%s", out)
				}
			})
		}
	}
	out, _, _ := runCmdErr(t, "exec", "--help")
	for _, want := range []string{"TARGET -- CMD", "--connect-timeout", "-J", "tls://HOST:PORT", "--targets"} {
		if !strings.Contains(out, want) {
			t.Errorf("exec --help lacks %q:\n%s", want, out)
		}
	}
	if out, _, _ := runCmdErr(t, "ls", "--help"); !strings.Contains(out, "--json") {
		t.Errorf("ls --help lacks --json")
	}
	if out, _, _ := runCmdErr(t, "cat", "--help"); strings.Contains(out, "--json") {
		t.Errorf("cat has a --json that does nothing")
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errOut, code := runCmdErr(t, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "uninstall") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-V"}, {"version"}} {
		out, _, code := runCmdErr(t, args...)
		if code != 0 || !strings.HasPrefix(out, "hopwire ") || !strings.Contains(out, "go1.") {
			t.Fatalf("%v: exit %d %q", args, code, out)
		}
	}
}

func TestTypos(t *testing.T) {
	_, errOut, code := runCmdErr(t, "exce")
	if code != 2 || !strings.Contains(errOut, "did you mean exec?") || strings.Contains(errOut, "commands:") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCmdErr(t, "exec", "--tragets", "x", "--", "true")
	if code != 2 || !strings.Contains(errOut, "unknown flag --tragets (did you mean --targets?)") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}

func TestGlobalFlags(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	out, errOut, code := runCmdErr(t, "--home", home, "id", "--name", "g1")
	if code != 0 || !strings.Contains(out, "g1") {
		t.Fatalf("exit %d %s %s", code, out, errOut)
	}
	out2, _, _ := runCmdErr(t, "--home="+home, "-v", "id")
	if out2 != out {
		t.Fatalf("%q then %q", out, out2)
	}
	// A home that does not exist is an error for everything but id.
	missing := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{
		{"--home", missing, "ping", "tls://127.0.0.1:1"},
		{"trust", "--home", missing, "--list"},
		{"--home", missing, "serve", "--listen", "tls://127.0.0.1:0"},
	} {
		_, errOut, code := runCmdErr(t, args...)
		if code != 1 || !strings.Contains(errOut, "does not exist") || !strings.Contains(errOut, "hopwire --home "+missing+" id") {
			t.Fatalf("%v: exit %d %s", args, code, errOut)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("%v created %s", args, missing)
		}
	}
	if _, errOut, code := runCmdErr(t, "--home", home, "completion", "bash"); code != 2 || !strings.Contains(errOut, "--home does not apply") {
		t.Fatalf("exit %d %s", code, errOut)
	}
}

func TestIDRename(t *testing.T) {
	home := filepath.Join(t.TempDir(), "h")
	out1, _, _ := runCmdErr(t, "id", "--home", home, "--name", "vm")
	out2, errOut, code := runCmdErr(t, "id", "--home", home, "--name", "client")
	fp1, fp2 := strings.Fields(out1)[0], strings.Fields(out2)[0]
	if code != 0 || fp1 != fp2 || !strings.HasSuffix(strings.TrimSpace(out2), " client") || !strings.Contains(errOut, "renamed vm to client") {
		t.Fatalf("exit %d %q %q %q", code, out1, out2, errOut)
	}
	if out3, _, _ := runCmdErr(t, "id", "--home", home); out3 != out2 {
		t.Fatalf("rename did not stick: %q", out3)
	}
}

func TestTrustListRemove(t *testing.T) {
	home := t.TempDir()
	a := "SHA256:" + strings.Repeat("A", 43)
	b := "SHA256:" + strings.Repeat("B", 42) + "A"
	os.WriteFile(filepath.Join(home, "known_nodes"), []byte("# mine\n"+a+" r1 addr=r1.example:7443 # the relay\n"), 0o600)
	if _, e, code := runCmdErr(t, "trust", "--home", home, "--authorized", b, "client"); code != 0 {
		t.Fatal(e)
	}
	out, _, code := runCmdErr(t, "trust", "--home", home, "--list")
	if code != 0 || !strings.Contains(out, a+" r1 addr=r1.example:7443") || !strings.Contains(out, "authorized   "+b+" client") {
		t.Fatalf("list:\n%s", out)
	}
	out, _, _ = runCmdErr(t, "trust", "--home", home, "--list", "--json")
	var es []trustEntry
	if err := json.Unmarshal([]byte(out), &es); err != nil || len(es) != 2 {
		t.Fatalf("%v %s", err, out)
	}
	if _, e, code := runCmdErr(t, "trust", "--home", home, "--remove", a); code != 0 {
		t.Fatal(e)
	}
	data, _ := os.ReadFile(filepath.Join(home, "known_nodes"))
	if string(data) != "# mine\n" {
		t.Fatalf("known_nodes after remove: %q", data)
	}
	if _, e, code := runCmdErr(t, "trust", "--home", home, "--remove", a); code != 1 || !strings.Contains(e, "trust --list") {
		t.Fatalf("second remove: exit %d %s", code, e)
	}
}

func TestConfigComments(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "config"), []byte(`connect-timeout 3s   # all chains
host db1 db-main                 # names
    target tls://10.0.2.5:7443#SHA256:`+strings.Repeat("A", 43)+`   # what to dial
    via    r1,quic://10.0.1.2:7443   # the -J chain
host r1
    target tls://r1.example:7443
host agent7
    via r1
`), 0o600)
	cfg, err := loadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.connectTimeout.String() != "3s" {
		t.Fatalf("connect-timeout %v", cfg.connectTimeout)
	}
	for _, tc := range []struct{ name, jump, want string }{
		{"db1", "", "tls://r1.example:7443,quic://10.0.1.2:7443 -> tls://10.0.2.5:7443#SHA256:" + strings.Repeat("A", 43)},
		{"agent7", "", "tls://r1.example:7443 -> agent7"},
		{"agent9", "r1", "tls://r1.example:7443 -> agent9"},
		{"tls://x:1", "r1,tls://y:2", "tls://r1.example:7443,tls://y:2 -> tls://x:1"},
	} {
		cf := chainFlags{jump: tc.jump}
		via, target, err := cf.route(cfg, tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var vs []string
		for _, v := range via {
			vs = append(vs, v.String())
		}
		if got := strings.Join(vs, ",") + " -> " + target.String(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	cf := chainFlags{}
	if _, _, err := cf.route(cfg, "r1.example:7443"); err == nil || !strings.Contains(err.Error(), "did you mean tls://r1.example:7443") {
		t.Fatalf("HOST:PORT: %v", err)
	}
	if _, _, err := cf.route(cfg, "inner"); err == nil || !strings.Contains(err.Error(), "ssh://inner") {
		t.Fatalf("bare name: %v", err)
	}
	os.WriteFile(filepath.Join(home, "config"), []byte("host x\n  target htp://a:1\n"), 0o600)
	if _, err := loadConfig(home); err == nil || !strings.Contains(err.Error(), "config:2") {
		t.Fatalf("bad target: %v", err)
	}
}

func TestLsMode(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		fs.ModeSymlink | 0o777:                    "lrwxrwxrwx",
		fs.ModeDir | fs.ModeSetgid | 0o755:        "drwxr-sr-x",
		fs.ModeDir | fs.ModeSticky | 0o1777:       "drwxrwxrwt",
		fs.ModeSetuid | 0o644:                     "-rwSr--r--",
		0o640:                                     "-rw-r-----",
		fs.ModeNamedPipe | 0o600:                  "prw-------",
		fs.ModeDevice | fs.ModeCharDevice | 0o666: "crw-rw-rw-",
	} {
		if got := lsMode(m); got != want {
			t.Errorf("%v: %s, want %s", m, got, want)
		}
	}
}

func TestLinkInRoot(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ok := [][2]string{{"a/l1", "b"}, {"a/b/l2", "../../a"}, {"l3", "a/b/missing"}, {"a/up", ".."}}
	for _, c := range ok {
		if err := linkInRoot(root, c[0], c[1]); err != nil {
			t.Errorf("%s -> %s: %v", c[0], c[1], err)
		}
	}
	bad := [][2]string{{"x1", "/etc/passwd"}, {"x2", ".."}, {"a/x3", "../.."}, {"a/b/x4", "up/../../.."}, {"x5", "a/up/../.."}, {"x6", "nope/../.."}}
	for _, c := range bad {
		if err := linkInRoot(root, c[0], c[1]); err == nil {
			t.Errorf("%s -> %s was made", c[0], c[1])
		}
	}
}

func TestEOFToTTY(t *testing.T) {
	for in, want := range map[string]string{"": "\x04\x04", "echo hi\n": "echo hi\n\x04\x04", "exit 3": "exit 3\x04\x04\x04"} {
		stop := make(chan struct{})
		r := &eofToTTY{r: strings.NewReader(in), stop: stop}
		time.AfterFunc(eofRepeat*3/2, func() { close(stop) }) // one repeat
		b, err := io.ReadAll(r)
		if err != nil || string(b) != want {
			t.Errorf("%q: %q %v, want %q", in, b, err, want)
		}
	}
}

func TestUserMessage(t *testing.T) {
	re := &session.RemoteError{Type: "*fs.PathError", Message: "open /nope: no such file or directory", Code: "not-exist"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("get x: %w", re), "get x: open /nope: no such file or directory"},
		{&session.RemoteError{Type: "*fmt.wrapError", Message: `session: no such method: "Nope"`}, `session: no such method: "Nope"`},
		{fmt.Errorf("x: %w", fmt.Errorf("in a record header: %w", session.ErrLinkClosed)), "connection to the target lost: a hop or the network went away"},
	} {
		got := userMessage(tc.err, false)
		if got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
		if goType := regexp.MustCompile(`\*[a-z]+\.[A-Za-z]\w+`); goType.MatchString(got) {
			t.Errorf("Go type in %q", got)
		}
	}
	if got := userMessage(re, true); !strings.Contains(got, "*fs.PathError") {
		t.Errorf("-v dropped the type: %q", got)
	}
}

func TestInterruptedExit(t *testing.T) {
	var b bytes.Buffer
	err := interrupted(fmt.Errorf("put x: %w (run put again to resume)", context.Canceled))
	if code := exitCode(err, &b); code != 130 || !strings.Contains(b.String(), "interrupted (run put again to resume)") {
		t.Fatalf("exit %d %q", code, b.String())
	}
	if !errors.Is(err, errInterrupted) {
		t.Fatal("not errInterrupted")
	}
}
