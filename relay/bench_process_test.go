package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
)

// The real-process benchmarks measure chains the way users run them: each
// node a `hopwire serve` process and the client a `hopwire forward -L`
// process, on loopback, against OpenSSH's ssh -L / ssh -J with private
// sshd instances and the same cipher (aes128-gcm) on every hop. The
// in-process rows (BenchmarkChain*) put every node in the test process,
// which shares one scheduler and flatters round trips; these do not.

// hopwireBin is the hopwire binary the real-process benchmarks run, built
// once per test process (CGO_ENABLED=0, as released).
var hopwireBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func hopwireBinary(b testing.TB) string {
	b.Helper()
	hopwireBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "hopwire-bench-bin-")
		if err != nil {
			hopwireBin.err = err
			return
		}
		hopwireBin.dir = dir
		path := filepath.Join(dir, "hopwire")
		cmd := exec.Command("go", "build", "-o", path, "github.com/hopwire/hopwire/cmd/hopwire")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			hopwireBin.err = fmt.Errorf("go build: %v: %s", err, out)
			return
		}
		hopwireBin.path = path
	})
	if hopwireBin.err != nil {
		b.Skipf("skipped: the real-process benchmarks need the hopwire binary: %v", hopwireBin.err)
	}
	return hopwireBin.path
}

// removeHopwireBinary removes the built binary (TestMain, after the run).
func removeHopwireBinary() {
	if hopwireBin.dir != "" {
		os.RemoveAll(hopwireBin.dir)
	}
}

// procChain is a chain of real processes in front of a destination: the
// dialer of its local forward, and the process groups whose peak memory
// the benchmark reports (nodes: hopwire serve or sshd).
type procChain struct {
	dial  chainDialer
	nodes []int // process group ids of the nodes
}

// procVariant is one sub-benchmark of the real-process benchmarks.
type procVariant struct {
	name  string
	chain func(testing.TB, string) *procChain
}

// procVariants: hopwire and OpenSSH with 2, 1 and 0 relays (jump hosts),
// each pair interleaved by name so -count rounds alternate them; then the
// floor of each shape (plainProcChain), and the direct shape's crypto
// ceiling (tlsFloorProcChain).
var procVariants = []procVariant{
	{"hopwire", hopwireProcChain(2)},
	{"openssh", opensshProcChain(2)},
	{"hopwire-1jump", hopwireProcChain(1)},
	{"openssh-1jump", opensshProcChain(1)},
	{"hopwire-0jump", hopwireProcChain(0)},
	{"openssh-0jump", opensshProcChain(0)},
	{"floor", plainProcChain(2)},
	{"floor-1jump", plainProcChain(1)},
	{"floor-0jump", plainProcChain(0)},
	{"tlsfloor-0jump", tlsFloorProcChain()},
}

