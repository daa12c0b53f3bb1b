package directory

import (
	"regexp"
	"strings"
	"testing"
)

// natsKeyRe is the NATS key-value key syntax (nats.go's validKeyRe), with
// its rules about '.' checked apart.
var natsKeyRe = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func validNATSKey(k string) bool {
	return natsKeyRe.MatchString(k) && !strings.HasPrefix(k, ".") && !strings.HasSuffix(k, ".") && !strings.Contains(k, "..")
}

func TestKeyEncoding(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, key string }{
		{"db1", "db1"},
		{"a.b", "a=2Eb"},
		{"a..b.", "a=2E=2Eb=2E"},
		{"SHA256:ab+c/d", "SHA256=3Aab=2Bc=2Fd"},
		{"x=y", "x=3Dy"},
		{"é", "=C3=A9"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := encodeKey(c.in); got != c.key {
				t.Errorf("encodeKey(%q) = %q, want %q", c.in, got, c.key)
			}
			if got, err := decodeKey(c.key); err != nil || got != c.in {
				t.Errorf("decodeKey(%q) = %q, %v", c.key, got, err)
			}
		})
	}
	for _, bad := range []string{"a.b", "=2", "=zz", "=41", "a b", "=2e"} {
		if got, err := decodeKey(bad); err == nil {
			t.Errorf("decodeKey(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzKey checks that every string has a valid NATS key, that decoding
// gives the string back, and that decodeKey accepts only the keys
// encodeKey writes.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"db1", "a.b", "a..b.", "SHA256:ab+c/d", "=2E", "é", "\x00"} {
		f.Add(s)
		f.Add(encodeKey(s))
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := encodeKey(s)
		if s != "" && !validNATSKey(k) {
			t.Fatalf("encodeKey(%q) = %q, not a valid NATS key", s, k)
		}
		if got, err := decodeKey(k); err != nil || got != s {
			t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", s, got, err)
		}
		if got, err := decodeKey(s); err == nil && encodeKey(got) != s {
			t.Fatalf("decodeKey(%q) = %q, which encodes to %q", s, got, encodeKey(got))
		}
	})
}
