//go:build linux

package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
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
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/internal/lockedbuf"
)

// BenchmarkForward10k's shape: its connections come from forwardLinks
// client links (each within a relay's default cap of 1024 streams per
// link) and send forwardMsg bytes each; forwardOpening bounds the
// connections being opened (up to their first echo) at once on one link,
// since a relay refuses streams beyond its accept backlog (256 by default)
// as it should under a burst. Once open they stay open together.
const (
	forwardLinks   = 16
	forwardMsg     = 1024
	forwardOpening = 64
)

// benchForwardConns is how many connections BenchmarkForward10k holds
// open at once; smaller for a quick check of the benchmark itself:
//
//	go test -run '^$' -bench Forward10k -benchtime=1x ./relay/ -args -benchforwardconns=500
var benchForwardConns = flag.Int("benchforwardconns", 10000, "connections of BenchmarkForward10k")

// BenchmarkForward10k: one op opens 10,000 connections through one relay
// — a real `hopwire serve` process, built from this tree — to an echo
// server, from 16 client links; each connection sends 1 KiB and reads it
// back, and all stay open until every one has, then all close. It fails
// unless all complete, and reports the relay's peak resident memory
// (relay-MiB, VmHWM from /proc) beside its resident memory before the
// first op (relay-base-MiB); the bound is 400 MiB. ns/op is the
// time to open, echo through and close all of them.
func BenchmarkForward10k(b *testing.B) {
	conns := *benchForwardConns
	raiseNoFile(b, uint64(conns)+2048) // each side holds one socket per connection
	hw := buildHopwire(b)
	echo := smallEcho(b)
	client := newIdentity(b, "client")
	relay := startServeProcess(b, hw, client, "client:connect="+echo)
	d := &hop.Dialer{Identity: client, Trust: func(hop.Addr) certs.Trust { return certs.Trust{Pinned: []string{relay.fp}} }}
	routes := make([]*hop.Route, forwardLinks)
	for i := range routes {
		ctx, cancel := context.WithTimeout(b.Context(), 10*time.Second)
		r, err := d.Dial(ctx, nil, mustAddr(b, relay.url))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		routes[i] = r
	}
	base := procStatusKiB(b, relay.pid, "VmRSS")
	b.ResetTimer()
	for range b.N {
		forwardRound(b, conns, routes, echo)
	}
	b.StopTimer()
	b.ReportMetric(float64(procStatusKiB(b, relay.pid, "VmHWM"))/1024, "relay-MiB")
	b.ReportMetric(float64(base)/1024, "relay-base-MiB")
}

// forwardRound opens conns connections, spread over routes, has each
// echo one message, and closes them all once all have (or failed).
func forwardRound(b *testing.B, conns int, routes []*hop.Route, echo string) {
	ctx, cancel := context.WithTimeout(b.Context(), 3*time.Minute)
	defer cancel()
	var (
		wg      sync.WaitGroup
		arrived sync.WaitGroup
		mu      sync.Mutex
		errs    = map[string]int{} // failures by message
	)
	release := make(chan struct{})
	opening := make([]chan struct{}, len(routes))
	for i := range opening {
		opening[i] = make(chan struct{}, forwardOpening)
	}
	arrived.Add(conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := i % len(routes)
			if err := forwardOne(ctx, routes[l], echo, opening[l], &arrived, release); err != nil {
				mu.Lock()
				errs[err.Error()]++
				mu.Unlock()
			}
		}()
	}
	waited := make(chan struct{})
	go func() {
		arrived.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
	}
	close(release)
	wg.Wait()
	if len(errs) > 0 {
		var msgs []string
		n := 0
		for e, k := range errs {
			msgs = append(msgs, fmt.Sprintf("%d× %s", k, e))
			n += k
		}
		slices.Sort(msgs)
		b.Fatalf("%d of %d forwarded connections failed:\n%s", n, conns, strings.Join(msgs, "\n"))
	}
}

