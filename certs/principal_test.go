package certs

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"r1", true},
		{"node-1.example.com", true},
		{"alice@corp", true},
		{"ünïcode", true},
		{"", false},
		{"a/b", false},
		{`a\b`, false},
		{"..", false},
		{"a..b", false},
		{"a:b", false},
		{"a,b", false},
		{"a#b", false},
		{"a b", false},
		{"a\tb", false},
		{"a\u00a0b", false},
		{"a\x00b", false},
		{"a\x7fb", false},
		{"-rf", false},
		{"\xff", false},
		{strings.Repeat("a", 254), false},
	} {
		err := checkName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestShellSafe(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"r1": true, "node-1.example.com": true, "a@b": true,
		"": false, "-x": false, "$(rm)": false, "a;b": false, "'": false, "ü": false, "a|b": false, "`x`": false,
	} {
		if got := shellSafe(s); got != want {
			t.Errorf("shellSafe(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	id := selfID(t, "r1")
	fp := id.Fingerprint()
	other := selfID(t, "r2").Fingerprint()
	bare := strings.TrimPrefix(fp, "SHA256:")
	for _, tc := range []struct {
		rule, name, fp string
		want           bool
	}{
		{"*", "r1", fp, true},
		{"*", "", fp, true},
		{"*", "", "", false},
		{"r1", "r1", fp, true},
		{" r1 ", "r1", fp, true},
		{"r1", "r2", fp, false},
		{"R1", "r1", fp, false},
		{"", "", "", false},
		{"", "r1", fp, false},
		{"fp:" + fp, "x", fp, true},
		{"fp:" + bare, "x", fp, true},
		{"fp:" + fp, "x", bare, true},
		{"fp:" + fp, "r1", other, false},
		{"fp:garbage", "r1", fp, false},
		{"fp:" + fp, "r1", "", false},
		{"fp:" + fp, "fp:" + fp, "", false},
	} {
		if got := Matches(tc.rule, tc.name, tc.fp); got != tc.want {
			t.Errorf("Matches(%q, %q, %q) = %v, want %v", tc.rule, tc.name, tc.fp, got, tc.want)
		}
	}
}

func TestPeerFromState(t *testing.T) {
	t.Parallel()
	if n, f := PeerFromState(tls.ConnectionState{}); n != "" || f != "" {
		t.Errorf("no peer: got %q, %q", n, f)
	}
	id := selfID(t, "r1")
	n, f := PeerFromState(tls.ConnectionState{PeerCertificates: []*x509.Certificate{id.Certificate()}})
	if n != "r1" || f != id.Fingerprint() {
		t.Errorf("got %q, %q; want r1, %s", n, f, id.Fingerprint())
	}
}
