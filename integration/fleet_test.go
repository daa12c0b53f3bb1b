//go:build integration && linux

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/internal/lockedbuf"
)

// fleetLease is the relays' --fleet-lease: short, so that the test is.
const fleetLease = 3 * time.Second

// TestFleet is issue 20's acceptance test of a relay fleet, all real
// processes on one Ethernet segment of network namespaces (lan): a real
// nats-server with JetStream (the directory), three relays that share it
// (hopwire serve --directory), 50 reverse agents each given the three
// relays in a rotated order so that they spread over them, and the client
// in the host's namespace, which also holds a connection of its own
// through a forward.
//
//  1. Every agent answers a ping through each relay, and peers --fleet at
//     each relay lists all 50 with the relay each registered at.
//  2. r3 is SIGKILLed: its agents re-register at the next relay of their
//     list and answer through r1 and r2 within the lease + 5s; the held
//     connection (a forward through r1 to an agent homed at r2, across a
//     mesh link) goes on echoing, and no other agent registered again
//     (each printed one "registered as" line, and its directory entry
//     is the one it had).
//  3. nats-server is SIGKILLed for 10s: the held connection and new
//     connections through the forward's route keep working, agents homed
//     at the relay asked still answer, and a lookup of an agent homed at
//     another relay fails with one line saying the directory is
//     unavailable (as does peers --fleet). nats-server restarts on the
//     same store and port: such lookups work again within the lease + 5s,
//     the fleet lists its 50 agents, and each answers through r1 and r2.
func TestFleet(t *testing.T) {
	natsServer := needTool(t, "nats-server", "nats-server")
	hw, _ := binaries(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// The segment: the directory, r1, r2, r3, and the agents; the client
	// (this test) is the host.
	ns, addr := lan(t, 5)
	dirNS, relayNS, agentNS := ns[0], ns[1:4], ns[4]
	f := &fleetLab{t: t, hw: hw}
	names := []string{"client", "r1", "r2", "r3"}
	for i := range 50 {
		f.agents = append(f.agents, &fleetAgent{name: fmt.Sprintf("a%d", i)})
		names = append(names, f.agents[i].name)
	}
	var fp map[string]string
	f.home, fp = homes(t, hw, names...)
	for i := range relayNS {
		f.relays = append(f.relays, "tls://"+net.JoinHostPort(addr(i+1), "7443"))
	}

	// Trust. Each relay authorizes the client, the other relays and the
	// agents (one authorized file, copied); each agent knows the relays
	// and authorizes the client (likewise); the client knows everyone.
	calls := map[string][][]string{}
	add := func(home string, args ...string) { calls[f.home(home)] = append(calls[f.home(home)], args) }
	for _, n := range names {
		add("r1", "--authorized", fp[n], n)
	}
	for i, r := range []string{"r1", "r2", "r3"} {
		a := strings.TrimPrefix(f.relays[i], "tls://")
		add("client", "--known", fp[r], r, "--addr", a)
		add("a0", "--known", fp[r], r, "--addr", a)
	}
	add("a0", "--authorized", fp["client"], "client")
	for _, a := range f.agents {
		add("client", "--known", fp[a.name], a.name)
	}
	trustEach(t, hw, calls)
	copyTrust(t, f.home("r1"), certs.AuthorizedFile, f.home("r2"), f.home("r3"))
	for _, a := range f.agents[1:] {
		copyTrust(t, f.home("a0"), certs.KnownNodesFile, f.home(a.name))
		copyTrust(t, f.home("a0"), certs.AuthorizedFile, f.home(a.name))
	}

	// The directory: nats-server logs to stderr, hence the shell.
	natsAddr := net.JoinHostPort(addr(0), "4222")
	store := t.TempDir()
	startNATS := func() *exec.Cmd {
		t.Helper()
		cmd, out := startLogged(t, dirNS, "Server is ready", "sh", "-c", `exec "$0" "$@" 2>&1`,
			natsServer, "-js", "-sd", store, "-a", addr(0), "-p", "4222")
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("nats-server:\n%s", out.String())
			}
		})
		return cmd
	}
	nats := startNATS()

	// The relays, each granting the others the relay capability and each
	// agent its own name.
	grants := []string{"--grant", "r1:relay", "--grant", "r2:relay", "--grant", "r3:relay", "--grant", "client:agent"}
	for _, a := range f.agents {
		grants = append(grants, "--grant", a.name+":register="+a.name)
	}
	var relayCmds []*exec.Cmd
	for i, n := range []string{"r1", "r2", "r3"} {
		relayCmds = append(relayCmds, startNS(t, relayNS[i], "listening", append([]string{hw, "serve", "--home", f.home(n),
			"--listen", f.relays[i], "--directory", "nats://" + natsAddr, "--fleet-lease", fleetLease.String()}, grants...)...))
	}

	// The agents: agent i tries relay i%3 first. Each lets the client
	// reach an echo server beside it.
	echo := "127.0.0.1:9000"
	echoIn(t, agentNS, echo)
	for i, a := range f.agents {
		args := []string{hw, "serve", "--home", f.home(a.name), "--name", a.name, "--grant", "client:connect=" + echo}
		for j := range f.relays {
			args = append(args, "--connect", f.relays[(i+j)%len(f.relays)])
		}
		_, a.out = startLogged(t, agentNS, "registered as", args...)
	}
	setup := time.Since(start)
	homeOf := f.homesNow()
	for i, a := range f.agents {
		if homeOf[a.name] != f.relays[i%3] {
			t.Fatalf("%s registered at %s, not at the first of its list, %s", a.name, homeOf[a.name], f.relays[i%3])
		}
	}

	// 1. Every agent through every relay, and the fleet's list at each.
	var all []fleetReach
	for entry := range f.relays {
		for _, a := range f.agents {
			all = append(all, fleetReach{entry, a.name})
		}
	}
	pinged := time.Now()
	if failed := f.pingAll(ctx, all); len(failed) > 0 {
		t.Fatalf("%d of %d pings failed: %v", len(failed), len(all), failed)
	}
	t.Logf("set up in %v; %d agents reached through each of %d relays in %v", setup.Round(time.Millisecond),
		len(f.agents), len(f.relays), time.Since(pinged).Round(time.Millisecond))
	for entry := range f.relays {
		f.checkFleetList(ctx, entry, homeOf)
	}
	sinces := f.sinces(ctx, 0)

	// A connection held across what follows: a forward through r1 to the
	// first agent homed at r2 (a mesh link r1 → r2), with an echo every
	// 100ms.
	held := f.agents[1].name
	local := "127.0.0.1:" + freePort(t)
	startNS(t, "", "forwarding", hw, "forward", "--home", f.home("client"), "-J", f.relays[0], held, "-L", local+":"+echo)
	keep := holdEcho(t, local)

	// 2. SIGKILL r3: its agents move to the next relays of their lists.
	var moved []string
	for i, a := range f.agents {
		if i%3 == 2 {
			moved = append(moved, a.name)
		}
	}
	keep.check(t, "before r3's death")
	killed := time.Now()
	relayCmds[2].Process.Kill()
	var again []fleetReach
	for _, a := range moved {
		again = append(again, fleetReach{0, a}, fleetReach{1, a})
	}
	failover := f.pingUntil(ctx, again, killed, fleetLease+5*time.Second)
	var moves time.Duration // when the directory had the last of them at its new relay
	for _, e := range f.fleetList(ctx, 0) {
		if slices.Contains(moved, e.Name) {
			moves = max(moves, e.Since.Sub(killed))
		}
	}
	t.Logf("r3 killed: the directory had its %d agents at their new relays %v later; all answered through r1 and r2 %v later (bound: lease %v + 5s)",
		len(moved), moves.Round(time.Millisecond), failover.Round(time.Millisecond), fleetLease)
	keep.check(t, "after r3's death")
	// Each moved to a relay of its list that is up: r1, the next, unless
	// r1 turned it away (the handshakes of a stampede from one network
	// are capped), then r2.
	now := f.homesNow()
	for _, a := range f.agents {
		switch {
		case slices.Contains(moved, a.name) && (now[a.name] == f.relays[0] || now[a.name] == f.relays[1]):
		case now[a.name] != homeOf[a.name]:
			t.Errorf("after r3's death %s is at %s, was at %s", a.name, now[a.name], homeOf[a.name])
		}
	}
	homeOf = now
	f.checkRegistrations(moved, "after r3's death")
	for entry := range 2 {
		f.checkFleetList(ctx, entry, homeOf)
	}
	for name, since := range f.sinces(ctx, 1) {
		if !slices.Contains(moved, name) && !since.Equal(sinces[name]) {
			t.Errorf("%s's entry was written again (since %v, was %v) though its relay stayed up", name, since, sinces[name])
		}
	}

	// 3. The directory goes away for 10s.
	nats.Process.Kill()
	nats.Wait()
	down := time.Now()
	keep.check(t, "with the directory down")
	// A new connection through the forward's route: no lookup.
	newEcho(t, local, "new connection, directory down")
	// Agents at the relay asked need no lookup: each relay's first agent,
	// and one that moved there.
	at := func(entry int) (agents []string) {
		for _, a := range f.agents {
			if homeOf[a.name] == f.relays[entry] {
				agents = append(agents, a.name)
			}
		}
		return agents
	}
	var here []fleetReach
	for entry := range 2 {
		here = append(here, fleetReach{entry, at(entry)[0]})
	}
	for _, a := range moved[:1] {
		here = append(here, fleetReach{slices.Index(f.relays, homeOf[a]), a})
	}
	if failed := f.pingAll(ctx, here); len(failed) > 0 {
		t.Errorf("agents local to the relay asked, with the directory down: %v", failed)
	}
	// An agent homed at another relay needs one: a clear one-line error.
	out, err := f.ping(ctx, 0, at(1)[1])
	line := strings.TrimSpace(out)
	if err == nil || strings.Contains(line, "\n") || !strings.Contains(line, "cannot ask the fleet's directory") ||
		!strings.Contains(line, "nats://"+natsAddr+" unavailable") {
		t.Errorf("a lookup with the directory down: want one line saying the directory is unavailable, got %v:\n%s", err, out)
	}
	t.Logf("a lookup with the directory down: %s", line)
	if out, err := run(ctx, "", hw, "peers", "--fleet", "--home", f.home("client"), f.relays[1]); err == nil {
		t.Errorf("peers --fleet with the directory down answered:\n%s", out)
	} else {
		t.Logf("peers --fleet with the directory down: %s", strings.TrimSpace(out))
	}
	time.Sleep(10*time.Second - time.Since(down))
	keep.check(t, "after 10s without the directory")
	restarted := time.Now()
	startNATS()
	cross := []fleetReach{{0, at(1)[1]}, {1, at(0)[1]}} // an agent of each relay, through the other
	recovery := f.pingUntil(ctx, cross, restarted, fleetLease+5*time.Second)
	t.Logf("nats-server restarted after %v down: lookups answered %v later", restarted.Sub(down).Round(time.Millisecond), recovery.Round(time.Millisecond))
	for entry := range 2 {
		f.checkFleetList(ctx, entry, homeOf)
	}
	var survivors []fleetReach
	for entry := range 2 {
		for _, a := range f.agents {
			survivors = append(survivors, fleetReach{entry, a.name})
		}
	}
	if failed := f.pingAll(ctx, survivors); len(failed) > 0 {
		t.Errorf("%d of %d pings failed after the directory's return: %v", len(failed), len(survivors), failed)
	}
	keep.check(t, "at the end")
	f.checkRegistrations(moved, "by the end")
	n, worst := keep.rounds()
	t.Logf("the held connection echoed %d times (slowest %v); the test took %v", n, worst.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// fleetLab is TestFleet's fleet: the client's view of it.
type fleetLab struct {
	t      *testing.T
	hw     string
	home   func(name string) string
	relays []string // their URLs, r1 to r3
	agents []*fleetAgent
}

// fleetAgent is an agent process and what it printed.
type fleetAgent struct {
	name string
	out  *lockedbuf.Buffer
}

var registeredLine = regexp.MustCompile(`(?m)^registered as (\S+) at (\S+)$`)

// registrations counts the agent's "registered as … at …" lines, one per
// registration.
func (a *fleetAgent) registrations() int {
	return len(registeredLine.FindAllString(a.out.String(), -1))
}

// homesNow is where each agent last said it registered.
func (f *fleetLab) homesNow() map[string]string {
	f.t.Helper()
	homes := map[string]string{}
	for _, a := range f.agents {
		ms := registeredLine.FindAllStringSubmatch(a.out.String(), -1)
		if len(ms) == 0 || ms[len(ms)-1][1] != a.name {
			f.t.Fatalf("%s printed no registration as itself:\n%s", a.name, a.out.String())
		}
		homes[a.name] = ms[len(ms)-1][2]
	}
	return homes
}

// checkRegistrations fails the test unless each agent of moved registered
// twice, and every other once.
func (f *fleetLab) checkRegistrations(moved []string, when string) {
	f.t.Helper()
	for _, a := range f.agents {
		want := 1
		if slices.Contains(moved, a.name) {
			want = 2
		}
		if n := a.registrations(); n != want {
			f.t.Errorf("%s: %s registered %d times, want %d:\n%s", when, a.name, n, want, a.out.String())
		}
	}
}

// fleetReach is an agent asked for at an entry relay (an index of
// fleetLab.relays).
type fleetReach struct {
	entry int
	agent string
}

func (r fleetReach) String() string { return fmt.Sprintf("%s via r%d", r.agent, r.entry+1) }

// ping pings agent through relays[entry].
func (f *fleetLab) ping(ctx context.Context, entry int, agent string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := run(ctx, "", f.hw, "ping", "--home", f.home("client"), "-J", f.relays[entry], agent)
	if err == nil && !strings.HasPrefix(out, agent+" ("+agent+"): rtt=") {
		err = fmt.Errorf("unexpected output")
	}
	return out, err
}

// pingAll pings each of rs and returns the failures' output.
func (f *fleetLab) pingAll(ctx context.Context, rs []fleetReach) map[fleetReach]string {
	failed := map[fleetReach]string{}
	f.pingEach(ctx, rs, func(r fleetReach, out string, err error) {
		if err != nil {
			failed[r] = fmt.Sprintf("%v: %s", err, strings.TrimSpace(out))
		}
	})
	return failed
}

// pingEach pings each of rs, four at a time, and calls done with each
// result as it comes (one at a time).
func (f *fleetLab) pingEach(ctx context.Context, rs []fleetReach, done func(r fleetReach, out string, err error)) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		todo = make(chan fleetReach)
	)
	for range 4 {
		wg.Go(func() {
			for r := range todo {
				out, err := f.ping(ctx, r.entry, r.agent)
				mu.Lock()
				done(r, out, err)
				mu.Unlock()
			}
		})
	}
	for _, r := range rs {
		todo <- r
	}
	close(todo)
	wg.Wait()
}

