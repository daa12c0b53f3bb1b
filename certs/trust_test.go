package certs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// resign gives id's key a new self-signed certificate with CommonName name:
// the same fingerprint under a name of the key holder's choosing (the
// security review's F1 attack).
func resign(t *testing.T, name string) (orig, forged *Identity) {
	t.Helper()
	dir := t.TempDir()
	orig, err := LoadOrCreate(dir, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "id.crt")); err != nil {
		t.Fatal(err)
	}
	forged, err = LoadOrCreate(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	if forged.Fingerprint() != orig.Fingerprint() || forged.Name() != name {
		t.Fatalf("re-signed identity is %s %s, want %s %s", forged.Fingerprint(), forged.Name(), orig.Fingerprint(), name)
	}
	return orig, forged
}

// TestPrincipalIsTheTrustFilesName: a fingerprint-trusted client is the name
// the authorized file gives its key, whatever CommonName it signs itself;
// a CommonName counts only when the CA signed it, and never one the file
// gives another key.
func TestPrincipalIsTheTrustFilesName(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	bob, forged := resign(t, "alice")
	alice := selfID(t, "alice")
	anon := selfID(t, "carol")
	authz := store(t, f.authzPath, alice)
	if err := AddFingerprint(f.authzPath, bob.Fingerprint(), "bob"); err != nil {
		t.Fatal(err)
	}
	if err := AddFingerprint(f.authzPath, anon.Fingerprint(), ""); err != nil {
		t.Fatal(err)
	}
	caAlice := issueID(t, f.ca, "alice", issueOpts{}) // the CA also issued "alice": a different key
	caDave := issueID(t, f.ca, "dave", issueOpts{})
	trust := Trust{Pool: f.ca.Pool(), Store: authz}

	for _, tc := range []struct {
		name    string
		id      *Identity
		want    string
		wantBy  string
		refused bool
	}{
		{"authorized key under its own name", alice, "alice", ByStore, false},
		{"authorized key re-signed as another principal", forged, "bob", ByStore, false},
		{"authorized key without a name", anon, "", ByStore, false},
		{"CA name the trust file gives another key", caAlice, "", ByCA, false},
		{"CA-issued name", caDave, "dave", ByCA, false},
		{"unknown key", selfID(t, "dave"), "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, s := handshake(t, mustClient(t, tc.id, Trust{Pinned: []string{f.srv.Fingerprint()}}), mustServer(t, f.srv, trust))
			if tc.refused {
				if s.err == nil {
					t.Fatal("server accepted an unknown client")
				}
				return
			}
			if c.err != nil || s.err != nil {
				t.Fatalf("handshake: client %v, server %v", c.err, s.err)
			}
			v := trust.VerifiedClient(s.state)
			if v.Principal != tc.want || v.By != tc.wantBy || v.Fingerprint != tc.id.Fingerprint() {
				t.Errorf("VerifiedClient = %+v, want principal %q by %q", v, tc.want, tc.wantBy)
			}
		})
	}
}

