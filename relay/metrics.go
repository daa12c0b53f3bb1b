package relay

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/session"
)

// metrics holds what a node counts for its /metrics page beyond what
// [State] already reports. State's own figures (links, streams, refs,
// agents, drops) are not counted twice: the collector reads them at
// scrape time from where State reads them ([Server.census] and
// [Server.dropped]). Every label takes values from a small fixed set:
// transports, peer kinds, capabilities, results, classic actions; never a
// peer's name or address.
type metrics struct {
	reg *prometheus.Registry

	handshakes       *prometheus.CounterVec   // transport, result
	handshakeSeconds *prometheus.HistogramVec // transport
	streamsOpened    *prometheus.CounterVec   // kind
	relayedUp        prometheus.Counter       // direction="up"
	relayedDown      prometheus.Counter       // direction="down"
	decisions        *prometheus.CounterVec   // capability, result
	rpcCalls         *prometheus.CounterVec   // service, method, result
	rpcSeconds       *prometheus.HistogramVec // service, method
	classicOps       *prometheus.CounterVec   // action, result

	denied func(Capability, error) // told of every denial (the status page's recent denials); nil: none
}

// Values of the result labels.
const (
	resultOK    = "ok"
	resultError = "error"
	allow       = "allow"
	deny        = "deny"
)

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopwire_handshakes_total",
		Help: "Link handshakes of peers the transport authenticated, by transport and result (ok, error); transport handshakes that failed are hopwire_preauth_drops_total.",
	}, []string{"transport", "result"})
	m.handshakeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hopwire_handshake_duration_seconds",
		Help:    "Time from a peer's authentication by its transport to its RPC session being ready (link and session hellos), by transport.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"transport"})
	m.streamsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopwire_streams_opened_total",
		Help: "Streams peers opened on this node, by kind: rpc (one per session), connect (tcp, udp, exec, agent forwarding) and data (io.Reader and io.Writer values of calls).",
	}, []string{"kind"})
	relayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopwire_relayed_bytes_total",
		Help: "Bytes this node relayed for connect streams and remote forwards, by direction: up from the side that opened the connection to its destination, down the way back. A stream connection is counted when it ends, UDP datagrams (their payload) as they pass.",
	}, []string{"direction"})
	m.relayedUp, m.relayedDown = relayed.WithLabelValues("up"), relayed.WithLabelValues("down")
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopwire_policy_decisions_total",
		Help: "Policy decisions on what peers asked for, by capability (connect, exec, register, classic, forward-remote, relay, agent) and result (allow, deny).",
	}, []string{"capability", "result"})
	m.classicOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopwire_classic_operations_total",
		Help: "Classic administration actions carried out on this node (exec, put, rm, eval, ...), by action and result (ok, error).",
	}, []string{"action", "result"})
	for _, c := range []Capability{CapConnect, CapExec, CapRegister, CapClassic, CapForwardRemote, CapRelay, CapAgent} {
		for _, r := range []string{allow, deny} {
			m.decisions.WithLabelValues(string(c), r) // present at 0, so a rate has a start
		}
	}
	for _, k := range []string{"rpc", "connect", "data"} {
		m.streamsOpened.WithLabelValues(k)
	}
	m.rpcCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hopwire_rpc_calls_total",
		Help: "Calls peers made to this node's services, by service (\"ref\" for referenced objects and funcs, \"unknown\" for names it does not have), method and result (ok, error).",
	}, []string{"service", "method", "result"})
	m.rpcSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hopwire_rpc_call_duration_seconds",
		Help:    "Time this node took to answer a peer's call, from reading it to its reply being ready, by service and method.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 2.5, 10, 60},
	}, []string{"service", "method"})
	m.reg.MustRegister(m.handshakes, m.handshakeSeconds, m.streamsOpened, relayed, m.decisions, m.classicOps, m.rpcCalls, m.rpcSeconds,
		&nodeCollector{s: s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// call counts one call a peer made to the node (session.Options.OnCall).
func (m *metrics) call(service, method string, took time.Duration, failed bool) {
	r := resultOK
	if failed {
		r = resultError
	}
	m.rpcCalls.WithLabelValues(service, method, r).Inc()
	m.rpcSeconds.WithLabelValues(service, method).Observe(took.Seconds())
}

// handshake counts one link handshake that began at start.
func (m *metrics) handshake(transport string, start time.Time, err error) {
	result := resultOK
	if err != nil {
		result = resultError
	}
	m.handshakes.WithLabelValues(transport, result).Inc()
	m.handshakeSeconds.WithLabelValues(transport).Observe(time.Since(start).Seconds())
}

// listening makes a listener's transport present in the handshake
// metrics at 0.
func (m *metrics) listening(transport string) {
	m.handshakes.WithLabelValues(transport, resultOK)
	m.handshakes.WithLabelValues(transport, resultError)
	m.handshakeSeconds.WithLabelValues(transport)
}

// decide counts one policy decision; err is the policy's answer.
func (m *metrics) decide(c Capability, err error) {
	r := allow
	if err != nil {
		r = deny
		if m.denied != nil {
			m.denied(c, err)
		}
	}
	m.decisions.WithLabelValues(string(c), r).Inc()
}

// relayed counts what one connection moved.
func (m *metrics) relayed(up, down int64) {
	m.relayedUp.Add(float64(up))
	m.relayedDown.Add(float64(down))
}

// countedUDP is the socket of a connect udp stream, counting the bytes of
// the datagrams it passes (the splice counts none for UDP). It is no
// *net.TCPConn, which is all the splice's abort looks for.
type countedUDP struct {
	net.Conn
	m *metrics
}

func (c countedUDP) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.m.relayedDown.Add(float64(n))
	}
	return n, err
}

