package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrNoCertificate is the error for a peer that presented no certificate.
// (A server from [ServerConfig] refuses such a client before verification,
// with crypto/tls's own "certificate required" error; ErrNoCertificate is
// what the verifier itself returns, for instance when a transport that is
// not crypto/tls calls [tls.Config.VerifyConnection] directly.)
var ErrNoCertificate = errors.New("certs: peer presented no certificate")

// Trust says which peers to accept. A peer is accepted if its certificate
// chains to Pool (when Pool is non-nil), OR its fingerprint is in Pinned, OR
// it is in Store. At least one of the three must be set.
//
// In CA mode (Pool) the whole chain is checked the usual X.509 way, including
// expiry and the extended key usage for the peer's role (server
// authentication for a server, client authentication for a client), but no
// host name: the principal is the certificate's CommonName. In fingerprint
// mode (Pinned, Store) only the peer's leaf certificate matters, as with an
// SSH key, but its validity dates are still checked, so an expired
// self-signed certificate is refused.
//
// Name, when set, adds a check in every mode: the peer's principal
// (certificate CommonName) must equal it. Use it to make sure the node at the
// end of a hop is the one the hop names, not just any member of the fleet.
//
// A Trust is read once, when a config is built; the Store it points to is
// consulted at every handshake.
type Trust struct {
	// Pool holds the CA certificates a peer may chain to. Nil disables CA
	// mode; unlike tls.Config.RootCAs, it never means the host's roots.
	Pool *x509.CertPool
	// Pinned lists fingerprints accepted outright, e.g. the one pinned in a
	// hop address. Entries may be in any form [ParseFingerprint] accepts.
	Pinned []string
	// Store is a known-nodes or authorized file of accepted fingerprints.
	Store *FingerprintStore
	// StorePath is the trust file to name in an [UnknownPeerError]; empty
	// means Store's own path.
	StorePath string
	// Name, if not empty, is the principal the peer must have.
	Name string
}

// role is what the peer is to us: which key usage its certificate needs in
// CA mode, and which trust file the hint in an UnknownPeerError names.
type role int

const (
	roleServer role = iota // the peer is a server; we are the client
	roleClient             // the peer is a client; we are the server
)

// verifier is a Trust checked and normalised for one role.
type verifier struct {
	pool      *x509.CertPool
	pinned    []string // canonical fingerprints
	store     *FingerprintStore
	storePath string
	name      string
	role      role
}

// verifier validates t and builds its verifier for a peer in role r.
func (t Trust) verifier(r role) (*verifier, error) {
	if t.Pool == nil && len(t.Pinned) == 0 && t.Store == nil {
		return nil, errors.New("certs: trust accepts no peer: set a CA pool, a pinned fingerprint or a fingerprint store")
	}
	v := &verifier{pool: t.Pool, store: t.Store, storePath: t.StorePath, name: t.Name, role: r}
	for _, p := range t.Pinned {
		fp, err := ParseFingerprint(p)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(v.pinned, fp) {
			v.pinned = append(v.pinned, fp)
		}
	}
	if v.storePath == "" && v.store != nil {
		v.storePath = v.store.Path()
	}
	return v, nil
}

// verify checks a peer's certificates, leaf first, against the trust.
func (v *verifier) verify(certs []*x509.Certificate) error {
	if len(certs) == 0 || certs[0] == nil {
		return ErrNoCertificate
	}
	leaf := certs[0]
	if err := v.accept(leaf, certs[1:]); err != nil {
		return err
	}
	if got := leaf.Subject.CommonName; v.name != "" && got != v.name {
		return fmt.Errorf("certs: peer is %q (fingerprint %s), want %q", clip(got), Fingerprint(leaf), v.name)
	}
	return nil
}

