package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
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

// Trust says which peers to accept, and who they are.
//
// A peer is accepted if its fingerprint is in Pinned, when Pinned is set:
// a pin is exclusive, and no other key is accepted whatever the CA or the
// store say. Otherwise a peer is accepted if its certificate chains to Pool
// (when Pool is non-nil), OR its fingerprint is in Store. At least one of
// the three must be set.
//
// In CA mode (Pool) the whole chain is checked the usual X.509 way, including
// expiry and the extended key usage for the peer's role (server
// authentication for a server, client authentication for a client). In
// fingerprint mode (Pinned, Store) only the peer's leaf certificate matters,
// as with an SSH key, but its validity dates are still checked, so an expired
// self-signed certificate is refused.
//
// A client verifying a node at a hop sets Addr (the HOST:PORT it dialled)
// and, for a hop reached by name (an agent), Name. The trust is then bound
// to that hop, the way known_hosts binds a host key to a host: a store
// entry is accepted only if it is bound to Addr (its addr= option) or its
// name is Name (or Addr's host, when that is a DNS name) and that name is
// no other fingerprint's; a CA-issued certificate only if it is issued to
// the hop: its CommonName or a DNS subject alternative name is Name (or
// Addr's host name), or it has Addr's IP address as an IP SAN. Any other
// trusted node answering at this hop (a relay on the path, say) is refused
// with a [*HopMismatchError]. Without Addr and Name, any accepted peer is.
//
// Who the peer is ([Trust.VerifiedClient], [Trust.VerifiedServer]) is
// decided by the trust, never by the peer: a CommonName is a principal only
// when the CA signed it; a fingerprint-trusted peer's principal is the name
// the store gives its fingerprint.
//
// A Trust is read once, when a config is built; the Store it points to is
// consulted at every handshake.
type Trust struct {
	// Pool holds the CA certificates a peer may chain to. Nil disables CA
	// mode; unlike tls.Config.RootCAs, it never means the host's roots.
	Pool *x509.CertPool
	// Pinned lists the only fingerprints accepted, e.g. the one pinned in a
	// hop address. Entries may be in any form [ParseFingerprint] accepts.
	Pinned []string
	// Store is a known-nodes or authorized file of accepted fingerprints.
	Store *FingerprintStore
	// StorePath is the trust file to name in an [UnknownPeerError]; empty
	// means Store's own path.
	StorePath string
	// Name, if not empty, is the name the node at the hop must have (an
	// agent's name, a configured alias).
	Name string
	// Addr, if not empty, is the HOST:PORT of the hop the node answers at.
	Addr string
}

// role is what the peer is to us: which key usage its certificate needs in
// CA mode, and which trust file the hint in an UnknownPeerError names.
type role int

const (
	roleServer role = iota // the peer is a server; we are the client
	roleClient             // the peer is a client; we are the server
)

// How a peer was accepted ([Verified.By]).
const (
	ByPinned = "pinned" // its fingerprint is pinned (in the hop address)
	ByCA     = "ca"     // its certificate chains to the CA
	ByStore  = "store"  // its fingerprint is in the trust file
	// ByUnbound: its fingerprint is in the trust file on a line without
	// an address (a known_nodes file from before addresses were bound),
	// no key is bound to the hop, and the line's name is no other key's.
	// Accepted so that old files keep working; callers should warn and
	// say how to bind it, and refuse it where a chain shows it is not the
	// node meant (the key of an earlier hop: a relay answering for the
	// next one).
	ByUnbound = "unbound"
)

// verifier is a Trust checked and normalised for one role.
type verifier struct {
	pool      *x509.CertPool
	pinned    []string // canonical fingerprints
	store     *FingerprintStore
	storePath string
	name      string // expected name at the hop
	addr      string // normalised HOST:PORT of the hop
	host      string // addr's host, when it is a DNS name
	ip        net.IP // addr's host, when it is an IP address
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
	if t.Addr != "" {
		a, err := normAddr(t.Addr)
		if err != nil {
			return nil, fmt.Errorf("certs: trust: %w", err)
		}
		v.addr = a
		host, _, _ := net.SplitHostPort(a)
		if ip := net.ParseIP(host); ip != nil {
			v.ip = ip
		} else {
			v.host = host
		}
	}
	if v.storePath == "" && v.store != nil {
		v.storePath = v.store.Path()
	}
	return v, nil
}

// bound reports whether the verifier is bound to a hop.
func (v *verifier) bound() bool { return v.addr != "" || v.name != "" }

