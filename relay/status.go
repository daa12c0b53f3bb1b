package relay

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/connect"
)

// The status page (statuspage.go) shows what a node holds now: its links,
// agents, open forwards and recent denials. What State and /metrics count
// does not say who or where, so the node keeps a small book of them: an
// entry per link (when it came up, its bytes, its last round trip), per
// uplink (the relay this node is registered at as an agent), per forward
// open now, and a ring of the last denials. Nothing in it is a label of a
// metric; it is only read by the status page and /status.json.

// statusRows bounds the rows of each table the status page and
// /status.json show (the counts are always whole).
const statusRows = 500

// denialRing is how many recent denials the node remembers.
const denialRing = 50

// rttMaxAge is how old a link's round trip may be before the status page
// measures it again; maxPings bounds the pings one look at the page sends.
const (
	rttMaxAge = 5 * time.Second
	maxPings  = 64
)

// statusBook is a node's record of who and what it holds, for the
// status page. It is safe for concurrent use.
type statusBook struct {
	mu       sync.Mutex
	links    map[*session.Conn]*linkEntry
	uplinks  map[*uplinkEntry]struct{}
	forwards map[any]*forwardEntry // by *connect.Request, or the accepted conn of a remote forward
	denials  [denialRing]denial
	next     int // where the next denial goes in denials
	nDenied  uint64
}

func newStatusBook() *statusBook {
	return &statusBook{links: map[*session.Conn]*linkEntry{}, uplinks: map[*uplinkEntry]struct{}{},
		forwards: map[any]*forwardEntry{}}
}

// rttProbe is a link's last measured round trip.
type rttProbe struct {
	rtt     atomic.Int64 // nanoseconds; 0: not measured yet
	at      atomic.Int64 // unix nanoseconds of the measurement
	pinging atomic.Bool  // a ping is on its way (one at a time, whoever looks)
}

func (p *rttProbe) stale(now time.Time) bool {
	return now.UnixNano()-p.at.Load() > int64(rttMaxAge)
}

// linkEntry is a link up at this node.
type linkEntry struct {
	conn      *session.Conn
	transport string
	since     time.Time
	bytes     *linkBytes // nil: not counted (a muxed transport: quic)
	rttProbe
}

// linkBytes counts what crosses a link's connection, each way.
type linkBytes struct{ in, out atomic.Int64 }

// countedConn is a link's connection, counting its bytes. It passes on
// NetConn, which the session's writer looks for to gather its writes
// below TLS, so counting costs two atomic adds a read or write and
// nothing else.
type countedConn struct {
	net.Conn
	n *linkBytes
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.in.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.out.Add(int64(n))
	return n, err
}

// NetConn returns the connection under the counted one's TLS, or the
// counted one itself.
func (c *countedConn) NetConn() net.Conn {
	if nc, ok := c.Conn.(interface{ NetConn() net.Conn }); ok {
		return nc.NetConn()
	}
	return c.Conn
}

// countConn wraps a link's connection to count its bytes.
func countConn(c net.Conn) (net.Conn, *linkBytes) {
	n := &linkBytes{}
	return &countedConn{Conn: c, n: n}, n
}

func (b *statusBook) linkUp(c *session.Conn, transport string, n *linkBytes) {
	b.mu.Lock()
	b.links[c] = &linkEntry{conn: c, transport: transport, since: time.Now(), bytes: n}
	b.mu.Unlock()
}

func (b *statusBook) linkDown(c *session.Conn) {
	b.mu.Lock()
	delete(b.links, c)
	b.mu.Unlock()
}

// uplinkEntry is the link of this node, as a reverse agent, to the relay
// it registered at.
type uplinkEntry struct {
	relay, agent string
	conn         *session.Conn
	since        time.Time
	rttProbe
}

func (b *statusBook) uplinkUp(relay, agent string, c *session.Conn) *uplinkEntry {
	e := &uplinkEntry{relay: relay, agent: agent, conn: c, since: time.Now()}
	b.mu.Lock()
	b.uplinks[e] = struct{}{}
	b.mu.Unlock()
	return e
}

func (b *statusBook) uplinkDown(e *uplinkEntry) {
	b.mu.Lock()
	delete(b.uplinks, e)
	b.mu.Unlock()
}