// forwardOne is one forwarded connection: opened while holding a slot of
// opening, it marks arrived once its echo is back (or it failed) and
// stays open until release.
func forwardOne(ctx context.Context, r *hop.Route, echo string, opening chan struct{}, arrived *sync.WaitGroup, release <-chan struct{}) error {
	done := sync.OnceFunc(arrived.Done)
	defer done()
	select {
	case opening <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	// The slot is held until the echo is back: the stream is open at
	// once, the relay's connection to the echo server only later, and ten
	// thousand SYNs at once would overflow the echo server's listen queue
	// (SYNs dropped and retried for seconds) rather than test the relay.
	free := sync.OnceFunc(func() { <-opening })
	defer free()
	c, err := r.DialContext(ctx, "tcp", echo)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	msg := make([]byte, forwardMsg)
	for i := range msg {
		msg[i] = byte(i)
	}
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got := make([]byte, forwardMsg)
	if n, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read (%d bytes back): %w", n, err)
	}
	if !bytes.Equal(got, msg) {
		return errors.New("the echo differs")
	}
	free()
	done()
	select {
	case <-release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// raiseNoFile raises this process's open-file limit (inherited by the
// processes it starts) to at least n where it can, and skips b when it
// cannot reach n.
func raiseNoFile(b *testing.B, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	want := lim
	want.Cur = n
	if want.Max < n {
		want.Max = n // needs privilege
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		want = lim
		want.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
		if lim.Max < n {
			b.Skipf("skipped: needs %d open files, the hard limit is %d", n, lim.Max)
		}
	}
}

// buildHopwire builds cmd/hopwire of this tree into a temporary directory.
func buildHopwire(b *testing.B) string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		b.Skip("skipped: needs the go command on PATH to build hopwire")
	}
	out := filepath.Join(b.TempDir(), "hopwire")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/hopwire/hopwire/cmd/hopwire")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

type serveProcess struct {
	pid int
	url string // tls://127.0.0.1:PORT
	fp  string
}

// startServeProcess runs `hopwire serve` on a loopback TLS listener,
// accepting client with the given grants, until b ends.
func startServeProcess(b *testing.B, hw string, client *certs.Identity, grants ...string) *serveProcess {
	home := b.TempDir()
	if err := certs.AddFingerprint(filepath.Join(home, certs.AuthorizedFile), client.Fingerprint(), client.Name()); err != nil {
		b.Fatal(err)
	}
	args := []string{"serve", "--home", home, "--name", "relay", "--listen", "tls://127.0.0.1:0"}
	for _, g := range grants {
		args = append(args, "--grant", g)
	}
	cmd := exec.Command(hw, args...)
	var stderr lockedbuf.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	// serve prints two lines at start and nothing more on stdout.
	lines := make(chan string, 64)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads any more: drop
			}
		}
		cmd.Wait()
	}()
	p := &serveProcess{pid: cmd.Process.Pid}
	timeout := time.After(30 * time.Second)
	for p.url == "" || p.fp == "" {
		select {
		case l := <-lines:
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "listening":
				p.url = f[1]
			case len(f) == 3 && f[0] == "node":
				p.fp = f[2]
			}
		case <-exited:
			b.Fatalf("hopwire serve exited:\n%s", stderr.String())
		case <-timeout:
			b.Fatalf("hopwire serve did not start:\n%s", stderr.String())
		}
	}
	return p
}

// procStatusKiB reads a "kB" field of /proc/PID/status.
func procStatusKiB(b *testing.B, pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// smallEcho is an echo server that copies through a small buffer of its
// own: io.Copy between two TCP connections would splice(2) through a pipe,
// three descriptors per connection, which ten thousand connections cannot
// afford under a 20,000 descriptor limit.
func smallEcho(b *testing.B) string {
	return tcpServer(b, func(c net.Conn) {
		buf := make([]byte, 2048)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}