// hopwireCLI runs the hopwire binary with args and returns its stdout.
func hopwireCLI(b testing.TB, args ...string) string {
	b.Helper()
	cmd := exec.Command(hopwireBinary(b), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		b.Fatalf("hopwire %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// hopwireHomes makes a client and relays+1 nodes (r1, r2, …, target) with
// identities, each node authorizing the client and the client knowing each
// node at its address; it returns the client's home, the nodes' homes and
// their tls:// addresses.
func hopwireHomes(b testing.TB, relays int) (client string, homes, addrs []string) {
	dir := b.TempDir()
	client = filepath.Join(dir, "client")
	cfp := strings.Fields(hopwireCLI(b, "--home", client, "id", "--name", "client"))[0]
	for i := range relays + 1 {
		name := fmt.Sprintf("r%d", i+1)
		if i == relays {
			name = "target"
		}
		home := filepath.Join(dir, name)
		fp := strings.Fields(hopwireCLI(b, "--home", home, "id", "--name", name))[0]
		hopwireCLI(b, "--home", home, "trust", "--authorized", cfp, "client")
		addr := net.JoinHostPort("127.0.0.1", freeTCPPort(b, "127.0.0.1"))
		hopwireCLI(b, "--home", client, "trust", "--known", fp, name, "--addr", addr)
		homes, addrs = append(homes, home), append(addrs, addr)
	}
	return client, homes, addrs
}

// startHopwireNodes starts `hopwire serve` for each home, each granting
// the client a connect to the next node (the last: to dest) and the extra
// grants, and returns their process group ids.
func startHopwireNodes(b testing.TB, homes, addrs []string, dest string, extra ...string) []int {
	var pgids []int
	for i := len(homes) - 1; i >= 0; i-- {
		next := dest
		if i < len(homes)-1 {
			next = addrs[i+1]
		}
		args := []string{"--home", homes[i], "serve", "--listen", "tls://" + addrs[i], "--grant", "client:connect=" + next}
		for _, g := range extra {
			args = append(args, "--grant", g)
		}
		cmd := exec.Command(hopwireBinary(b), args...)
		startProcess(b, "hopwire serve", cmd, addrs[i])
		pgids = append(pgids, cmd.Process.Pid)
	}
	return pgids
}

// hopwireJump is the -J argument through the relays (nil without).
func hopwireJump(addrs []string) []string {
	if len(addrs) < 2 {
		return nil
	}
	var js []string
	for _, a := range addrs[:len(addrs)-1] {
		js = append(js, "tls://"+a)
	}
	return []string{"-J", strings.Join(js, ",")}
}

// hopwireProcChain: `hopwire serve` relays and target, and a `hopwire
// forward -L` client process, each a process of its own.
func hopwireProcChain(relays int) func(testing.TB, string) *procChain {
	return func(b testing.TB, dest string) *procChain {
		client, homes, addrs := hopwireHomes(b, relays)
		nodes := startHopwireNodes(b, homes, addrs, dest)
		local := net.JoinHostPort("127.0.0.1", freeTCPPort(b, "127.0.0.1"))
		args := append([]string{"--home", client, "forward"}, hopwireJump(addrs)...)
		args = append(args, "tls://"+addrs[len(addrs)-1], "-L", local+":"+dest)
		startProcess(b, "hopwire forward", exec.Command(hopwireBinary(b), args...), local)
		return &procChain{dial: localDialer(local), nodes: nodes}
	}
}

// opensshProcChain: ssh -N -L through jumps jump hosts to the target, the
// cipher forced to aes128-gcm on every hop (the jump hops read it from
// the configuration file).
func opensshProcChain(jumps int) func(testing.TB, string) *procChain {
	return func(b testing.TB, dest string) *procChain {
		o := startOpenSSHWith(b, jumps, "Ciphers "+sshCipher)
		return &procChain{dial: o.forward(b, jumps, dest), nodes: o.pgids}
	}
}

// plainProcChain is the floor a chain of relays+2 processes stands on: as
// many plain TCP relay processes as hopwire runs for that shape (the
// client's forward, the relays, the target), each socat forwarding bytes
// with no encryption, no multiplexing and no authentication, in C with a
// poll loop. Nothing that relays through that many processes on this
// machine can answer faster or, per core, move more: each hop costs a
// process wake-up and a loopback write that runs the receiver's TCP
// stack. The round-trip goals are read against it (README, "What to
// expect").
func plainProcChain(relays int) func(testing.TB, string) *procChain {
	return func(b testing.TB, dest string) *procChain {
		if _, err := exec.LookPath("socat"); err != nil {
			b.Skip("skipped: the floor rows need socat (apt-get install socat)")
		}
		next := dest
		var pgids []int
		for range relays + 2 {
			local := net.JoinHostPort("127.0.0.1", freeTCPPort(b, "127.0.0.1"))
			cmd := exec.Command("socat", "-b", "262144",
				"TCP-LISTEN:"+portOf(local)+",bind=127.0.0.1,reuseaddr,fork,nodelay",
				"TCP:"+next+",nodelay")
			startProcess(b, "socat", cmd, local)
			pgids = append(pgids, cmd.Process.Pid)
			next = local
		}
		return &procChain{dial: localDialer(next), nodes: pgids}
	}
}

func portOf(hostport string) string {
	_, port, _ := net.SplitHostPort(hostport)
	return port
}

func localDialer(local string) chainDialer {
	return func(ctx context.Context) (net.Conn, func(), error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", local)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
}

// reportPeakRSS reports the largest peak RSS of any process of the nodes'
// groups (a hopwire serve; an sshd and its per-connection children).
func reportPeakRSS(b *testing.B, pgids []int) {
	var peak int64
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pgrp is the 3rd field after the command's closing parenthesis.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 3 {
			continue
		}
		pgrp, _ := strconv.Atoi(f[2])
		if !slices.Contains(pgids, pgrp) {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				peak = max(peak, kb)
			}
		}
	}
	if peak > 0 {
		b.ReportMetric(float64(peak)/1024, "peakRSS-MiB")
	}
}

// BenchmarkProcessThroughput: 256 MiB per op through a chain of real
// processes to a sink (a new forwarded connection per op).
func BenchmarkProcessThroughput(b *testing.B) {
	const n = 256 << 20
	for _, v := range procVariants {
		b.Run(v.name, func(b *testing.B) {
			pc := v.chain(b, sinkServer(b))
			b.SetBytes(n)
			b.ResetTimer()
			for range b.N {
				sendToSink(b, pc.dial, n)
			}
			b.StopTimer()
			reportPeakRSS(b, pc.nodes)
		})
	}
}

// rttSamples is how many round trips the percentiles of
// BenchmarkProcessRTT are taken over, at least.
const rttSamples = 2000

// BenchmarkProcessRTT: a 64-byte ping-pong through a chain of real
// processes to an echo server; ns/op is the mean, p50-ns and p99-ns the
// median and 99th percentile over at least rttSamples round trips.
func BenchmarkProcessRTT(b *testing.B) {
	for _, v := range procVariants {
		b.Run(v.name, func(b *testing.B) {
			pc := v.chain(b, echoServer(b))
			c, done, err := pc.dial(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			defer done()
			msg := make([]byte, 64)
			ping := func() time.Duration {
				t := time.Now()
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, msg); err != nil {
					b.Fatal(err)
				}
				return time.Since(t)
			}
			ping() // OpenSSH opens its channel lazily
			reportPercentiles(b, timeSamples(b, rttSamples, ping))
			reportPeakRSS(b, pc.nodes)
		})
	}
}

// BenchmarkProcessExec: a cold `hopwire exec … true` through 2 relays
// (process start, three TLS hops, the command, its exit status) beside a
// cold `ssh -J j1,j2 target true`.
func BenchmarkProcessExec(b *testing.B) {
	b.Run("hopwire", func(b *testing.B) {
		client, homes, addrs := hopwireHomes(b, 2)
		startHopwireNodes(b, homes, addrs, "127.0.0.1:9", "client:classic")
		args := append([]string{"--home", client, "exec"}, hopwireJump(addrs)...)
		args = append(args, "tls://"+addrs[len(addrs)-1], "--", "true")
		bin := hopwireBinary(b)
		b.ResetTimer()
		for range b.N {
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				b.Fatalf("hopwire exec: %v: %s", err, out)
			}
		}
	})
	b.Run("hopwire-start", func(b *testing.B) {
		// The floor of any hopwire command: starting the process
		// (`hopwire version`: the runtime and every package's init),
		// which an exec through a mux pays too.
		bin := hopwireBinary(b)
		b.ResetTimer()
		for range b.N {
			if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil {
				b.Fatalf("hopwire version: %v: %s", err, out)
			}
		}
	})
	b.Run("hopwire-mux", func(b *testing.B) {
		// The same exec, riding a `hopwire mux` that holds the chain
		// (ssh's ControlMaster): no handshake, no chain setup.
		client, homes, addrs := hopwireHomes(b, 2)
		startHopwireNodes(b, homes, addrs, "127.0.0.1:9", "client:classic")
		target := "tls://" + addrs[len(addrs)-1]
		sock := filepath.Join(b.TempDir(), "mux.sock")
		bin := hopwireBinary(b)
		mux := exec.Command(bin, append(append([]string{"--home", client, "mux", "--control", sock}, hopwireJump(addrs)...), target)...)
		mux.SysProcAttr = groupAttr()
		if err := mux.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			killGroup(mux)
			mux.Wait()
		})
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("hopwire mux did not come up")
			}
		}
		args := []string{"--home", client, "exec", "--control", sock, target, "--", "true"}
		b.ResetTimer()
		for range b.N {
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				b.Fatalf("hopwire exec --control: %v: %s", err, out)
			}
		}
	})
	b.Run("openssh", func(b *testing.B) {
		o := startOpenSSHWith(b, 2, "Ciphers "+sshCipher)
		b.ResetTimer()
		for range b.N {
			if out, err := o.sshCmd(append(o.jumpTo(2), "target", "true")...).CombinedOutput(); err != nil {
				b.Fatalf("ssh -J: %v: %s", err, out)
			}
		}
	})
}