// forwardEntry is a connection this node relays now: a connect stream
// spliced to what it was connected to, or a remote forward's connection.
type forwardEntry struct {
	peer    session.Peer
	network string // tcp, udp, exec, agent; remote for a remote forward
	dest    string
	since   time.Time
	// tcp, when the node's end is a TCP socket, tells the bytes so far
	// from the kernel (TCP_INFO); up is what the socket received rather
	// than sent when remote (the socket is then the connecting side's).
	tcp    *net.TCPConn
	remote bool
}

func (b *statusBook) forwardStart(key any, e *forwardEntry) {
	e.since = time.Now()
	b.mu.Lock()
	b.forwards[key] = e
	b.mu.Unlock()
}

func (b *statusBook) forwardEnd(key any) {
	b.mu.Lock()
	delete(b.forwards, key)
	b.mu.Unlock()
}

// denial is one request the policy refused.
type denial struct {
	at                     time.Time
	principal, fingerprint string
	capability             Capability
	target                 string
}

// denied records a refusal of the policy (a *DeniedError, or another
// error of the same check).
func (b *statusBook) denied(c Capability, err error) {
	d := denial{at: time.Now(), capability: c}
	var de *DeniedError
	if errors.As(err, &de) {
		d.principal, d.fingerprint, d.target = de.Principal, de.Fingerprint, de.Target
	} else {
		d.target = err.Error()
	}
	d.principal, d.target = shown(d.principal), shown(d.target)
	b.mu.Lock()
	b.denials[b.next] = d
	b.next = (b.next + 1) % denialRing
	b.nDenied++
	b.mu.Unlock()
}

// shown is a string from a peer as the status page shows it: cut like
// clipAttr, with control and formatting characters (bidi overrides among
// them) replaced. html/template escapes the rest.
func shown(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '\uFFFD'
	}, clipAttr(s))
}

// status is what the status page and /status.json show: a snapshot of
// the node now. Its JSON is /status.json's.
type status struct {
	Node      nodeStatus      `json:"node"`
	Time      time.Time       `json:"time"`
	Listeners []string        `json:"listeners"`
	Links     []linkStatus    `json:"links"`
	Uplinks   []uplinkStatus  `json:"uplinks"`
	Agents    []agentStatus   `json:"agents"`
	Forwards  []forwardStatus `json:"forwards"`
	Denials   []denialStatus  `json:"denials"`
	// Counts are the whole counts, when a table shows only statusRows.
	Counts statusCounts      `json:"counts"`
	Drops  map[string]uint64 `json:"drops"`
}

type statusCounts struct {
	Links    int    `json:"links"`
	Uplinks  int    `json:"uplinks"`
	Agents   int    `json:"agents"`
	Forwards int    `json:"forwards"`
	Streams  int    `json:"streams"`
	Denials  uint64 `json:"denials"` // since the node started (the table holds the last denialRing)
}

type nodeStatus struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Version     string    `json:"version"`
	Started     time.Time `json:"started"`
	CertExpiry  time.Time `json:"cert_expiry,omitzero"`
	CAExpiry    time.Time `json:"ca_expiry,omitzero"`
	Admin       string    `json:"admin,omitempty"`
}

type linkStatus struct {
	Peer        string    `json:"peer"` // the principal the node's trust gave it
	Name        string    `json:"name"` // the name it announced
	Fingerprint string    `json:"fingerprint,omitempty"`
	Transport   string    `json:"transport"`
	Kind        string    `json:"kind"` // client or agent
	Agents      []string  `json:"agents,omitempty"`
	Since       time.Time `json:"since"`
	Streams     int       `json:"streams"`
	RTTMillis   *float64  `json:"rtt_ms,omitempty"`    // absent: not measured yet
	BytesIn     *int64    `json:"bytes_in,omitempty"`  // absent: not counted (quic)
	BytesOut    *int64    `json:"bytes_out,omitempty"` // absent: not counted (quic)
}

type uplinkStatus struct {
	Relay       string    `json:"relay"`
	Agent       string    `json:"agent"`
	Peer        string    `json:"peer"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Since       time.Time `json:"since"`
	RTTMillis   *float64  `json:"rtt_ms,omitempty"`
}

type agentStatus struct {
	Name        string    `json:"name"`
	Peer        string    `json:"peer"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Transport   string    `json:"transport"`
	Since       time.Time `json:"since"` // of its link
}

