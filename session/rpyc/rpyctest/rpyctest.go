// Package rpyctest runs the Python side of hopwire's RPyC interop tests:
// Debian's python3-rpyc (the version .ci/run installs) behind
// session/rpyc/testdata/pyserver.py. Tests without it are skipped, with
// how to install it.
package rpyctest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

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
	py := Path()
	if py == "" {
		t.Skip("python3 not installed: apt-get install python3-rpyc to run the RPyC interop tests")
	}
	if err := exec.Command(py, "-c", "import rpyc").Run(); err != nil {
		t.Skipf("%s has no rpyc module: apt-get install python3-rpyc to run the RPyC interop tests", py)
	}
	return py
}

// Testdata returns the path of a file in session/rpyc/testdata.
func Testdata(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", name)
}

// StartServer runs pyserver.py with args (a mode: "classic", "service",
// …, then the mode's arguments) until the test ends, and returns the
// address it listens on. The server ends when its stdin closes; it is
// killed if it has not 10s later. Its stderr is logged if the test fails.
func StartServer(t testing.TB, args ...string) string {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, append([]string{Testdata("pyserver.py")}, args...)...)
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
			t.Logf("pyserver stderr:\n%s", stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("pyserver %s did not start: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return "127.0.0.1:" + strings.TrimSpace(line)
}
