package hopwire_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMinimumVersions holds the version floors of PITFALLS.md: each of
// these modules has had security fixes we rely on.
func TestMinimumVersions(t *testing.T) {
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	floors := map[string]string{
		"golang.org/x/crypto":        "v0.45.0",
		"github.com/quic-go/quic-go": "v0.59.1",
		"github.com/pion/dtls/v3":    "v3.1.5",
		"github.com/xtaci/smux":      "v1.5.58", // at or after the 2026-01 half-close commits
	}
	for mod, floor := range floors {
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(mod) + `\s+(v\S+)`).FindSubmatch(b)
		if m == nil {
			t.Errorf("%s is not required in go.mod", mod)
			continue
		}
		if v := string(m[1]); versionLess(v, floor) {
			t.Errorf("%s %s is below the floor %s", mod, v, floor)
		}
	}
	if bytes.Contains(b, []byte("pion/dtls/v2")) {
		t.Error("go.mod requires pion/dtls/v2, which is end-of-life (CVE-2026-26014): use v3")
	}
}

// TestLayers checks the direction of imports: certs, transport and session
// are leaves that import none of each other (DESIGN.md §1).
func TestLayers(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	const mod = "github.com/hopwire/hopwire/"
	leaves := map[string][]string{
		"certs":     {"transport", "session", "hop", "relay", "classic"},
		"session":   {"transport", "certs", "hop", "relay", "classic"},
		"transport": {"session", "certs", "hop", "relay", "classic"},
		"hop":       {"relay", "classic"},
		// CONNECT's home sits on session alone; SOCKS5 knows no hopwire.
		"session/connect": {"transport", "certs", "hop", "relay", "classic"},
		"internal/socks5": {"session", "transport", "certs", "hop", "relay", "classic"},
		// The one POSIX quoter: the standard library only.
		"internal/shell": {"session", "transport", "certs", "hop", "relay", "classic"},
		"internal/procs": {"session", "transport", "certs", "hop", "relay", "classic"},
		// The fleet's directory knows agents by name and fingerprint
		// only: the store's client and the standard library.
		"relay/directory": {"session", "transport", "certs", "hop", "classic"},
	}
	for pkg, forbidden := range leaves {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg+"/...").Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, mod+f+"/") || dep == mod+f {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}

// TestNoInsecureOutsideTests: the one InsecureSkipVerify is certs'
// client config, whose VerifyConnection does the verification; nothing
// ignores SSH host keys.
func TestNoInsecureOutsideTests(t *testing.T) {
	re := regexp.MustCompile(`InsecureSkipVerify:\s*true|InsecureIgnoreHostKey\(`)
	filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, m := range re.FindAll(b, -1) {
			if p == filepath.Join("certs", "config.go") && strings.HasPrefix(string(m), "InsecureSkipVerify") {
				continue
			}
			t.Errorf("%s: %s", p, m)
		}
		return nil
	})
}

// TestConstantTimeAuth: the code that decides who may connect compares
// key material with crypto/subtle, never with bytes.Equal or a byte-wise
// loop whose time depends on where the first difference is.
func TestConstantTimeAuth(t *testing.T) {
	re := regexp.MustCompile(`bytes\.(Equal|Compare)\(`)
	for _, dir := range []string{"certs", filepath.Join("transport", "ssh"), filepath.Join("transport", "tls"), filepath.Join("transport", "dtls"), "relay"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if len(files) == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
		for _, p := range files {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			b, _ := os.ReadFile(p)
			for _, m := range re.FindAll(b, -1) {
				t.Errorf("%s: %s in authentication code; use crypto/subtle.ConstantTimeCompare", p, m)
			}
		}
	}
}

// versionLess compares vMAJOR.MINOR.PATCH versions (a pre-release or
// pseudo-version suffix counts as its base version).
func versionLess(a, b string) bool {
	pa, pb := versionParts(a), versionParts(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func versionParts(v string) [3]int {
	var p [3]int
	v = strings.TrimPrefix(v, "v")
	v, _, _ = strings.Cut(v, "-")
	for i, f := range strings.SplitN(v, ".", 3) {
		n := 0
		for _, c := range f {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		p[i] = n
	}
	return p
}
