package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/relay/relaytest"
	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// startPyClassic runs an RPyC classic server from Debian's python3-rpyc
// (session/rpyc's test peer) until the test ends; it skips without one.
func startPyClassic(t *testing.T) string { return rpyctest.StartServer(t, "classic") }

func TestRPyCCommand(t *testing.T) {
	addr := startPyClassic(t)
	dir := t.TempDir()
	os.WriteFile(dir+"/f.txt", []byte("x"), 0o644)
	for _, c := range []struct{ expr, want string }{
		{"modules.sys.platform", "linux"},
		{"modules.os.getcwd()", ""},
		{"modules.os.listdir('" + dir + "')", "['f.txt']"},
		{"modules.os.path.join('a', \"b\", 'c')", "a/b/c"},
		{"len('héllo')", "5"},
		{"modules.os.stat('" + dir + "/f.txt').st_size", "1"},
		{"modules.operator.add(1.5, 2)", "3.5"},
		{"modules.operator.add(1.5, 1.5)", "3.0"},
		{"modules.sys.version_info", ""},
		{"modules.sys.version_info.major", "3"},
	} {
		out, errOut, code := runCmd(t, "rpyc", addr, c.expr)
		if code != 0 {
			t.Errorf("rpyc %s: exit %d: %s", c.expr, code, errOut)
			continue
		}
		if out = strings.TrimSuffix(out, "\n"); c.want != "" && out != c.want {
			t.Errorf("rpyc %s = %q, want %q", c.expr, out, c.want)
		}
	}
	_, errOut, code := runCmdErr(t, "rpyc", addr, "open('/nonexistent/hopwire')")
	if code != 1 || !strings.Contains(errOut, "FileNotFoundError") {
		t.Errorf("open(missing): exit %d, %s", code, errOut)
	}
	for _, bad := range []string{"", "modules.", "os.getcwd(", "f(x)", "a..b", "modules"} {
		if _, _, code := runCmd(t, "rpyc", addr, bad); code != 2 {
			t.Errorf("rpyc %q: exit %d, want 2", bad, code)
		}
	}
}

// TestRPyCCommandChain reaches the server through -J r1,r2: the TCP
// connection leaves from r2.
func TestRPyCCommandChain(t *testing.T) {
	addr := startPyClassic(t)
	home := t.TempDir()
	client, err := certs.LoadOrCreate(home, "client")
	if err != nil {
		t.Fatal(err)
	}
	r2, r2id := relaytest.Start(t, "r2", client, "client:connect="+addr)
	r1, r1id := relaytest.Start(t, "r1", client, "client:connect="+strings.TrimPrefix(r2.Addrs()[0], "tls://"))
	for _, id := range []*certs.Identity{r1id, r2id} {
		if _, errOut, code := runCmd(t, "trust", "--home", home, "--known", id.Fingerprint()); code != 0 {
			t.Fatal(errOut)
		}
	}
	out, errOut, code := runCmdErr(t, "rpyc", "--home", home, "-J", r1.Addrs()[0]+","+r2.Addrs()[0], addr, "modules.sys.platform")
	if code != 0 || out != "linux\n" {
		t.Fatalf("rpyc -J: exit %d, %q, %s", code, out, errOut)
	}
}

// runCmdErr is runCmd whose stderr includes the final error message.
func runCmdErr(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	code := exitCode(err, &errb)
	return out.String(), errb.String(), code
}

// TestServeRPyC: a Python RPyC client calls the node's RPyC service, and
// cannot rewrite the node's identity that later clients see.
func TestServeRPyC(t *testing.T) {
	py := rpyctest.Python(t)
	if _, _, code := runCmd(t, "serve", "--rpyc", "192.0.2.1:1", "--listen", "tls://127.0.0.1:0"); code != 2 {
		t.Fatalf("--rpyc off loopback: exit %d, want 2", code)
	}
	home := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--home", home, "--name", "n1", "--listen", "tls://127.0.0.1:0", "--rpyc", "127.0.0.1:0"}, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	sc := bufio.NewScanner(pr)
	var addr string
	for addr == "" && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "rpyc "); ok {
			addr = a
		}
	}
	go io.Copy(io.Discard, pr)
	if addr == "" {
		t.Fatal("serve printed no rpyc address")
	}
	_, port, _ := strings.Cut(addr, ":")
	script := `
import sys, rpyc
c = rpyc.connect("127.0.0.1", int(sys.argv[1]))
assert c.root.name == "n1", c.root.name
assert c.root.echo((1, "x", b"y")) == (1, "x", b"y")
assert c.root.Fingerprint.startswith("SHA256:")
for attr in ("name", "Name", "Fingerprint"):
    try:
        setattr(c.root, attr, "evil")
    except AttributeError:
        pass
    else:
        raise AssertionError("root.%s was set" % attr)
    try:
        delattr(c.root, attr)
    except AttributeError:
        pass
    else:
        raise AssertionError("root.%s was deleted" % attr)
c2 = rpyc.connect("127.0.0.1", int(sys.argv[1]))  # a later client
assert c2.root.name == "n1", c2.root.name
assert c2.root.Fingerprint.startswith("SHA256:")
c2.close()
print(c.root.hostname())
c.close()
`
	out, err := exec.Command(py, "-c", script, port).CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	if h, _ := os.Hostname(); strings.TrimSpace(string(out)) != h {
		t.Fatalf("hostname %q", out)
	}
}

// TestRPyCCommandDialect: the default dialect reaches an RPyC 6.x
// classic server (the vendored session/rpyc/testdata/rpyc6, or $HOPWIRE_RPYC6) as well as Debian's 5.3
// (TestRPyCCommand), and a server that answers neither dialect gets an
// error that says so and names --dialect.
func TestRPyCCommandDialect(t *testing.T) {
	t.Run("6", func(t *testing.T) {
		addr := rpyctest.For(t, "6").StartServer(t, "classic")
		out, errOut, code := runCmdErr(t, "rpyc", addr, "modules.sys.platform")
		if code != 0 || out != "linux\n" {
			t.Fatalf("rpyc against 6.x: exit %d, %q, %s", code, out, errOut)
		}
	})
	t.Run("neither", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { // reads the request, then hangs up without a word
			defer close(done)
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				nc.Read(make([]byte, 64))
				nc.Close()
			}
		}()
		defer func() { ln.Close(); <-done }()
		_, errOut, code := runCmdErr(t, "rpyc", ln.Addr().String(), "modules.sys.platform")
		if code != 1 || !strings.Contains(errOut, "cannot tell which one") || !strings.Contains(errOut, "--dialect 5 or --dialect 6") || strings.Contains(errOut, "Options.") {
			t.Fatalf("rpyc against neither dialect: exit %d, %s", code, errOut)
		}
		t.Log(strings.TrimSpace(errOut))
	})
}
