package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
)

// hostileName is the name a client announces in its link hello (at most
// 64 bytes): markup, were the page not to escape it.
const hostileName = `<b id="pwn" onmouseover=alert(1)>x</b>`

// hostileTarget is an address a client asks to connect to, refused (and
// listed among the denials) as it was given.
const hostileTarget = `<script>alert(2)</script>:1`

// fetch GETs url and returns the response and its body.
func fetch(t *testing.T, cl *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func readStatus(t *testing.T, cl *http.Client, base string) status {
	t.Helper()
	resp, body := fetch(t, cl, base+"/status.json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status.json: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	var st status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("status.json: %v\n%s", err, body)
	}
	return st
}

// runAgent runs a reverse agent called name at relay until the test ends.
func runAgent(t *testing.T, id *certs.Identity, relayNode *testNode, name string) *Server {
	t.Helper()
	agent, err := New(&Options{Name: id.Name(), Identity: id, Admin: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	registerAgent(t, agent, id, name, relayNode)
	return agent
}

// registerAgent starts agent and runs it as the agent called name at the
// first of relays it reaches (RunAgentAt) until the test ends; it returns
// once the agent registered.
func registerAgent(t *testing.T, agent *Server, id *certs.Identity, name string, relays ...*testNode) {
	t.Helper()
	if err := agent.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var addrs []hop.Addr
	for _, r := range relays {
		addrs = append(addrs, mustAddr(t, r.url))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- agent.RunAgentAt(ctx, dialer(id, relays...), nil, addrs, name, func(hop.Addr) {
			select {
			case ready <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		agent.Close()
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent %s: %v", name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("agent %s did not register", name)
	}
}

// TestStatusPage runs real traffic through a relay (two reverse agents,
// a client with a forward open and a connect the policy denies) and reads
// its status page, the page's live part and /status.json off its admin
// listener; and an agent's page, which names the relay it is registered
// at.
func TestStatusPage(t *testing.T) {
	client, a1, a2 := newIdentity(t, "client"), newIdentity(t, "agent1"), newIdentity(t, "agent2")
	echoAddr := echoServer(t)
	relayNode := startNodeWith(t, "relay", "tls://127.0.0.1:0", []*certs.Identity{client, a1, a2},
		func(o *Options) { o.Admin = "127.0.0.1:0" },
		"client:connect="+echoAddr, "agent1:register=a1", "agent2:register=a2")
	agent1 := runAgent(t, a1, relayNode, "a1")
	runAgent(t, a2, relayNode, "a2")

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := dialer(client, relayNode)
	d.Link = &session.LinkConfig{Name: hostileName}
	route, err := d.Dial(ctx, nil, mustAddr(t, relayNode.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	// A forward that stays open, with bytes through it.
	fwd, err := route.DialContext(ctx, "tcp", echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	const sent = 100 << 10
	go fwd.Write(make([]byte, sent))
	if _, err := io.ReadFull(fwd, make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	// Two connects the policy denies: one plain, one with markup.
	for _, dest := range []string{"127.0.0.1:9", hostileTarget} {
		if c, err := route.DialContext(ctx, "tcp", dest); err == nil {
			c.Read(make([]byte, 1))
			c.Close()
		}
	}

	cl := &http.Client{Timeout: 10 * time.Second}
	defer cl.CloseIdleConnections()
	base := relayNode.srv.AdminURL()
	var st status
	waitUntil(t, "the relay's status to show the traffic", func() bool {
		st = readStatus(t, cl, base)
		// The client's two links: its route's RPC link and the one its
		// connections ride (hop.Route's data link).
		return st.Counts.Links == 4 && st.Counts.Agents == 2 && st.Counts.Forwards == 1 && len(st.Denials) == 2 &&
			st.Forwards[0].BytesUp != nil && *st.Forwards[0].BytesUp >= sent && *st.Forwards[0].BytesDown >= sent
	}, func() string { b, _ := json.MarshalIndent(st, "", "  "); return string(b) })

	// status.json: the node, its links, agents, forward and denials.
	if st.Node.Name != "relay" || st.Node.Fingerprint != relayNode.id.Fingerprint() || st.Node.CertExpiry.Year() < 2100 {
		t.Errorf("node %+v", st.Node)
	}
	if len(st.Listeners) != 1 || st.Listeners[0] != relayNode.url {
		t.Errorf("listeners %v, want [%s]", st.Listeners, relayNode.url)
	}
	var names []string
	for _, a := range st.Agents {
		names = append(names, a.Name+"="+a.Peer)
	}
	if !slices.Equal(names, []string{"a1=agent1", "a2=agent2"}) {
		t.Errorf("agents %v", names)
	}
	kinds := map[string]int{}
	var forwarded bool
	for _, l := range st.Links {
		kinds[l.Kind]++
		if l.Transport != "tls" || l.RTTMillis == nil || *l.RTTMillis <= 0 || l.BytesIn == nil || *l.BytesIn == 0 ||
			*l.BytesOut == 0 || l.Since.IsZero() || l.Fingerprint == "" {
			t.Errorf("link %+v: want tls, a round trip, bytes each way, a start and a fingerprint", l)
		}
		if l.Peer == "client" {
			if l.Name != hostileName {
				t.Errorf("client's link announced %q, want %q", l.Name, hostileName)
			}
			forwarded = forwarded || (*l.BytesIn >= sent && *l.BytesOut >= sent)
		}
	}
	if !forwarded {
		t.Errorf("no client link shows the %d bytes forwarded each way", sent)
	}
	if kinds["client"] != 2 || kinds["agent"] != 2 {
		t.Errorf("links by kind %v, want 2 client and 2 agents", kinds)
	}
	if f := st.Forwards[0]; f.Peer != "client" || f.Network != "tcp" || f.Dest != echoAddr {
		t.Errorf("forward %+v", f)
	}
	if d := st.Denials[1]; d.Principal != "client" || d.Capability != "connect" || d.Target != "127.0.0.1:9" {
		t.Errorf("the older denial %+v", d)
	}
	if d := st.Denials[0]; d.Target != hostileTarget {
		t.Errorf("the newer denial %+v, target want %q", d, hostileTarget)
	}
	if st.Counts.Denials != 2 || st.Drops["denied"] != 2 {
		t.Errorf("counts %+v, drops %v", st.Counts, st.Drops)
	}

	// The page, as a browser gets it: the same figures, every name
	// escaped, the picture inline.
	resp, page := fetch(t, cl, base+"/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /: %s %v", resp.Status, resp.Header)
	}
	for _, want := range []string{
		`<span id="node-name">relay</span>`,
		`<b id="n-links">4</b>`, `<b id="n-agents">2</b>`, `<b id="n-forwards">1</b>`, `<b id="n-denials">2</b>`,
		`<td class="agent-name">a1</td>`, `<td class="agent-name">a2</td>`,
		`<td class="dest"><code>` + echoAddr + `</code>`,
		`<code class="listener">` + relayNode.url + `</code>`,
		`<span class="drop">denied <b>2</b></span>`,
		`<svg id="topology-svg"`, `class="n-agent"`, `class="n-client"`, `class="n-dest"`,
		`&lt;b id=&#34;pwn&#34; onmouseover=alert(1)&gt;x&lt;/b&gt;`,
		`&lt;script&gt;alert(2)&lt;/script&gt;:1`,
		`<script src="static/status.js"></script>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, bad := range []string{"<b id=\"pwn\"", "<script>alert"} {
		if strings.Contains(page, bad) {
			t.Errorf("page has a peer's markup unescaped: %s", bad)
		}
	}
	// The live part alone, which the page's script fetches.
	resp, live := fetch(t, cl, base+"/status/live")
	if resp.StatusCode != http.StatusOK || strings.Contains(live, "<html") || !strings.Contains(live, `<b id="n-agents">2</b>`) {
		t.Errorf("status/live: %s\n%s", resp.Status, live)
	}
	// Its assets, and not its template.
	for path, want := range map[string]int{"/static/status.js": 200, "/static/status.css": 200, "/static/status.html": 404, "/nothing": 404} {
		if resp, _ := fetch(t, cl, base+path); resp.StatusCode != want {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, want)
		}
	}

	// The agent's own page names the relay it is registered at.
	ast := readStatus(t, cl, agent1.AdminURL())
	if len(ast.Uplinks) != 1 || ast.Uplinks[0].Agent != "a1" || ast.Uplinks[0].Relay != relayNode.url ||
		ast.Uplinks[0].Peer != "relay" || ast.Uplinks[0].RTTMillis == nil {
		t.Errorf("agent1's uplinks %+v", ast.Uplinks)
	}
	if _, apage := fetch(t, cl, agent1.AdminURL()+"/"); !strings.Contains(apage, `class="n-relay"`) {
		t.Error("agent1's picture has no relay")
	}

	// Once the forward and the client are gone, so are their rows.
	fwd.Close()
	route.Close()
	waitUntil(t, "the forward and the client's link to leave the page", func() bool {
		st = readStatus(t, cl, base)
		return st.Counts.Forwards == 0 && st.Counts.Links == 2
	}, func() string { return fmt.Sprintf("%+v", st.Counts) })
}

// TestStatusLoopbackHost: on loopback the admin listener answers only
// requests for a loopback address or localhost, not a name a web page
// rebound to 127.0.0.1.
func TestStatusLoopbackHost(t *testing.T) {
	n := startNodeWith(t, "n", "tls://127.0.0.1:0", nil, func(o *Options) { o.Admin = "127.0.0.1:0" })
	u := n.srv.AdminURL()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(u, "http://"))
	cl := &http.Client{Timeout: 10 * time.Second}
	defer cl.CloseIdleConnections()
	for host, want := range map[string]int{
		"127.0.0.1:" + port: http.StatusOK, "localhost:" + port: http.StatusOK, "localhost": http.StatusOK,
		"[::1]:" + port: http.StatusOK, "rebound.example:" + port: http.StatusMisdirectedRequest,
	} {
		for _, path := range []string{"/", "/status.json", "/metrics"} {
			req, _ := http.NewRequest("GET", u+path, nil)
			req.Host = host
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("Host %q %s: %s, want %d", host, path, resp.Status, want)
			}
		}
	}
}

// TestStatusTopology: the picture keeps to its size with many neighbours
// (a "+N more" box), cuts long labels, and escapes them.
func TestStatusTopology(t *testing.T) {
	st := status{Node: nodeStatus{Name: "n"}}
	for i := range 15 {
		st.Links = append(st.Links, linkStatus{Peer: fmt.Sprintf("client-%02d", i), Kind: "client", Transport: "tls"})
	}
	st.Agents = []agentStatus{{Name: "db-1", Transport: "quic"}}
	st.Forwards = []forwardStatus{{Dest: "10.0.0.1:22", Network: "tcp"}, {Dest: "10.0.0.1:22", Network: "udp"},
		{Dest: strings.Repeat("x", 40) + "<&>", Network: "tcp"}}
	topo := layout(&st)
	var labels []string
	for _, n := range topo.Nodes {
		labels = append(labels, n.Kind+":"+n.Label)
		if n.Y < 0 || n.Y > topo.H || n.X < 0 || n.X > topo.W {
			t.Errorf("%s at %d,%d outside %dx%d", n.Label, n.X, n.Y, topo.W, topo.H)
		}
	}
	for _, want := range []string{"client:client-08", "more:+6 more", "agent:db-1", "dest:10.0.0.1:22", "self:n",
		"dest:" + strings.Repeat("x", topoLabel-1) + "…"} {
		if !slices.Contains(labels, want) {
			t.Errorf("no %s among %v", want, labels)
		}
	}
	if slices.Contains(labels, "client:client-09") || len(topo.Edges) != 10+3 {
		t.Errorf("%d edges, labels %v: want 9 clients and a +6 box, 3 on the right", len(topo.Edges), labels)
	}
	st.Forwards[0].Dest = `"><script>alert(3)</script>`
	var b strings.Builder
	if err := statusTmpl.ExecuteTemplate(&b, "topology", layout(&st)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script>") || !strings.Contains(b.String(), "&lt;script&gt;") {
		t.Errorf("topology not escaped:\n%s", b.String())
	}
}

// TestStatusDenialRing: the page keeps the last denialRing denials,
// newest first, with the names cut and control characters replaced; the
// total counts them all.
func TestStatusDenialRing(t *testing.T) {
	s, err := New(&Options{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range denialRing + 7 {
		s.metrics.decide(CapConnect, &DeniedError{Principal: fmt.Sprintf("p%d\u202e", i), Capability: CapConnect,
			Target: strings.Repeat("t", 100)})
	}
	s.metrics.decide(CapConnect, nil) // an allow is no denial
	w := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(w, httptest.NewRequest("GET", "/status.json", nil))
	var st status
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Denials) != denialRing || st.Counts.Denials != denialRing+7 {
		t.Fatalf("%d denials shown, %d counted", len(st.Denials), st.Counts.Denials)
	}
	newest, oldest := st.Denials[0], st.Denials[denialRing-1]
	if newest.Principal != fmt.Sprintf("p%d\uFFFD", denialRing+6) || oldest.Principal != "p7\uFFFD" {
		t.Errorf("newest %q, oldest %q", newest.Principal, oldest.Principal)
	}
	if !strings.HasSuffix(newest.Target, "... (100 bytes)") || len(newest.Target) > maxEcho+20 {
		t.Errorf("target %q: want cut", newest.Target)
	}
}

// TestCountedConnCorks: counting a link's bytes keeps what the session's
// writer looks for under TLS (NetConn).
func TestCountedConnCorks(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c, n := countConn(a)
	defer c.Close()
	go io.Copy(io.Discard, b)
	c.Write([]byte("hello"))
	if n.out.Load() != 5 {
		t.Errorf("counted %d bytes out", n.out.Load())
	}
	if c.(interface{ NetConn() net.Conn }).NetConn() != a {
		t.Error("NetConn is not the counted connection's")
	}
}

// TestStatusRemoteForward: a connection to a remote forward (ssh -R)
// is listed while it is open, with the bytes so far each way.
func TestStatusRemoteForward(t *testing.T) {
	client := newIdentity(t, "client")
	relayNode := startNode(t, "relay", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:forward-remote=127.0.0.1:1-65535")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	route, err := dialer(client, relayNode).Dial(ctx, nil, mustAddr(t, relayNode.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bind := free.Addr().String()
	free.Close()
	ln, err := route.Listen(ctx, "tcp", bind)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", bind)
	if err != nil {
		t.Fatal(err)
	}
	const sent = 64 << 10
	go c.Write(make([]byte, sent))
	if _, err := io.ReadFull(c, make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	h := relayNode.srv.AdminHandler()
	var st status
	waitUntil(t, "the remote forward on the page", func() bool {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/status.json", nil))
		st = status{}
		json.Unmarshal(w.Body.Bytes(), &st)
		return len(st.Forwards) == 1 && st.Forwards[0].BytesUp != nil && *st.Forwards[0].BytesUp >= sent && *st.Forwards[0].BytesDown >= sent
	}, func() string { return fmt.Sprintf("%+v", st.Forwards) })
	if f := st.Forwards[0]; f.Network != "remote" || f.Peer != "client" || !strings.HasSuffix(f.Dest, "→ "+bind) {
		t.Errorf("remote forward %+v", f)
	}
	c.Close()
	<-served
	waitUntil(t, "the remote forward to leave the page", func() bool {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/status.json", nil))
		st = status{}
		json.Unmarshal(w.Body.Bytes(), &st)
		return st.Counts.Forwards == 0
	}, func() string { return fmt.Sprintf("%+v", st.Forwards) })
}
