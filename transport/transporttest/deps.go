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

// StdlibOnly fails t if a non-test Go file in the current directory imports
// anything but the standard library: transports are leaves of the module
// (STYLE.md §1), and they take no third-party dependencies either. The
// transports' own shared internals (transport/internal/..., themselves
// standard library only) are allowed.
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
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") && !strings.HasPrefix(path, SharedInternal) {
				t.Errorf("%s imports %s; a transport may import the standard library only", name, path)
			}
		}
	}
}
