package directory

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the package's dependencies to the standard library and
// the NATS client's modules (STYLE.md: be slow to add dependencies), and
// out of the rest of hopwire, which sits above it or beside it.
func TestDeps(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{
		"github.com/hopwire/hopwire/relay/directory",
		"github.com/nats-io/nats.go", "github.com/nats-io/nkeys", "github.com/nats-io/nuid",
		"github.com/klauspost/compress",           // nats.go's websocket compression
		"golang.org/x/crypto", "golang.org/x/sys", // nkeys
	}
	for _, dep := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(dep, "/")
		if !strings.Contains(first, ".") {
			continue // the standard library
		}
		ok := false
		for _, a := range allowed {
			if dep == a || strings.HasPrefix(dep, a+"/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("imports %s", dep)
		}
	}
}
