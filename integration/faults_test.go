//go:build integration && linux

package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/relay"
)

// Issue 6's network fault scenarios, with the real binary in namespaces:
// client (ns0) → r1 (ns1) → r2 (ns2) → target (ns3), where r1 reaches r2
// through a fault proxy running beside r2.

var (
	faultProxyOnce sync.Once
	faultProxyBin  string
	faultProxyErr  error
)

func faultProxyBinary(t *testing.T) string {
	t.Helper()
	binaries(t) // makes binDir
	faultProxyOnce.Do(func() {
		faultProxyBin = filepath.Join(binDir, "faultproxy")
		cmd := exec.Command("go", "build", "-o", faultProxyBin, "./faultproxy")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			faultProxyErr = fmt.Errorf("build faultproxy: %v\n%s", err, out)
		}
	})
	if faultProxyErr != nil {
		t.Fatal(faultProxyErr)
	}
	return faultProxyBin
}

// faultProxy is a running integration/faultproxy process.
type faultProxy struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string
}

// startFaultProxy runs a fault proxy in ns from listen to target.
func startFaultProxy(t *testing.T, ns, listen, target string, extra ...string) *faultProxy {
	t.Helper()
	args := append([]string{"netns", "exec", ns, faultProxyBinary(t), "-listen", listen, "-target", target}, extra...)
	cmd := exec.Command("ip", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, stdin: stdin, lines: make(chan string, 16)}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	l := p.next()
	if !strings.HasPrefix(l, "ready") {
		t.Fatalf("fault proxy: %q", l)
	}
	t.Logf("fault proxy in %s: %s", ns, l) // carries the seed
	return p
}

func (p *faultProxy) next() string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatal("the fault proxy exited")
		}
		return l
	case <-time.After(10 * time.Second):
		p.t.Fatal("the fault proxy did not answer")
	}
	return ""
}

// do sends a command and returns once the proxy has applied it.
func (p *faultProxy) do(cmd string) time.Time {
	p.t.Helper()
	fmt.Fprintln(p.stdin, cmd)
	if l := p.next(); l != "ok "+cmd {
		p.t.Fatalf("fault proxy %q: %q", cmd, l)
	}
	return time.Now()
}

// faultChain is the four-namespace chain with r1 → r2 through a proxy.
type faultChain struct {
	hw, client string
	ns         []string
	home       func(string) string
	r1, r2     string // r2 as the client dials it: through the proxy
	r2direct   string
	target     string
	echo       string
	proxy      *faultProxy
	r1cmd      *exec.Cmd
	r2cmd      *exec.Cmd
	r2args     []string
	states     map[string]string // node → state socket
}

func newFaultChain(t *testing.T) *faultChain {
	hw, client := binaries(t)
	ns, addr := segmented(t, 4)
	dir := t.TempDir()
	fc := &faultChain{hw: hw, client: client, ns: ns, home: func(n string) string { return filepath.Join(dir, n) },
		states: map[string]string{}}
	fp := map[string]string{}
	for _, n := range []string{"client", "r1", "r2", "target"} {
		fp[n] = identity(t, hw, fc.home(n), n)
		fc.states[n] = filepath.Join(dir, n+".state")
	}
	at := map[string][]string{
		"r1":     {"--addr", net.JoinHostPort(addr(1, 0), "7443")},
		"r2":     {"--addr", net.JoinHostPort(addr(2, 1), "7443"), "--addr", net.JoinHostPort(addr(2, 1), "7444")}, // direct, and through the fault proxy
		"target": {"--addr", net.JoinHostPort(addr(3, 2), "7443")},
	}
	for _, n := range []string{"r1", "r2", "target"} {
		trust(t, hw, fc.home(n), "--authorized", fp["client"], "client")
		trust(t, hw, fc.home("client"), "--known", fp[n], n, at[n]...)
	}
	fc.r1 = "tls://" + net.JoinHostPort(addr(1, 0), "7443")
	fc.r2direct = "tls://" + net.JoinHostPort(addr(2, 1), "7443")
	fc.r2 = "tls://" + net.JoinHostPort(addr(2, 1), "7444")
	fc.target = "tls://" + net.JoinHostPort(addr(3, 2), "7443")
	fc.echo = net.JoinHostPort(addr(3, 2), "9000")
	echoIn(t, ns[3], fc.echo)
	startNS(t, ns[3], "listening", hw, "serve", "--home", fc.home("target"), "--listen", fc.target,
		"--grant", "client:connect="+fc.echo, "--grant", "client:classic", "--state", fc.states["target"])
	fc.r2args = []string{hw, "serve", "--home", fc.home("r2"), "--listen", fc.r2direct, "--keepalive", "1s",
		"--grant", "client:connect=" + net.JoinHostPort(addr(3, 2), "7443"), "--state", fc.states["r2"]}
	fc.r2cmd = startNS(t, ns[2], "listening", fc.r2args...)
	fc.proxy = startFaultProxy(t, ns[2], net.JoinHostPort(addr(2, 1), "7444"), net.JoinHostPort(addr(2, 1), "7443"))
	fc.r1cmd = startNS(t, ns[1], "listening", hw, "serve", "--home", fc.home("r1"), "--listen", fc.r1, "--keepalive", "1s",
		"--grant", "client:connect="+net.JoinHostPort(addr(2, 1), "7443"),
		"--grant", "client:connect="+net.JoinHostPort(addr(2, 1), "7444"), "--state", fc.states["r1"])
	return fc
}