func (c countedUDP) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.m.relayedUp.Add(float64(n))
	}
	return n, err
}

// classicActions are the action names package classic audits; anything
// else is counted as "other", so the label stays bounded whatever a
// future classic logs.
var classicActions = []string{"open", "exec", "exec -t", "start", "signal", "get", "put", "append",
	"rm", "rm -r", "mkdir", "rename", "chmod", "chown", "symlink", "eval"}

// auditCounter is a slog.Handler that counts classic's audit records
// (one per action: "action" attribute, message "classic action" or
// "classic action failed") before passing them on to the node's logger.
// It is how the classic operations metric hooks into classic.Options.Audit
// without a second hook in package classic.
type auditCounter struct {
	next slog.Handler
	ops  *prometheus.CounterVec
}

func (h auditCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l == slog.LevelInfo || h.next.Enabled(ctx, l) // every audit record is counted, logged or not
}

func (h auditCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && strings.HasPrefix(r.Message, "classic action") {
		action := "other"
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "action" {
				return true
			}
			if v := a.Value.String(); slices.Contains(classicActions, v) {
				action = v
			}
			return false
		})
		result := resultOK
		if r.Message != "classic action" {
			result = resultError
		}
		h.ops.WithLabelValues(action, result).Inc()
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h auditCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return auditCounter{next: h.next.WithAttrs(as), ops: h.ops}
}

func (h auditCounter) WithGroup(name string) slog.Handler {
	return auditCounter{next: h.next.WithGroup(name), ops: h.ops}
}

// auditLogger is the classic audit logger of a link whose log is log:
// its records go to log and are counted.
func (m *metrics) auditLogger(log *slog.Logger) *slog.Logger {
	return slog.New(auditCounter{next: log.Handler(), ops: m.classicOps}).With("audit", "classic")
}

// nodeCollector reports, at scrape time, the figures the node keeps for
// [State] and its certificates' expiry.
type nodeCollector struct{ s *Server }

var (
	descLinks = prometheus.NewDesc("hopwire_links",
		"Links up (authenticated, with an RPC session), by transport and peer kind (agent: registered as a reverse agent here; client: any other peer).",
		[]string{"transport", "peer_kind"}, nil)
	descStreams = prometheus.NewDesc("hopwire_streams_open",
		"Streams open on the node's links (rpc, data and connect).", nil, nil)
	descRefs = prometheus.NewDesc("hopwire_refs_exported",
		"References the node exports to its peers.", nil, nil)
	descAgents = prometheus.NewDesc("hopwire_agents",
		"Reverse agents registered at this node.", nil, nil)
	descBuffered = prometheus.NewDesc("hopwire_buffered_bytes",
		"Bytes the links hold in their receive buffers (received, not yet read), counted against the memory budget.", nil, nil)
	descPreAuth = prometheus.NewDesc("hopwire_preauth_connections",
		"Connections accepted and not yet authenticated (tls, dtls and ssh listeners).", nil, nil)
	descPreAuthDrops = prometheus.NewDesc("hopwire_preauth_drops_total",
		"Connections dropped before authentication, by transport and reason: cap (the pre-auth cap was reached), silent (the peer left or stalled mid-handshake), refused (the handshake failed or the peer is not trusted).",
		[]string{"transport", "reason"}, nil)
	descRefusals = prometheus.NewDesc("hopwire_refusals_total",
		"What the node refused after authentication, by reason: link (a link hello failed), session (the RPC session could not start), denied (a CONNECT refused by policy), malformed (a CONNECT request that could not be parsed).",
		[]string{"reason"}, nil)
	descCertExpiry = prometheus.NewDesc("hopwire_cert_expiry_remaining_seconds",
		"Seconds until a certificate expires (negative once it has): cert=node is the node's own, cert=ca the CA in the node's trust that issued it.",
		[]string{"cert"}, nil)
	descBuildInfo = prometheus.NewDesc("hopwire_build_info",
		"Always 1; the labels say which hopwire this is.", []string{"version", "goversion"}, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLinks, descStreams, descRefs, descAgents, descBuffered,
		descPreAuth, descPreAuthDrops, descRefusals, descCertExpiry, descBuildInfo} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	n := s.census()
	for k, v := range n.links {
		ch <- prometheus.MustNewConstMetric(descLinks, prometheus.GaugeValue, float64(v), k.transport, k.kind)
	}
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(n.streams))
	ch <- prometheus.MustNewConstMetric(descRefs, prometheus.GaugeValue, float64(n.refs))
	ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(n.agents))
	ch <- prometheus.MustNewConstMetric(descBuffered, prometheus.GaugeValue, float64(s.adm.budget.Used()))
	d := s.dropped()
	ch <- prometheus.MustNewConstMetric(descPreAuth, prometheus.GaugeValue, float64(d.preAuth))
	for k, v := range d.preAuthDrops {
		ch <- prometheus.MustNewConstMetric(descPreAuthDrops, prometheus.CounterValue, float64(v), k[0], k[1])
	}
	for reason, v := range d.node {
		ch <- prometheus.MustNewConstMetric(descRefusals, prometheus.CounterValue, float64(v), reason)
	}
	now := time.Now()
	if id := s.Identity(); id != nil { // the certificate in force (SIGHUP may renew it)
		leaf := id.Certificate()
		ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, secondsLeft(leaf, now), "node")
		if ca := issuer(leaf, s.opts.Trust); ca != nil {
			ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, secondsLeft(ca, now), "ca")
		}
	}
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, orDevel(s.opts.Version), runtime.Version())
}

