package relay

import "testing"

// FuzzParseGrant parses policy grants: no panic, and a grant that parses
// prints as a grant that parses to the same.
func FuzzParseGrant(f *testing.F) {
	for _, s := range []string{
		"alice:connect=10.1.0.0/16:22", "*:connect=*", "fp:SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:exec=/bin/*",
		"bob:register", "bob:register=agent-*", "carol:classic=eval", "dave:forward-remote=127.0.0.1:8000-9000",
		"e:connect=example.com:443", "f:connect=[::1]:22",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGrant(s)
		if err != nil {
			return
		}
		g2, err := ParseGrant(g.String())
		if err != nil {
			t.Fatalf("ParseGrant(%q) prints as %q, which does not parse: %v", s, g.String(), err)
		}
		if g2.String() != g.String() {
			t.Fatalf("ParseGrant(%q): %q then %q", s, g.String(), g2.String())
		}
	})
}
