package certs

import (
	"crypto/tls"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameLen bounds a principal name (a DNS name fits).
const maxNameLen = 253

// checkName validates a principal name: a certificate CommonName, a name in
// a trust file, a file name under [Authority.IssueToDir]. Names must be safe
// as file names and as words in the trust file and in policy rules, so they
// may not be empty or contain '/', '\\', "..", ':', ',', '#', white space or
// control characters, and may not start with '-' (it would read as a flag).
func checkName(name string) error {
	bad := func(why string) error { return fmt.Errorf("certs: invalid name %q: %s", clip(name), why) }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxNameLen:
		return bad("too long")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case strings.Contains(name, ".."):
		return bad(`contains ".."`)
	case name[0] == '-':
		return bad(`starts with "-"`)
	case reserved(name):
		return bad("reserved for hopwire's own principals")
	}
	for _, r := range name {
		switch {
		case strings.ContainsRune(`/\:,#`, r):
			return bad(fmt.Sprintf("contains %q", r))
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return bad("contains white space or a control character")
		}
	}
	return nil
}

// reserved reports whether name is one hopwire gives itself, which no
// certificate or trust file may claim: "stdio" (the spawner of a pipe
// node) and the "ssh:" and "fp:" forms (checkName already refuses ':').
func reserved(name string) bool {
	return name == "stdio" || strings.HasPrefix(name, "ssh:") || strings.HasPrefix(name, "fp:")
}

// shellSafe reports whether s can be pasted into a shell command as one word
// without quoting. Peer names shown in a "to trust it run: …" hint come from
// the peer, so anything else is left out of the hint. This is not
// internal/shell's job: a name that would need quoting is dropped, not
// quoted, and the set is stricter (no leading '-', so a name cannot pass
// for a flag).
func shellSafe(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for _, r := range s {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("._-@+=", r))
		if !ok {
			return false
		}
	}
	return true
}

// PeerFromState returns the name the peer's certificate claims (its
// CommonName) and its fingerprint. Both are empty if the peer sent no
// certificate.
//
// The name is NOT verified: a peer trusted by fingerprint chose it itself.
// Never use it for policy; [Trust.VerifiedClient] and
// [Trust.VerifiedServer] say who the peer is.
func PeerFromState(cs tls.ConnectionState) (name, fingerprint string) {
	if len(cs.PeerCertificates) == 0 {
		return "", ""
	}
	leaf := cs.PeerCertificates[0]
	return leaf.Subject.CommonName, Fingerprint(leaf)
}

// Matches reports whether a policy rule applies to the peer with the given
// principal name and fingerprint. A rule is "*" (any authenticated peer, that
// is, one with a fingerprint), "fp:" followed by a fingerprint (in any form
// [ParseFingerprint] accepts), or a principal name, compared exactly. An empty
// rule, an invalid fingerprint rule, or a name rule against an empty name
// matches nothing.
func Matches(rule, name, fingerprint string) bool {
	rule = strings.TrimSpace(rule)
	switch {
	case rule == "":
		return false
	case rule == "*":
		return fingerprint != ""
	case strings.HasPrefix(rule, "fp:"):
		want, err := ParseFingerprint(rule[len("fp:"):])
		if err != nil {
			return false
		}
		got, err := ParseFingerprint(fingerprint)
		return err == nil && got == want
	default:
		return name != "" && rule == name
	}
}
