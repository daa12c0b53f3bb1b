package certs

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DefaultValidity is how long a certificate from [Authority.Issue] is valid
// when no validity is given.
const DefaultValidity = 365 * 24 * time.Hour

const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
	caName     = "hopwire CA" // followed by the start of its fingerprint
	caValidity = 20 * 365 * 24 * time.Hour
)

// Authority is a small certificate authority for a fleet: an Ed25519 key and
// a self-signed CA certificate, kept in a directory as ca.crt and ca.key.
// Nodes and clients that trust its [Authority.Pool] accept each other's
// issued certificates without exchanging fingerprints.
//
// An Authority is safe for concurrent use.
type Authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// InitCA creates a new CA in dir (created with mode 0700 if needed), writing
// ca.crt and ca.key with mode 0600. It refuses, with an error wrapping
// [fs.ErrExist], to overwrite a CA that is already there.
func InitCA(dir string) (*Authority, error) {
	if err := mkdir(dir); err != nil {
		return nil, fmt.Errorf("certs: CA dir: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("certs: a CA already exists in %s (%s); refusing to overwrite it: %w", dir, filepath.Base(p), fs.ErrExist)
		}
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	sum := sha256.Sum256(spki)
	now := time.Now()
	tmpl := &x509.Certificate{
		// A distinct name per CA: x509 picks candidate issuers by name, and
		// with one shared name a wrong-CA error reads as a signature failure.
		Subject:               pkix.Name{CommonName: caName + " " + base64.RawStdEncoding.EncodeToString(sum[:6])},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // issues leaves only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	if err := writePair(certPath, keyPath, encodeCert(der), keyPEM); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("certs: a CA already exists in %s; refusing to overwrite it: %w", dir, err)
		}
		return nil, err
	}
	return &Authority{cert: cert, key: key}, nil
}

// writePair writes a new key file and then a new certificate file, both with
// mode 0600, failing with an error wrapping fs.ErrExist if either exists. If
// the certificate cannot be written the key is removed again.
func writePair(certPath, keyPath string, certPEM, keyPEM []byte) error {
	if _, err := os.Lstat(certPath); err == nil {
		return fmt.Errorf("certs: %s: %w", certPath, fs.ErrExist)
	}
	if err := writeNew(keyPath, keyPEM); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := writeNew(certPath, certPEM); err != nil {
		os.Remove(keyPath)
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// LoadCA loads the CA that [InitCA] created in dir.
func LoadCA(dir string) (*Authority, error) {
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("certs: load CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("certs: load CA: %w", err)
	}
	certs, err := parseCerts(certPEM, certPath)
	if err != nil {
		return nil, err
	}
	cert := certs[0]
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", keyPath, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("certs: %s does not match %s", keyPath, certPath)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("certs: %s is not a CA certificate", certPath)
	}
	return &Authority{cert: cert, key: key}, nil
}

// Certificate returns the CA certificate. The caller must not modify it.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// Pool returns a new pool holding just the CA certificate, for [Trust.Pool].
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.cert)
	return p
}

// Issue creates a new Ed25519 key and a certificate for it signed by the CA,
// and returns both PEM-encoded (the key as PKCS#8). The certificate's
// CommonName is name, the principal that policy rules refer to; hosts become
// subject alternative names (IP addresses as IP SANs, others as DNS names).
// It is valid for both TLS server and client use, from now for validity
// (zero means [DefaultValidity]), but never past the CA's own expiry.
func (a *Authority) Issue(name string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if validity < 0 {
		return nil, nil, fmt.Errorf("certs: negative validity %v", validity)
	}
	if validity == 0 {
		validity = DefaultValidity
	}
	now := time.Now()
	return a.issue(name, hosts, issueOpts{notBefore: now.Add(-clockSkew), notAfter: now.Add(validity)})
}

// issueOpts are the knobs of issue that tests need and the API hides.
type issueOpts struct {
	notBefore, notAfter time.Time
	usage               []x509.ExtKeyUsage // nil means server and client
}

func (a *Authority) issue(name string, hosts []string, o issueOpts) (certPEM, keyPEM []byte, err error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return nil, nil, err
		}
	}
	if o.notAfter.After(a.cert.NotAfter) {
		o.notAfter = a.cert.NotAfter
	}
	if o.usage == nil {
		o.usage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           o.usage,
		BasicConstraintsValid: true,
	}
	addHosts(tmpl, hosts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: issue %q: %w", name, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// checkHost validates a host for a subject alternative name: an IP address
// or a DNS name (letters, digits, '-', '_', '.', and a leading "*.").
func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	ok := h != "" && len(h) <= maxNameLen
	for i, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		case r == '*' && i == 0 && len(h) > 2 && h[1] == '.':
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("certs: invalid host %q: want an IP address or a DNS name", clip(h))
	}
	return nil
}

// IssueToDir issues a certificate as [Authority.Issue] does, with the
// default validity, and writes it to dir/NAME.crt and its key to
// dir/NAME.key, both with mode 0600 (dir is created with mode 0700 if
// needed). It refuses, with an error wrapping [fs.ErrExist], to overwrite
// either file.
func (a *Authority) IssueToDir(dir, name string, hosts []string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := mkdir(dir); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	certPEM, keyPEM, err := a.Issue(name, hosts, 0)
	if err != nil {
		return err
	}
	return writePair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), certPEM, keyPEM)
}

// LoadPool reads a PEM file of one or more CA certificates (such as the
// ca.crt that [InitCA] writes) into a new pool, for [Trust.Pool].
func LoadPool(caFile string) (*x509.CertPool, error) {
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	certs, err := parseCerts(data, caFile)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p, nil
}
