//go:build soak && linux

package relay

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
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

// The linkflood PoC of the security review (F6), in a soak: a peer with no
// grant opens 30 links to a node, each with 130 data streams that no call
// names, and writes 256 KiB on each (smux's initial window). The node runs
// in a child process (this test binary, as TestSoakLinkFloodNode), so that
// its RSS is its own. The test reports the node's RSS before and during
// the flood, and another peer's ping round trip unloaded and under the
// flood; it fails only if the node's RSS grows by more than 256 MiB (issue
// 13's criterion).
//
//	go test -tags soak -run 'TestSoakLinkFlood$' -v ./relay/
//
// It uses only API that predates the budgets, so that the same file gives
// the figures of an older node.
func TestSoakLinkFlood(t *testing.T) {
	const (
		links   = 30
		streams = 130
		size    = 256 << 10
		hold    = 10 * time.Second
	)
	dir := t.TempDir()
	node, err := certs.LoadOrCreate(filepath.Join(dir, "node"), "node")
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := newIdentity(t, "alice"), newIdentity(t, "bob")

	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakLinkFloodNode$")
	cmd.Env = append(os.Environ(), floodNodeEnv+"="+dir, floodPinnedEnv+"="+alice.Fingerprint()+","+bob.Fingerprint())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	url := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("the node did not start")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	n := &testNode{id: node, url: url}
	target := mustAddr(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	rb, err := dialer(bob, n).Dial(ctx, nil, target)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	pings := func(d time.Duration) []time.Duration {
		var out []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			rtt, err := rb.Target().Ping(ctx)
			if err != nil {
				t.Errorf("bob's ping: %v", err)
				return out
			}
			out = append(out, rtt)
		}
		return out
	}
	unloaded := pings(3 * time.Second)
	base := rss(t, cmd.Process.Pid)

	// The flood.
	start := time.Now()
	da := dialer(alice, n)
	payload := make([]byte, size)
	var keep []*hop.Route
	refused := 0
	var firstRefusal error
	for range links {
		r, err := da.Dial(ctx, nil, target)
		if err != nil {
			refused++
			if firstRefusal == nil {
				firstRefusal = err
			}
			continue
		}
		keep = append(keep, r)
		l := r.Target().Link()
		for range streams {
			var tok [8]byte
			rand.Read(tok[:])
			s, err := l.OpenStream(ctx, session.KindData, tok[:])
			if err != nil {
				t.Fatal(err)
			}
			go s.Write(payload)
		}
	}
	sent := time.Since(start)
	var mu sync.Mutex
	peak := base
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				v := rss(t, cmd.Process.Pid)
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
		}
	}()
	loaded := pings(hold)
	close(stop)
	<-sampled
	for _, r := range keep {
		r.Close()
	}
	mu.Lock()
	delta := peak - base
	mu.Unlock()
	report := fmt.Sprintf("node RSS %d MiB before, %d MiB at peak (+%d MiB); alice: %d links up, %d refused (%v), %d×%d×%d KiB sent in %v; bob's ping median/p90 unloaded %v/%v, under the flood %v/%v (%d pings)",
		base>>20, (base+delta)>>20, delta>>20, len(keep), refused, firstRefusal, len(keep), streams, size>>10, sent.Round(time.Millisecond),
		quantile(unloaded, 0.5), quantile(unloaded, 0.9), quantile(loaded, 0.5), quantile(loaded, 0.9), len(loaded))
	t.Log(report)
	fmt.Println("FLOOD:", report)
	if delta > 256<<20 {
		t.Errorf("the node's RSS grew by %d MiB, more than 256 MiB", delta>>20)
	}
}

const (
	floodNodeEnv   = "HOPWIRE_SOAK_FLOOD_NODE"
	floodPinnedEnv = "HOPWIRE_SOAK_FLOOD_PINNED"
)

// TestSoakLinkFloodNode is TestSoakLinkFlood's node: a node with default
// options and no grants, serving until its stdin closes.
func TestSoakLinkFloodNode(t *testing.T) {
	dir := os.Getenv(floodNodeEnv)
	if dir == "" {
		t.Skip("run by TestSoakLinkFlood")
	}
	id, err := certs.LoadOrCreate(filepath.Join(dir, "node"), "node")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(&Options{Name: "node", Identity: id, Listen: []string{"tls://127.0.0.1:0"},
		Trust: certs.Trust{Pinned: strings.Split(os.Getenv(floodPinnedEnv), ",")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fmt.Println("ADDR", srv.Addrs()[0])
	bufio.NewReader(os.Stdin).ReadString(0) // until the parent closes it
}

// rss returns a process's resident set size in bytes, or 0.
func rss(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Error(err)
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Error(err)
			}
			return kb << 10
		}
	}
	t.Error("no VmRSS")
	return 0
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))].Round(10 * time.Microsecond)
}
