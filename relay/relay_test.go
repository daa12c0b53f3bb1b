package relay

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/internal/lockedbuf"
	"github.com/hopwire/hopwire/session"
	hssh "github.com/hopwire/hopwire/transport/ssh"
	gossh "golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeHopwireBinary()
		os.Exit(code)
	}))
}

type testNode struct {
	id  *certs.Identity
	srv *Server
	url string
}

func newIdentity(t testing.TB, name string) *certs.Identity {
	t.Helper()
	id, err := certs.LoadOrCreate(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startNode runs a node listening on listen (e.g. "tls://127.0.0.1:0")
// that accepts the given client identities and applies grants.
func startNode(t testing.TB, name, listen string, clients []*certs.Identity, grants ...string) *testNode {
	t.Helper()
	return startNodeWith(t, name, listen, clients, nil, grants...)
}

// withEcho serves echoSvc as "echo" to every peer.
func withEcho(o *Options) {
	o.Services = func(session.Peer) map[string]any { return map[string]any{"echo": echoSvc{}} }
}

// startNodeWith is startNode with set, if not nil, applied to the node's
// Options before it starts (its goroutines read them from then on; set
// may give the node an identity of the test's own).
func startNodeWith(t testing.TB, name, listen string, clients []*certs.Identity, set func(*Options), grants ...string) *testNode {
	t.Helper()
	id := newIdentity(t, name)
	var gs []*Grant
	for _, g := range grants {
		pg, err := ParseGrant(g)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, pg)
	}
	opts := &Options{Name: name, Identity: id, Trust: certs.Trust{Store: certs.StoreOf(clients...)}, Policy: NewPolicy(gs), Listen: []string{listen}}
	if set != nil {
		set(opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &testNode{id: opts.Identity, srv: srv, url: srv.Addrs()[0]}
}

func hostPort(t testing.TB, url string) string {
	a, err := hop.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	return a.HostPort()
}

func dialer(client *certs.Identity, nodes ...*testNode) *hop.Dialer {
	fps := map[string]string{}
	for _, n := range nodes {
		a, _ := hop.Parse(n.url)
		fps[a.HostPort()] = n.id.Fingerprint()
	}
	return &hop.Dialer{
		Identity: client,
		Trust: func(a hop.Addr) certs.Trust {
			if fp, ok := fps[a.HostPort()]; ok {
				return certs.Trust{Pinned: []string{fp}}
			}
			return certs.Trust{Pinned: []string{"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}
		},
	}
}

type echoSvc struct{}

func (echoSvc) Hello(name string) string { return "hello " + name }

func (echoSvc) Twice(ctx context.Context, f func(context.Context, int) (int, error), x int) (int, error) {
	y, err := f(ctx, x)
	if err != nil {
		return 0, err
	}
	return f(ctx, y)
}

func (echoSvc) Sum(r io.Reader) (int64, []byte, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, h.Sum(nil), err
}

func echoServer(t testing.TB) string {
	return tcpServer(t, func(c net.Conn) { io.Copy(c, c) })
}

// tcpServer serves each loopback connection with handle (which need not
// close it) until the test ends.
func tcpServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestChainTLSQUICTLS(t *testing.T) {
	client := newIdentity(t, "client")
	target := startNodeWith(t, "target", "tls://127.0.0.1:0", []*certs.Identity{client}, withEcho)
	echoAddr := echoServer(t)
	r2 := startNode(t, "r2", "quic://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+hostPort(t, target.url))
	r1 := startNode(t, "r1", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+hostPort(t, r2.url))
	// The target may reach the echo server, nothing else.
	target.srv.policy.Store(NewPolicy([]*Grant{mustGrant(t, "client:connect="+echoAddr)}))

	d := dialer(client, r1, r2, target)
	via := []hop.Addr{mustAddr(t, r1.url), mustAddr(t, r2.url)}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // generous: 32 MiB through three hops on a loaded machine
	defer cancel()
	route, err := d.Dial(ctx, via, mustAddr(t, target.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	for i, want := range []string{"r1", "r2", "target"} {
		if got := route.Hops[i].Peer.Name; got != want {
			t.Errorf("hop %d is %q, want %q", i+1, got, want)
		}
	}
	svc := route.Target().Service("echo")
	if s, err := session.Call[string](ctx, svc, "Hello", "chain"); err != nil || s != "hello chain" {
		t.Fatalf("Hello = %q %v", s, err)
	}
	if n, err := session.Call[int](ctx, svc, "Twice", func(ctx context.Context, x int) (int, error) { return x * 3, nil }, 2); err != nil || n != 18 {
		t.Fatalf("Twice = %d %v", n, err)
	}
	data := make([]byte, 32<<20)
	rand.Read(data)
	want := sha256.Sum256(data)
	var n int64
	var sum []byte
	res, err := svc.Call(ctx, "Sum", bytes.NewReader(data))
	if err == nil {
		err = res.Decode(&n, &sum)
	}
	if err != nil || n != int64(len(data)) || !bytes.Equal(sum, want[:]) {
		t.Fatalf("Sum through the chain: n=%d err=%v", n, err)
	}
	// A direct connection exiting at the target.
	c, err := route.DialContext(ctx, "tcp", echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("forwarded echo: %q %v", buf, err)
	}
	c.Close()
	// A forbidden destination is refused with a policy error.
	c, err = route.DialContext(ctx, "tcp", "127.0.0.2:"+mustAddr(t, r1.url).Port)
	if err == nil {
		_, err = c.Read(buf)
		c.Close()
	}
	var se *session.StreamError
	if !errors.As(err, &se) || se.Code != session.AbortPolicy {
		t.Fatalf("forbidden destination: %v", err)
	}
}

func TestHopErrorNamesHop(t *testing.T) {
	client := newIdentity(t, "client")
	r1 := startNode(t, "r1", "tls://127.0.0.1:0", []*certs.Identity{client})
	d := dialer(client, r1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// r1 grants nothing: hop 2 is refused by policy.
	_, err := d.Dial(ctx, []hop.Addr{mustAddr(t, r1.url)}, mustAddr(t, "tls://127.0.0.1:9"))
	var he *hop.Error
	if !errors.As(err, &he) || he.Index != 2 {
		t.Fatalf("err = %v, want a HopError for hop 2", err)
	}
	t.Log(err)
	// An untrusted first hop.
	_, err = dialer(client).Dial(ctx, nil, mustAddr(t, r1.url))
	if !errors.As(err, &he) || he.Index != 1 {
		t.Fatalf("err = %v, want a HopError for hop 1", err)
	}
	var mm *certs.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("err = %v, want a fingerprint mismatch", err)
	}
}

func mustGrant(t testing.TB, s string) *Grant {
	g, err := ParseGrant(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func mustAddr(t testing.TB, s string) hop.Addr {
	a, err := hop.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestReverseAgent(t *testing.T) {
	client := newIdentity(t, "client")
	agentID := newIdentity(t, "agent1")
	relayNode := startNode(t, "relay", "tls://127.0.0.1:0", []*certs.Identity{client, agentID}, "agent1:register=db-*", "client:agent=db-*")
	// The agent listens nowhere: it dials out.
	agent, err := New(&Options{Name: "agent1", Identity: agentID, Trust: certs.Trust{Store: certs.StoreOf(client)},
		Services: func(session.Peer) map[string]any { return map[string]any{"echo": echoSvc{}} }})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.RunAgent(ctx, dialer(agentID, relayNode), nil, mustAddr(t, relayNode.url), "db-1", func() { ready <- struct{}{} })
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not register")
	}
	d := dialer(client, relayNode)
	agentFP := agentID.Fingerprint()
	base := d.Trust
	d.Trust = func(a hop.Addr) certs.Trust {
		if a.Name == "db-1" {
			return certs.Trust{Pinned: []string{agentFP}}
		}
		return base(a)
	}
	dctx, dcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer dcancel()
	route, err := d.Dial(dctx, []hop.Addr{mustAddr(t, relayNode.url)}, mustAddr(t, "db-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	if s, err := session.Call[string](dctx, route.Target().Service("echo"), "Hello", "agent"); err != nil || s != "hello agent" {
		t.Fatalf("Hello via agent = %q %v", s, err)
	}
	// The agent is the node the client pinned for the name db-1; what its
	// certificate calls itself is only its announced name.
	if h := route.Hops[1]; h.Peer.Principal != "db-1" || h.Verified != certs.ByPinned || h.Peer.Name != "agent1" {
		t.Fatalf("agent hop authenticated as %q (%s), announced %q", h.Peer.Principal, h.Verified, h.Peer.Name)
	}
	var info NodeInfo
	res, err := route.Hops[0].Conn.Service("node").Call(dctx, "Info")
	if err == nil {
		err = res.Decode(&info)
	}
	if err != nil || len(info.Agents) != 1 || info.Agents[0] != "db-1" {
		t.Fatalf("relay info %+v %v", info, err)
	}
	// A name outside the grant is refused.
	_, err = route.Hops[0].Conn.Service("node").Call(dctx, "Register", "web-1")
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("register without a grant: %v", err)
	}
	// Reaching an agent takes an agent grant at the relay: the agent
	// itself never sees a client the relay does not let through, and the
	// client is told the grant it lacks.
	_, err = dialer(agentID, relayNode).Dial(dctx, []hop.Addr{mustAddr(t, relayNode.url)}, mustAddr(t, "db-1"))
	if err == nil || !strings.Contains(err.Error(), "--grant 'agent1:agent=db-1'") {
		t.Fatalf("an ungranted peer reaching the agent: %v", err)
	}
}

// A DTLS hop behind a TLS hop: CONNECT udp carries the datagrams.
func TestChainTLSDTLS(t *testing.T) {
	client := newIdentity(t, "client")
	target := startNodeWith(t, "target", "dtls://127.0.0.1:0", []*certs.Identity{client}, withEcho)
	r1 := startNode(t, "r1", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+hostPort(t, target.url))
	d := dialer(client, r1, target)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	route, err := d.Dial(ctx, []hop.Addr{mustAddr(t, r1.url)}, mustAddr(t, target.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	if route.Hops[1].Transport != "dtls" || route.Hops[1].Peer.Name != "target" || route.Hops[1].Verified != certs.ByPinned {
		t.Fatalf("hop 2: %+v", route.Hops[1])
	}
	if s, err := session.Call[string](ctx, route.Target().Service("echo"), "Hello", "dtls"); err != nil || s != "hello dtls" {
		t.Fatalf("Hello = %q %v", s, err)
	}
	data := make([]byte, 4<<20)
	rand.Read(data)
	want := sha256.Sum256(data)
	var n int64
	var sum []byte
	res, err := route.Target().Service("echo").Call(ctx, "Sum", bytes.NewReader(data))
	if err == nil {
		err = res.Decode(&n, &sum)
	}
	if err != nil || !bytes.Equal(sum, want[:]) {
		t.Fatalf("Sum over dtls behind tls: %d %v", n, err)
	}
}

// An ssh:// hop to a node's embedded SSH listener: the link runs over a
// hopwire channel, the client is its SSH key.
func TestEmbeddedSSH(t *testing.T) {
	dir := t.TempDir()
	_, clientKey, _ := ed25519.GenerateKey(rand.Reader)
	clientSigner, err := gossh.NewSignerFromSigner(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	os.WriteFile(authorized, gossh.MarshalAuthorizedKey(clientSigner.PublicKey()), 0o600)
	id := newIdentity(t, "sshnode")
	fp := gossh.FingerprintSHA256(mustSigner(t, id).PublicKey())
	srv, err := New(&Options{Name: "sshnode", Identity: id, Listen: []string{"ssh://127.0.0.1:0"}, SSHAuthorizedKeys: authorized,
		Policy:   NewPolicy([]*Grant{mustGrant(t, "fp:"+fp+":classic")}),
		Services: func(p session.Peer) map[string]any { return map[string]any{"echo": echoSvc{}} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a := mustAddr(t, srv.Addrs()[0])
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(fmt.Sprintf("[%s]:%s %s", a.Host, a.Port, gossh.MarshalAuthorizedKey(mustSigner(t, id).PublicKey()))), 0o600)
	d := &hop.Dialer{SSH: &hssh.ClientOptions{ConfigFile: "none", AgentSocket: "none", User: "alice",
		Signers: []gossh.Signer{clientSigner}, KnownHostsFiles: []string{known}, Home: dir}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	route, err := d.Dial(ctx, nil, mustAddr(t, "ssh://alice@"+a.Host+":"+a.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	if s, err := session.Call[string](ctx, route.Target().Service("echo"), "Hello", "ssh"); err != nil || s != "hello ssh" {
		t.Fatalf("Hello = %q %v", s, err)
	}
	info, err := session.Call[NodeInfo](ctx, route.Target().Service("node"), "Info")
	// One authorized_keys file authorizes keys, not users: the login name
	// the client asked for (alice) is not its principal (F1).
	if err != nil || info.Peer != "" || info.Fingerprint == "" {
		t.Fatalf("node saw %+v %v", info, err)
	}
	if route.Hops[0].Peer.Fingerprint != fp {
		t.Fatalf("host key %s, want %s", route.Hops[0].Peer.Fingerprint, fp)
	}
}

func mustSigner(t *testing.T, id *certs.Identity) gossh.Signer {
	s, err := gossh.NewSignerFromSigner(id.TLSCertificate().PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A relay granted only a subnet elsewhere refuses every spelling of
// loopback and its own address, and nothing reaches a sentinel listener
// there: the check runs on the IP actually dialled, before connecting.
func TestPolicySentinel(t *testing.T) {
	client := newIdentity(t, "client")
	r1 := startNode(t, "r1", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect=10.99.0.0/16:1-65535")
	sentinel, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	go func() {
		for {
			c, err := sentinel.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()
	defer sentinel.Close()
	_, port, _ := net.SplitHostPort(sentinel.Addr().String())
	_, relayPort, _ := net.SplitHostPort(hostPort(t, r1.url))
	d := dialer(client, r1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	route, err := d.Dial(ctx, nil, mustAddr(t, r1.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	for _, dest := range []string{
		"127.0.0.1:" + port, "localhost:" + port, "[::ffff:127.0.0.1]:" + port, "[::1]:" + port,
		"127.0.0.1:" + relayPort, // the relay itself
		"0.0.0.0:" + port,
	} {
		c, err := route.DialContext(ctx, "tcp", dest)
		if err == nil {
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if !errors.Is(err, session.ErrStreamAborted) || !strings.Contains(err.Error(), "denied by policy") {
			t.Errorf("%s: %v", dest, err)
		}
	}
	// udp too.
	c, err := route.DialContext(ctx, "udp", "127.0.0.1:"+port)
	if err == nil {
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "denied by policy") {
		t.Errorf("udp to loopback: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the sentinel saw %d connections", n)
	}
}

// Classic administration exists only for peers granted it.
func TestClassicGrant(t *testing.T) {
	client := newIdentity(t, "client")
	other := newIdentity(t, "other")
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f"), []byte("data"), 0o600)
	n := startNodeWith(t, "n", "tls://127.0.0.1:0", []*certs.Identity{client, other},
		func(o *Options) { o.ClassicRoot = root }, "client:classic")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	route, err := dialer(client, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	c := classic.New(route.Target())
	if fi, err := c.Stat(ctx, "/f"); err != nil || fi.Size != 4 {
		t.Fatalf("granted Stat: %+v %v", fi, err)
	}
	if _, err := c.Stat(ctx, "/../../etc/passwd"); err == nil || !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("outside the classic root: %v", err)
	}
	route2, err := dialer(other, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route2.Close()
	if _, err := classic.New(route2.Target()).Stat(ctx, "/f"); !errors.Is(err, session.ErrNoService) {
		t.Fatalf("ungranted peer: %v", err)
	}
	// classic without =eval does not give Go evaluation.
	if _, err := route.Target().Service(classic.EvalServiceName).Call(ctx, "Eval", "1+1"); !errors.Is(err, session.ErrNoService) {
		t.Fatalf("eval without classic=eval: %v", err)
	}
}

// Under --classic-root, processes (which the root cannot confine) need an
// exec grant besides classic (issue 13 §4: exec -- cat /etc/shadow ran
// under a root).
func TestClassicRootProcessesNeedExec(t *testing.T) {
	confined, trusted := newIdentity(t, "confined"), newIdentity(t, "trusted")
	root := t.TempDir()
	n := startNodeWith(t, "n", "tls://127.0.0.1:0", []*certs.Identity{confined, trusted},
		func(o *Options) { o.ClassicRoot = root }, "confined:classic", "trusted:classic", "trusted:exec=/bin/true")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	run := func(who *certs.Identity, argv ...string) error {
		route, err := dialer(who, n).Dial(ctx, nil, mustAddr(t, n.url))
		if err != nil {
			t.Fatal(err)
		}
		defer route.Close()
		code, err := classic.New(route.Target()).Run(ctx, classic.RunRequest{Argv: argv}, strings.NewReader(""), io.Discard, io.Discard)
		if err == nil && code != 0 {
			err = fmt.Errorf("exit %d", code)
		}
		return err
	}
	if err := run(confined, "/bin/true"); !errors.Is(err, session.ErrDenied) {
		t.Errorf("a process under a classic root without an exec grant: %v, want a denial", err)
	}
	if err := run(trusted, "/bin/true"); err != nil {
		t.Errorf("a process under a classic root with an exec grant: %v", err)
	}
	if err := run(trusted, "/bin/cat", "/etc/hostname"); !errors.Is(err, session.ErrDenied) {
		t.Errorf("a command line the exec grant does not name, under a classic root: %v, want a denial", err)
	}
}

func TestEvalGrant(t *testing.T) {
	client := newIdentity(t, "client")
	n := startNode(t, "n", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:classic=eval")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	route, err := dialer(client, n).Dial(ctx, nil, mustAddr(t, n.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	if v, err := session.Call[int](ctx, route.Target().Service(classic.EvalServiceName), "Eval", "6*7"); err != nil || v != 42 {
		t.Fatalf("eval: %v %v", v, err)
	}
}

// A CONNECT that no grant of the peer could allow is refused before its
// host is resolved: a peer with no connect grant, or with grants whose
// ports exclude the one asked for, makes the node look up no name of its
// choosing (review F11: denied connects still went to the DNS server). A
// name some grant admits is looked up, as before.
func TestDeniedConnectResolvesNothing(t *testing.T) {
	client := newIdentity(t, "client")
	other := newIdentity(t, "other")
	id := newIdentity(t, "r1")
	srv, err := New(&Options{Name: "r1", Identity: id, Listen: []string{"tls://127.0.0.1:0"},
		Trust:  certs.Trust{Store: certs.StoreOf(client, other)},
		Policy: NewPolicy([]*Grant{mustGrant(t, "client:connect=127.0.0.1:1-100")})})
	if err != nil {
		t.Fatal(err)
	}
	var lookups atomic.Int64
	srv.resolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		lookups.Add(1)
		return nil, errors.New("no DNS in this test")
	}}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r1 := &testNode{id: id, srv: srv, url: srv.Addrs()[0]}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	connect := func(who *certs.Identity, network, dest string) error {
		route, err := dialer(who, r1).Dial(ctx, nil, mustAddr(t, r1.url))
		if err != nil {
			t.Fatal(err)
		}
		defer route.Close()
		c, err := route.DialContext(ctx, network, dest)
		if err == nil {
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		return err
	}
	for _, tc := range []struct {
		who           *certs.Identity
		network, dest string
	}{
		{other, "tcp", "f11-a.invalid:80"},   // no connect grant at all
		{other, "udp", "f11-b.invalid:53"},   // udp alike
		{client, "tcp", "f11-c.invalid:443"}, // its grant's ports exclude 443
	} {
		err := connect(tc.who, tc.network, tc.dest)
		if !errors.Is(err, session.ErrStreamAborted) || !strings.Contains(err.Error(), "denied by policy") {
			t.Errorf("%s %s: %v, want a policy refusal", tc.network, tc.dest, err)
		}
		if n := lookups.Load(); n != 0 {
			t.Fatalf("%s %s: %d DNS lookups for a refused connect", tc.network, tc.dest, n)
		}
	}
	// The counting resolver does count: a name the grant's ports admit is
	// looked up (and here fails).
	if err := connect(client, "tcp", "f11-d.invalid:80"); err == nil || strings.Contains(err.Error(), "denied by policy") {
		t.Errorf("a name within the grant's ports: %v, want a failed lookup", err)
	}
	if lookups.Load() == 0 {
		t.Error("the name within the grant's ports was not looked up through the node's resolver")
	}
}

// An agent whose key the relay does not authorize says so at the default
// log level, with the command its operator runs on the relay (issue 15).
func TestAgentRefusedByRelaySaysWhatToRun(t *testing.T) {
	agentID := newIdentity(t, "agent1")
	relayNode := startNode(t, "relay", "tls://127.0.0.1:0", nil, "agent1:register=db-*")
	logs := &lockedbuf.Buffer{}
	agent, err := New(&Options{Name: "agent1", Identity: agentID, Trust: certs.Trust{Store: certs.StoreOf()},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- agent.RunAgent(ctx, dialer(agentID, relayNode), nil, mustAddr(t, relayNode.url), "db-1", nil)
	}()
	want := "hopwire trust --authorized " + agentID.Fingerprint() + " db-1"
	for !strings.Contains(logs.String(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("the agent's log never said %q:\n%s", want, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	<-done
}

// A stdio: hop a relay spawns under an exec grant, which fails before it
// speaks, fails the client's dial with what it said on stderr (issue 15).
func TestExecHopKeepsStderr(t *testing.T) {
	client := newIdentity(t, "client")
	n := startNode(t, "n", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:exec=sh -c *")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	a := mustAddr(t, `stdio:sh -c "echo 'sudo: a password is required' >&2; exit 1"`)
	_, err := dialer(client, n).Dial(ctx, []hop.Addr{mustAddr(t, n.url)}, a)
	if err == nil || !strings.Contains(err.Error(), "sudo: a password is required") {
		t.Fatalf("dial error %v does not carry the command's stderr", err)
	}
}