// BenchmarkProcessPut: 1 GiB copied to the target through 2 relays with
// `hopwire put` (SHA-256 verified) beside `scp -J j1,j2`.
func BenchmarkProcessPut(b *testing.B) {
	const n = 1 << 30
	src := filepath.Join(b.TempDir(), "src")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for range n / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	b.Run("hopwire", func(b *testing.B) {
		client, homes, addrs := hopwireHomes(b, 2)
		startHopwireNodes(b, homes, addrs, "127.0.0.1:9", "client:classic")
		dst := filepath.Join(b.TempDir(), "dst")
		args := append([]string{"--home", client, "put", "-q"}, hopwireJump(addrs)...)
		args = append(args, "tls://"+addrs[len(addrs)-1], src, dst)
		bin := hopwireBinary(b)
		b.SetBytes(n)
		b.ResetTimer()
		for range b.N {
			os.Remove(dst)
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				b.Fatalf("hopwire put: %v: %s", err, out)
			}
		}
	})
	b.Run("openssh", func(b *testing.B) {
		o := startOpenSSHWith(b, 2, "Ciphers "+sshCipher)
		scp, err := exec.LookPath("scp")
		if err != nil {
			b.Skip("skipped: scp is not installed")
		}
		dst := filepath.Join(b.TempDir(), "dst")
		b.SetBytes(n)
		b.ResetTimer()
		for range b.N {
			os.Remove(dst)
			cmd := o.sshCmd(append(o.jumpTo(2), "-q", "-O", src, "target:"+dst)...) // -O: the scp protocol (the private sshd has no sftp subsystem)
			cmd.Path, cmd.Args[0] = scp, scp
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("scp -J: %v: %s", err, out)
			}
		}
	})
}

