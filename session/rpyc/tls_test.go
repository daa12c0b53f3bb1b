package rpyc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// TestTLS reaches a Python RPyC server behind SSLAuthenticator, verifying
// its certificate.
func TestTLS(t *testing.T) {
	rpyctest.Python(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rpyc-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	addr := rpyctest.StartServer(t, "classic", certFile, keyFile)
	forgetDialect(addr)

	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ctx := testCtx(t)
	// An unknown certificate is refused.
	if c, err := Dial(ctx, addr, &Options{TLS: &tls.Config{}}); err == nil {
		c.Close()
		t.Fatal("TLS accepted an untrusted certificate")
	}
	c, err := Dial(ctx, addr, &Options{TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k, err := NewClassic(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := k.Eval(ctx, "6 * 7"); err != nil || v != int64(42) {
		t.Fatalf("eval = %v, %v", v, err)
	}
	if err := k.Execute(ctx, "x = 'set by execute'"); err != nil {
		t.Fatal(err)
	}
	if v, err := k.Eval(ctx, "x"); err != nil || v != "set by execute" {
		t.Fatalf("x = %v, %v", v, err)
	}
	bi, _ := k.Builtins(ctx)
	if _, err := bi.CallAttr(ctx, "open", "/nonexistent/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open: %v", err)
	}
}
