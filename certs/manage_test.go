package certs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRename(t *testing.T) {
	dir := t.TempDir()
	id, err := LoadOrCreate(dir, "vm")
	if err != nil {
		t.Fatal(err)
	}
	re, err := Rename(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	if re.Name() != "client" || re.Fingerprint() != id.Fingerprint() {
		t.Fatalf("renamed to %s %s, was %s %s", re.Name(), re.Fingerprint(), id.Name(), id.Fingerprint())
	}
	again, err := LoadOrCreate(dir, "")
	if err != nil || again.Name() != "client" {
		t.Fatalf("%v %v", again, err)
	}
	if _, err := Rename(dir, "bad name"); err == nil {
		t.Fatal("a bad name was accepted")
	}
	// A CA-issued certificate is not re-signed.
	ca, err := InitCA(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	issued := t.TempDir()
	if err := ca.IssueToDir(issued, "id", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Rename(issued, "other"); err == nil || !strings.Contains(err.Error(), "issued by a CA") {
		t.Fatalf("CA-issued renamed: %v", err)
	}
}

func TestReadRemoveEntries(t *testing.T) {
	a, b := "SHA256:"+strings.Repeat("A", 43), "SHA256:"+strings.Repeat("B", 42)+"A"
	path := filepath.Join(t.TempDir(), "known_nodes")
	orig := "# fleet\n" + a + " r1 addr=R1.example:7443,10.0.0.1:1 # relay\n" + b + " pool shared\n" + a + " r1b\n"
	os.WriteFile(path, []byte(orig), 0o600)
	es, err := ReadEntries(path)
	if err != nil || len(es) != 3 {
		t.Fatalf("%v %v", es, err)
	}
	if es[0].Name != "r1" || strings.Join(es[0].Addrs, ",") != "r1.example:7443,10.0.0.1:1" || !es[1].Shared {
		t.Fatalf("%+v", es)
	}
	n, err := RemoveEntries(path, a)
	if err != nil || n != 2 {
		t.Fatalf("removed %d: %v", n, err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "# fleet\n"+b+" pool shared\n" {
		t.Fatalf("left %q", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if n, err := RemoveEntries(path, a); n != 0 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	if es, err := ReadEntries(filepath.Join(t.TempDir(), "none")); es != nil || err != nil {
		t.Fatalf("missing file: %v %v", es, err)
	}
}
