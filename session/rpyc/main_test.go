package rpyc

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// needPython skips the test unless python3 with RPyC (Debian's
// python3-rpyc) is installed.
func needPython(t testing.TB) string {
	t.Helper()
	py := pythonPath()
	if py == "" {
		t.Skip("python3 not installed: apt-get install python3-rpyc to run the RPyC interop tests")
	}
	if err := exec.Command(py, "-c", "import rpyc").Run(); err != nil {
		t.Skipf("%s has no rpyc module: apt-get install python3-rpyc to run the RPyC interop tests", py)
	}
	return py
}

// pythonPath is $HOPWIRE_PYTHON, else the system python3 (where Debian's
// python3-rpyc lives, whatever pyenv puts first on PATH), else python3.
func pythonPath() string {
	if p := os.Getenv("HOPWIRE_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, _ := exec.LookPath("python3")
	return p
}

// startPython runs testdata/pyserver.py MODE and returns the server's
// address. The process ends (stdin closed, then waited for) when the test
// does.
func startPython(t testing.TB, mode string, tlsFiles ...string) string {
	t.Helper()
	py := needPython(t)
	cmd := exec.Command(py, append([]string{"testdata/pyserver.py", mode}, tlsFiles...)...)
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
		t.Fatalf("pyserver %s did not start: %v\n%s", mode, err, stderr.String())
	}
	return "127.0.0.1:" + strings.TrimSpace(line)
}

// dialPython connects to a fresh Python server of the given mode.
func dialPython(t testing.TB, mode string, opts *Options) *Conn {
	t.Helper()
	addr := startPython(t, mode)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
