package httpproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errDenied = errors.New("denied by policy")

// proxy serves h on loopback and returns its URL with user:pass (if any).
func proxy(t *testing.T, h *Handler, userinfo *url.Userinfo) *url.URL {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	u.User = userinfo
	return u
}

func direct(ctx context.Context, network, addr string) (net.Conn, error) {
	if strings.HasPrefix(addr, "denied.") {
		return nil, errDenied
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// A Go http.Client through the proxy: https through CONNECT, plain http
// in absolute form, authentication, and refusals with the right status.
func TestProxy(t *testing.T) {
	site := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure hello") }))
	defer site.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "" {
			t.Error("the proxy passed Proxy-Authorization on")
		}
		io.WriteString(w, "plain hello "+r.URL.Path)
	}))
	defer plain.Close()
	var refused []int
	h := &Handler{Dial: direct, Denied: func(err error) bool { return errors.Is(err, errDenied) },
		Refused: func(_ string, status int, _ error) { refused = append(refused, status) },
		Auth:    func(u, p string) bool { return u == "alice" && p == "s3cret" }}
	client := func(u *url.URL) *http.Client {
		tr := site.Client().Transport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyURL(u)
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	get := func(c *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := client(proxy(t, h, url.UserPassword("alice", "s3cret")))
	if code, body := get(good, site.URL); code != 200 || body != "secure hello" {
		t.Fatalf("https through CONNECT: %d %q", code, body)
	}
	if code, body := get(good, plain.URL+"/x"); code != 200 || body != "plain hello /x" {
		t.Fatalf("plain http through the proxy: %d %q", code, body)
	}
	if code, _ := get(good, "http://denied.example:80/"); code != http.StatusForbidden {
		t.Fatalf("a denied destination: %d, want 403", code)
	}
	if code, _ := get(good, "http://127.0.0.1:1/"); code != http.StatusBadGateway {
		t.Fatalf("an unreachable destination: %d, want 502", code)
	}
	bad := client(proxy(t, h, url.UserPassword("alice", "guess")))
	if code, _ := get(bad, plain.URL); code != http.StatusProxyAuthRequired {
		t.Fatalf("a wrong password: %d, want 407", code)
	}
	if _, body := get(bad, site.URL); !strings.Contains(body, "Proxy Authentication Required") {
		t.Fatalf("CONNECT with a wrong password: %q", body)
	}
	if len(refused) != 2 || refused[0] != 403 || refused[1] != 502 {
		t.Fatalf("refusals reported: %v, want [403 502]", refused)
	}
}
