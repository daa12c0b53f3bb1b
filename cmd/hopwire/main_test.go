package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	code := exitCode(err, &errb) // it writes the error's line to errb
	return out.String(), errb.String(), code
}

func TestDemo(t *testing.T) {
	out, errOut, code := runCmd(t, "demo", "--bytes", "2097152")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"hop 1  r1", "hop 2  r2      quic", "hop 3  target  dtls", "hello.txt", "denied by policy",
		"errors.Is(err, fs.ErrNotExist) = true",
		"3 lines called back",
		"2097152 bytes", "match=true",
		"on the target (exit status 3)", "put 65536 bytes, got 65536 back", "200 OK", "behind the target",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"certs"}, {"certs", "init"}, {"id", "--bogus"}, {"--bogus", "id"}, {"-v", "certs", "init"}, {"help", "nope"},
		{"serve", "--log-level", "loud", "--listen", "tls://127.0.0.1:0"}, {"serve", "--log-format", "xml", "--listen", "tls://127.0.0.1:0"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			if _, _, code := runCmd(t, args...); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
		})
	}
}

func TestIDAndCerts(t *testing.T) {
	home := t.TempDir()
	home = filepath.Join(home, "new") // id creates its home
	out1, _, code := runCmd(t, "id", "--home", home, "--name", "n1")
	out2, _, _ := runCmd(t, "id", "--home", home)
	if code != 0 || out1 != out2 || !strings.HasPrefix(out1, "SHA256:") || !strings.Contains(out1, "n1") {
		t.Fatalf("id: %q then %q", out1, out2)
	}
	dir := filepath.Join(t.TempDir(), "ca")
	if _, e, code := runCmd(t, "certs", "init", "--dir", dir); code != 0 {
		t.Fatalf("certs init: %s", e)
	}
	if _, e, code := runCmd(t, "certs", "issue", "--dir", dir, "--name", "relay1", "--host", "127.0.0.1"); code != 0 {
		t.Fatalf("certs issue: %s", e)
	}
	for _, f := range []string{"ca.crt", "ca.key", "relay1.crt", "relay1.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// A second init must not overwrite the CA.
	if _, _, code := runCmd(t, "certs", "init", "--dir", dir); code != 1 {
		t.Fatalf("re-init exit %d, want 1", code)
	}
}

func TestConfigAliases(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "config"), []byte(`# test
host db1 db-main
    target tls://10.0.2.5:7443
    via    tls://r1:7443,quic://10.0.1.2:7443
host lab-*
    via tls://bastion:7443
`), 0o600)
	cfg, err := loadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	aliases := cfg.aliases
	for _, tc := range []struct{ name, target, via string }{
		{"db1", "tls://10.0.2.5:7443", "tls://r1:7443,quic://10.0.1.2:7443"},
		{"db-main", "tls://10.0.2.5:7443", "tls://r1:7443,quic://10.0.1.2:7443"},
		{"lab-7", "lab-7", "tls://bastion:7443"},
		{"tls://other:1", "tls://other:1", ""},
	} {
		target, via, _ := resolveAlias(aliases, tc.name)
		if target != tc.target || via != tc.via {
			t.Errorf("%s: %q %q, want %q %q", tc.name, target, via, tc.target, tc.via)
		}
	}
	// -J names aliases too, in every command that takes it (rpyc, serve
	// --connect): db1 expands to its via chain, then its target.
	cf := chainFlags{jump: "db1"}
	via, err := cf.via(home)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range via {
		got = append(got, a.String())
	}
	if want := "tls://r1:7443 quic://10.0.1.2:7443 tls://10.0.2.5:7443"; strings.Join(got, " ") != want {
		t.Errorf("-J db1 = %q, want %q", got, want)
	}
	os.WriteFile(filepath.Join(home, "config"), []byte("target x\n"), 0o600)
	if _, err := loadConfig(home); err == nil {
		t.Fatal("a target outside a host block was accepted")
	}
}

func TestCompletion(t *testing.T) {
	for _, tc := range []struct{ sh, registers, parser string }{
		{"bash", "complete -F _hopwire hopwire", "bash"},
		{"zsh", "compdef _hopwire hopwire", "zsh"},
		{"fish", "complete -c hopwire -n '__fish_seen_subcommand_from serve' -l listen", "fish"},
	} {
		t.Run(tc.sh, func(t *testing.T) {
			out, errOut, code := runCmd(t, "completion", tc.sh)
			if code != 0 || !strings.Contains(out, tc.registers) || !strings.Contains(out, "listen") || !strings.Contains(out, "-J") {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			sh, err := exec.LookPath(tc.parser)
			if err != nil {
				t.Logf("%s is not installed: the script's syntax is not checked", tc.parser)
				return
			}
			cmd := exec.Command(sh, "-n")
			cmd.Stdin = strings.NewReader(out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s script does not parse: %v\n%s", tc.sh, err, b)
			}
		})
	}
	if _, _, code := runCmd(t, "completion", "tcsh"); code != 2 {
		t.Fatalf("completion tcsh: exit %d, want 2", code)
	}
}
