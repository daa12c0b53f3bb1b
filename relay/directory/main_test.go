package directory

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/internal/lockedbuf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// natsServer is a real nats-server process (Debian's package), with
// JetStream storing in a directory of the test's, so that it can be killed
// and started again on the same port with its data.
type natsServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	js   bool
	conf string // a configuration file (-c), or ""
	URL  string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *lockedbuf.Buffer
}

// needNATS returns the nats-server binary. Without it the test fails in CI
// (CI set, as .ci/run does, which installs it) and skips elsewhere, like
// integration's needTool.
func needNATS(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("nats-server")
	if err == nil {
		return p
	}
	msg := "needs nats-server: apt-get install -y nats-server (.ci/run installs it)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this fails rather than skips")
	}
	t.Skip(msg)
	return ""
}

// startNATS starts a server with JetStream on a free loopback port;
// t.Cleanup kills it.
func startNATS(t testing.TB) *natsServer {
	t.Helper()
	return startNATSWith(t, true)
}

// startNATSWith starts a server with JetStream or without.
func startNATSWith(t testing.TB, js bool) *natsServer {
	t.Helper()
	return startNATSConf(t, js, "")
}

// startNATSConf starts a server with a configuration file besides.
func startNATSConf(t testing.TB, js bool, conf string) *natsServer {
	t.Helper()
	s := &natsServer{t: t, bin: needNATS(t), dir: t.TempDir(), js: js, conf: conf, port: freePort(t)}
	s.URL = fmt.Sprintf("nats://127.0.0.1:%d", s.port)
	s.start()
	t.Cleanup(s.kill)
	return s
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs the server and waits until it is ready for clients.
func (s *natsServer) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &lockedbuf.Buffer{}
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(s.port)}
	if s.js {
		args = append(args, "-js", "-sd", s.dir)
	}
	if s.conf != "" {
		args = append(args, "-c", s.conf)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd, s.out = cmd, out
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Server is ready") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			s.cmd = nil
			s.t.Fatalf("nats-server did not become ready:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL, as a crash would.
func (s *natsServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// eventually polls cond every 20 ms until it holds or within has passed.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ctxFor returns a context of the test's bounded by d.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// natsCluster is n nats-server processes forming one JetStream cluster
// on loopback.
type natsCluster struct {
	servers []*natsServer
	URL     string // every server's URL, comma-separated
}

// startNATSCluster starts n servers in one cluster and waits for each to
// be ready for clients (JetStream may still be electing its leader).
func startNATSCluster(t testing.TB, n int) *natsCluster {
	t.Helper()
	ports, routes := make([]int, n), make([]int, n)
	for i := range n {
		ports[i], routes[i] = freePort(t), freePort(t)
	}
	c := &natsCluster{}
	var urls []string
	for i := range n {
		var rs []string
		for j := range n {
			if j != i {
				rs = append(rs, fmt.Sprintf("nats://127.0.0.1:%d", routes[j]))
			}
		}
		dir := t.TempDir()
		conf := filepath.Join(dir, "nats.conf")
		text := fmt.Sprintf("server_name: n%d\njetstream { store_dir: %q }\ncluster {\n  name: hopwire\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n",
			i+1, filepath.Join(dir, "js"), routes[i], strings.Join(rs, ", "))
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &natsServer{t: t, bin: needNATS(t), dir: dir, port: ports[i], conf: conf, URL: fmt.Sprintf("nats://127.0.0.1:%d", ports[i])}
		s.start()
		t.Cleanup(s.kill)
		c.servers = append(c.servers, s)
		urls = append(urls, s.URL)
	}
	c.URL = strings.Join(urls, ",")
	return c
}
