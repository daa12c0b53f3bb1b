package certs

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File and directory modes for everything this package writes. Keys are
// secrets; certificates and trust files are not, but they decide who is
// trusted, so they get the same treatment (as ~/.ssh does).
const (
	fileMode = 0o600
	dirMode  = 0o700
)

// writeNew writes data to a new file at path with mode 0600 and fails with an
// error wrapping fs.ErrExist if the file already exists. A partial file is
// removed on failure.
func writeNew(path string, data []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	_, err = f.Write(data)
	return err
}

// writeTemp writes data to a fresh temporary file (mode 0600) in dir and
// returns its name, for a later os.Link or os.Rename into place.
func writeTemp(dir, pattern string, data []byte) (name string, err error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	name = f.Name()
	defer func() {
		if err != nil {
			os.Remove(name)
		}
	}()
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", err
	}
	return name, f.Close()
}

// mkdir creates dir (and parents) with mode 0700 if it does not exist.
func mkdir(dir string) error {
	if dir == "" {
		return errors.New("certs: empty directory name")
	}
	return os.MkdirAll(filepath.Clean(dir), dirMode)
}

// encodeCert returns the PEM encoding of a DER certificate.
func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// encodeKey returns the PKCS#8 PEM encoding of a private key.
func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCerts parses every CERTIFICATE block of a PEM file, in order. Other
// block types are skipped; no certificate at all is an error.
func parseCerts(data []byte, what string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certs: %s: %w", what, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("certs: %s: no PEM CERTIFICATE block", what)
	}
	return out, nil
}