// pingUntil pings rs until each has answered once, and returns how long
// after since the last of them first answered. It fails the test if that
// is more than bound, or if they do not all answer within bound + 20s.
func (f *fleetLab) pingUntil(ctx context.Context, rs []fleetReach, since time.Time, bound time.Duration) time.Duration {
	f.t.Helper()
	var took time.Duration
	left := rs
	for len(left) > 0 {
		failed := map[fleetReach]string{}
		f.pingEach(ctx, left, func(r fleetReach, out string, err error) {
			if err != nil {
				failed[r] = fmt.Sprintf("%v: %s", err, strings.TrimSpace(out))
			} else {
				took = max(took, time.Since(since))
			}
		})
		left = nil
		for r := range failed {
			left = append(left, r)
		}
		if len(left) > 0 && time.Since(since) > bound+20*time.Second {
			f.t.Fatalf("after %v, %d of %d still fail: %v", time.Since(since), len(left), len(rs), failed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took > bound {
		f.t.Errorf("took %v, more than %v", took, bound)
	}
	return took
}

// fleetEntry is a line of peers --fleet --json.
type fleetEntry struct {
	Name, Fingerprint, Relay, RelayAddr string
	Since                               time.Time
}

// fleetList is the fleet's agents as relays[entry] lists them.
func (f *fleetLab) fleetList(ctx context.Context, entry int) []fleetEntry {
	f.t.Helper()
	out, err := run(ctx, "", f.hw, "peers", "--fleet", "--json", "--home", f.home("client"), f.relays[entry])
	var list []fleetEntry
	if err == nil {
		err = json.Unmarshal([]byte(out), &list)
	}
	if err != nil {
		f.t.Fatalf("peers --fleet %s: %v\n%s", f.relays[entry], err, out)
	}
	return list
}

// checkFleetList fails the test unless relays[entry] lists exactly the
// agents of homes, each at its relay.
func (f *fleetLab) checkFleetList(ctx context.Context, entry int, homes map[string]string) {
	f.t.Helper()
	got := map[string]string{}
	for _, e := range f.fleetList(ctx, entry) {
		got[e.Name] = e.RelayAddr
	}
	if !maps.Equal(got, homes) {
		f.t.Errorf("peers --fleet %s: %v, want %v", f.relays[entry], got, homes)
	}
}

// sinces is when each agent's directory entry was written, as
// relays[entry] lists them.
func (f *fleetLab) sinces(ctx context.Context, entry int) map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range f.fleetList(ctx, entry) {
		out[e.Name] = e.Since
	}
	return out
}

// trustEach runs hopwire trust with each argument list of calls, by home:
// the homes at once, the calls of one home in turn (they write one file).
func trustEach(t *testing.T, hw string, calls map[string][][]string) {
	t.Helper()
	errs := make(chan error, len(calls))
	for home, cs := range calls {
		go func() {
			for _, c := range cs {
				args := append([]string{"trust", "--home", home}, c...)
				if out, err := exec.Command(hw, args...).CombinedOutput(); err != nil {
					errs <- fmt.Errorf("hopwire %s: %v\n%s", strings.Join(args, " "), err, out)
					return
				}
			}
			errs <- nil
		}()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// copyTrust copies a trust file (known_nodes, authorized) of home from to
// the homes to.
func copyTrust(t *testing.T, from, file string, to ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(from, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range to {
		if err := os.WriteFile(filepath.Join(h, file), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// heldEcho is a TCP connection to an echo server that a goroutine keeps
// busy, one small echo every 100ms, until the test ends.
type heldEcho struct {
	mu     sync.Mutex
	n      int   // echoes done
	seen   int   // n at the last check
	err    error // the first failure
	worst  time.Duration
	closed chan struct{}
}

// holdEcho connects to the echo server at addr and keeps the connection
// busy.
func holdEcho(t *testing.T, addr string) *heldEcho {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := &heldEcho{closed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			began := time.Now()
			err := echoOnce(c, fmt.Sprintf("held %08d\n", i))
			h.mu.Lock()
			h.worst = max(h.worst, time.Since(began))
			if err != nil {
				h.err = fmt.Errorf("echo %d: %w", i, err)
			} else {
				h.n++
			}
			h.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-h.closed:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		close(h.closed)
		c.Close()
		<-done
	})
	return h
}

// check fails the test if the held connection failed, or echoed nothing
// since the last check.
func (h *heldEcho) check(t *testing.T, when string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // room for an echo since the last check
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.err != nil:
		t.Fatalf("the held connection, %s: %v (after %d echoes)", when, h.err, h.n)
	case h.n == h.seen:
		t.Fatalf("the held connection, %s: no echo since the last check (%d in all)", when, h.n)
	}
	h.seen = h.n
}

func (h *heldEcho) rounds() (int, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n, h.worst
}

// echoOnce sends msg on c and reads it back, within 5s.
func echoOnce(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, []byte(msg)) {
		return fmt.Errorf("echoed %q, sent %q", got, msg)
	}
	return nil
}

// newEcho opens a new connection to the echo server at addr and checks
// one echo on it.
func newEcho(t *testing.T, addr, what string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err == nil {
		err = echoOnce(c, what+"\n")
		c.Close()
	}
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// TestFleetDNSName: an agent given the fleet as one DNS name with several
// addresses (here the hosts file of its namespace, which `ip netns exec`
// puts in place of /etc/hosts; a round-robin DNS record reads the same to
// the resolver) registers at one of them; when that relay is SIGKILLed it
// registers at the other (its re-dial tries the name's next address),
// within the lease + 5s, and the client reaches it through either relay.
// The agent knows both relays' keys bound to that one name.
func TestFleetDNSName(t *testing.T) {
	natsServer := needTool(t, "nats-server", "nats-server")
	hw, _ := binaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	ns, addr := lan(t, 4)
	dirNS, relayNS, agentNS := ns[0], ns[1:3], ns[3]
	const fleetName = "relays.fleet.test"
	hosts := filepath.Join("/etc/netns", agentNS)
	if err := os.MkdirAll(hosts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(hosts) })
	hostsFile := fmt.Sprintf("127.0.0.1 localhost\n%s %s\n%s %s\n", addr(1), fleetName, addr(2), fleetName)
	if err := os.WriteFile(filepath.Join(hosts, "hosts"), []byte(hostsFile), 0o644); err != nil {
		t.Fatal(err)
	}

	f := &fleetLab{t: t, hw: hw, agents: []*fleetAgent{{name: "db1"}}}
	var fp map[string]string
	f.home, fp = homes(t, hw, "client", "r1", "r2", "db1")
	for i := range relayNS {
		f.relays = append(f.relays, "tls://"+net.JoinHostPort(addr(i+1), "7443"))
	}
	fleetURL := "tls://" + net.JoinHostPort(fleetName, "7443")
	calls := map[string][][]string{}
	add := func(home string, args ...string) { calls[f.home(home)] = append(calls[f.home(home)], args) }
	for _, n := range []string{"client", "r1", "r2", "db1"} {
		add("r1", "--authorized", fp[n], n)
	}
	for i, r := range []string{"r1", "r2"} {
		add("client", "--known", fp[r], r, "--addr", strings.TrimPrefix(f.relays[i], "tls://"))
		add("db1", "--known", fp[r], r, "--addr", net.JoinHostPort(fleetName, "7443"))
	}
	add("client", "--known", fp["db1"], "db1")
	add("db1", "--authorized", fp["client"], "client")
	trustEach(t, hw, calls)
	copyTrust(t, f.home("r1"), certs.AuthorizedFile, f.home("r2"))

	natsAddr := net.JoinHostPort(addr(0), "4222")
	startLogged(t, dirNS, "Server is ready", "sh", "-c", `exec "$0" "$@" 2>&1`,
		natsServer, "-js", "-sd", t.TempDir(), "-a", addr(0), "-p", "4222")
	var relayCmds []*exec.Cmd
	for i, n := range []string{"r1", "r2"} {
		relayCmds = append(relayCmds, startNS(t, relayNS[i], "listening", hw, "serve", "--home", f.home(n),
			"--listen", f.relays[i], "--directory", "nats://"+natsAddr, "--fleet-lease", fleetLease.String(),
			"--grant", "r1:relay", "--grant", "r2:relay", "--grant", "client:agent", "--grant", "db1:register=db1"))
	}
	echo := "127.0.0.1:9000"
	echoIn(t, agentNS, echo)
	db1 := f.agents[0]
	_, db1.out = startLogged(t, agentNS, "registered as", hw, "serve", "--home", f.home("db1"), "--name", "db1",
		"--connect", fleetURL, "--grant", "client:connect="+echo)
	if home := f.homesNow()["db1"]; home != fleetURL {
		t.Fatalf("db1 says it registered at %s, want %s", home, fleetURL)
	}

	// Which relay db1 reached is the directory's to say.
	homeIdx := func() int {
		for _, e := range f.fleetList(ctx, 0) {
			if e.Name == "db1" {
				return slices.Index(f.relays, e.RelayAddr)
			}
		}
		return -1
	}
	first := homeIdx()
	if first < 0 {
		t.Fatalf("the fleet does not list db1 at r1 or r2: %v", f.fleetList(ctx, 0))
	}
	if failed := f.pingAll(ctx, []fleetReach{{0, "db1"}, {1, "db1"}}); len(failed) > 0 {
		t.Fatalf("db1 through each relay: %v", failed)
	}

	// Its relay dies: the name's other address takes it.
	other := 1 - first
	killed := time.Now()
	relayCmds[first].Process.Kill()
	took := f.pingUntil(ctx, []fleetReach{{other, "db1"}}, killed, fleetLease+5*time.Second)
	if n := db1.registrations(); n != 2 {
		t.Errorf("db1 registered %d times, want 2 (once at r%d, once at r%d):\n%s", n, first+1, other+1, db1.out.String())
	}
	var at string
	for _, e := range f.fleetList(ctx, other) {
		if e.Name == "db1" {
			at = e.RelayAddr
		}
	}
	if at != f.relays[other] {
		t.Errorf("after r%d's death the fleet lists db1 at %q, want %s", first+1, at, f.relays[other])
	}
	t.Logf("db1 at %s (r%d); r%d killed; db1 answered through r%d %v later (bound: lease %v + 5s)",
		fleetName, first+1, first+1, other+1, took.Round(time.Millisecond), fleetLease)
}
