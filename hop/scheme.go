package hop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/session"
)

// A scheme is what hopwire knows of one transport: how the dialer reaches
// a hop of it (directly, or over the previous hop), and how a node
// listens on it. Each scheme_*.go file fills one in; [lookupScheme] is the
// table. Adding a transport is one file here and a line in the address
// parser.
type scheme struct {
	// dial reaches hop a over prev (nil for the first hop) and returns the
	// hop's link; it may set h.Transport. The dialer starts the session.
	dial func(ctx context.Context, d *Dialer, prev *Hop, a Addr, h *Hop) (*session.Link, error)
	// dialHop, if set, replaces dial: the scheme returns the whole hop
	// (ssh: a plain OpenSSH bastion has no link).
	dialHop func(ctx context.Context, d *Dialer, prev *Hop, a Addr, last bool) (*Hop, error)
	// listen, if set, listens on a node's address HOST:PORT.
	listen func(ctx context.Context, hostport string, cfg *ListenConfig) (Listener, error)
}

// lookupScheme returns the scheme named name ("" is an agent name).
func lookupScheme(name string) (*scheme, bool) {
	switch name {
	case "tcp":
		return &tcpScheme, true
	case "tls":
		return &tlsScheme, true
	case "quic":
		return &quicScheme, true
	case "dtls":
		return &dtlsScheme, true
	case "ssh":
		return &sshScheme, true
	case "stdio":
		return &stdioScheme, true
	case "":
		return &agentScheme, true
	}
	return nil, false
}

// ListenConfig is what a node's listener needs; [Listen] copies what it
// uses.
type ListenConfig struct {
	// Identity is presented to peers (the ssh host key, for ssh).
	Identity *certs.Identity
	// Certificate, if set, gives the identity tls, quic and dtls
	// listeners present at each handshake, so that a node can renew its
	// certificate without a restart; ssh listeners present Identity's
	// key (a renewed certificate for the same key changes nothing there).
	Certificate func() *certs.Identity
	// Trust says which peers may connect, and who they are.
	Trust certs.Trust
	// InsecureTCP allows tcp:// listeners off loopback.
	InsecureTCP bool
	// SSHAuthorizedKeys is the authorized_keys file of ssh listeners (%u
	// for one file a user).
	SSHAuthorizedKeys string
	// HandshakeTimeout and MaxHandshakes bound the peers a tls, dtls or
	// ssh listener holds before they authenticate (0: the transport's
	// defaults).
	HandshakeTimeout time.Duration
	MaxHandshakes    int
	// Logger receives the listener's refusals; nil discards them.
	Logger *slog.Logger
}

// Accepted is a peer a [Listener] authenticated: a connection to run a
// link over, or, for QUIC, a natively multiplexed one.
type Accepted struct {
	Conn  net.Conn      // nil when Muxed is set
	Muxed session.Muxer // QUIC's connection
	Peer  session.Peer  // who the peer is, as the listener's trust says
	Close func() error  // closes what was accepted
}

// Listener is a node's listener on one scheme.
type Listener interface {
	// Accept waits for the next authenticated peer.
	Accept(ctx context.Context) (Accepted, error)
	// Addr is the address listened on.
	Addr() net.Addr
	// Close stops the listener.
	Close() error
	// Stats reports the peers held before they authenticated and the
	// connections dropped, by reason; ok is false where the transport does
	// not count them.
	Stats() (preAuth int, dropped map[string]uint64, ok bool)
}

// Listen listens on a, a node address (its port may be 0), with the
// scheme's transport.
func Listen(ctx context.Context, a Addr, cfg *ListenConfig) (Listener, error) {
	s, ok := lookupScheme(a.Scheme)
	if !ok || s.listen == nil || a.Scheme == "" {
		return nil, fmt.Errorf("hop: cannot listen on %s: scheme %q has no listener in this build", a, a.Scheme)
	}
	return s.listen(ctx, a.HostPort(), cfg)
}

// serverTLS is a listener's TLS configuration; reloadable says whether
// its transport takes the certificate at each handshake (crypto/tls,
// quic-go and transport/dtls do).
func (cfg *ListenConfig) serverTLS(reloadable bool) (*tls.Config, error) {
	if cfg.Identity == nil {
		return nil, errors.New("hop: a tls, quic or dtls listener needs an identity")
	}
	tc, err := certs.ServerConfig(cfg.Identity, cfg.Trust)
	if err != nil || !reloadable || cfg.Certificate == nil {
		return tc, err
	}
	current := cfg.Certificate
	tc.Certificates = nil
	tc.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		c := current().TLSCertificate()
		return &c, nil
	}
	return tc, nil
}

// peerOf is who the client of a TLS-like connection is, as the
// listener's trust says.
func (cfg *ListenConfig) peerOf(cs tls.ConnectionState) session.Peer {
	v := cfg.Trust.VerifiedClient(cs)
	return session.Peer{Principal: v.Principal, Fingerprint: v.Fingerprint}
}

// noStats is Stats for transports that do not count.
func noStats() (int, map[string]uint64, bool) { return 0, nil, false }
