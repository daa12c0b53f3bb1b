// Package httpproxy is a small HTTP proxy for hopwire's -H forwards, for
// tools that speak only HTTP proxies: CONNECT tunnels (https, or any TCP
// protocol) and plain http:// requests in absolute form, with every
// upstream connection made by a dial function the caller gives (a
// route's DialContext, so connections leave from the route's target). It
// is built on net/http: the server parses requests, httputil's
// ReverseProxy forwards plain ones.
//
// A CONNECT is answered once the dial function returns: 200 and the
// tunnel, 403 when the far side's policy refused it, 502 for any other
// failure, with the reason as the body.
package httpproxy

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"
)

// Handler proxies requests. Its fields are set before it serves.
type Handler struct {
	// Dial makes the upstream connections ("tcp").
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Splice joins a client's tunnel and its upstream until both are done
	// (default: copies both ways).
	Splice func(client, upstream net.Conn)
	// Denied reports whether a dial error is a refusal by policy (403).
	Denied func(error) bool
	// Refused, if set, is told of every request that failed: its
	// destination, the status sent, and why.
	Refused func(dest string, status int, err error)
	// Auth, if set, requires Proxy-Authorization: Basic with a pair it
	// accepts; others get 407.
	Auth func(user, password string) bool
}

// ServeHTTP proxies one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Auth != nil && !h.authorized(r) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="hopwire"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		h.connect(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "this is a proxy: send CONNECT HOST:PORT, or an absolute http:// URL", http.StatusBadRequest)
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = pr.In.URL
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Del("Proxy-Authorization")
			pr.Out.Header.Del("Proxy-Connection")
		},
		Transport: &http.Transport{
			DialContext:           h.Dial,
			ForceAttemptHTTP2:     false,
			ResponseHeaderTimeout: time.Minute,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.fail(w, r.URL.Host, err)
		},
	}
	rp.ServeHTTP(w, r)
	rp.Transport.(*http.Transport).CloseIdleConnections()
}

// connect opens a tunnel to r.Host.
func (h *Handler) connect(w http.ResponseWriter, r *http.Request) {
	dest := r.Host
	if _, _, err := net.SplitHostPort(dest); err != nil {
		http.Error(w, "CONNECT wants HOST:PORT", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	up, err := h.Dial(ctx, "tcp", dest)
	cancel()
	if err != nil {
		h.fail(w, dest, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "cannot hijack the connection", http.StatusInternalServerError)
		return
	}
	client, brw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	client.SetDeadline(time.Time{})
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		client.Close()
		up.Close()
		return
	}
	if n := brw.Reader.Buffered(); n > 0 { // bytes the client sent after the request
		b, _ := brw.Reader.Peek(n)
		if _, err := up.Write(b); err != nil {
			client.Close()
			up.Close()
			return
		}
	}
	if h.Splice != nil {
		h.Splice(client, up)
		return
	}
	splice(client, up)
}

// fail answers a request whose upstream could not be reached.
func (h *Handler) fail(w http.ResponseWriter, dest string, err error) {
	status := http.StatusBadGateway
	if h.Denied != nil && h.Denied(err) {
		status = http.StatusForbidden
	}
	if h.Refused != nil {
		h.Refused(dest, status, err)
	}
	http.Error(w, err.Error(), status)
}

// authorized checks Proxy-Authorization: Basic.
func (h *Handler) authorized(r *http.Request) bool {
	v := r.Header.Get("Proxy-Authorization")
	b64, ok := strings.CutPrefix(v, "Basic ")
	if !ok {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	return ok && h.Auth(user, pass)
}

// splice copies both ways, passing half-closes on, until both are done.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
	a.Close()
	b.Close()
}
