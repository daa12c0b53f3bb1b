package certs

import (
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testFP returns a distinct canonical fingerprint for s.
func testFP(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func TestLoadFingerprints(t *testing.T) {
	t.Parallel()
	a, b, c, d := testFP("a"), testFP("b"), testFP("c"), testFP("d")
	content := "# known nodes\n" +
		"\n" +
		a + " r1\n" +
		"   " + strings.TrimPrefix(b, "SHA256:") + "   # no name, no prefix\n" +
		a + " r1-alias # second name\n" +
		a + " r1\n" + // duplicate
		c + "\r\n" + // CRLF
		"\t# indented comment\n" +
		strings.ToLower("SHA256:") + strings.TrimPrefix(d, "SHA256:") + " d#comment right after" // no final newline
	path := filepath.Join(t.TempDir(), "known_nodes")
	os.WriteFile(path, []byte(content), 0o600)
	s, err := LoadFingerprints(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q", s.Path())
	}
	for _, fp := range []string{a, b, c, d, strings.TrimPrefix(a, "SHA256:")} {
		if !s.Contains(fp) {
			t.Errorf("Contains(%s) = false", fp)
		}
	}
	if s.Contains(testFP("e")) || s.Contains("garbage") || s.Contains("") {
		t.Error("Contains reports an absent fingerprint")
	}
	if got := s.Names(a); !slices.Equal(got, []string{"r1", "r1-alias"}) {
		t.Errorf("Names(a) = %q", got)
	}
	if got := s.Names(b); got != nil {
		t.Errorf("Names(b) = %q, want nil", got)
	}
	if got := s.Names(d); !slices.Equal(got, []string{"d"}) {
		t.Errorf("Names(d) = %q", got)
	}
	s.Names(a)[0] = "changed"
	if s.Names(a)[0] != "r1" {
		t.Error("Names returns the store's own slice")
	}
}

func TestLoadFingerprintsMissing(t *testing.T) {
	t.Parallel()
	s, err := LoadFingerprints(filepath.Join(t.TempDir(), "nope"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Contains(testFP("a")) {
		t.Error("empty store contains something")
	}
	var zero FingerprintStore
	if zero.Contains(testFP("a")) || zero.Names(testFP("a")) != nil {
		t.Error("zero store contains something")
	}
}

func TestLoadFingerprintsErrors(t *testing.T) {
	t.Parallel()
	a := testFP("a")
	for _, tc := range []struct{ name, content, want string }{
		{"bad fingerprint", a + "\nSHA256:short r2\n", ":2: certs: invalid fingerprint"},
		{"unknown option", "\n\n" + a + " r1 extra\n", `:3: unknown option "extra"`},
		{"bad address", a + " r1 addr=10.0.0.1\n", ":1: bad address"},
		{"reserved name", a + " stdio\n", ":1: certs: invalid name"},
		{"bad name", a + " a/b\n", ":1: certs: invalid name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "f")
			os.WriteFile(path, []byte(tc.content), 0o600)
			_, err := LoadFingerprints(path)
			if err == nil || !strings.Contains(err.Error(), path+tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, path+tc.want)
			}
		})
	}
}

func TestAddFingerprint(t *testing.T) {
	t.Parallel()
	a, b := testFP("a"), testFP("b")
	path := filepath.Join(t.TempDir(), "sub", "authorized")
	steps := []struct {
		fp, name string
	}{
		{a, "alice"},
		{a, "alice"},                           // same line again
		{strings.TrimPrefix(a, "SHA256:"), ""}, // already there, any name
		{"sha256:" + a[7:] + "=", "alice"},     // other spelling, same entry
		{a, "alice2"},                          // a new name for a
		{b, ""},                                // no name
		{b, ""},                                // again
	}
	for _, st := range steps {
		if err := AddFingerprint(path, st.fp, st.name); err != nil {
			t.Fatalf("AddFingerprint(%q, %q): %v", st.fp, st.name, err)
		}
	}
	data, _ := os.ReadFile(path)
	want := a + " alice\n" + a + " alice2\n" + b + "\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	if m := mode(t, path); m != 0o600 {
		t.Errorf("mode %#o, want 0600", m)
	}
	if m := mode(t, filepath.Dir(path)); m != 0o700 {
		t.Errorf("dir mode %#o, want 0700", m)
	}

	for _, bad := range [][2]string{{"junk", "x"}, {a, "a b"}, {a, "-x"}} {
		if err := AddFingerprint(path, bad[0], bad[1]); err == nil {
			t.Errorf("AddFingerprint(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

func TestAddFingerprintExistingFile(t *testing.T) {
	t.Parallel()
	a, b := testFP("a"), testFP("b")
	dir := t.TempDir()

	path := filepath.Join(dir, "no-newline")
	os.WriteFile(path, []byte("# mine\n"+a+" r1"), 0o600)
	if err := AddFingerprint(path, b, "r2"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if want := "# mine\n" + a + " r1\n" + b + " r2\n"; string(data) != want {
		t.Errorf("file %q, want %q", data, want)
	}

	broken := filepath.Join(dir, "broken")
	os.WriteFile(broken, []byte("junk\n"), 0o600)
	if err := AddFingerprint(broken, b, "r2"); err == nil || !strings.Contains(err.Error(), broken+":1:") {
		t.Errorf("err = %v, want one naming %s:1", err, broken)
	}
	if data, _ := os.ReadFile(broken); string(data) != "junk\n" {
		t.Errorf("broken file changed to %q", data)
	}
}

func TestStoreFollowsFile(t *testing.T) {
	t.Parallel()
	a, b := testFP("a"), testFP("b")
	path := filepath.Join(t.TempDir(), "authorized")
	s, err := LoadFingerprints(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Contains(a) {
		t.Fatal("empty store contains a")
	}
	AddFingerprint(path, a, "alice")
	if !s.Contains(a) {
		t.Error("store did not see an added entry")
	}
	os.WriteFile(path, []byte(b+" bob\n"), 0o600)
	if s.Contains(a) || !s.Contains(b) {
		t.Error("store did not see a rewritten file")
	}
	os.WriteFile(path, []byte("junk\n"), 0o600)
	if ok, err := s.lookup(b); ok || err == nil {
		t.Errorf("broken file: lookup = %v, %v; want false and the parse error", ok, err)
	}
	os.WriteFile(path, []byte(b+"\n"), 0o600)
	if ok, err := s.lookup(b); !ok || err != nil {
		t.Errorf("repaired file: lookup = %v, %v", ok, err)
	}
	os.Remove(path)
	if s.Contains(b) {
		t.Error("store did not see the file removed")
	}
}

func FuzzParseStore(f *testing.F) {
	a := testFP("a")
	for _, s := range []string{"", "#x\n", a + " r1\n", a + "\n" + a + " r2 # c\n", a + " r1 r2\n", "SHA256:x",
		a + " r1 addr=10.0.0.1:7443,[::1]:7443\n", a + " ops shared\n" + a + " ops addr=h.example:1 shared\n", a + " r1 addr=\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		d, err := parseStore([]byte(data), "f")
		if err != nil {
			return
		}
		for fp, e := range d.entries {
			for _, ad := range e.addrs {
				if n, err := normAddr(ad); err != nil || n != ad {
					t.Fatalf("address %q is not normalised (%q, %v)", ad, n, err)
				}
			}
			names := e.names
			if got, err := ParseFingerprint(fp); err != nil || got != fp {
				t.Fatalf("entry %q is not canonical", fp)
			}
			for i, n := range names {
				if checkName(n) != nil || slices.Index(names, n) != i {
					t.Fatalf("names %q: invalid or duplicate %q", names, n)
				}
			}
		}
	})
}
