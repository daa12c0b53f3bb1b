package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHome(t *testing.T) {
	t.Setenv("HOPWIRE_HOME", "/tmp/hw")
	if got := Home(); got != "/tmp/hw" {
		t.Errorf("Home() = %q with HOPWIRE_HOME set", got)
	}
	t.Setenv("HOPWIRE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got := Home(); got != "/home/u/.hopwire" {
		t.Errorf("Home() = %q, want /home/u/.hopwire", got)
	}
}

func TestLoadOrCreate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "home")
	id, err := LoadOrCreate(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(dir, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if id.Fingerprint() != again.Fingerprint() {
		t.Errorf("second load: fingerprint %s, first %s", again.Fingerprint(), id.Fingerprint())
	}
	if again.Name() != "n1" {
		t.Errorf("second load: name %q, want n1 (name is only used on creation)", again.Name())
	}

	for _, f := range []string{"id.crt", "id.key"} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode %#o, want 0600", f, m)
		}
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dir mode %#o, want 0700", m)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("dir holds %d entries, want id.crt and id.key only", len(ents))
	}

	c := id.Certificate()
	if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
		t.Errorf("key type %T, want Ed25519", c.PublicKey)
	}
	if c.Subject.CommonName != "n1" || id.Name() != "n1" {
		t.Errorf("CN %q, want n1", c.Subject.CommonName)
	}
	if !slices.Equal(c.DNSNames, []string{"hopwire", "n1"}) {
		t.Errorf("DNS SANs %q, want [hopwire n1]", c.DNSNames)
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("ExtKeyUsage %v, want server and client", c.ExtKeyUsage)
	}
	if c.NotAfter.Year() != 9999 || time.Now().Before(c.NotBefore) {
		t.Errorf("validity %v .. %v", c.NotBefore, c.NotAfter)
	}
	tc := id.TLSCertificate()
	if tc.Leaf != c || len(tc.Certificate) != 1 || tc.PrivateKey == nil {
		t.Errorf("TLSCertificate incomplete: %+v", tc)
	}
}

func TestLoadOrCreateDefaultName(t *testing.T) {
	t.Parallel()
	id := selfID(t, "")
	want := "hopwire"
	if h, err := os.Hostname(); err == nil && checkName(h) == nil {
		want = h
	}
	if id.Name() != want {
		t.Errorf("Name() = %q, want %q", id.Name(), want)
	}
}

func TestLoadOrCreateNonDNSName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"alice@corp", "ünïcode", "10.0.0.1"} {
		id, err := LoadOrCreate(t.TempDir(), name)
		if err != nil {
			t.Errorf("LoadOrCreate(%q): %v", name, err)
			continue
		}
		if id.Name() != name {
			t.Errorf("Name() = %q, want %q", id.Name(), name)
		}
	}
}

func TestLoadOrCreateBadName(t *testing.T) {
	t.Parallel()
	if _, err := LoadOrCreate(t.TempDir(), "a/b"); err == nil {
		t.Error("LoadOrCreate accepted the name a/b")
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fps := make([]string, 8)
	var wg sync.WaitGroup
	for i := range fps {
		wg.Go(func() {
			id, err := LoadOrCreate(dir, "n")
			if err != nil {
				t.Error(err)
				return
			}
			fps[i] = id.Fingerprint()
		})
	}
	wg.Wait()
	for _, fp := range fps[1:] {
		if fp != fps[0] {
			t.Fatalf("concurrent creators disagree: %q", fps)
		}
	}
}

func TestLoadOrCreateRepairsMissingCert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	id, err := LoadOrCreate(dir, "n")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "id.crt"))
	again, err := LoadOrCreate(dir, "n")
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != id.Fingerprint() {
		t.Error("new certificate for the same key changed the fingerprint")
	}
	if m := mode(t, filepath.Join(dir, "id.crt")); m != 0o600 {
		t.Errorf("id.crt mode %#o, want 0600", m)
	}
}