// transfer starts the chain client with n streams of size bytes through
// jump; it returns once every stream has passed mark (if mark > 0) and a
// function that waits for the client's exit and returns its output.
func (fc *faultChain) transfer(t *testing.T, ctx context.Context, jump string, streams int, size int64, mark float64, extra ...string) func() (string, error) {
	t.Helper()
	args := append([]string{"netns", "exec", fc.ns[0], fc.client, "-home", fc.home("client"), "-J", jump,
		"-target", fc.target, "-forward", fc.echo, "-streams", strconv.Itoa(streams), "-bytes", strconv.FormatInt(size, 10),
		"-mark", strconv.FormatFloat(mark, 'f', -1, 64)}, extra...)
	cmd := exec.CommandContext(ctx, "ip", args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	marked := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if sc.Text() == "mark" {
				once.Do(func() { close(marked) })
			}
		}
	}()
	wait := func() (string, error) {
		<-done
		err := cmd.Wait()
		return out.String() + errOut.String(), err
	}
	if mark > 0 {
		select {
		case <-marked:
		case <-done:
			o, err := wait()
			t.Fatalf("the client ended before the mark: %v\n%s", err, o)
		case <-time.After(2 * time.Minute):
			t.Fatal("no mark in 2 minutes")
		}
	}
	return wait
}

var failedAt = regexp.MustCompile(`stream (\d+) failed at (\d+) after (\d+) bytes \(prefix intact: (true|false)\): (.*)`)

// checkFailures asserts every one of streams failed with an intact prefix
// (never a clean end), and returns the latest failure time.
func checkFailures(t *testing.T, out string, streams int) time.Time {
	t.Helper()
	ms := failedAt.FindAllStringSubmatch(out, -1)
	if len(ms) != streams {
		t.Fatalf("%d of %d streams failed; every affected stream must end with an error:\n%s", len(ms), streams, out)
	}
	var last time.Time
	for _, m := range ms {
		if m[4] != "true" {
			t.Errorf("stream %s: the bytes received are not a prefix of those sent: %s", m[1], m[0])
		}
		if strings.Contains(m[5], "EOF") && !strings.Contains(m[5], "unexpected EOF") {
			t.Errorf("stream %s ended with EOF: %s", m[1], m[5])
		}
		ns, _ := strconv.ParseInt(m[2], 10, 64)
		if at := time.Unix(0, ns); at.After(last) {
			last = at
		}
	}
	return last
}

