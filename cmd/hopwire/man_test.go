package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/certs"
)

// TestManPages: hopwire man writes a page per command that says what the
// command's help says (summary, every flag, every example), and groff
// (when installed) reads each page without a warning.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if out, errOut, code := runCmd(t, "man", dir); code != 0 {
		t.Fatalf("man: exit %d\n%s%s", code, out, errOut)
	}
	pages := []string{"hopwire.1"}
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		page := "hopwire-" + c.name + ".1"
		pages = append(pages, page)
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		d, err := helpOf(c.name)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{".TH HOPWIRE-" + strings.ToUpper(c.name) + " 1", roff(d.summary)}
		for _, e := range d.examples {
			want = append(want, roffCode(e))
		}
		for _, g := range d.flags {
			for _, f := range g.flags {
				name, _, _ := strings.Cut(f.head, " ")
				want = append(want, roffCode(name))
			}
		}
		for _, w := range want {
			if !strings.Contains(src, w) {
				t.Errorf("%s lacks %q", page, w)
			}
		}
		if filepath.IsAbs(certs.Home()) && strings.Contains(src, certs.Home()) {
			t.Errorf("%s names this machine's home %s", page, certs.Home())
		}
	}
	index, err := os.ReadFile(filepath.Join(dir, "hopwire.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if !strings.Contains(string(index), ".B "+c.name+"\n") {
			t.Errorf("hopwire.1 does not list %s", c.name)
		}
	}
	if strings.Contains(string(index), "hopwire-man") {
		t.Error("hopwire.1 lists the hidden man command")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(pages) {
		t.Errorf("%d files in %s, want %d", len(entries), dir, len(pages))
	}
	if mandoc, err := exec.LookPath("mandoc"); err == nil {
		args := []string{"-T", "lint", "-W", "warning"}
		for _, p := range pages {
			args = append(args, filepath.Join(dir, p))
		}
		if out, err := exec.Command(mandoc, args...).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("mandoc -T lint: %v\n%s", err, out)
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Log("groff is not installed: the pages were checked as text only")
		return
	}
	for _, p := range pages {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", filepath.Join(dir, p))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("groff %s: %v\n%s", p, err, stderr.Bytes())
		}
		if p == "hopwire-serve.1" && !bytes.Contains(out, []byte("--listen")) {
			t.Errorf("groff renders hopwire-serve.1 without --listen:\n%s", out)
		}
	}
}

// TestManHidden: the man command is run by name but listed in neither
// the usage nor the completions.
func TestManHidden(t *testing.T) {
	out, _, _ := runCmd(t, "--help")
	comp, _, _ := runCmd(t, "completion", "bash")
	for what, s := range map[string]string{"usage": out, "completion": comp} {
		if strings.Contains(s, " man ") || strings.Contains(s, "\n  man ") || strings.Contains(s, "man)") {
			t.Errorf("%s lists the man command:\n%s", what, s)
		}
	}
	if _, _, code := runCmd(t, "man"); code != 2 {
		t.Errorf("man without DIR: exit %d, want 2", code)
	}
}

func TestRoffEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`a\b`:         `a\eb`,
		".start":      `\&.start`,
		"'quote":      `\&'quote`,
		"SHA256:…":    `SHA256:\[u2026]`,
		"one\n  .two": "one\n\\&.two",
	} {
		if got := roff(in); got != want {
			t.Errorf("roff(%q) = %q, want %q", in, got, want)
		}
	}
	if got := roffCode("--listen"); got != `\-\-listen` {
		t.Errorf("roffCode(--listen) = %q", got)
	}
}