// accept applies the OR of the trust's three sources to leaf.
func (v *verifier) accept(leaf *x509.Certificate, intermediates []*x509.Certificate) error {
	name, fp, now := clip(leaf.Subject.CommonName), Fingerprint(leaf), time.Now()

	var chainErr error
	if v.pool != nil {
		usage := x509.ExtKeyUsageServerAuth
		if v.role == roleClient {
			usage = x509.ExtKeyUsageClientAuth
		}
		opts := x509.VerifyOptions{
			Roots:         v.pool,
			Intermediates: x509.NewCertPool(),
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{usage},
		}
		for _, c := range intermediates {
			opts.Intermediates.AddCert(c)
		}
		_, err := leaf.Verify(opts)
		if err == nil {
			return nil
		}
		chainErr = &chainError{err}
	}

	known := slices.Contains(v.pinned, fp)
	var storeErr error
	if !known && v.store != nil {
		known, storeErr = v.store.lookup(fp)
	}
	if known {
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return fmt.Errorf("certs: peer %q fingerprint %s: %w", name, fp, expired(leaf, now))
		}
		return nil
	}

	switch {
	case len(v.pinned) > 0:
		return &MismatchError{Want: strings.Join(v.pinned, " or "), Got: fp}
	case v.store != nil:
		return &UnknownPeerError{
			Fingerprint: fp,
			Name:        leaf.Subject.CommonName,
			Path:        v.storePath,
			Hint:        v.hint(fp, leaf.Subject.CommonName),
			Err:         errors.Join(chainErr, storeErr),
		}
	default:
		return fmt.Errorf("certs: peer %q fingerprint %s: %w", name, fp, chainErr)
	}
}

// hint is the command that trusts the peer.
func (v *verifier) hint(fp, name string) string {
	flag := "--known"
	if v.role == roleClient {
		flag = "--authorized"
	}
	h := "hopwire trust " + flag + " " + fp
	if checkName(name) == nil && shellSafe(name) {
		h += " " + name
	}
	return h
}

// expired describes a certificate outside its validity period the way
// x509.Certificate.Verify does, so that errors.As finds the same
// [x509.CertificateInvalidError] in every mode.
func expired(c *x509.Certificate, now time.Time) error {
	const layout = time.RFC3339
	var detail string
	if now.Before(c.NotBefore) {
		detail = fmt.Sprintf("current time %s is before %s", now.UTC().Format(layout), c.NotBefore.UTC().Format(layout))
	} else {
		detail = fmt.Sprintf("current time %s is after %s", now.UTC().Format(layout), c.NotAfter.UTC().Format(layout))
	}
	return x509.CertificateInvalidError{Cert: c, Reason: x509.Expired, Detail: detail}
}

// chainError is a CA-mode failure; it wraps the x509 error.
type chainError struct{ err error }

func (e *chainError) Error() string { return "does not chain to the CA: " + e.err.Error() }
func (e *chainError) Unwrap() error { return e.err }

// UnknownPeerError is the error for a peer that no part of the [Trust]
// accepts, when a fingerprint store is in use. Its message names the
// fingerprint and the command that trusts it:
//
//	certs: unknown peer "r1" fingerprint SHA256:…: not in /root/.hopwire/known_nodes; to trust it run: hopwire trust --known SHA256:… r1
type UnknownPeerError struct {
	// Fingerprint is the peer's fingerprint, in canonical form.
	Fingerprint string
	// Name is the CommonName the peer's certificate claims (not verified).
	Name string
	// Path is the trust file the peer is not in; it may be empty.
	Path string
	// Hint is the command that trusts the peer, e.g.
	// "hopwire trust --known SHA256:… r1" on a client or
	// "hopwire trust --authorized SHA256:… alice" on a node. The name is left
	// out unless it is safe to paste into a shell.
	Hint string
	// Err, if not nil, is why the peer was not accepted otherwise: it does
	// not chain to the CA (wrapping the x509 error), or the trust file could
	// not be read.
	Err error
}

// Error implements error.
func (e *UnknownPeerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "certs: unknown peer %q fingerprint %s: ", clip(e.Name), e.Fingerprint)
	if e.Err != nil {
		fmt.Fprintf(&b, "%s; ", strings.ReplaceAll(e.Err.Error(), "\n", "; "))
	}
	if e.Path != "" {
		fmt.Fprintf(&b, "not in %s", e.Path)
	} else {
		b.WriteString("not trusted")
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; to trust it run: %s", e.Hint)
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *UnknownPeerError) Unwrap() error { return e.Err }

// MismatchError is the error for a peer whose fingerprint differs from the
// one pinned for it (in a hop address, say): either the wrong node answered
// or someone is in the middle.
type MismatchError struct {
	// Want is the pinned fingerprint (several are joined with " or ").
	Want string
	// Got is the fingerprint the peer presented.
	Got string
}

// Error implements error.
func (e *MismatchError) Error() string {
	return fmt.Sprintf("certs: peer fingerprint %s does not match the pinned %s", e.Got, e.Want)
}