// expect is the name the node at the hop should have: Name, or the hop's
// host name.
func (v *verifier) expect() string {
	if v.name != "" {
		return v.name
	}
	return v.host
}

// hopString names the hop in messages.
func (v *verifier) hopString() string {
	switch {
	case v.addr != "" && v.name != "":
		return v.name + " (" + v.addr + ")"
	case v.addr != "":
		return v.addr
	}
	return v.name
}

// verify checks a peer's certificates, leaf first, against the trust.
func (v *verifier) verify(certs []*x509.Certificate) error {
	if len(certs) == 0 || certs[0] == nil {
		return ErrNoCertificate
	}
	_, err := v.accept(certs[0], certs[1:])
	return err
}

// chains reports whether leaf chains to the CA for the peer's role, and
// why not.
func (v *verifier) chains(leaf *x509.Certificate, intermediates []*x509.Certificate, now time.Time) error {
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
	if _, err := leaf.Verify(opts); err != nil {
		return &chainError{err}
	}
	return nil
}

// issuedToHop reports whether a CA-issued leaf names the hop.
func (v *verifier) issuedToHop(leaf *x509.Certificate) bool {
	if n := v.expect(); n != "" && (leaf.Subject.CommonName == n || slices.ContainsFunc(leaf.DNSNames, func(d string) bool { return strings.EqualFold(d, n) })) {
		return true
	}
	return v.ip != nil && slices.ContainsFunc(leaf.IPAddresses, v.ip.Equal)
}

// accept decides whether leaf is accepted, and how (one of the By
// constants).
func (v *verifier) accept(leaf *x509.Certificate, intermediates []*x509.Certificate) (string, error) {
	name, fp, now := clip(leaf.Subject.CommonName), Fingerprint(leaf), time.Now()
	inDates := func() error {
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return fmt.Errorf("certs: peer %q fingerprint %s: %w", name, fp, expired(leaf, now))
		}
		return nil
	}

	if len(v.pinned) > 0 {
		if !slices.Contains(v.pinned, fp) {
			return "", &MismatchError{Want: strings.Join(v.pinned, " or "), Got: fp}
		}
		return ByPinned, inDates()
	}

	var chainErr error
	if v.pool != nil {
		chainErr = v.chains(leaf, intermediates, now)
		if chainErr == nil {
			if !v.bound() || v.issuedToHop(leaf) {
				return ByCA, nil
			}
			chainErr = fmt.Errorf("its CA certificate is issued to %q, not to this hop (%s)", name, v.hopString())
		}
	}

	if v.store == nil {
		return "", fmt.Errorf("certs: peer %q fingerprint %s: %w", name, fp, chainErr)
	}
	if !v.bound() {
		known, storeErr := v.store.lookup(fp)
		if known {
			return ByStore, inDates()
		}
		return "", v.unknown(fp, leaf, errors.Join(chainErr, storeErr))
	}
	known, ok, want, storeErr := v.store.binding(fp, v.addr, v.expect())
	switch {
	case ok:
		return ByStore, inDates()
	case known && len(want) == 0 && v.store.unbound(fp):
		return ByUnbound, inDates()
	case known:
		return "", &HopMismatchError{Hop: v.hopString(), Got: fp, GotNames: v.store.Names(fp), GotAddrs: v.store.addrs(fp),
			Want: want, Hint: v.hint(fp, leaf.Subject.CommonName), Err: chainErr}
	}
	return "", v.unknown(fp, leaf, errors.Join(chainErr, storeErr))
}

// unknown is the error for a peer the store does not have.
func (v *verifier) unknown(fp string, leaf *x509.Certificate, err error) error {
	return &UnknownPeerError{
		Fingerprint: fp,
		Name:        leaf.Subject.CommonName,
		Hop:         v.hopString(),
		Path:        v.storePath,
		Hint:        v.hint(fp, leaf.Subject.CommonName),
		Err:         err,
	}
}

// Verified is who a [Trust] says an accepted peer is.
type Verified struct {
	// Principal is the peer's verified name: the CommonName of a
	// certificate the CA signed, or the name the store gives the
	// fingerprint. It is empty if the trust vouches for no name (a pinned
	// or unnamed key, a reserved or contested name); policy rules can then
	// name the peer only as "fp:" + Fingerprint.
	Principal string
	// Fingerprint is the peer's key fingerprint.
	Fingerprint string
	// By says how the peer was accepted: [ByPinned], [ByCA] or [ByStore];
	// empty if it was not (or sent no certificate).
	By string
}