func TestLoadOrCreateRefuses(t *testing.T) {
	t.Parallel()
	t.Run("cert without key", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		selfIDIn(t, dir)
		os.Remove(filepath.Join(dir, "id.key"))
		_, err := LoadOrCreate(dir, "n")
		if err == nil || !strings.Contains(err.Error(), "id.key") {
			t.Errorf("err = %v, want one naming id.key", err)
		}
	})
	t.Run("key readable by others", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		selfIDIn(t, dir)
		os.Chmod(filepath.Join(dir, "id.key"), 0o644)
		_, err := LoadOrCreate(dir, "n")
		if err == nil || !strings.Contains(err.Error(), "too open") {
			t.Errorf("err = %v, want 'too open'", err)
		}
	})
	t.Run("garbage key", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		selfIDIn(t, dir)
		os.WriteFile(filepath.Join(dir, "id.key"), []byte("junk"), 0o600)
		if _, err := LoadOrCreate(dir, "n"); err == nil {
			t.Error("LoadOrCreate accepted a garbage key")
		}
	})
}

func selfIDIn(t *testing.T, dir string) {
	t.Helper()
	if _, err := LoadOrCreate(dir, "n"); err != nil {
		t.Fatal(err)
	}
}

// writePEM writes a certificate for key (self-signed) and key in the given
// PEM form to dir, returning the two paths.
func writePEM(t *testing.T, dir string, key crypto.Signer, keyBlock *pem.Block) (certFile, keyFile string) {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "other-ca-node"},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	os.WriteFile(certFile, encodeCert(der), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(keyBlock), 0o600)
	return certFile, keyFile
}

func TestLoad(t *testing.T) {
	t.Parallel()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) *pem.Block {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	sec1, _ := x509.MarshalECPrivateKey(ec)
	for _, tc := range []struct {
		name  string
		key   crypto.Signer
		block *pem.Block
	}{
		{"ed25519 pkcs8", ed, pkcs8(ed)},
		{"ecdsa pkcs8", ec, pkcs8(ec)},
		{"ecdsa sec1", ec, &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}},
		{"rsa pkcs1", rk, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cf, kf := writePEM(t, t.TempDir(), tc.key, tc.block)
			id, err := Load(cf, kf)
			if err != nil {
				t.Fatal(err)
			}
			if id.Name() != "other-ca-node" {
				t.Errorf("Name() = %q", id.Name())
			}
			if _, err := parseKey(pem.EncodeToMemory(tc.block)); err != nil {
				t.Errorf("parseKey: %v", err)
			}
		})
	}
	t.Run("mismatched key", func(t *testing.T) {
		t.Parallel()
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		dir := t.TempDir()
		cf, _ := writePEM(t, dir, ed, pkcs8(ed))
		kf := filepath.Join(dir, "other.key")
		os.WriteFile(kf, pem.EncodeToMemory(pkcs8(other)), 0o600)
		if _, err := Load(cf, kf); err == nil {
			t.Error("Load accepted a key that does not match the certificate")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if _, err := Load(filepath.Join(dir, "no.crt"), filepath.Join(dir, "no.key")); err == nil {
			t.Error("Load of missing files succeeded")
		}
	})
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var fps []string
	for _, name := range []string{"a", "b"} {
		der, err := selfSigned(key, name)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		fps = append(fps, Fingerprint(c))
	}
	if fps[0] != fps[1] {
		t.Errorf("re-issued certificate for the same key: fingerprints %q", fps)
	}
	spki, _ := x509.MarshalPKIXPublicKey(key.Public())
	sum := sha256.Sum256(spki)
	if want := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]); fps[0] != want {
		t.Errorf("Fingerprint = %s, want %s", fps[0], want)
	}
	if len(fps[0]) != len("SHA256:")+43 || strings.Contains(fps[0], "=") {
		t.Errorf("Fingerprint %q is not SHA256: + 43 unpadded base64 characters", fps[0])
	}
	if Fingerprint(nil) != "" {
		t.Error("Fingerprint(nil) is not empty")
	}
}
