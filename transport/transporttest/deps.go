package transporttest

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// SharedInternal is the import path prefix of the packages the transports
// share (transport/internal/...); they are leaves too.
const SharedInternal = "github.com/hopwire/hopwire/transport/internal/"

// Shell is the module's one POSIX shell quoter, a standard-library-only
// leaf that the ssh (remote command lines) and stdio (command names in
// errors) transports use.
const Shell = "github.com/hopwire/hopwire/internal/shell"

// Leaf reports whether path is one of the module's own packages that a
// transport may import: the transports' shared internals and
// internal/shell, each of them standard library only (their own tests and
// TestLayers hold them to that).
func Leaf(path string) bool {
	return strings.HasPrefix(path, SharedInternal) || path == Shell
}

// StdlibOnly fails t if a non-test Go file in the current directory imports
// anything but the standard library: transports are leaves of the module
// (STYLE.md §1), and they take no third-party dependencies either. The
// module's standard-library-only leaves that [Leaf] names are allowed.
func StdlibOnly(t *testing.T) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no Go files in the current directory")
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") && !Leaf(path) {
				t.Errorf("%s imports %s; a transport may import the standard library only", name, path)
			}
		}
	}
}
