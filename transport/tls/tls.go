package tls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// Scheme is the hop scheme this transport serves.
const Scheme = "tls"

// ALPN is the application protocol hopwire negotiates when the caller's
// config names none.
const ALPN = "hopwire/1"

// keepAlive is the TCP keep-alive idle time and probe interval of the TCP
// connections Dial and Listen make.
const keepAlive = 15 * time.Second

// tcpKeepAlive is the keep-alive configuration of those connections.
var tcpKeepAlive = net.KeepAliveConfig{Enable: true, Idle: keepAlive, Interval: keepAlive, Count: 4}

// Dial connects to addr ("host:port") over TCP and runs a TLS 1.3 client
// handshake with cfg (see [Client] for what is done to cfg). If cfg has no
// ServerName, the host part of addr is used.
//
// ctx governs the TCP connection and the handshake: Dial returns only once
// the handshake has completed (or failed), and cancelling ctx afterwards
// does not affect the conn. With no deadline in ctx, a silent server can
// keep Dial waiting for ever; pass a ctx with a timeout. The caller closes
// the returned conn.
//
// In TLS 1.3 the client completes its handshake before the server has
// checked the client's certificate: a client the server refuses learns it
// from its first Read, as an error such as "remote error: tls: bad
// certificate".
func Dial(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	c, err := prepare(cfg, false)
	if err != nil {
		return nil, err
	}
	if c.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	d := net.Dialer{KeepAlive: -1, KeepAliveConfig: tcpKeepAlive}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return handshake(ctx, tls.Client(&corkConn{Conn: raw}, c), raw)
}

// Client runs a TLS 1.3 client handshake with cfg over under, an existing
// conn (for instance a stream through the previous hop of a chain), and
// returns the TLS conn, which owns under from then on: closing it closes
// under.
//
// cfg is never modified: Client works on a clone with MinVersion and
// MaxVersion forced to TLS 1.3 and NextProtos set to [ALPN] when cfg has
// none, and refuses a peer that negotiates no application protocol or one
// not in NextProtos. Authenticating the server is cfg's job, but a config
// that does not do it at all (InsecureSkipVerify with neither
// VerifyConnection nor VerifyPeerCertificate) is refused.
//
// ctx governs the handshake only. On error Client closes under.
func Client(ctx context.Context, under net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	c, err := prepare(cfg, false)
	if err != nil {
		under.Close()
		return nil, err
	}
	return handshake(ctx, tls.Client(&corkConn{Conn: under}, c), under)
}

// Server runs a TLS 1.3 server handshake with cfg over under, an existing
// conn, and returns the TLS conn, which owns under from then on.
//
// cfg is cloned and adjusted as for [Client]. It must require and verify a
// client certificate: ClientAuth must be RequireAndVerifyClientCert, or
// RequireAnyClientCert with a VerifyConnection or VerifyPeerCertificate
// callback (as certs.ServerConfig builds it); otherwise Server refuses it.
// A GetConfigForClient callback is honoured, and the configs it returns are
// adjusted and checked the same way.
//
// ctx governs the handshake only. On error Server closes under.
func Server(ctx context.Context, under net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	c, err := prepare(cfg, true)
	if err != nil {
		under.Close()
		return nil, err
	}
	return handshake(ctx, tls.Server(&corkConn{Conn: under}, c), under)
}

// handshake runs tc's handshake under ctx and checks the result; on error
// it closes under.
func handshake(ctx context.Context, tc *tls.Conn, under net.Conn) (*tls.Conn, error) {
	if err := tc.HandshakeContext(ctx); err != nil {
		under.Close()
		return nil, fmt.Errorf("tls: handshake with %s: %w", under.RemoteAddr(), err)
	}
	if err := checkState(tc.ConnectionState()); err != nil {
		under.Close()
		return nil, fmt.Errorf("tls: handshake with %s: %w", under.RemoteAddr(), err)
	}
	return tc, nil
}

// prepare returns the config to run a handshake with: a clone of cfg
// pinned to TLS 1.3, with hopwire's ALPN and its check. It refuses a config
// that does not authenticate the peer.
func prepare(cfg *tls.Config, server bool) (*tls.Config, error) {
	if cfg == nil {
		return nil, errors.New("tls: nil config")
	}
	if err := checkAuth(cfg, server); err != nil {
		return nil, err
	}
	c := cfg.Clone()
	c.MinVersion = tls.VersionTLS13
	c.MaxVersion = tls.VersionTLS13
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{ALPN}
	}
	protos := slices.Clone(c.NextProtos)
	verify := c.VerifyConnection
	// The ALPN check runs inside the handshake, after the caller's own
	// verification (so an unknown peer is reported as such), so that the
	// peer is told with an alert rather than a bare close.
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		return checkALPN(cs.NegotiatedProtocol, protos)
	}
	if server && c.GetConfigForClient != nil {
		get := c.GetConfigForClient
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			sub, err := get(hello)
			if err != nil || sub == nil {
				return sub, err
			}
			// crypto/tls ignores the GetConfigForClient of the returned
			// config, so the recursion stops here.
			return prepare(sub, true)
		}
	}
	return c, nil
}

// checkAuth refuses a config that would not authenticate the peer.
func checkAuth(cfg *tls.Config, server bool) error {
	custom := cfg.VerifyConnection != nil || cfg.VerifyPeerCertificate != nil
	if server {
		switch {
		case cfg.ClientAuth == tls.RequireAndVerifyClientCert:
		case cfg.ClientAuth == tls.RequireAnyClientCert && custom:
		case cfg.GetConfigForClient != nil:
			// Checked on the config it returns.
		default:
			return fmt.Errorf("tls: server config does not authenticate clients (ClientAuth %v without verification); hopwire links are mutually authenticated", cfg.ClientAuth)
		}
		return nil
	}
	if cfg.InsecureSkipVerify && !custom {
		return errors.New("tls: client config does not authenticate the server (InsecureSkipVerify without VerifyConnection or VerifyPeerCertificate)")
	}
	return nil
}

// checkALPN checks the negotiated application protocol.
func checkALPN(got string, want []string) error {
	if got == "" {
		return fmt.Errorf("tls: peer negotiated no application protocol; want %q", want)
	}
	if !slices.Contains(want, got) {
		return fmt.Errorf("tls: peer negotiated application protocol %q; want %q", got, want)
	}
	return nil
}

// checkState re-checks a completed handshake, in case a config escaped
// prepare (none can today; this keeps it that way). Which protocols are
// acceptable was checked during the handshake, by the config in use.
func checkState(cs tls.ConnectionState) error {
	switch {
	case cs.Version != tls.VersionTLS13:
		return fmt.Errorf("tls: negotiated %s; want TLS 1.3", tls.VersionName(cs.Version))
	case len(cs.PeerCertificates) == 0:
		return errors.New("tls: peer presented no certificate")
	case cs.NegotiatedProtocol == "":
		return errors.New("tls: peer negotiated no application protocol")
	}
	return nil
}
