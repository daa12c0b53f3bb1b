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

// python runs a short Python script with a deadline and returns its
// output.
func python(ctx context.Context, t *testing.T, script string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("needs python3")
	}
	out, _ := exec.CommandContext(ctx, py, "-c", script).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// TestForwardAbortsBothWays (issue 14's bug): through `forward -L`, a
// failure at either end reaches the other as a failure, never as a clean
// end. The far side's upstream resets: the local peer sees a reset (it
// saw EOF behind cmd's own splice). The local peer resets: the far side's
// upstream sees a reset.
func TestForwardAbortsBothWays(t *testing.T) {
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "client", "node")
	node := "127.0.0.1:" + freePort(t)
	rstPort, recvPort := freePort(t), freePort(t)
	trust(t, hw, home("node"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["node"], "node", "--addr", node)
	result := filepath.Join(t.TempDir(), "far-side")
	// rstPort resets every connection after reading a byte; recvPort
	// records how each connection ended.
	startNS(t, "", "ready", "python3", "-c", fmt.Sprintf(`
import socket, struct, threading
def rst(c):
    c.recv(1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
def rec(c):
    try:
        while c.recv(65536): pass
        r = "eof"
    except ConnectionResetError:
        r = "reset"
    open(%q, "w").write(r)
def serve(port, f):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(8)
    while True:
        c, _ = s.accept(); threading.Thread(target=f, args=(c,), daemon=True).start()
threading.Thread(target=serve, args=(%s, rst), daemon=True).start()
threading.Thread(target=serve, args=(%s, rec), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
`, result, rstPort, recvPort))
	startNS(t, "", "listening", hw, "serve", "--home", home("node"), "--listen", "tls://"+node,
		"--grant", "client:connect=127.0.0.1:"+rstPort, "--grant", "client:connect=127.0.0.1:"+recvPort)
	l1, l2 := freePort(t), freePort(t)
	startNS(t, "", "forwarding", hw, "forward", "--home", home("client"), "tls://"+node,
		"-L", l1+":127.0.0.1:"+rstPort, "-L", l2+":127.0.0.1:"+recvPort)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	got := python(ctx, t, fmt.Sprintf(`
import socket
c = socket.create_connection(("127.0.0.1", %s), timeout=10)
c.sendall(b"x")
try:
    while c.recv(65536): pass
    print("eof")
except ConnectionResetError:
    print("reset")
`, l1))
	if got != "reset" {
		t.Errorf("the far side's upstream reset; the local peer of -L saw %q, want reset", got)
	}

	python(ctx, t, fmt.Sprintf(`
import socket, struct, time
c = socket.create_connection(("127.0.0.1", %s), timeout=10)
c.sendall(b"some data")
time.sleep(0.3)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
`, l2))
	var far []byte
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if far, _ = os.ReadFile(result); len(far) > 0 {
			break
		}
	}
	if string(far) != "reset" {
		t.Errorf("the local peer of -L reset; the far side's upstream saw %q, want reset", far)
	}
}

