package ssh

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is the error for a host key that known_hosts does not
// vouch for. Dial and NewClient return it (wrapped) when the server's key
// is unknown, has changed, or is revoked; errors.As finds it.
type HostKeyError struct {
	// Host is the name looked up in known_hosts, in known_hosts form
	// ("host" for port 22, "[host]:port" otherwise).
	Host string

	// Key is the key the server presented.
	Key ssh.PublicKey

	// Known are the keys known_hosts holds for Host, with file and line.
	// Empty means the host is unknown.
	Known []knownhosts.KnownKey

	// Revoked is set when the key is marked @revoked.
	Revoked *knownhosts.KnownKey

	// Files are the known_hosts files that were consulted (those that
	// exist).
	Files []string

	// StrictHostKeyChecking is the value ssh_config gave, if it asked for
	// something other than strict checking, so the message can say it
	// was not honoured.
	StrictHostKeyChecking string

	// Err is the knownhosts error.
	Err error

	addTo string // the known_hosts file ssh would add the key to
}

// Unknown reports whether the host has no key at all in known_hosts.
func (e *HostKeyError) Unknown() bool { return e.Revoked == nil && len(e.Known) == 0 }

// Error explains what is wrong and what the user can do about it.
func (e *HostKeyError) Error() string {
	fp := ssh.FingerprintSHA256(e.Key)
	kt := keyTypeName(e.Key)
	var b strings.Builder
	switch {
	case e.Revoked != nil:
		fmt.Fprintf(&b, "ssh: the %s host key of %s (%s) is marked @revoked in %s:%d",
			kt, e.Host, fp, e.Revoked.Filename, e.Revoked.Line)
	case len(e.Known) == 0:
		host, port := splitKnown(e.Host)
		if port != strconv.Itoa(DefaultPort) {
			port = "-p " + port + " "
		} else {
			port = ""
		}
		fmt.Fprintf(&b, "ssh: host %s is not in known_hosts; it presented the %s key %s. "+
			"hopwire never trusts a host key on first use: check the fingerprint with the server's owner, then add it "+
			"by connecting once with ssh (ssh %s%s) or with: ssh-keyscan %s-t %s %s >> %s",
			e.Host, kt, fp, port, host, port, keyscanType(e.Key), host, e.addFile())
		if len(e.Files) == 0 {
			b.WriteString(" (no known_hosts file exists yet)")
		}
		if s := e.StrictHostKeyChecking; s == "no" || s == "off" || s == "accept-new" {
			fmt.Fprintf(&b, "; ssh_config's StrictHostKeyChecking %s is not honoured", s)
		}
	default:
		fmt.Fprintf(&b, "ssh: WARNING: the host key of %s has changed (or someone is intercepting the connection): "+
			"it presented the %s key %s, but", e.Host, kt, fp)
		for i, k := range e.Known {
			if i > 0 {
				b.WriteString(" and")
			}
			fmt.Fprintf(&b, " %s:%d has %s %s", k.Filename, k.Line, keyTypeName(k.Key), ssh.FingerprintSHA256(k.Key))
		}
		k := e.Known[0]
		fmt.Fprintf(&b, ". If the change is expected, remove the old key with: ssh-keygen -R '%s' -f %s", e.Host, k.Filename)
	}
	return b.String()
}

// Unwrap returns the knownhosts error.
func (e *HostKeyError) Unwrap() error { return e.Err }

// addFile is the file the hint tells the user to append to.
func (e *HostKeyError) addFile() string {
	switch {
	case e.addTo != "":
		return e.addTo
	case len(e.Files) > 0:
		return e.Files[0]
	}
	return "~/.ssh/known_hosts"
}

// splitKnown splits a known_hosts name back into host and port.
func splitKnown(h string) (host, port string) {
	if strings.HasPrefix(h, "[") {
		if host, port, err := net.SplitHostPort(h); err == nil {
			return host, port
		}
	}
	return h, strconv.Itoa(DefaultPort)
}

// keyTypeName names a key's type the way ssh-keygen -l does ("ED25519").
func keyTypeName(k ssh.PublicKey) string {
	switch t := k.Type(); {
	case t == ssh.KeyAlgoED25519:
		return "ED25519"
	case t == ssh.KeyAlgoRSA:
		return "RSA"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ECDSA"
	default:
		return t
	}
}

