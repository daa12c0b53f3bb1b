package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
)

// scrape fetches url (a node's /metrics) and returns its samples by
// series, e.g. `hopwire_links{peer_kind="client",transport="tls"}`.
func scrape(t *testing.T, cl *http.Client, url string) (map[string]float64, []byte) {
	t.Helper()
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return parseMetrics(t, body), body
}

// parseMetrics reads the samples of a text exposition.
func parseMetrics(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitMetrics scrapes url until every series in want has its value.
func waitMetrics(t *testing.T, cl *http.Client, url string, want map[string]float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, body := scrape(t, cl, url)
		var wrong []string
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v (present %v), want %v", k, g, ok, v))
			}
		}
		if len(wrong) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:\n%s\n\n%s", url, strings.Join(wrong, "\n"), body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsAfterTraffic scrapes the admin listener of the nodes of a
// real chain (client → r1 over tls → target over quic) after a forward,
// a connect the policy denies and a classic action, and checks the
// figures, that State's counts agree with them, and that the page passes
// Prometheus's lint.
func TestMetricsAfterTraffic(t *testing.T) {
	client := newIdentity(t, "client")
	echoAddr := echoServer(t)
	admin := func(o *Options) { o.Admin = "127.0.0.1:0" }
	target := startNodeWith(t, "target", "quic://127.0.0.1:0", []*certs.Identity{client}, admin,
		"client:connect="+echoAddr, "client:classic")
	r1 := startNodeWith(t, "r1", "tls://127.0.0.1:0", []*certs.Identity{client}, admin,
		"client:connect="+hostPort(t, target.url))
	cl := &http.Client{Timeout: 10 * time.Second}
	defer cl.CloseIdleConnections()
	tm, rm := target.srv.AdminURL()+"/metrics", r1.srv.AdminURL()+"/metrics"
	for _, n := range []*testNode{target, r1} {
		resp, err := cl.Get(n.srv.AdminURL() + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("readyz of a started node: %v %v", resp, err)
		}
		resp.Body.Close()
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	route, err := dialer(client, r1, target).Dial(ctx, []hop.Addr{mustAddr(t, r1.url)}, mustAddr(t, target.url))
	if err != nil {
		t.Fatal(err)
	}
	defer route.Close()
	waitMetrics(t, cl, tm, map[string]float64{
		`hopwire_links{peer_kind="client",transport="quic"}`: 1,
		`hopwire_links{peer_kind="agent",transport="quic"}`:  0,
	})
	waitMetrics(t, cl, rm, map[string]float64{`hopwire_links{peer_kind="client",transport="tls"}`: 1})

	// 1 MiB there and back through the target's connect to the echo server.
	const n = 1 << 20
	data := make([]byte, n)
	rand.Read(data)
	c, err := route.DialContext(ctx, "tcp", echoAddr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c.Write(data)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	back, err := io.ReadAll(c)
	c.Close()
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("echo through the chain: %d bytes, %v", len(back), err)
	}
	// A destination the target does not grant.
	if c, err := route.DialContext(ctx, "tcp", "127.0.0.1:9"); err == nil {
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if !errors.Is(err, session.ErrDenied) {
			t.Fatalf("ungranted connect: %v, want a denial", err)
		}
	}
	// A classic action, audited and counted.
	dir := filepath.Join(t.TempDir(), "made")
	if _, err := route.Target().Service(classic.ServiceName).Call(ctx, "MkdirAll", dir, uint32(0o755)); err != nil {
		t.Fatal(err)
	}
	// A data stream: a file written through an io.Reader argument.
	if _, err := route.Target().Service(classic.ServiceName).Call(ctx, "WriteFile", filepath.Join(dir, "f"), strings.NewReader("data"), uint32(0o644)); err != nil {
		t.Fatal(err)
	}
	// Calls by service and method; a peer's made-up names are "unknown".
	if _, err := route.Target().Service("node").Call(ctx, "Info"); err != nil {
		t.Fatal(err)
	}
	route.Target().Service("no-such-service-"+strings.Repeat("x", 40)).Call(ctx, "Whatever")

	got := waitMetrics(t, cl, tm, map[string]float64{
		`hopwire_relayed_bytes_total{direction="up"}`:                                n,
		`hopwire_relayed_bytes_total{direction="down"}`:                              n,
		`hopwire_policy_decisions_total{capability="connect",result="allow"}`:        1,
		`hopwire_policy_decisions_total{capability="connect",result="deny"}`:         1,
		`hopwire_policy_decisions_total{capability="classic",result="allow"}`:        1,
		`hopwire_refusals_total{reason="denied"}`:                                    1,
		`hopwire_streams_opened_total{kind="connect"}`:                               2,
		`hopwire_streams_opened_total{kind="rpc"}`:                                   1,
		`hopwire_handshakes_total{result="ok",transport="quic"}`:                     1,
		`hopwire_handshakes_total{result="error",transport="quic"}`:                  0,
		`hopwire_handshake_duration_seconds_count{transport="quic"}`:                 1,
		`hopwire_classic_operations_total{action="mkdir",result="ok"}`:               1,
		`hopwire_rpc_calls_total{method="MkdirAll",result="ok",service="classic"}`:   1,
		`hopwire_rpc_calls_total{method="Info",result="ok",service="node"}`:          1,
		`hopwire_rpc_calls_total{method="unknown",result="error",service="unknown"}`: 1,
		`hopwire_rpc_call_duration_seconds_count{method="Info",service="node"}`:      1,
		`hopwire_links{peer_kind="client",transport="quic"}`:                         1,
		`hopwire_agents`: 0,
		`hopwire_build_info{goversion="` + runtime.Version() + `",version="(devel)"}`: 1,
	})
	if v := got[`hopwire_cert_expiry_remaining_seconds{cert="node"}`]; v < 365*24*3600 {
		t.Errorf("node certificate expiry = %v s, want years (identities say 9999)", v)
	}
	// State reads the same counts.
	st := target.srv.State()
	if st.Drops["denied"] != 1 || st.Sessions != 1 {
		t.Errorf("State: drops %v, sessions %d; want 1 denied, 1 session like /metrics", st.Drops, st.Sessions)
	}
	// r1 relayed the link to the target: one connect (udp, for QUIC), allowed.
	waitMetrics(t, cl, rm, map[string]float64{
		`hopwire_policy_decisions_total{capability="connect",result="allow"}`: 1,
		`hopwire_streams_opened_total{kind="connect"}`:                        1,
	})

	route.Close()
	waitMetrics(t, cl, tm, map[string]float64{`hopwire_links{peer_kind="client",transport="quic"}`: 0})
	got = waitMetrics(t, cl, rm, map[string]float64{`hopwire_links{peer_kind="client",transport="tls"}`: 0})
	if up, down := got[`hopwire_relayed_bytes_total{direction="up"}`], got[`hopwire_relayed_bytes_total{direction="down"}`]; up < n || down < n {
		t.Errorf("r1 relayed %v up, %v down once the link ended; want at least the %d echoed each way (in QUIC datagrams)", up, down, n)
	}
	_, body := scrape(t, cl, tm)
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "hopwire_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestAdminReadyz: /readyz answers 503 until Start has the listeners up,
// and again after Close; /healthz answers 200 throughout.
func TestAdminReadyz(t *testing.T) {
	srv, err := New(&Options{Name: "n", Identity: newIdentity(t, "n"), Listen: []string{"tls://127.0.0.1:0"},
		Trust: certs.Trust{Store: certs.StoreOf(newIdentity(t, "client"))}})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.AdminHandler()
	get := func(path string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w.Code
	}
	if c := get("/readyz"); c != http.StatusServiceUnavailable {
		t.Errorf("readyz before Start: %d", c)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := get("/readyz"); c != http.StatusOK {
		t.Errorf("readyz after Start: %d", c)
	}
	srv.Close()
	if c := get("/readyz"); c != http.StatusServiceUnavailable {
		t.Errorf("readyz after Close: %d", c)
	}
	if c := get("/healthz"); c != http.StatusOK {
		t.Errorf("healthz: %d", c)
	}
}

// TestAdminOffLoopback: off loopback the admin listener is HTTPS and
// takes only clients with a certificate the node trusts.
func TestAdminOffLoopback(t *testing.T) {
	if _, err := New(&Options{Admin: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "identity") {
		t.Fatalf("off-loopback admin without an identity: %v", err)
	}
	if _, err := New(&Options{Admin: "9090"}); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Fatalf("admin without a host: %v", err)
	}
	client, stranger := newIdentity(t, "client"), newIdentity(t, "stranger")
	n := startNodeWith(t, "n", "tls://127.0.0.1:0", []*certs.Identity{client}, func(o *Options) { o.Admin = "0.0.0.0:0" })
	u := n.srv.AdminURL()
	if !strings.HasPrefix(u, "https://") {
		t.Fatalf("admin URL %s, want https", u)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(u, "https://"))
	url := "https://127.0.0.1:" + port + "/metrics"
	roots := x509.NewCertPool()
	roots.AddCert(n.id.Certificate())
	get := func(id *certs.Identity) error {
		cfg := &tls.Config{RootCAs: roots, ServerName: "hopwire"}
		if id != nil {
			cfg.Certificates = []tls.Certificate{id.TLSCertificate()}
		}
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer cl.CloseIdleConnections()
		resp, err := cl.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	}
	if err := get(client); err != nil {
		t.Fatalf("a trusted client: %v", err)
	}
	for name, id := range map[string]*certs.Identity{"no certificate": nil, "an untrusted one": stranger} {
		if err := get(id); err == nil {
			t.Errorf("a client with %s read /metrics", name)
		}
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	defer plain.CloseIdleConnections()
	if resp, err := plain.Get("http://127.0.0.1:" + port + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP read /metrics off loopback")
		}
	}
}

// TestAuditCounter: classic actions are counted whether or not the
// node's logger shows INFO records, and the records pass through.
func TestAuditCounter(t *testing.T) {
	s, err := New(&Options{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		buf.Reset()
		log := s.metrics.auditLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})).With("peer", "p"))
		log.Info("classic action", "action", "put", "path", "/x")
		log.Info("classic action failed", "action", "rm", "err", "no")
		log.Info("classic action", "action", "something new")
		if shown := strings.Contains(buf.String(), "peer=p audit=classic action=put"); shown != (level == slog.LevelInfo) {
			t.Errorf("level %v: records shown %v:\n%s", level, shown, buf.String())
		}
	}
	w := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	got := parseMetrics(t, w.Body.Bytes())
	for k, v := range map[string]float64{
		`hopwire_classic_operations_total{action="put",result="ok"}`:   2,
		`hopwire_classic_operations_total{action="rm",result="error"}`: 2,
		`hopwire_classic_operations_total{action="other",result="ok"}`: 2,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestCertExpiryMetrics: the node's certificate and the CA that issued
// it, found in the node's trust pool, report the seconds they have left.
func TestCertExpiryMetrics(t *testing.T) {
	dir := t.TempDir()
	ca, err := certs.InitCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.IssueToDir(dir, "n", nil); err != nil {
		t.Fatal(err)
	}
	id, err := certs.Load(filepath.Join(dir, "n.crt"), filepath.Join(dir, "n.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(&Options{Identity: id, Trust: certs.Trust{Pool: ca.Pool()}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	got := parseMetrics(t, w.Body.Bytes())
	for cert, notAfter := range map[string]time.Time{"node": id.Certificate().NotAfter, "ca": ca.Certificate().NotAfter} {
		want := time.Until(notAfter).Seconds()
		if g, ok := got[`hopwire_cert_expiry_remaining_seconds{cert="`+cert+`"}`]; !ok || g < want-5 || g > want+5 {
			t.Errorf("%s certificate: %v s left (present %v), want about %.0f", cert, g, ok, want)
		}
	}
}