// TestForwardRefusals (issue 15): a refused forward is visible. A denied
// -L connection prints one line naming the destination, the node that
// refused and the grant that would allow it; a SOCKS5 client gets "not
// allowed by ruleset" (not "granted" and then a closed connection); a
// denied -R ends the command with its reason and a non-zero status.
func TestForwardRefusals(t *testing.T) {
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "client", "node")
	node := "127.0.0.1:" + freePort(t)
	trust(t, hw, home("node"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["node"], "node", "--addr", node)
	startNS(t, "", "listening", hw, "serve", "--home", home("node"), "--listen", "tls://"+node)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	lport, sport, denied := freePort(t), freePort(t), freePort(t)
	fwd := exec.CommandContext(ctx, hw, "forward", "--home", home("client"), "tls://"+node,
		"-L", lport+":127.0.0.1:"+denied, "-D", sport)
	var stderr strings.Builder
	fwd.Stderr = &stderr
	stdout, err := fwd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { fwd.Process.Kill(); fwd.Wait() }()
	buf := make([]byte, 4096)
	for n := 0; !strings.Contains(string(buf[:n]), "SOCKS5 on"); {
		m, err := stdout.Read(buf[n:])
		if err != nil {
			t.Fatalf("forward did not start: %v\n%s", err, stderr.String())
		}
		n += m
	}

	python(ctx, t, fmt.Sprintf(`
import socket
c = socket.create_connection(("127.0.0.1", %s), timeout=10)
try:
    c.recv(1)
except Exception:
    pass
`, lport))
	code := python(ctx, t, fmt.Sprintf(`
import socket, struct
c = socket.create_connection(("127.0.0.1", %s), timeout=10)
c.sendall(b"\x05\x01\x00")
assert c.recv(2) == b"\x05\x00"
c.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", %s))
print(c.recv(10)[1])
`, sport, denied))
	if code != "2" {
		t.Errorf("SOCKS5 CONNECT denied by the node: reply code %q, want 2 (not allowed by ruleset)", code)
	}
	var lines string
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if lines = stderr.String(); strings.Count(lines, "\n") >= 2 {
			break
		}
	}
	for _, want := range []string{
		"hopwire: forward 127.0.0.1:" + lport + " -> 127.0.0.1:" + denied + ": refused by tls://" + node,
		"denied by policy for client",
		"--grant 'client:connect=127.0.0.1:" + denied + "'",
		"hopwire: socks 127.0.0.1:" + sport + " -> 127.0.0.1:" + denied + ": refused by tls://" + node,
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("forward's stderr lacks %q:\n%s", want, lines)
		}
	}

	out, err := exec.CommandContext(ctx, hw, "forward", "--home", home("client"), "tls://"+node,
		"-R", "127.0.0.1:"+freePort(t)+":127.0.0.1:1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "denied by policy") || strings.Contains(string(out), "remote forwarding") {
		t.Errorf("a denied -R: %v\n%s\n(want a non-zero exit with the reason, and no success line)", err, out)
	}
}

