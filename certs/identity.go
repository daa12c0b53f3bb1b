package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Names of the files this package reads and writes under [Home].
const (
	// KnownNodesFile is the file name, under [Home], of the fingerprints of
	// the nodes a client trusts (SSH's known_hosts).
	KnownNodesFile = "known_nodes"
	// AuthorizedFile is the file name, under [Home], of the fingerprints of
	// the clients a node accepts (SSH's authorized_keys).
	AuthorizedFile = "authorized"

	idCertFile = "id.crt"
	idKeyFile  = "id.key"
)

// noExpiry is the NotAfter of self-signed identities: RFC 5280 §4.1.2.5 sets
// aside 99991231235959Z for "no well-defined expiration date". Like an SSH
// key, a self-signed identity is trusted by its fingerprint and revoked by
// removing that fingerprint, not by waiting for it to expire.
var noExpiry = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// clockSkew back-dates NotBefore so that a peer whose clock is a little
// behind ours still accepts a certificate we have just made.
const clockSkew = time.Hour

// Identity is a private key and the X.509 certificate for it, self-signed
// ([LoadOrCreate]) or issued by a CA ([Authority.Issue], [Load]). It is what a
// node or client presents in every TLS handshake, whichever side it is on.
//
// An Identity is immutable and safe for concurrent use.
type Identity struct {
	cert tls.Certificate // Leaf is always set
}

// Home returns the hopwire configuration directory: $HOPWIRE_HOME if set,
// otherwise ~/.hopwire (or ".hopwire" if the home directory is unknown).
func Home() string {
	if h := os.Getenv("HOPWIRE_HOME"); h != "" {
		return h
	}
	if u, err := os.UserHomeDir(); err == nil && u != "" {
		return filepath.Join(u, ".hopwire")
	}
	return ".hopwire"
}

// LoadOrCreate returns the identity kept in dir as id.crt and id.key (PEM),
// creating a new Ed25519 key and a self-signed certificate on first use.
//
// name is the principal written into a new certificate's CommonName; empty
// means the host name. A new certificate also carries the DNS names "hopwire"
// and name (if name is a DNS name or IP address), is valid for both TLS server and client use, and does not expire
// (trust in it is by fingerprint; see [Trust]). name is ignored when the
// identity already exists. dir is created with mode 0700 and the files with
// mode 0600; an existing id.key that others can read is refused, as ssh does.
//
// LoadOrCreate is safe against other processes creating the same identity at
// the same time: all of them end up with the same key.
func LoadOrCreate(dir, name string) (*Identity, error) {
	if name == "" {
		name = defaultName()
	} else if err := checkName(name); err != nil {
		return nil, err
	}
	if err := mkdir(dir); err != nil {
		return nil, fmt.Errorf("certs: identity dir: %w", err)
	}
	certPath := filepath.Join(dir, idCertFile)
	keyPath := filepath.Join(dir, idKeyFile)
	for range 10 {
		keyPEM, err := os.ReadFile(keyPath)
		switch {
		case err == nil:
			if err := checkKeyPerm(keyPath); err != nil {
				return nil, err
			}
			certPEM, err := os.ReadFile(certPath)
			if errors.Is(err, fs.ErrNotExist) {
				// A creator crashed between its two steps, or is between them
				// right now. The fingerprint depends only on the key, so a new
				// self-signed certificate for it is the same identity.
				return repairCert(dir, certPath, keyPath, keyPEM, name)
			}
			if err != nil {
				return nil, fmt.Errorf("certs: %w", err)
			}
			return parseIdentity(certPEM, keyPEM, certPath)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("certs: %w", err)
		}
		if _, err := os.Stat(certPath); err == nil {
			return nil, fmt.Errorf("certs: %s exists but %s does not; restore the key or remove the certificate", certPath, keyPath)
		}
		id, err := create(dir, certPath, keyPath, name)
		if errors.Is(err, fs.ErrExist) {
			continue // another process won the race; load its identity
		}
		return id, err
	}
	return nil, fmt.Errorf("certs: identity in %s keeps changing under us", dir)
}

// create makes a new identity and moves it into place. The key is linked in
// first, atomically and only if no key exists (an error wrapping fs.ErrExist
// otherwise); then the certificate is renamed in.
func create(dir, certPath, keyPath, name string) (*Identity, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate key: %w", err)
	}
	der, err := selfSigned(key, name)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := encodeCert(der)
	tmpKey, err := writeTemp(dir, ".id.key.*", keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	defer os.Remove(tmpKey)
	tmpCert, err := writeTemp(dir, ".id.crt.*", certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	defer os.Remove(tmpCert)
	if err := os.Link(tmpKey, keyPath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		// No hard links on this file system: fall back to an exclusive
		// create, which still lets only one creator win.
		if err := writeNew(keyPath, keyPEM); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return nil, err
			}
			return nil, fmt.Errorf("certs: %w", err)
		}
	}
	if err := os.Rename(tmpCert, certPath); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return parseIdentity(certPEM, keyPEM, certPath)
}