// keyscanType is ssh-keyscan's -t name for k's type.
func keyscanType(k ssh.PublicKey) string {
	switch t := k.Type(); {
	case t == ssh.KeyAlgoED25519:
		return "ed25519"
	case t == ssh.KeyAlgoRSA:
		return "rsa"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ecdsa"
	default:
		return t
	}
}

// hostKeyChecker checks server keys against known_hosts for one
// connection.
type hostKeyChecker struct {
	cb     ssh.HostKeyCallback // knownhosts over the existing files
	files  []string            // the files that exist
	addr   string              // host:port looked up
	addTo  string              // the first configured known_hosts file
	strict string              // StrictHostKeyChecking, for the message
	seen   ssh.PublicKey       // the key the server presented
}

// newHostKeyChecker loads the known_hosts files of cfg that exist.
func newHostKeyChecker(cfg *ClientConfig) (*hostKeyChecker, error) {
	var files []string
	for _, f := range cfg.KnownHostsFiles {
		if _, err := os.Stat(f); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("ssh: known_hosts: %w", err)
		}
		files = append(files, f)
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	h := &hostKeyChecker{cb: cb, files: files, addr: cfg.knownHostsAddr(), strict: cfg.StrictHostKeyChecking}
	if len(cfg.KnownHostsFiles) > 0 {
		h.addTo = cfg.KnownHostsFiles[0]
	}
	return h, nil
}

// placeholder is the remote address given to knownhosts, which insists on
// splitting one: the conn under an SSH hop is often a stream whose
// RemoteAddr is not host:port. Lookups use the host name anyway.
type placeholder string

func (a placeholder) Network() string { return "tcp" }
func (a placeholder) String() string  { return string(a) }

// check is the HostKeyCallback: strict known_hosts, with errors that
// explain. hostname and remote from x/crypto are ignored in favour of
// the configured address.
func (h *hostKeyChecker) check(_ string, _ net.Addr, key ssh.PublicKey) error {
	h.seen = key
	err := h.cb(h.addr, placeholder(h.addr), key)
	if err == nil {
		return nil
	}
	he := &HostKeyError{Host: knownhosts.Normalize(h.addr), Key: key, Files: h.files, Err: err, addTo: h.addTo}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		he.Revoked = &re.Revoked
	case errors.As(err, &ke):
		he.Known = ke.Want
		if len(ke.Want) == 0 {
			he.StrictHostKeyChecking = h.strict
		}
	default:
		// A certificate from an unknown authority, say: keep the
		// knownhosts message, but say which host and key.
		return fmt.Errorf("ssh: host key of %s (%s %s) refused: %w",
			he.Host, keyTypeName(key), ssh.FingerprintSHA256(key), err)
	}
	return he
}

// probeKey is a public key that is in no known_hosts file: checking it
// makes knownhosts report every key it knows for the host (golang/go#49631
// workaround).
type probeKey struct{}

func (probeKey) Type() string                        { return "hopwire-probe" }
func (probeKey) Marshal() []byte                     { return []byte("\x00\x00\x00\x0dhopwire-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("ssh: probe key") }

// knownTypes returns the key types known_hosts holds for the host, in
// file order.
func (h *hostKeyChecker) knownTypes() []string {
	var ke *knownhosts.KeyError
	if err := h.cb(h.addr, placeholder(h.addr), probeKey{}); !errors.As(err, &ke) {
		return nil
	}
	var types []string
	for _, k := range ke.Want {
		if t := k.Key.Type(); !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	return types
}

// hostKeyAlgorithms returns the host key algorithms to offer: those x/crypto
// supports, in its order of preference, restricted to the key types that
// known_hosts holds for the host. Without this, a server offering a key
// type the client prefers (ECDSA, say) when known_hosts has only another
// one (Ed25519) fails with a spurious mismatch (golang/go#49631). It
// returns nil, meaning x/crypto's defaults, when the host is unknown (the
// check then fails with the fingerprint hint) or none of its types is
// supported.
func (h *hostKeyChecker) hostKeyAlgorithms() []string {
	types := h.knownTypes()
	if len(types) == 0 {
		return nil
	}
	var algos []string
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		if strings.Contains(a, "-cert-") {
			continue // certificates are vouched for by @cert-authority lines, not keys
		}
		if slices.Contains(types, keyFormat(a)) {
			algos = append(algos, a)
		}
	}
	return algos
}

// keyFormat maps a host key algorithm to the key type it uses.
func keyFormat(algo string) string {
	switch algo {
	case ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
		return ssh.KeyAlgoRSA
	}
	return algo
}