type forwardStatus struct {
	Peer        string    `json:"peer"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Network     string    `json:"network"`
	Dest        string    `json:"dest"`
	Since       time.Time `json:"since"`
	BytesUp     *int64    `json:"bytes_up,omitempty"` // absent: counted only when it ends
	BytesDown   *int64    `json:"bytes_down,omitempty"`
}

type denialStatus struct {
	Time        time.Time `json:"time"`
	Principal   string    `json:"principal"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Capability  string    `json:"capability"`
	Target      string    `json:"target"`
}

// status takes a snapshot of the node. Round trips older than rttMaxAge
// are measured first (at most maxPings, each bounded by ctx and a
// second; a link already being pinged keeps its last figure), so the
// figures are at most a few seconds old however many look at the page.
func (s *Server) status(ctx context.Context) status {
	b := s.book
	s.mu.Lock()
	agentOf := make(map[*session.Conn][]string, len(s.agents))
	for name, c := range s.agents {
		agentOf[c] = append(agentOf[c], name)
	}
	s.mu.Unlock()
	b.mu.Lock()
	links := make([]*linkEntry, 0, len(b.links))
	for _, e := range b.links {
		links = append(links, e)
	}
	uplinks := make([]*uplinkEntry, 0, len(b.uplinks))
	for e := range b.uplinks {
		uplinks = append(uplinks, e)
	}
	forwards := make([]*forwardEntry, 0, len(b.forwards))
	for _, e := range b.forwards {
		forwards = append(forwards, e)
	}
	var denials []denialStatus
	for i := 1; i <= denialRing; i++ { // newest first
		d := b.denials[(b.next-i+denialRing)%denialRing]
		if d.at.IsZero() {
			break
		}
		denials = append(denials, denialStatus{Time: d.at.UTC(), Principal: d.principal, Fingerprint: d.fingerprint,
			Capability: string(d.capability), Target: d.target})
	}
	nDenied := b.nDenied
	b.mu.Unlock()

	now := time.Now()
	var probes []*rttProbe
	var conns []*session.Conn
	for _, e := range links {
		if e.stale(now) {
			probes, conns = append(probes, &e.rttProbe), append(conns, e.conn)
		}
	}
	for _, e := range uplinks {
		if e.stale(now) {
			probes, conns = append(probes, &e.rttProbe), append(conns, e.conn)
		}
	}
	pingAll(ctx, probes[:min(len(probes), maxPings)], conns)

	st := status{Time: now.UTC(), Listeners: s.Addrs(), Denials: denials}
	if st.Listeners == nil {
		st.Listeners = []string{}
	}
	st.Node = nodeStatus{Name: shown(s.opts.Name), Version: orDevel(s.opts.Version), Started: s.started.UTC(), Admin: s.AdminURL()}
	if id := s.Identity(); id != nil {
		st.Node.Fingerprint = id.Fingerprint()
		leaf := id.Certificate()
		st.Node.CertExpiry = leaf.NotAfter.UTC()
		if ca := issuer(leaf, s.opts.Trust); ca != nil {
			st.Node.CAExpiry = ca.NotAfter.UTC()
		}
	}
	for _, e := range links {
		p := e.conn.Link().Peer()
		names := agentOf[e.conn]
		slices.Sort(names)
		kind := "client"
		if len(names) > 0 {
			kind = "agent"
		}
		ls := linkStatus{Peer: shown(p.Principal), Name: shown(p.Name), Fingerprint: shown(p.Fingerprint), Transport: e.transport,
			Kind: kind, Agents: names, Since: e.since.UTC(), Streams: e.conn.Link().NumStreams(), RTTMillis: e.millis()}
		if e.bytes != nil {
			in, out := e.bytes.in.Load(), e.bytes.out.Load()
			ls.BytesIn, ls.BytesOut = &in, &out
		}
		st.Counts.Streams += ls.Streams
		st.Links = append(st.Links, ls)
		for _, name := range names {
			st.Agents = append(st.Agents, agentStatus{Name: name, Peer: ls.Peer, Fingerprint: ls.Fingerprint,
				Transport: e.transport, Since: ls.Since})
		}
	}
	for _, e := range uplinks {
		p := e.conn.Link().Peer()
		if p.Principal == "" {
			p.Principal = p.Name // pinned by fingerprint: the name it announced
		}
		st.Uplinks = append(st.Uplinks, uplinkStatus{Relay: shown(e.relay), Agent: e.agent, Peer: shown(p.Principal),
			Fingerprint: shown(p.Fingerprint), Since: e.since.UTC(), RTTMillis: e.millis()})
	}
	for _, e := range forwards {
		fs := forwardStatus{Peer: shown(e.peer.Principal), Fingerprint: shown(e.peer.Fingerprint), Network: e.network,
			Dest: shown(e.dest), Since: e.since.UTC()}
		if e.tcp != nil {
			if sent, received, ok := tcpBytes(e.tcp); ok {
				if e.remote {
					sent, received = received, sent
				}
				fs.BytesUp, fs.BytesDown = &sent, &received
			}
		}
		st.Forwards = append(st.Forwards, fs)
	}
	slices.SortFunc(st.Links, func(a, b linkStatus) int { return a.Since.Compare(b.Since) })
	slices.SortFunc(st.Uplinks, func(a, b uplinkStatus) int { return strings.Compare(a.Relay, b.Relay) })
	slices.SortFunc(st.Agents, func(a, b agentStatus) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(st.Forwards, func(a, b forwardStatus) int { return a.Since.Compare(b.Since) })
	st.Counts.Links, st.Counts.Uplinks, st.Counts.Agents, st.Counts.Forwards = len(st.Links), len(st.Uplinks), len(st.Agents), len(st.Forwards)
	st.Counts.Denials = nDenied
	st.Links, st.Agents, st.Forwards = st.Links[:min(len(st.Links), statusRows)], st.Agents[:min(len(st.Agents), statusRows)],
		st.Forwards[:min(len(st.Forwards), statusRows)]
	d := s.dropped() // State's Drops
	st.Drops = d.node
	for k, v := range d.preAuthDrops {
		st.Drops[k[0]+":"+k[1]] += v
	}
	return st
}

func (p *rttProbe) millis() *float64 {
	d := p.rtt.Load()
	if d == 0 {
		return nil
	}
	ms := float64(d) / 1e6
	return &ms
}

// pingAll measures the round trip of each conns[i] into probes[i], all at
// once, and returns when they are done or a second has passed. Every
// goroutine it starts has ended when it returns.
func pingAll(ctx context.Context, probes []*rttProbe, conns []*session.Conn) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, p := range probes {
		if !p.pinging.CompareAndSwap(false, true) {
			continue
		}
		wg.Go(func() {
			defer p.pinging.Store(false)
			if d, err := conns[i].Link().Ping(ctx); err == nil {
				p.rtt.Store(max(int64(d), 1))
			}
			p.at.Store(time.Now().UnixNano()) // a link that did not answer keeps its last figure until the next round

		})
	}
	wg.Wait()
}