// TestSocksAuth (issue 19, "Complete proxies"): a -D proxy off loopback is
// refused without authentication; with --proxy-auth it asks for a username
// and password (RFC 1929), lets the right pair through and turns a wrong
// one away.
func TestSocksAuth(t *testing.T) {
	hw, _ := binaries(t)
	home, fp := homes(t, hw, "client", "node")
	node := "127.0.0.1:" + freePort(t)
	trust(t, hw, home("node"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["node"], "node", "--addr", node)
	echo := "127.0.0.1:" + freePort(t)
	echoIn(t, "", echo)
	startNS(t, "", "listening", hw, "serve", "--home", home("node"), "--listen", "tls://"+node, "--grant", "client:connect="+echo)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	sport := freePort(t)
	out, err := run(ctx, "", hw, "forward", "--home", home("client"), "tls://"+node, "-D", "0.0.0.0:"+sport)
	if err == nil || !strings.Contains(out, "--proxy-auth") {
		t.Fatalf("-D off loopback without authentication: %v\n%s", err, out)
	}
	users := filepath.Join(t.TempDir(), "socks-users")
	os.WriteFile(users, []byte("# who may use the proxy\nalice:s3cret\n"), 0o644)
	if out, err := run(ctx, "", hw, "forward", "--home", home("client"), "tls://"+node, "-D", "0.0.0.0:"+sport, "--proxy-auth", users); err == nil || !strings.Contains(out, "chmod 600") {
		t.Fatalf("a --proxy-auth file others can read: %v\n%s", err, out)
	}
	os.Chmod(users, 0o600)
	startNS(t, "", "SOCKS5 on", hw, "forward", "--home", home("client"), "tls://"+node, "-D", "0.0.0.0:"+sport, "--proxy-auth", users)
	_, eport, _ := net.SplitHostPort(echo)
	socks := func(user, pass string) string {
		return python(ctx, t, fmt.Sprintf(`
import socket, struct
c = socket.create_connection(("127.0.0.1", %s), timeout=10)
c.sendall(b"\x05\x02\x00\x02")
assert c.recv(2) == b"\x05\x02", "the proxy did not ask for a password"
u, p = %q.encode(), %q.encode()
c.sendall(bytes([1, len(u)]) + u + bytes([len(p)]) + p)
st = c.recv(2)
if st[1] != 0:
    print("refused", st[1]); raise SystemExit
c.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", %s))
r = c.recv(10)
c.sendall(b"ping")
print("reply", r[1], c.recv(4).decode())
`, sport, user, pass, eport))
	}
	if got := socks("alice", "s3cret"); got != "reply 0 ping" {
		t.Fatalf("the right username and password: %q", got)
	}
	if got := socks("alice", "guess"); !strings.HasPrefix(got, "refused ") {
		t.Fatalf("a wrong password: %q", got)
	}
}

// TestForwardUDP (issue 19): a DNS query by the real dig through `-L
// …/udp` reaches a DNS server behind the node and its answer comes back;
// the flow closes after --udp-idle.
func TestForwardUDP(t *testing.T) {
	hw, _ := binaries(t)
	dig := needTool(t, "dig", "bind9-dnsutils")
	home, fp := homes(t, hw, "client", "node")
	node := "127.0.0.1:" + freePort(t)
	trust(t, hw, home("node"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["node"], "node", "--addr", node)
	dnsPort := freePort(t)
	// A DNS server that answers every A query with 10.1.2.3.
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("needs python3")
	}
	startNS(t, "", "ready", py, "-u", "-c", fmt.Sprintf(`
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", %s)); print("ready", flush=True)
while True:
    q, a = s.recvfrom(512)
    hdr = q[:2] + b"\x81\x80" + q[4:6] + q[4:6] + b"\x00\x00\x00\x00"
    end = q.index(b"\x00", 12) + 5
    ans = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([10, 1, 2, 3])
    s.sendto(hdr + q[12:end] + ans, a)
`, dnsPort))
	startNS(t, "", "listening", hw, "serve", "--home", home("node"), "--listen", "tls://"+node, "--grant", "client:connect=127.0.0.1:"+dnsPort)
	local := freePort(t)
	startNS(t, "", "forwarding udp", hw, "forward", "--home", home("client"), "tls://"+node, "--udp-idle", "2s", "-L", local+":127.0.0.1:"+dnsPort+"/udp")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for i := range 3 {
		out, err := exec.CommandContext(ctx, dig, "+short", "+time=5", "+tries=1", "-p", local, "@127.0.0.1", fmt.Sprintf("host%d.example.test", i)).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "10.1.2.3" {
			t.Fatalf("dig through -L …/udp: %v\n%s", err, out)
		}
	}
}

// TestProxiesWithCurl (issue 19): the real curl through -H (HTTP: a plain
// request, and a CONNECT tunnel with -p) and -D (SOCKS5), each off
// loopback with a username and password, reaches a web server behind the
// node; a wrong password is refused.
func TestProxiesWithCurl(t *testing.T) {
	hw, _ := binaries(t)
	curl := needTool(t, "curl", "curl")
	home, fp := homes(t, hw, "client", "node")
	node := "127.0.0.1:" + freePort(t)
	trust(t, hw, home("node"), "--authorized", fp["client"], "client")
	trust(t, hw, home("client"), "--known", fp["node"], "node", "--addr", node)
	web := t.TempDir()
	os.WriteFile(filepath.Join(web, "index.html"), []byte("behind the node\n"), 0o644)
	webPort := freePort(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("needs python3")
	}
	startNS(t, "", "Serving HTTP", py, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", web, webPort)
	startNS(t, "", "listening", hw, "serve", "--home", home("node"), "--listen", "tls://"+node, "--grant", "client:connect=127.0.0.1:"+webPort)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("alice:s3cret\n"), 0o600)
	hport, sport := freePort(t), freePort(t)
	startNS(t, "", "HTTP proxy on", hw, "forward", "--home", home("client"), "tls://"+node,
		"--proxy-auth", users, "-H", "0.0.0.0:"+hport, "-D", "0.0.0.0:"+sport)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	url := "http://127.0.0.1:" + webPort + "/"
	for name, args := range map[string][]string{
		"http":         {"-x", "http://alice:s3cret@127.0.0.1:" + hport, url},
		"http-connect": {"-p", "-x", "http://alice:s3cret@127.0.0.1:" + hport, url},
		"socks5":       {"--socks5-hostname", "127.0.0.1:" + sport, "-U", "alice:s3cret", url},
	} {
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--max-time", "20"}, args...)...).CombinedOutput()
		if err != nil || string(out) != "behind the node\n" {
			t.Errorf("curl %s: %v\n%s", name, err, out)
		}
	}
	out, _ := exec.CommandContext(ctx, curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", "http://alice:guess@127.0.0.1:"+hport, url).Output()
	if string(out) != "407" {
		t.Errorf("curl with a wrong password: status %q, want 407", out)
	}
}
