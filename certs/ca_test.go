package certs

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInitCA(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "ca")
	a, err := InitCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "ca.key"} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode %#o, want 0600", f, m)
		}
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %#o, want 0700", m)
	}
	c := a.Certificate()
	if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 || !c.MaxPathLenZero {
		t.Errorf("not a leaf-only CA: IsCA=%v usage=%v", c.IsCA, c.KeyUsage)
	}

	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if _, err := InitCA(dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second InitCA: err = %v, want fs.ErrExist", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if string(before) != string(after) {
		t.Error("second InitCA overwrote ca.key")
	}

	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Certificate().Equal(c) {
		t.Error("LoadCA returned a different certificate")
	}
	pool, err := LoadPool(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !pool.Equal(a.Pool()) {
		t.Error("LoadPool(ca.crt) differs from Authority.Pool()")
	}
}

func TestLoadCAErrors(t *testing.T) {
	t.Parallel()
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		if _, err := LoadCA(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("key of another CA", func(t *testing.T) {
		t.Parallel()
		d1, d2 := t.TempDir(), t.TempDir()
		InitCA(d1)
		InitCA(d2)
		k2, _ := os.ReadFile(filepath.Join(d2, "ca.key"))
		os.WriteFile(filepath.Join(d1, "ca.key"), k2, 0o600)
		if _, err := LoadCA(d1); err == nil || !strings.Contains(err.Error(), "does not match") {
			t.Errorf("err = %v, want a mismatch", err)
		}
	})
	t.Run("not a CA", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		a := newCA(t)
		certPEM, keyPEM, err := a.Issue("leaf", nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "ca.crt"), certPEM, 0o600)
		os.WriteFile(filepath.Join(dir, "ca.key"), keyPEM, 0o600)
		if _, err := LoadCA(dir); err == nil || !strings.Contains(err.Error(), "not a CA") {
			t.Errorf("err = %v, want 'not a CA'", err)
		}
	})
}

func TestIssue(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	certPEM, keyPEM, err := a.Issue("r1", []string{"10.0.0.1", "r1.example.com", "::1", "r1.example.com"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ParseIdentity(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := id.Certificate()
	if id.Name() != "r1" {
		t.Errorf("CN %q, want r1", id.Name())
	}
	if !slices.Equal(c.DNSNames, []string{"r1.example.com"}) {
		t.Errorf("DNS SANs %q", c.DNSNames)
	}
	if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP SANs %v", c.IPAddresses)
	}
	if d := time.Until(c.NotAfter); d < DefaultValidity-time.Minute || d > DefaultValidity {
		t.Errorf("validity ends in %v, want about %v", d, DefaultValidity)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("usage %v: %v", usage, err)
		}
	}

	certPEM, _, err = a.Issue("short", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	short, _ := parseCerts(certPEM, "short")
	if d := time.Until(short[0].NotAfter); d > time.Hour || d < 59*time.Minute {
		t.Errorf("1h validity ends in %v", d)
	}

	certPEM, _, err = a.Issue("long", nil, 200*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	long, _ := parseCerts(certPEM, "long")
	if !long[0].NotAfter.Equal(a.Certificate().NotAfter) {
		t.Errorf("validity past the CA's: %v > %v", long[0].NotAfter, a.Certificate().NotAfter)
	}

	if _, _, err := a.Issue("neg", nil, -time.Hour); err == nil {
		t.Error("negative validity accepted")
	}
}

func TestIssueRejects(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	for _, tc := range []struct {
		name  string
		hosts []string
	}{
		{"", nil},
		{"a/b", nil},
		{`a\b`, nil},
		{"..", nil},
		{"a:b", nil},
		{"a,b", nil},
		{"a b", nil},
		{"a\nb", nil},
		{"ok", []string{""}},
		{"ok", []string{"a b"}},
		{"ok", []string{"a/b"}},
		{"ok", []string{"*"}},
	} {
		if _, _, err := a.Issue(tc.name, tc.hosts, 0); err == nil {
			t.Errorf("Issue(%q, %q) succeeded", tc.name, tc.hosts)
		}
	}
	if _, _, err := a.Issue("ok", []string{"*.example.com", "under_score", "1.2.3.4"}, 0); err != nil {
		t.Errorf("valid hosts refused: %v", err)
	}
}

func TestIssueToDir(t *testing.T) {
	t.Parallel()
	a := newCA(t)
	dir := filepath.Join(t.TempDir(), "out")
	if err := a.IssueToDir(dir, "r1", []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"r1.crt", "r1.key"} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode %#o, want 0600", f, m)
		}
	}
	id, err := Load(filepath.Join(dir, "r1.crt"), filepath.Join(dir, "r1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if id.Name() != "r1" {
		t.Errorf("Name() = %q", id.Name())
	}
	if err := a.IssueToDir(dir, "r1", nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second IssueToDir: err = %v, want fs.ErrExist", err)
	}
	again, err := Load(filepath.Join(dir, "r1.crt"), filepath.Join(dir, "r1.key"))
	if err != nil || again.Fingerprint() != id.Fingerprint() {
		t.Errorf("second IssueToDir changed the files: %v", err)
	}
	if err := a.IssueToDir(dir, "../escape", nil); err == nil {
		t.Error("IssueToDir accepted ../escape")
	}
}

func TestLoadPoolErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := LoadPool(filepath.Join(dir, "none.crt")); err == nil {
		t.Error("missing file accepted")
	}
	junk := filepath.Join(dir, "junk.crt")
	os.WriteFile(junk, []byte("not PEM"), 0o600)
	if _, err := LoadPool(junk); err == nil || !strings.Contains(err.Error(), "no PEM CERTIFICATE") {
		t.Errorf("junk: err = %v", err)
	}
}
