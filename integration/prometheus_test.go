//go:build integration && linux

package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of a command a test needs. Without it the
// test fails in CI (CI set in the environment, as .ci/run does), where
// the package is meant to be installed, and skips elsewhere.
func needTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("needs %s: apt-get install -y %s (.ci/run installs it)", name, debianPackage)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this fails rather than skips")
	}
	t.Skip(msg)
	return ""
}

// management gives each namespace in ns a link to the host's own
// namespace (an out-of-band monitoring network, apart from the chain's):
// it returns each namespace's address on it, which the host reaches.
func management(t *testing.T, ns []string) []string {
	t.Helper()
	tag := fmt.Sprintf("hm%04x", rand.IntN(1<<16))
	x := 200 + rand.IntN(50)
	var addrs []string
	for i, n := range ns {
		host, node := fmt.Sprintf("%s-%dh", tag, i), fmt.Sprintf("%s-%dn", tag, i)
		sh(t, "ip", "link", "add", host, "type", "veth", "peer", "name", node, "netns", n)
		t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
		sh(t, "ip", "addr", "add", fmt.Sprintf("10.%d.%d.1/24", x, i+1), "dev", host)
		sh(t, "ip", "-n", n, "addr", "add", fmt.Sprintf("10.%d.%d.2/24", x, i+1), "dev", node)
		sh(t, "ip", "link", "set", host, "up")
		sh(t, "ip", "-n", n, "link", "set", node, "up")
		addrs = append(addrs, fmt.Sprintf("10.%d.%d.2", x, i+1))
	}
	return addrs
}

// TestPrometheusChain is issue 17's acceptance test of the metrics: a
// chain client → r1 (tls) → r2 (quic) → r3 (tls) in network namespaces,
// each node with --admin on a monitoring network, scraped by a real
// Prometheus server (over HTTPS with a client certificate the nodes
// authorize, as an admin listener off loopback requires). After a
// forward to an echo server behind r3 and a connect r1's policy denies,
// Prometheus's HTTP API must show the bytes r3 relayed, one link on each
// node (a forward that stays up) and r1's denial; and every node's page
// passes promtool check metrics.
func TestPrometheusChain(t *testing.T) {
	prometheus := needTool(t, "prometheus", "prometheus")
	promtool := needTool(t, "promtool", "prometheus")
	hw, chainclient := binaries(t)
	ns, addr := segmented(t, 4) // client, r1, r2, r3
	mgmt := management(t, ns[1:])
	dir := t.TempDir()
	home := func(n string) string { return filepath.Join(dir, n) }
	nodes := []string{"r1", "r2", "r3"}
	fp := map[string]string{}
	for _, n := range append([]string{"client", "prometheus"}, nodes...) {
		fp[n] = identity(t, hw, home(n), n)
	}
	for i, n := range nodes {
		trust(t, hw, home(n), "--authorized", fp["client"], "client")
		trust(t, hw, home(n), "--authorized", fp["prometheus"], "prometheus")
		trust(t, hw, home("client"), "--known", fp[n], n, "--addr", net.JoinHostPort(addr(i+1, i), "7443"))
	}
	r1 := "tls://" + net.JoinHostPort(addr(1, 0), "7443")
	r2 := "quic://" + net.JoinHostPort(addr(2, 1), "7443")
	r3 := "tls://" + net.JoinHostPort(addr(3, 2), "7443")
	echo := net.JoinHostPort(addr(3, 2), "9000")
	echoIn(t, ns[3], echo)
	admin := func(i int) string { return net.JoinHostPort(mgmt[i], "9090") }
	startNS(t, ns[3], "admin https://", hw, "serve", "--home", home("r3"), "--listen", r3, "--admin", admin(2),
		"--grant", "client:connect="+echo)
	startNS(t, ns[2], "admin https://", hw, "serve", "--home", home("r2"), "--listen", r2, "--admin", admin(1),
		"--grant", "client:connect="+net.JoinHostPort(addr(3, 2), "7443"))
	startNS(t, ns[1], "admin https://", hw, "serve", "--home", home("r1"), "--listen", r1, "--admin", admin(0),
		"--grant", "client:connect="+net.JoinHostPort(addr(2, 1), "7443"))

	// Prometheus scrapes each node with its own job: the node's
	// self-signed certificate is the CA to check it by, and its name the
	// server name.
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n")
	for i, n := range nodes {
		fmt.Fprintf(&cfg, `  - job_name: %s
    scheme: https
    tls_config:
      ca_file: %s
      server_name: %s
      cert_file: %s
      key_file: %s
    static_configs:
      - targets: [%q]
        labels: {node: %s}
`, n, filepath.Join(home(n), "id.crt"), n, filepath.Join(home("prometheus"), "id.crt"), filepath.Join(home("prometheus"), "id.key"), admin(i), n)
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", cfgFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	promURL := "http://127.0.0.1:" + freePort(t)
	startPrometheus(t, prometheus, cfgFile, promURL)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	// Traffic: a forward of n bytes to the echo server behind r3 (the
	// client's chain ends when it is done), a connect r1 denies, and a
	// forward that stays up, holding one link on each node.
	const n = 4 << 20
	out, err := inNS(ctx, ns[0], chainclient, "-home", home("client"), "-J", r1+","+r2, "-target", r3,
		"-forward", echo, "-bytes", strconv.Itoa(n))
	if err != nil || !strings.Contains(out, fmt.Sprintf("forward %d bytes ok", n)) {
		t.Fatalf("chainclient: %v\n%s", err, out)
	}
	out, err = inNS(ctx, ns[0], hw, "ping", "--home", home("client"), "-J", r1, "tls://127.0.0.1:7443")
	if err == nil || !strings.Contains(out, "denied by policy") {
		t.Fatalf("a connect r1 does not grant: %v\n%s", err, out)
	}
	startNS(t, ns[0], "forwarding", hw, "forward", "--home", home("client"), "-J", r1+","+r2, r3, "-L", "127.0.0.1:18900:"+echo)

	for _, c := range []struct {
		query string
		want  map[string]float64 // by node label
	}{
		{`up`, map[string]float64{"r1": 1, "r2": 1, "r3": 1}},
		{`hopwire_relayed_bytes_total{node="r3",direction="up"}`, map[string]float64{"r3": n}},
		{`hopwire_relayed_bytes_total{node="r3",direction="down"}`, map[string]float64{"r3": n}},
		{`sum by (node) (hopwire_links)`, map[string]float64{"r1": 1, "r2": 1, "r3": 1}},
		{`hopwire_links{peer_kind="client"} > 0`, map[string]float64{"r1": 1, "r2": 1, "r3": 1}},
		{`hopwire_policy_decisions_total{capability="connect",result="deny"}`, map[string]float64{"r1": 1, "r2": 0, "r3": 0}},
		{`hopwire_refusals_total{reason="denied"}`, map[string]float64{"r1": 1, "r2": 0, "r3": 0}},
	} {
		waitQuery(ctx, t, promURL, c.query, c.want)
	}
	// The links by transport: each node's own.
	for i, tr := range []string{"tls", "quic", "tls"} {
		waitQuery(ctx, t, promURL, fmt.Sprintf(`hopwire_links{node=%q,transport=%q,peer_kind="client"}`, nodes[i], tr), map[string]float64{nodes[i]: 1})
	}
	// r1 and r2 relayed the chain's links: more than the payload each way.
	for _, dir := range []string{"up", "down"} {
		waitQuery(ctx, t, promURL, fmt.Sprintf(`hopwire_relayed_bytes_total{direction=%q} > bool %d`, dir, n),
			map[string]float64{"r1": 1, "r2": 1, "r3": 0})
	}

	// Each node's page, as a client with the same certificate fetches it,
	// passes promtool's checks.
	cert, err := tls.LoadX509KeyPair(filepath.Join(home("prometheus"), "id.crt"), filepath.Join(home("prometheus"), "id.key"))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		pem, err := os.ReadFile(filepath.Join(home(n), "id.crt"))
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: n, Certificates: []tls.Certificate{cert}}}}
		for _, path := range []string{"/readyz", "/healthz"} {
			if body, err := get(ctx, cl, "https://"+admin(i)+path); err != nil || string(body) != "ok\n" {
				t.Errorf("%s %s: %v %q", n, path, err, body)
			}
		}
		body, err := get(ctx, cl, "https://"+admin(i)+"/metrics")
		cl.CloseIdleConnections()
		if err != nil {
			t.Fatalf("%s /metrics: %v", n, err)
		}
		check := exec.CommandContext(ctx, promtool, "check", "metrics")
		check.Stdin = bytes.NewReader(body)
		if out, err := check.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on %s's page: %v\n%s", n, err, out)
		}
	}
}

