package rpyc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestClassicSeed(t *testing.T) {
	seedScenario(t, dialPython(t, "classic", nil))
}

// seedScenario reads modules.sys.path, lists a directory with
// modules.os.listdir and modules.os.stat, and opens a missing file to get
// FileNotFoundError as a Go error, over c (a classic server).
func seedScenario(t *testing.T, c *Conn) {
	ctx := testCtx(t)
	k, err := NewClassic(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := k.Module(ctx, "sys")
	if err != nil {
		t.Fatal(err)
	}
	pv, err := sys.Getattr(ctx, "path")
	if err != nil {
		t.Fatal(err)
	}
	pl, ok := pv.(*Ref)
	if !ok || pl.TypeName() != "builtins.list" {
		t.Fatalf("sys.path = %#v", pv)
	}
	items, err := pl.Items(ctx)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := As[[]string](items)
	if err != nil || len(paths) == 0 {
		t.Fatalf("sys.path items %v: %v", items, err)
	}
	t.Logf("sys.path = %q", paths)

	dir := t.TempDir()
	for _, n := range []string{"a.txt", "b.bin"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n+"-content"), 0o644)
	}
	osm, err := k.Module(ctx, "os")
	if err != nil {
		t.Fatal(err)
	}
	lv, err := osm.CallAttr(ctx, "listdir", dir)
	if err != nil {
		t.Fatal(err)
	}
	names, err := lv.(*Ref).Items(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 {
		t.Fatalf("listdir = %v", names)
	}
	for _, n := range names {
		st, err := osm.CallAttr(ctx, "stat", filepath.Join(dir, n.(string)))
		if err != nil {
			t.Fatal(err)
		}
		size, err := st.(*Ref).Getattr(ctx, "st_size")
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(len(n.(string) + "-content")); size != want {
			t.Errorf("st_size of %s = %v, want %d", n, size, want)
		}
	}
	bi, err := k.Builtins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// INSPECT, CMP and CTXEXIT, which the seed scenario doesn't need.
	if m, err := pl.Methods(ctx); err != nil || m["append"] == "" {
		t.Errorf("Methods(list) = %d entries, %v", len(m), err)
	}
	if eq, err := pl.Cmp(ctx, pl, "__eq__"); err != nil || eq != true {
		t.Errorf("list == itself: %v, %v", eq, err)
	}
	f, err := bi.CallAttr(ctx, "open", filepath.Join(dir, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fr := f.(*Ref)
	if _, err := fr.CallAttr(ctx, "__enter__"); err != nil {
		t.Fatal(err)
	}
	if text, err := fr.CallAttr(ctx, "read"); err != nil || text != "a.txt-content" {
		t.Errorf("read = %v, %v", text, err)
	}
	if _, err := fr.Exit(ctx); err != nil {
		t.Fatal(err)
	}
	if closed, err := fr.Getattr(ctx, "closed"); err != nil || closed != true {
		t.Errorf("closed after Exit = %v, %v", closed, err)
	}
	_, err = bi.CallAttr(ctx, "open", filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open(missing) = %v, want fs.ErrNotExist", err)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Type != "FileNotFoundError" || re.Traceback == "" || !errors.Is(err, &RemoteError{Type: "OSError"}) {
		t.Fatalf("error %#v", err)
	}
	t.Logf("error: %v", err)
}