// trackForward records a connect stream's connection while it is open:
// c is what Dial connected req to.
func (b *statusBook) trackForward(peer session.Peer, req *connect.Request, c net.Conn) {
	e := &forwardEntry{peer: peer, network: req.Network.String(), dest: req.Address}
	if tc, ok := c.(*net.TCPConn); ok {
		e.tcp = tc
	}
	b.forwardStart(req, e)
}

// tracked has the book follow cs's streams: each connected stream is a
// forward from its Dial until it is Refused (the opener was gone before
// the verdict reached it) or Ended.
func (s *Server) tracked(cs *connect.Server) *connect.Server {
	dial, refused, ended := cs.Dial, cs.Refused, cs.Ended
	cs.Dial = func(ctx context.Context, peer session.Peer, req *connect.Request) (net.Conn, error) {
		c, err := dial(ctx, peer, req)
		if err == nil {
			s.book.trackForward(peer, req, c)
		}
		return c, err
	}
	cs.Refused = func(req *connect.Request, err error) {
		if req != nil {
			s.book.forwardEnd(req)
		}
		refused(req, err)
	}
	cs.Ended = func(req *connect.Request, up, down int64, took time.Duration, err error) {
		s.book.forwardEnd(req)
		ended(req, up, down, took, err)
	}
	return cs
}