// VerifiedClient returns who the client of a connection is, according to
// t, for a server built with [ServerConfig](id, t). It re-checks the peer
// certificate the way the handshake did.
func (t Trust) VerifiedClient(cs tls.ConnectionState) Verified { return t.verified(cs, roleClient) }

// VerifiedServer returns who the server of a connection is, for a client
// built with [ClientConfig](id, t, …).
func (t Trust) VerifiedServer(cs tls.ConnectionState) Verified { return t.verified(cs, roleServer) }

func (t Trust) verified(cs tls.ConnectionState, r role) Verified {
	if len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0] == nil {
		return Verified{}
	}
	leaf := cs.PeerCertificates[0]
	out := Verified{Fingerprint: Fingerprint(leaf)}
	v, err := t.verifier(r)
	if err != nil {
		return out
	}
	by, err := v.accept(leaf, cs.PeerCertificates[1:])
	if err != nil {
		return out
	}
	out.By = by
	cn := leaf.Subject.CommonName
	switch {
	case by == ByCA && principalName(cn) && (v.store == nil || len(v.store.Owners(cn)) == 0 || slices.Contains(v.store.Owners(cn), out.Fingerprint)):
		// A CA-issued name, unless the trust file gives that name to
		// other keys: the two sources never lend each other names.
		out.Principal = cn
	case v.store != nil:
		out.Principal = v.store.Principal(out.Fingerprint)
	}
	if r == roleServer && out.Principal == "" && v.bound() && (by == ByPinned || by == ByStore) {
		out.Principal = v.expect()
	}
	return out
}

// principalName reports whether a CA-issued CommonName may be a principal:
// a valid name that is not reserved.
func principalName(n string) bool {
	return checkName(n) == nil && !reserved(n)
}

// hint is the command that trusts the peer (at this hop).
func (v *verifier) hint(fp, name string) string {
	flag := "--known"
	if v.role == roleClient {
		flag = "--authorized"
	}
	if n := v.expect(); n != "" {
		name = n
	}
	h := "hopwire trust " + flag + " " + fp
	if checkName(name) == nil && shellSafe(name) && !reserved(name) {
		h += " " + name
	} else if v.addr != "" {
		h += " NAME"
	}
	if v.addr != "" {
		h += " --addr " + v.addr
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
	// Hop is the hop the peer answered at (HOST:PORT, an agent name), if
	// the trust was bound to one.
	Hop string
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
	fmt.Fprintf(&b, "certs: unknown peer %q fingerprint %s", clip(e.Name), e.Fingerprint)
	if e.Hop != "" {
		fmt.Fprintf(&b, " at %s", e.Hop)
	}
	b.WriteString(": ")
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

// HopMismatchError is the error for a node that the trust file knows,
// answering at a hop it is not bound to: the relay before the hop, or
// another trusted node, is answering in the place of the node meant (or
// the binding is missing). Its message names the hop, the key seen, the
// keys expected, and the command that binds the key seen to the hop:
//
//	certs: 10.0.2.2:7443 answered with SHA256:k/rB… ("r1"), but known_nodes binds SHA256:iju8… to it: another node is answering for it; if SHA256:k/rB… is this hop's key, run: hopwire trust --known SHA256:k/rB… NAME --addr 10.0.2.2:7443
type HopMismatchError struct {
	Hop      string   // the hop: HOST:PORT or a name
	Got      string   // the fingerprint presented
	GotNames []string // the names the trust file gives Got
	GotAddrs []string // the hops the trust file binds Got to
	Want     []string // the fingerprints bound to the hop (may be empty)
	Hint     string   // the command that would bind Got to the hop
	Err      error    // why the CA did not vouch for it, if a CA is in use
}

func (e *HopMismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "certs: %s answered with %s", e.Hop, e.Got)
	if len(e.GotNames) > 0 {
		fmt.Fprintf(&b, " (%q)", strings.Join(e.GotNames, ", "))
	}
	switch {
	case len(e.Want) > 0:
		fmt.Fprintf(&b, ", but the trust file binds %s to it: another node is answering for it", strings.Join(e.Want, " or "))
	case len(e.GotAddrs) > 0:
		fmt.Fprintf(&b, ", a key the trust file binds to %s, and no key to this hop", strings.Join(e.GotAddrs, ", "))
	default:
		b.WriteString(", a key the trust file knows but binds to no hop (an entry without addr=), and no key to this hop")
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (%s)", strings.ReplaceAll(e.Err.Error(), "\n", "; "))
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, "; if %s is this hop's key, run: %s", e.Got, e.Hint)
	}
	return b.String()
}

// Unwrap returns e.Err.
func (e *HopMismatchError) Unwrap() error { return e.Err }

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