// secondsLeft is how long c has until it expires, in seconds; in Unix
// seconds, not a time.Duration, which saturates at 292 years (hopwire's own
// identities do not expire: they say 9999).
func secondsLeft(c *x509.Certificate, now time.Time) float64 {
	return float64(c.NotAfter.Unix() - now.Unix())
}

func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}

// issuer is the CA certificate in trust's pool that issued leaf, or nil
// (no pool, or a leaf the pool did not issue). An x509.CertPool cannot be
// listed, so the CA is found by verifying leaf against it, as of the
// leaf's own start so that an expired leaf still finds its CA.
func issuer(leaf *x509.Certificate, trust certs.Trust) *x509.Certificate {
	if trust.Pool == nil {
		return nil
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: trust.Pool, CurrentTime: leaf.NotBefore.Add(time.Second),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil || len(chains) == 0 || len(chains[0]) < 2 {
		return nil
	}
	return chains[0][len(chains[0])-1]
}

// linkKey is a links gauge's label pair.
type linkKey struct{ transport, kind string }

// census is what the node holds now: State's Sessions, Streams, Refs and
// Agents, and the links by transport and peer kind for /metrics.
type census struct {
	sessions, streams, refs, agents int
	links                           map[linkKey]int
}

func (s *Server) census() census {
	n := census{links: map[linkKey]int{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		scheme, _, _ := strings.Cut(l.url, "://")
		for _, kind := range []string{"client", "agent"} {
			n.links[linkKey{scheme, kind}] += 0 // the node's own transports are present at 0
		}
	}
	agents := make(map[*session.Conn]bool, len(s.agents))
	for _, a := range s.agents {
		agents[a] = true
	}
	n.sessions, n.agents = len(s.conns), len(s.agents)
	for c, transport := range s.conns {
		n.streams += c.Link().NumStreams()
		n.refs += c.NumExports()
		kind := "client"
		if agents[c] {
			kind = "agent"
		}
		n.links[linkKey{transport, kind}]++
	}
	return n
}

// dropSnapshot is what the node dropped since it started: State's
// PreAuth and Drops, for State and /metrics alike.
type dropSnapshot struct {
	preAuth      int
	preAuthDrops map[[2]string]uint64 // transport, reason
	node         map[string]uint64    // link, session, denied, malformed
}

func (s *Server) dropped() dropSnapshot {
	d := dropSnapshot{preAuthDrops: map[[2]string]uint64{}, node: map[string]uint64{
		"link":      s.drops.link.Load(),
		"session":   s.drops.session.Load(),
		"denied":    s.drops.denied.Load(),
		"malformed": s.drops.malformed.Load(),
	}}
	s.mu.Lock()
	ls := append([]listener(nil), s.listeners...)
	s.mu.Unlock()
	for _, l := range ls {
		if l.stats == nil {
			continue
		}
		n, dropped := l.stats()
		d.preAuth += n
		scheme, _, _ := strings.Cut(l.url, "://")
		for why, k := range dropped {
			d.preAuthDrops[[2]string{scheme, why}] += k
		}
	}
	return d
}

// dropCounts counts the node's own refusals.
type dropCounts struct{ link, session, denied, malformed atomic.Uint64 }