// startPrometheus runs a Prometheus server with cfgFile, listening at
// base (http://127.0.0.1:PORT) with its own storage, until the test ends,
// and waits for it to be ready.
func startPrometheus(t *testing.T, bin, cfgFile, base string) {
	t.Helper()
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+strings.TrimPrefix(base, "http://"), "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	cl := &http.Client{Timeout: 2 * time.Second}
	defer cl.CloseIdleConnections()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs.String())
		default:
		}
		if _, err := get(t.Context(), cl, base+"/-/ready"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready in 30s:\n%s", logs.String())
		}
	}
}

func get(ctx context.Context, cl *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	return body, err
}

// waitQuery asks Prometheus (/api/v1/query) for query until its result,
// by the series' node label, is want (and nothing else).
func waitQuery(ctx context.Context, t *testing.T, base, query string, want map[string]float64) {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	var last string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		got, err := promQuery(ctx, cl, base, query)
		if err == nil && equalResults(got, want) {
			t.Logf("%s: %v", query, got)
			return
		}
		last = fmt.Sprintf("%v (err %v)", got, err)
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("Prometheus query %s: got %s, want %v", query, last, want)
		}
	}
}

func equalResults(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// promQuery runs an instant query and returns the result's values by
// their node label.
func promQuery(ctx context.Context, cl *http.Client, base, query string) (map[string]float64, error) {
	body, err := get(ctx, cl, base+"/api/v1/query?query="+url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %s: %w: %s", query, err, body)
	}
	if r.Status != "success" || r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: %s", query, body)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v", query, s.Value[1])
		}
		out[s.Metric["node"]] = v
	}
	return out, nil
}