// BenchmarkProcessRPCUnderBulk is BenchmarkRPCUnderBulk as users run it:
// the relays and the target are `hopwire serve` processes, and the
// program holding the route (the calls and the transfer) is this one, as
// an application embedding hopwire would be. The call is the node
// service's Info, the cheapest call every node answers.
func BenchmarkProcessRPCUnderBulk(b *testing.B) {
	for _, jumps := range []int{2, 0} {
		suffix := ""
		if jumps == 0 {
			suffix = "-0jump"
		}
		client, homes, addrs := hopwireHomes(b, jumps)
		sink := sinkServer(b)
		startHopwireNodes(b, homes, addrs, sink)
		id, err := certs.LoadOrCreate(client, "client")
		if err != nil {
			b.Fatal(err)
		}
		pins := map[string]string{}
		for i, h := range homes {
			nid, err := certs.LoadOrCreate(h, "")
			if err != nil {
				b.Fatal(err)
			}
			pins[addrs[i]] = nid.Fingerprint()
		}
		d := &hop.Dialer{Identity: id, Trust: func(a hop.Addr) certs.Trust { return certs.Trust{Pinned: []string{pins[a.HostPort()]}} }}
		var via []hop.Addr
		for _, a := range addrs[:jumps] {
			via = append(via, mustAddr(b, "tls://"+a))
		}
		route, err := d.Dial(b.Context(), via, mustAddr(b, "tls://"+addrs[jumps]))
		if err != nil {
			b.Fatal(err)
		}
		node := route.Target().Service("node")
		underBulk(b, route, sink, suffix, func(ctx context.Context, _ int) error {
			_, err := session.Call[NodeInfo](ctx, node, "Info")
			return err
		})
		route.Close()
	}
}
