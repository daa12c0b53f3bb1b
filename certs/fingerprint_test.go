package certs

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseFingerprint(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("x"))
	raw := base64.RawStdEncoding.EncodeToString(sum[:])
	canon := "SHA256:" + raw
	short := base64.RawStdEncoding.EncodeToString(sum[:31])
	long := base64.RawStdEncoding.EncodeToString(append(sum[:], 0))
	// The last character of 32 bytes carries 2 padding bits; setting them
	// gives a string that lenient decoders accept but is not canonical.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", raw[42])
	sloppy := raw[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last|1])

	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"canonical", canon, true},
		{"no prefix", raw, true},
		{"lower-case prefix", "sha256:" + raw, true},
		{"padded", canon + "=", true},
		{"surrounding space", "  " + canon + "\n", true},
		{"empty", "", false},
		{"prefix only", "SHA256:", false},
		{"31 bytes", "SHA256:" + short, false},
		{"33 bytes", "SHA256:" + long, false},
		{"url-safe alphabet", "SHA256:" + strings.Repeat("_", 42) + "w", false},
		{"non-zero padding bits", "SHA256:" + sloppy, false},
		{"double padding", canon + "==", false},
		{"inner space", "SHA256:" + raw[:10] + " " + raw[10:], false},
		{"other algorithm", "MD5:" + raw, false},
		{"hex", strings.Repeat("ab:", 31) + "ab", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFingerprint(tc.in)
			if !tc.ok {
				if err == nil {
					t.Errorf("ParseFingerprint(%q) = %q, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != canon {
				t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", tc.in, got, err, canon)
			}
		})
	}
}

func TestParseFingerprintAlphabet(t *testing.T) {
	t.Parallel()
	ones := "SHA256:" + strings.Repeat("/", 42) + "w" // 32 bytes of 0xff
	if got, err := ParseFingerprint(ones); err != nil || got != ones {
		t.Errorf("ParseFingerprint(%q) = %q, %v", ones, got, err)
	}
}

func FuzzParseFingerprint(f *testing.F) {
	sum := sha256.Sum256(nil)
	raw := base64.RawStdEncoding.EncodeToString(sum[:])
	for _, s := range []string{raw, "SHA256:" + raw, "sha256:" + raw + "=", "", "SHA256:", "SHA256:AAAA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(got, "SHA256:") || len(got) != len("SHA256:")+43 {
			t.Fatalf("ParseFingerprint(%q) = %q: not canonical", s, got)
		}
		if again, err := ParseFingerprint(got); err != nil || again != got {
			t.Fatalf("ParseFingerprint(%q) = %q, %v; not idempotent", got, again, err)
		}
	})
}
