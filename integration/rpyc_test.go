//go:build integration && linux

package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pyClassicIn runs an RPyC classic server (Debian's python3-rpyc) at addr
// in a namespace.
func pyClassicIn(t *testing.T, ns, addr string) {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import rpyc").Run(); err != nil {
		t.Skip("needs python3-rpyc (apt-get install python3-rpyc)")
	}
	host, port, _ := net.SplitHostPort(addr)
	script := fmt.Sprintf(`
import threading, time
from rpyc.utils.server import ThreadedServer
from rpyc.core.service import SlaveService
s = ThreadedServer(SlaveService, hostname=%q, port=%s)
threading.Thread(target=s.start, daemon=True).start()
while not s.active:
    time.sleep(0.01)
print("ready", flush=True)
threading.Event().wait()
`, host, port)
	startNS(t, ns, "ready", py, "-c", script)
}

// TestRPyCSegmented: `hopwire rpyc -J r1,r2` reaches a Python RPyC server
// that only r2 can reach, and runs the seed scenario's steps.
func TestRPyCSegmented(t *testing.T) {
	hw, _ := binaries(t)
	ns, addr := segmented(t, 3) // client, r1, r2 (exit)
	dir := t.TempDir()
	home := func(n string) string { return filepath.Join(dir, n) }
	fp := map[string]string{}
	for _, n := range []string{"client", "r1", "r2"} {
		fp[n] = identity(t, hw, home(n), n)
	}
	for i, n := range []string{"r1", "r2"} {
		trust(t, hw, home(n), "--authorized", fp["client"], "client")
		trust(t, hw, home("client"), "--known", fp[n], n, "--addr", net.JoinHostPort(addr(i+1, i), "7443"))
	}
	r1 := "tls://" + net.JoinHostPort(addr(1, 0), "7443")
	r2 := "tls://" + net.JoinHostPort(addr(2, 1), "7443")
	pyAddr := net.JoinHostPort(addr(2, 1), "18812")
	pyClassicIn(t, ns[2], pyAddr)
	startNS(t, ns[2], "listening", hw, "serve", "--home", home("r2"), "--listen", r2, "--grant", "client:connect="+pyAddr)
	startNS(t, ns[1], "listening", hw, "serve", "--home", home("r1"), "--listen", r1,
		"--grant", "client:connect="+net.JoinHostPort(addr(2, 1), "7443"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rpyc := func(expr string) (string, error) {
		return inNS(ctx, ns[0], hw, "rpyc", "--home", home("client"), "-J", r1+","+r2, pyAddr, expr)
	}

	if out, err := inNS(ctx, ns[0], hw, "rpyc", "--timeout", "3s", pyAddr, "modules.sys.platform"); err == nil {
		t.Fatalf("the client reached the RPyC server directly: %s", out)
	}
	if out, err := rpyc("modules.sys.platform"); err != nil || out != "linux\n" {
		t.Fatalf("platform: %v %q", err, out)
	}
	if out, err := rpyc("modules.sys.path"); err != nil || !strings.HasPrefix(out, "[") {
		t.Fatalf("sys.path: %v %q", err, out)
	}
	os.WriteFile(filepath.Join(dir, "seen.txt"), []byte("12345"), 0o644)
	if out, err := rpyc("modules.os.listdir('" + dir + "')"); err != nil || !strings.Contains(out, "'seen.txt'") {
		t.Fatalf("listdir: %v %q", err, out)
	}
	if out, err := rpyc("modules.os.stat('" + filepath.Join(dir, "seen.txt") + "').st_size"); err != nil || out != "5\n" {
		t.Fatalf("stat: %v %q", err, out)
	}
	out, err := rpyc("open('/nonexistent/hopwire')")
	if err == nil || !strings.Contains(out, "FileNotFoundError") {
		t.Fatalf("open(missing): %v %q", err, out)
	}
}
