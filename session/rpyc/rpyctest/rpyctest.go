// Package rpyctest runs the Python side of hopwire's RPyC interop tests:
// Debian's python3-rpyc (5.3, the version .ci/run installs) and RPyC 6.x
// (the copy vendored in session/rpyc/testdata/rpyc6, or the one
// $HOPWIRE_RPYC6 names), behind session/rpyc/testdata/pyserver.py and
// pyclient.py. Tests without a python3 with rpyc are skipped, with how to
// get it.
package rpyctest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Env6 names the directory that holds an RPyC 6.x package (its rpyc/
// directory): a checkout of github.com/tomerfiliba-org/rpyc at a 6.x tag,
// or the site-packages of a virtualenv where pip installed rpyc 6. It is
// put first on PYTHONPATH for the python of [Path]. Unset, the 6.x tests
// use the RPyC 6.0.1 vendored in session/rpyc/testdata/rpyc6 (no 6.x is
// packaged by Debian).
const Env6 = "HOPWIRE_RPYC6"

// Path returns the Python the tests run, "" if there is none:
// $HOPWIRE_PYTHON, else the system python3 (where Debian's python3-rpyc
// lives, whatever pyenv puts first on PATH), else python3 on PATH.
func Path() string {
	if p := os.Getenv("HOPWIRE_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, _ := exec.LookPath("python3")
	return p
}

// Python returns [Path] if it has the rpyc module, and skips t otherwise.
func Python(t testing.TB) string {
	t.Helper()
	return For(t, "5").Python
}

// Lines are the RPyC release lines the interop tests run against, in
// the names [For] takes.
var Lines = []string{"5", "6"}

// A Peer is a Python with an RPyC of one release line.
type Peer struct {
	Line    string   // "5" or "6"
	Version string   // rpyc.__version__, e.g. "5.3.0"
	Python  string   // the interpreter
	Env     []string // its environment (PYTHONPATH for a 6.x tree)
}

var (
	versionsMu sync.Mutex
	versions   = map[string]string{} // PYTHONPATH → rpyc.__version__, "" if none
)

// For returns the peer of line: "5" is the python of [Path] with its own
// rpyc (Debian's python3-rpyc), "6" the same python with $HOPWIRE_RPYC6,
// or else testdata/rpyc6, first on PYTHONPATH. It skips t when the line
// is not available, and fails it when that directory holds no 6.x.
func For(t testing.TB, line string) *Peer {
	t.Helper()
	py := Path()
	if py == "" {
		t.Skip("python3 not installed: apt-get install python3-rpyc to run the RPyC interop tests")
	}
	// No __pycache__ in testdata (nor in a tree someone else owns).
	env := append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	pythonPath := ""
	if line == "6" {
		pythonPath = os.Getenv(Env6)
		if pythonPath == "" {
			pythonPath = Testdata("rpyc6")
		}
		if old := os.Getenv("PYTHONPATH"); old != "" {
			pythonPath += string(os.PathListSeparator) + old
		}
		env = append(env, "PYTHONPATH="+pythonPath)
	}
	versionsMu.Lock()
	v, ok := versions[pythonPath]
	if !ok {
		cmd := exec.Command(py, "-c", "import rpyc; print(rpyc.__version__)")
		cmd.Env = env
		out, err := cmd.Output()
		if err == nil {
			v = strings.TrimSpace(string(out))
		}
		versions[pythonPath] = v
	}
	versionsMu.Unlock()
	switch {
	case line == "6" && !strings.HasPrefix(v, "6."):
		t.Fatalf("%s finds rpyc %q in %s, not a 6.x (set $%s to an RPyC 6.x tree)", py, v, pythonPath, Env6)
	case v == "":
		t.Skipf("%s has no rpyc module: apt-get install python3-rpyc to run the RPyC interop tests", py)
	case line == "5" && !strings.HasPrefix(v, "5."):
		t.Skipf("%s has rpyc %s, not a 5.x", py, v)
	}
	return &Peer{Line: line, Version: v, Python: py, Env: env}
}

// Command runs python with args under the peer's environment.
func (p *Peer) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.Python, args...)
	cmd.Env = p.Env
	return cmd
}

// Testdata returns the path of a file in session/rpyc/testdata.
func Testdata(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", name)
}

// StartServer runs pyserver.py under Debian's python3-rpyc; see
// [Peer.StartServer].
func StartServer(t testing.TB, args ...string) string {
	t.Helper()
	return For(t, "5").StartServer(t, args...)
}

// StartServer runs pyserver.py with args (a mode: "classic", "service",
// …, then the mode's arguments) until the test ends, and returns the
// address it listens on. The server ends when its stdin closes; it is
// killed if it has not 10s later. Its stderr is logged if the test fails.
func (p *Peer) StartServer(t testing.TB, args ...string) string {
	t.Helper()
	cmd := p.Command(context.Background(), append([]string{Testdata("pyserver.py")}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("pyserver (rpyc %s) stderr:\n%s", p.Version, stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("pyserver %s (rpyc %s) did not start: %v\n%s", strings.Join(args, " "), p.Version, err, stderr.String())
	}
	return "127.0.0.1:" + strings.TrimSpace(line)
}