// TestSharedNames: two keys may have one name only when the trust file
// says the name is shared; otherwise the name is neither's.
func TestSharedNames(t *testing.T) {
	t.Parallel()
	a, b := testFP("a"), testFP("b")
	path := filepath.Join(t.TempDir(), "authorized")
	os.WriteFile(path, []byte(a+" ops\n"+b+" ops\n"), 0o600)
	s, err := LoadFingerprints(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, q := s.Principal(a), s.Principal(b); p != "" || q != "" {
		t.Errorf("an unshared name held by two keys is theirs: %q, %q", p, q)
	}
	os.WriteFile(path, []byte(a+" ops shared\n"+b+" ops shared\n"), 0o600)
	if p, q := s.Principal(a), s.Principal(b); p != "ops" || q != "ops" {
		t.Errorf("a shared name: principals %q, %q, want ops", p, q)
	}

	path2 := filepath.Join(t.TempDir(), "authorized")
	if err := AddFingerprint(path2, a, "ops"); err != nil {
		t.Fatal(err)
	}
	var taken *NameTakenError
	if err := AddFingerprint(path2, b, "ops"); !errors.As(err, &taken) || taken.Owner != a {
		t.Fatalf("second key under a taken name: err = %v, want NameTakenError naming %s", err, a)
	}
	if err := AddEntry(path2, Entry{Fingerprint: b, Name: "ops", Shared: true}); err != nil {
		t.Fatal(err)
	}
	s2, _ := LoadFingerprints(path2)
	if s2.Principal(b) != "ops" || s2.Principal(a) != "ops" {
		t.Errorf("after --shared: %q %q", s2.Principal(a), s2.Principal(b))
	}
}

// TestHopBinding: a client accepts at a hop only the node bound to it: a
// relay the client trusts cannot answer for the node behind it (F2).
func TestHopBinding(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	node1, r1, legacy, db1 := selfID(t, "node1"), selfID(t, "r1"), selfID(t, "node9.example"), selfID(t, "db1")
	path := f.knownPath
	for _, e := range []Entry{
		{Fingerprint: node1.Fingerprint(), Name: "node1", Addrs: []string{"10.0.0.2:7443"}},
		{Fingerprint: r1.Fingerprint(), Name: "r1", Addrs: []string{"10.0.0.1:7443", "[2001:DB8::1]:7443"}},
		{Fingerprint: legacy.Fingerprint(), Name: "node9.example"},
		{Fingerprint: db1.Fingerprint(), Name: "db1"},
	} {
		if err := AddEntry(path, e); err != nil {
			t.Fatal(err)
		}
	}
	known, err := LoadFingerprints(path)
	if err != nil {
		t.Fatal(err)
	}
	caR1 := issueID(t, f.ca, "r1", issueOpts{}) // SANs 127.0.0.1 and r1

	accept := func(tr Trust, id *Identity) (string, error) {
		v, err := tr.verifier(roleServer)
		if err != nil {
			t.Fatal(err)
		}
		return v.accept(id.Certificate(), nil)
	}
	var hm *HopMismatchError
	var mm *MismatchError
	var up *UnknownPeerError
	for _, tc := range []struct {
		name   string
		trust  Trust
		id     *Identity
		by     string
		check  func(error) bool
		inText []string
	}{
		{"bound node at its address", Trust{Store: known, Addr: "10.0.0.2:7443"}, node1, ByStore, nil, nil},
		{"bound node, IPv6 spelt otherwise", Trust{Store: known, Addr: "[2001:db8:0::1]:7443"}, r1, ByStore, nil, nil},
		{"trusted relay answering for the next hop", Trust{Store: known, Addr: "10.0.0.2:7443"}, r1,
			"", func(err error) bool {
				return errors.As(err, &hm) && len(hm.Want) == 1 && hm.Want[0] == node1.Fingerprint()
			},
			[]string{"10.0.0.2:7443 answered with " + r1.Fingerprint(), `("r1")`, "binds " + node1.Fingerprint(), "--addr 10.0.0.2:7443"}},
		{"bound node at another port", Trust{Store: known, Addr: "10.0.0.2:7444"}, node1,
			"", func(err error) bool { return errors.As(err, &hm) && len(hm.Want) == 0 },
			[]string{"binds to 10.0.0.2:7443, and no key to this hop", "hopwire trust --known " + node1.Fingerprint() + " node1 --addr 10.0.0.2:7444"}},
		{"unbound entry whose name is the hop's host", Trust{Store: known, Addr: "node9.example:7443"}, legacy, ByStore, nil, nil},
		{"unbound entry at an IP hop (an old file)", Trust{Store: known, Addr: "10.0.0.9:7443"}, legacy, ByUnbound, nil, nil},
		{"unbound entry where another key is bound", Trust{Store: known, Addr: "10.0.0.2:7443"}, legacy,
			"", func(err error) bool { return errors.As(err, &hm) && hm.Want[0] == node1.Fingerprint() }, nil},
		{"agent by name", Trust{Store: known, Name: "db1"}, db1, ByStore, nil, nil},
		{"relay answering for an agent", Trust{Store: known, Name: "db1"}, r1,
			"", func(err error) bool { return errors.As(err, &hm) && hm.Want[0] == db1.Fingerprint() }, nil},
		{"unknown node at a hop", Trust{Store: known, Addr: "10.0.0.5:7443"}, selfID(t, "x"),
			"", func(err error) bool { return errors.As(err, &up) && up.Hop == "10.0.0.5:7443" },
			[]string{"at 10.0.0.5:7443", "hopwire trust --known", "x --addr 10.0.0.5:7443"}},
		{"pin is exclusive", Trust{Store: known, Addr: "10.0.0.1:7443", Pinned: []string{node1.Fingerprint()}}, r1,
			"", func(err error) bool { return errors.As(err, &mm) }, []string{"does not match the pinned " + node1.Fingerprint()}},
		{"pinned node", Trust{Store: known, Addr: "10.0.0.1:7443", Pinned: []string{node1.Fingerprint()}}, node1, ByPinned, nil, nil},
		{"CA node at its IP SAN", Trust{Pool: f.ca.Pool(), Addr: "127.0.0.1:7443"}, caR1, ByCA, nil, nil},
		{"CA node by name", Trust{Pool: f.ca.Pool(), Name: "r1"}, caR1, ByCA, nil, nil},
		{"CA node at another host", Trust{Pool: f.ca.Pool(), Addr: "10.0.0.2:7443"}, caR1,
			"", func(err error) bool { return err != nil }, []string{`issued to "r1", not to this hop (10.0.0.2:7443)`}},
		{"unbound trust accepts any known node", Trust{Store: known}, r1, ByStore, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			by, err := accept(tc.trust, tc.id)
			if tc.check == nil {
				if err != nil || by != tc.by {
					t.Fatalf("accept = %q, %v; want %q", by, err, tc.by)
				}
				return
			}
			if err == nil || !tc.check(err) {
				t.Fatalf("accept = %q, %v; want a refusal of the right type", by, err)
			}
			for _, w := range tc.inText {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