// pingWithin checks that a new chain through jump works within d.
func (fc *faultChain) pingWithin(t *testing.T, ctx context.Context, jump string, d time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		ctx1, cancel := context.WithTimeout(ctx, d)
		out, err := inNS(ctx1, fc.ns[0], fc.hw, "ping", "--home", fc.home("client"), "-J", jump, fc.target)
		cancel()
		if err == nil {
			t.Logf("a new chain works %v after the fault ended", time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > d {
			t.Fatalf("no new chain within %v: %v\n%s", d, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Scenario 2 (RST and blackhole; the SIGKILL case is TestKillMiddleRelay):
// every affected stream ends with an error and an exact prefix, noticed
// within 100 ms of an RST and within the keepalive timeout + 1 s of a
// blackhole; a new chain works within 2 s once the path is back.
func TestScenario2_RSTAndBlackhole(t *testing.T) {
	fc := newFaultChain(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	jump := fc.r1 + "," + fc.r2
	const streams = 4

	t.Run("rst", func(t *testing.T) {
		wait := fc.transfer(t, ctx, jump, streams, 256<<20, 0.3)
		injected := fc.proxy.do("rst")
		out, err := wait()
		if err == nil {
			t.Fatalf("the transfer succeeded across an RST:\n%s", out)
		}
		took := checkFailures(t, out, streams).Sub(injected)
		t.Logf("every stream failed within %v of the RST", took.Round(time.Millisecond))
		if took > 100*time.Millisecond {
			t.Errorf("noticed %v after the RST, want ≤ 100ms", took)
		}
		fc.pingWithin(t, ctx, jump, 2*time.Second)
	})

	t.Run("blackhole", func(t *testing.T) {
		const keepalive = time.Second // the client's; timeout 3×
		wait := fc.transfer(t, ctx, jump, streams, 256<<20, 0.3, "-keepalive", keepalive.String())
		injected := fc.proxy.do("blackhole")
		out, err := wait()
		if err == nil {
			t.Fatalf("the transfer succeeded across a blackhole:\n%s", out)
		}
		took := checkFailures(t, out, streams).Sub(injected)
		t.Logf("every stream failed within %v of the blackhole", took.Round(time.Millisecond))
		if limit := 3*keepalive + time.Second; took > limit {
			t.Errorf("noticed %v after the blackhole, want ≤ %v", took, limit)
		}
		fc.proxy.do("forward")
		fc.pingWithin(t, ctx, jump, 2*time.Second)
	})

	// The relays are back to their baseline: no session, stream or
	// process left from the broken chains.
	for _, n := range []string{"r1", "r2"} {
		waitBaseline(t, ctx, fc.hw, fc.states[n], n)
	}
}

// waitBaseline waits until a node's state shows no sessions, streams or
// children.
func waitBaseline(t *testing.T, ctx context.Context, hw, sock, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := nodeState(t, ctx, hw, sock)
		if st.Sessions == 0 && st.Streams == 0 && st.Children == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not return to baseline: %+v", name, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rss returns a process's resident set and its peak so far, in bytes.
func rss(t *testing.T, pid int) (now, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			now = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return now, peak
}

// Scenario 1: 1 GiB over 8 streams through two relays, every stream's
// SHA-256 equal, and neither relay's resident memory grows by more than
// 32 MiB while it forwards.
func TestScenario1_GiBOver8Streams(t *testing.T) {
	fc := newFaultChain(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	before := map[string]int64{}
	for n, cmd := range map[string]*exec.Cmd{"r1": fc.r1cmd, "r2": fc.r2cmd} {
		before[n], _ = rss(t, cmd.Process.Pid)
	}
	const streams, each = 8, 128 << 20
	out, err := fc.transfer(t, ctx, fc.r1+","+fc.r2direct, streams, each, 0)()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.Count(out, " ok\n"); got != streams || !strings.Contains(out, fmt.Sprintf("forward %d bytes ok", streams*each)) {
		t.Fatalf("%d of %d streams verified:\n%s", got, streams, out)
	}
	t.Log(strings.TrimSpace(out[strings.LastIndex(out, "forward"):]))
	for n, cmd := range map[string]*exec.Cmd{"r1": fc.r1cmd, "r2": fc.r2cmd} {
		_, peak := rss(t, cmd.Process.Pid)
		growth := peak - before[n]
		t.Logf("%s: RSS %d MiB before, peak %d MiB (growth %d MiB)", n, before[n]>>20, peak>>20, growth>>20)
		if growth > 32<<20 {
			t.Errorf("%s grew by %d MiB forwarding 1 GiB, want ≤ 32 MiB", n, growth>>20)
		}
	}
}

// gcPressure is scenario 3: relays run with GOGC=1 (a collection at every
// turn) while forwarding; runs transfers of streams×size bytes must all
// arrive whole, none short or corrupted (xtaci/smux#116 was a stream
// closed by a finalizer mid-copy).
func gcPressure(t *testing.T, runs, streams int, size int64) {
	t.Setenv("GOGC", "1") // inherited by the relays startNS runs
	fc := newFaultChain(t)
	t.Setenv("GOGC", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	for i := range runs {
		out, err := fc.transfer(t, ctx, fc.r1+","+fc.r2direct, streams, size, 0)()
		if err != nil || strings.Count(out, " ok\n") != streams {
			t.Fatalf("run %d under GOGC=1: %v\n%s", i, err, out)
		}
	}
	for _, n := range []string{"r1", "r2"} {
		waitBaseline(t, ctx, fc.hw, fc.states[n], n)
	}
}

func TestScenario3_GCPressure(t *testing.T) { gcPressure(t, 10, 4, 4<<20) }

// nodeState reads a node's state socket.
func nodeState(t *testing.T, ctx context.Context, hw, sock string) relay.State {
	t.Helper()
	out, err := exec.CommandContext(ctx, hw, "state", "--gc", sock).Output()
	if err != nil {
		t.Fatalf("state %s: %v", sock, err)
	}
	var st relay.State
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("state %s: %v\n%s", sock, err, out)
	}
	return st
}

// clientDeaths is scenario 9 with the real binary: cycles of clients that
// end gracefully, are SIGKILLed while a remote command runs, or lose their
// path to an RST mid-forward; afterwards every node is back to its
// baseline: no session, stream or child process (the remote commands of
// killed clients are killed and reaped), goroutines and descriptors as
// before.
func clientDeaths(t *testing.T, cycles int) {
	fc := newFaultChain(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	jump := fc.r1 + "," + fc.r2
	// One chain first, so lazily started goroutines are in the baseline.
	fc.pingWithin(t, ctx, jump, 5*time.Second)
	nodes := []string{"r1", "r2", "target"}
	base := map[string]relay.State{}
	for _, n := range nodes {
		waitBaseline(t, ctx, fc.hw, fc.states[n], n)
		base[n] = nodeState(t, ctx, fc.hw, fc.states[n])
	}
	for i := range cycles {
		switch i % 3 {
		case 0: // graceful: a call and a stream
			fc.pingWithin(t, ctx, jump, 5*time.Second)
		case 1: // SIGKILL of a client whose remote command runs
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", fc.ns[0], fc.hw, "exec", "--home", fc.home("client"),
				"-J", jump, fc.target, "sh", "-c", "echo started; exec sleep 300")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			if strings.TrimSpace(line) != "started" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("cycle %d: the remote command did not start: %q", i, line)
			}
			if st := nodeState(t, ctx, fc.hw, fc.states["target"]); st.Children < 1 {
				t.Fatalf("cycle %d: the target shows no child while a command runs: %+v", i, st)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		case 2: // the path resets under a running transfer
			wait := fc.transfer(t, ctx, jump, 2, 64<<20, 0.1)
			fc.proxy.do("rst")
			if out, err := wait(); err == nil {
				t.Fatalf("cycle %d: a transfer survived an RST:\n%s", i, out)
			}
		}
	}
	for _, n := range nodes {
		waitBaseline(t, ctx, fc.hw, fc.states[n], n)
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := nodeState(t, ctx, fc.hw, fc.states[n])
			if st.FDs <= base[n].FDs && st.Goroutines <= base[n].Goroutines+2 && st.Refs == 0 &&
				st.HeapAlloc <= base[n].HeapAlloc+2<<20 {
				t.Logf("%s after %d cycles: %d goroutines (baseline %d), %d fds (%d), heap %d KiB (%d)", n, cycles,
					st.Goroutines, base[n].Goroutines, st.FDs, base[n].FDs, st.HeapAlloc>>10, base[n].HeapAlloc>>10)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not back to baseline after %d cycles:\nnow  %+v\nbase %+v", n, cycles, st, base[n])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func TestScenario9_ClientDeaths(t *testing.T) { clientDeaths(t, 6) }
