package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
)

// fpPrefix is the algorithm prefix of every fingerprint, as in OpenSSH.
const fpPrefix = "SHA256:"

// Fingerprint returns the fingerprint of cert's public key: "SHA256:"
// followed by the unpadded standard base64 of the SHA-256 of the
// certificate's DER SubjectPublicKeyInfo, the same form OpenSSH prints.
// Because only the key is hashed, the fingerprint survives re-issuing a
// certificate for the same key. A nil cert has the fingerprint "".
func Fingerprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return fpPrefix + base64.RawStdEncoding.EncodeToString(sum[:])
}

// ParseFingerprint validates a fingerprint and returns it in the canonical
// form [Fingerprint] produces. The "SHA256:" prefix is optional (and matched
// without regard to case), surrounding space is ignored, and base64 padding
// is accepted; anything that does not decode, strictly, to exactly 32 bytes of
// standard base64 is an error.
func ParseFingerprint(s string) (string, error) {
	b64 := strings.TrimSpace(s)
	if len(b64) >= len(fpPrefix) && strings.EqualFold(b64[:len(fpPrefix)], fpPrefix) {
		b64 = b64[len(fpPrefix):]
	}
	enc := base64.RawStdEncoding
	if strings.HasSuffix(b64, "=") {
		enc = base64.StdEncoding
	}
	sum, err := enc.Strict().DecodeString(b64)
	if err != nil || len(sum) != sha256.Size {
		return "", fmt.Errorf("certs: invalid fingerprint %q: want SHA256: and the base64 of 32 bytes", clip(s))
	}
	return fpPrefix + base64.RawStdEncoding.EncodeToString(sum), nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
