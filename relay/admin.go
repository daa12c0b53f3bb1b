package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hopwire/hopwire/certs"
)

// adminServer is the node's admin HTTP listener (Options.Admin).
type adminServer struct {
	ln   net.Listener
	tls  bool
	srv  *http.Server
	done chan struct{}
}

// loopbackHost reports whether host (of a HOST:PORT) names only the
// loopback interface: a loopback IP or "localhost". An empty host (every
// interface) or any other name is not.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkAdmin checks Options.Admin before anything starts.
func checkAdmin(o *Options) error {
	host, _, err := net.SplitHostPort(o.Admin)
	if err != nil {
		return fmt.Errorf("relay: admin address %q: want HOST:PORT, e.g. 127.0.0.1:9090 (%v)", o.Admin, err)
	}
	if !loopbackHost(host) && o.Identity == nil {
		return fmt.Errorf("relay: admin address %s is not loopback, so it is served over TLS with client certificates from the node's trust, which needs the node's identity; give the node one, or use 127.0.0.1", o.Admin)
	}
	return nil
}

// serveAdmin listens on addr and serves [Server.AdminHandler] there: plain
// HTTP on loopback, else HTTPS requiring a client certificate that the
// node's trust accepts (the same check as its tls listeners).
func (s *Server) serveAdmin(addr string) (*adminServer, error) {
	host, _, _ := net.SplitHostPort(addr)
	var cfg *tls.Config
	if !loopbackHost(host) {
		c, err := certs.ServerConfig(s.opts.Identity, s.opts.Trust)
		if err != nil {
			return nil, fmt.Errorf("relay: admin %s: off loopback it needs TLS with client certificates from the node's trust: %w", addr, err)
		}
		c.Certificates, c.GetCertificate = nil, func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert := s.Identity().TLSCertificate() // renewed by SetIdentity
			return &cert, nil
		}
		c.NextProtos = []string{"http/1.1"}
		cfg = c
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: admin: %w", err)
	}
	h := s.AdminHandler()
	if cfg == nil {
		h = loopbackOnly(h) // plain HTTP: no answer to a rebound name
	}
	a := &adminServer{ln: ln, tls: cfg != nil, done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: time.Minute,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
			// TLS handshake failures of strangers are not the node's errors.
			ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			BaseContext: func(net.Listener) context.Context { return s.ctx }}}
	served := ln
	if cfg != nil {
		served = tls.NewListener(ln, cfg)
	}
	go func() {
		defer close(a.done)
		a.srv.Serve(served)
	}()
	s.log.Info("admin endpoint", "addr", a.URL())
	return a, nil
}

// URL is the admin listener's base URL, http://HOST:PORT or https://….
func (a *adminServer) URL() string {
	if a.tls {
		return "https://" + a.ln.Addr().String()
	}
	return "http://" + a.ln.Addr().String()
}

func (a *adminServer) close() {
	a.srv.Close()
	<-a.done
}

// AdminURL returns the base URL of the node's admin listener
// (http://HOST:PORT, or https:// off loopback), or "" when it has none.
func (s *Server) AdminURL() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.URL()
}

// AdminHandler returns the node's admin pages, for Options.Admin or to be
// mounted on a server of the caller's: GET /metrics (Prometheus text
// format, from a registry of the node's own, not the global default one),
// GET /healthz (200 while the process runs), GET /readyz (200 once
// Start has every listener up, 503 before and after Close), and the
// status page: GET / (HTML: the node's identity, listeners, links,
// agents, forwards open now, recent denials and a picture of its
// neighbours, refreshed every few seconds from GET /status/live), with
// the same snapshot as JSON at GET /status.json. It does no
// authentication itself; Options.Admin's listener on loopback answers
// only requests for a loopback address or localhost (no DNS rebinding).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready: listeners not up", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	s.handleStatus(mux)
	return mux
}