// repairCert writes a new self-signed certificate for an existing key.
func repairCert(dir, certPath, keyPath string, keyPEM []byte, name string) (*Identity, error) {
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", keyPath, err)
	}
	der, err := selfSigned(key, name)
	if err != nil {
		return nil, err
	}
	certPEM := encodeCert(der)
	tmp, err := writeTemp(dir, ".id.crt.*", certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, certPath); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return parseIdentity(certPEM, keyPEM, certPath)
}

// checkKeyPerm refuses a private key file that group or others can access.
func checkKeyPerm(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("certs: permissions %#o for %s are too open; run: chmod 600 %s", perm, path, path)
	}
	return nil
}

// defaultName is the principal of a new identity when none is given: the
// host name if it is a valid name, else "hopwire".
func defaultName() string {
	if h, err := os.Hostname(); err == nil && checkName(h) == nil {
		return h
	}
	return "hopwire"
}

// selfSigned returns a DER certificate for key, signed by key itself.
func selfSigned(key crypto.Signer, name string) ([]byte, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-clockSkew),
		NotAfter:              noExpiry,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	hosts := []string{"hopwire"}
	if checkHost(name) == nil { // a name like "alice@corp" is no DNS name
		hosts = append(hosts, name)
	}
	addHosts(tmpl, hosts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: create certificate: %w", err)
	}
	return der, nil
}

// addHosts adds hosts to tmpl as subject alternative names: IP addresses as
// IP SANs, anything else as DNS names. Duplicates are dropped.
func addHosts(tmpl *x509.Certificate, hosts []string) {
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}

// Load reads an identity from a PEM certificate file and a PEM key file, as
// given by --cert and --key. The certificate file may hold a chain, leaf
// first. The key may be PKCS#8 (Ed25519, ECDSA or RSA), SEC 1 ("EC PRIVATE
// KEY") or PKCS#1 ("RSA PRIVATE KEY"); it must match the certificate.
func Load(certFile, keyFile string) (*Identity, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return parseIdentity(certPEM, keyPEM, certFile)
}

// ParseIdentity builds an identity from a PEM certificate (or chain, leaf
// first) and a PEM private key, such as those [Authority.Issue] returns. It
// accepts the same key forms as [Load].
func ParseIdentity(certPEM, keyPEM []byte) (*Identity, error) {
	return parseIdentity(certPEM, keyPEM, "PEM")
}

// parseIdentity builds an Identity from PEM data; what names the source in
// errors.
func parseIdentity(certPEM, keyPEM []byte, what string) (*Identity, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: identity %s: %w", what, err)
	}
	if c.Leaf == nil { // only with GODEBUG=x509keypairleaf=0
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: identity %s: %w", what, err)
		}
	}
	return &Identity{cert: c}, nil
}

// parseKey parses a PEM private key in any of the forms [Load] accepts.
func parseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key block")
		}
		var k any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		switch k := k.(type) {
		case ed25519.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case *rsa.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
}

// Fingerprint returns the identity's fingerprint; see the package function
// [Fingerprint].
func (id *Identity) Fingerprint() string { return Fingerprint(id.cert.Leaf) }

// Name returns the identity's principal: its certificate's CommonName.
func (id *Identity) Name() string { return id.cert.Leaf.Subject.CommonName }

// Certificate returns the identity's (leaf) certificate. The caller must not
// modify it.
func (id *Identity) Certificate() *x509.Certificate { return id.cert.Leaf }

// TLSCertificate returns the identity as a [tls.Certificate], for
// [tls.Config.Certificates]. The slices in it are shared and must not be
// modified.
func (id *Identity) TLSCertificate() tls.Certificate { return id.cert }

// Rename gives the identity kept in dir a new name: a new self-signed
// certificate for the same key, so its fingerprint (and every trust
// entry naming it) is unchanged. A certificate that a CA issued is not
// renamed (that would drop the CA's signature): ask the CA for another.
func Rename(dir, name string) (*Identity, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	certPath := filepath.Join(dir, idCertFile)
	keyPath := filepath.Join(dir, idKeyFile)
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if err := checkKeyPerm(keyPath); err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	id, err := parseIdentity(certPEM, keyPEM, certPath)
	if err != nil {
		return nil, err
	}
	if leaf := id.cert.Leaf; subtle.ConstantTimeCompare(leaf.RawIssuer, leaf.RawSubject) != 1 || leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
		return nil, fmt.Errorf("certs: %s was issued by a CA (%q); a new name needs a new certificate from it", certPath, leaf.Issuer.CommonName)
	}
	return repairCert(dir, certPath, keyPath, keyPEM, name)
}
