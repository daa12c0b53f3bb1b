package directory

import (
	"errors"
	"strings"
)

// A store key must be a valid NATS subject token sequence: only letters,
// digits, '-', '_', '/', '=' and '.', with no leading, trailing or doubled
// '.' (a '.' separates subject tokens). Agent names allow '.' anywhere and
// relay IDs are fingerprints ("SHA256:" and base64, with ':', '+' and
// '/'), so keys escape every byte outside [A-Za-z0-9_-] as '=' and two
// upper-case hex digits. '=' itself is always escaped, which keeps the
// encoding one-to-one, and a name made only of plain characters reads the
// same in the store as in hopwire (nats kv get shows db1 as db1).

const hexDigits = "0123456789ABCDEF"

// encodeKey returns the store key for s.
func encodeKey(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if nameByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// errBadKey: a store key encodeKey cannot have produced.
var errBadKey = errors.New("directory: malformed store key")

// decodeKey inverts encodeKey.
func decodeKey(k string) (string, error) {
	if !strings.Contains(k, "=") {
		for i := 0; i < len(k); i++ {
			if !nameByte(k[i]) {
				return "", errBadKey
			}
		}
		return k, nil
	}
	var b strings.Builder
	b.Grow(len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case nameByte(c):
			b.WriteByte(c)
		case c == '=' && i+2 < len(k) && unhex(k[i+1]) >= 0 && unhex(k[i+2]) >= 0:
			d := byte(unhex(k[i+1])<<4 | unhex(k[i+2]))
			if nameByte(d) {
				return "", errBadKey // not canonical: encodeKey keeps it as is
			}
			b.WriteByte(d)
			i += 2
		default:
			return "", errBadKey
		}
	}
	return b.String(), nil
}

// unhex returns the value of an upper-case hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
