package dtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	pdtls "github.com/pion/dtls/v3"
	"github.com/pion/logging"
)

// Scheme is the hop scheme this transport serves.
const Scheme = "dtls"

// ALPN is the application protocol hopwire negotiates when the caller's
// config names none.
const ALPN = "hopwire/1"

// versionDTLS12 is DTLS 1.2's wire version, reported in
// tls.ConnectionState.Version.
const versionDTLS12 = 0xfefd

// Defaults for [Options].
const (
	// DefaultHandshakeTimeout bounds a handshake.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxHandshakes caps a Listener's unaccepted peers.
	DefaultMaxHandshakes = 64
	// DefaultKeepAlive is the longest a conn stays silent.
	DefaultKeepAlive = 5 * time.Second
	// DefaultIdleTimeout is how long a silent peer is given.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultLinger is how long Close waits for the peer's acknowledgement.
	DefaultLinger = 3 * time.Second
	// DefaultMTU is the largest UDP payload sent.
	DefaultMTU = 1200
	// DefaultWindow is the receive window and send buffer, in bytes.
	DefaultWindow = 2 << 20
)

// Options tunes a conn or a listener. A nil *Options means the defaults;
// the functions here copy what they need and never modify it.
type Options struct {
	// HandshakeTimeout bounds each DTLS handshake: Dial's (in addition to
	// its ctx) and every one a Listener runs. A peer that has not completed
	// it by then is dropped. Zero means DefaultHandshakeTimeout (10s).
	HandshakeTimeout time.Duration

	// MaxHandshakes caps the peers a Listener holds before Accept hands
	// them out: handshakes in progress and authenticated conns not yet
	// accepted. A ClientHello from a new address when the cap is reached
	// takes the slot of the longest-running handshake if that one has run
	// for an eighth of HandshakeTimeout (at most 250ms), and is dropped
	// before any state exists for it otherwise. Zero means
	// DefaultMaxHandshakes (64). Dial ignores it.
	MaxHandshakes int

	// KeepAlive is how long a conn may stay silent before it sends a
	// keepalive (default 5s). IdleTimeout is how long a conn waits without
	// hearing from its peer before it fails with ErrIdleTimeout (default
	// 30s); it must exceed KeepAlive, and should exceed the peer's
	// KeepAlive by a few times.
	KeepAlive   time.Duration
	IdleTimeout time.Duration

	// Linger is how long Close waits for the peer to acknowledge the data
	// still in flight and the FIN (default 3s). Negative means Close does
	// not wait: unacknowledged data is dropped and the peer sees ErrReset.
	Linger time.Duration

	// MTU is the largest UDP payload a conn starts with (default 1200,
	// which fits any IPv6 path). Each DATA packet carries MTU-59 bytes of
	// stream data. It may be 576 to 8192; the two ends need not agree.
	//
	// MaxMTU is the largest one a conn probes for (default 8192, the most
	// pion reads). A conn on a UDP socket of its own (Dial, Listen, or
	// ListenPacket given a *net.UDPConn) forbids fragmentation and probes
	// the path for sizes above MTU, as RFC 8899 does: MaxMTU, then the
	// sizes of 1500-byte Ethernet paths (1472, 1452); the largest that the
	// peer acknowledges becomes its MTU. MaxMTU ≤ MTU turns probing off;
	// DialPacket never probes (see pmtu.go).
	MTU    int
	MaxMTU int

	// Window is the receive window and the send buffer, in bytes (default
	// 2 MiB): at most this much unread data is buffered for Read, and Write
	// blocks while this much is unacknowledged. It caps throughput at
	// Window per round trip.
	Window int

	// Logger receives a Listener's failed handshakes (at Warn, or Debug for
	// peers that stalled) and peers dropped at the cap (Warn, at most once
	// a second). Nil discards them. Dial returns its errors instead.
	Logger *slog.Logger
}

// options is Options with the defaults filled in.
type options struct {
	handshakeTimeout time.Duration
	maxHandshakes    int
	keepAlive        time.Duration
	idleTimeout      time.Duration
	linger           time.Duration
	mtu              int
	maxMTU           int
	window           int
	log              *slog.Logger
}

func (o *Options) fill() (*options, error) {
	var v Options
	if o != nil {
		v = *o
	}
	r := &options{
		handshakeTimeout: cmpOr(v.HandshakeTimeout, DefaultHandshakeTimeout),
		maxHandshakes:    cmpOr(v.MaxHandshakes, DefaultMaxHandshakes),
		keepAlive:        cmpOr(v.KeepAlive, DefaultKeepAlive),
		idleTimeout:      cmpOr(v.IdleTimeout, DefaultIdleTimeout),
		linger:           v.Linger,
		mtu:              cmpOr(v.MTU, DefaultMTU),
		maxMTU:           cmpOr(v.MaxMTU, maxRecord),
		window:           cmpOr(v.Window, DefaultWindow),
		log:              v.Logger,
	}
	if v.Linger == 0 {
		r.linger = DefaultLinger
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case r.mtu < 576 || r.mtu > maxRecord:
		return nil, fmt.Errorf("dtls: MTU %d out of range [576, %d]", r.mtu, maxRecord)
	case r.maxMTU > maxRecord:
		return nil, fmt.Errorf("dtls: MaxMTU %d above %d", r.maxMTU, maxRecord)
	case r.idleTimeout <= r.keepAlive:
		return nil, fmt.Errorf("dtls: IdleTimeout %v must exceed KeepAlive %v", r.idleTimeout, r.keepAlive)
	}
	return r, nil
}

// cmpOr returns v if positive, else def.
func cmpOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// quietLogs keeps pion from logging to stderr.
var quietLogs = &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}

// checkConfig refuses a *tls.Config that could not authenticate us or the
// peer, as transport/tls does.
func checkConfig(cfg *tls.Config, server bool) error {
	switch {
	case cfg == nil:
		return errors.New("dtls: nil tls.Config")
	case len(cfg.Certificates) == 0 && !(server && cfg.GetCertificate != nil):
		return errors.New("dtls: tls.Config has no certificate; authentication is mutual, so both ends need one (a server may give GetCertificate instead)")
	}
	hasCallback := cfg.VerifyConnection != nil || cfg.VerifyPeerCertificate != nil
	if server && cfg.ClientAuth < tls.VerifyClientCertIfGiven && !hasCallback {
		return errors.New("dtls: server tls.Config would not verify the client: set VerifyConnection, VerifyPeerCertificate or ClientAuth RequireAndVerifyClientCert with ClientCAs")
	}
	if !server && cfg.InsecureSkipVerify && !hasCallback {
		return errors.New("dtls: client tls.Config skips verification and sets no VerifyConnection or VerifyPeerCertificate")
	}
	return nil
}

// verifier checks the peer's certificates for one handshake the way
// crypto/tls would with cfg, and keeps the outcome. pion calls it from its
// handshake goroutine; the handshake's return orders it before our reads.
type verifier struct {
	cfg        *tls.Config
	server     bool
	serverName string

	mu     sync.Mutex
	certs  []*x509.Certificate
	chains [][]*x509.Certificate
	err    error
}

// verify is pion's VerifyPeerCertificate callback. pion has checked that
// the peer holds the leaf's private key; everything about whether to trust
// that key is decided here: chain verification where cfg asks for it
// (RootCAs with ServerName on a client unless InsecureSkipVerify; ClientCAs
// on a server whose ClientAuth verifies), then cfg.VerifyPeerCertificate,
// then cfg.VerifyConnection with a tls.ConnectionState whose
// PeerCertificates are the parsed DTLS peer certificates.
func (v *verifier) verify(raw [][]byte, _ [][]*x509.Certificate) error {
	err := v.check(raw)
	v.mu.Lock()
	v.err = err
	v.mu.Unlock()
	return err
}

func (v *verifier) check(raw [][]byte) error {
	if len(raw) == 0 {
		return errors.New("dtls: peer presented no certificate")
	}
	certs := make([]*x509.Certificate, 0, len(raw))
	for _, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("dtls: peer certificate: %w", err)
		}
		certs = append(certs, c)
	}
	cfg := v.cfg
	var chains [][]*x509.Certificate
	opts := x509.VerifyOptions{Intermediates: x509.NewCertPool(), CurrentTime: now(cfg)}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	switch {
	case !v.server && !cfg.InsecureSkipVerify:
		opts.Roots, opts.DNSName = cfg.RootCAs, cfg.ServerName
		var err error
		if chains, err = certs[0].Verify(opts); err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
		}
	case v.server && cfg.ClientAuth >= tls.VerifyClientCertIfGiven:
		opts.Roots = cfg.ClientCAs
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		var err error
		if chains, err = certs[0].Verify(opts); err != nil {
			return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
		}
	}
	if cfg.VerifyPeerCertificate != nil {
		if err := cfg.VerifyPeerCertificate(raw, chains); err != nil {
			return err
		}
	}
	if cfg.VerifyConnection != nil {
		cs := tls.ConnectionState{
			Version:          versionDTLS12,
			ServerName:       v.serverName,
			PeerCertificates: certs,
			VerifiedChains:   chains,
		}
		if err := cfg.VerifyConnection(cs); err != nil {
			return err
		}
	}
	v.mu.Lock()
	v.certs, v.chains = certs, chains
	v.mu.Unlock()
	return nil
}

func now(cfg *tls.Config) time.Time {
	if cfg.Time != nil {
		return cfg.Time()
	}
	return time.Now()
}

// protocols returns the ALPN protocols to offer.
func protocols(cfg *tls.Config) []string {
	if len(cfg.NextProtos) > 0 {
		return slices.Clone(cfg.NextProtos)
	}
	return []string{ALPN}
}

// cipherSuites are the suites offered: ECDHE with AES-GCM, for ECDSA and
// Ed25519 keys (which DTLS 1.2 signs under the ECDSA suites) and for RSA.
var cipherSuites = []pdtls.CipherSuiteID{
	pdtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	pdtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	pdtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	pdtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// commonOptions are the pion options both roles use.
func commonOptions(cfg *tls.Config, o *options, v *verifier) []pdtls.Option {
	opts := []pdtls.Option{
		pdtls.WithCipherSuites(cipherSuites...),
		pdtls.WithExtendedMasterSecret(pdtls.RequireExtendedMasterSecret),
		pdtls.WithInsecureSkipVerify(true), // verifier.verify decides, always
		pdtls.WithVerifyPeerCertificate(v.verify),
		pdtls.WithSupportedProtocols(protocols(cfg)...),
		pdtls.WithMTU(o.mtu),
		pdtls.WithFlightInterval(500 * time.Millisecond),
		pdtls.WithLoggerFactory(quietLogs),
	}
	if len(cfg.Certificates) > 0 { // else a server's GetCertificate gives it (pion refuses an empty list)
		opts = append(opts, pdtls.WithCertificates(cfg.Certificates...))
	}
	return opts
}

// handshake runs raw's handshake under ctx and checks its outcome. On
// error it closes raw (and so what is under it).
func handshake(ctx context.Context, raw *pdtls.Conn, v *verifier, cfg *tls.Config) (tls.ConnectionState, error) {
	fail := func(err error) (tls.ConnectionState, error) {
		raw.Close()
		return tls.ConnectionState{}, err
	}
	if err := raw.HandshakeContext(ctx); err != nil {
		v.mu.Lock()
		verr := v.err
		v.mu.Unlock()
		if verr != nil {
			return fail(verr) // our verdict, unwrapped from pion's alert
		}
		return fail(err)
	}
	st, ok := raw.ConnectionState()
	if !ok {
		return fail(errors.New("dtls: no connection state after the handshake"))
	}
	v.mu.Lock()
	certs, chains := v.certs, v.chains
	v.mu.Unlock()
	if len(certs) == 0 {
		// Unreachable with pion as configured (it requires and passes the
		// peer's certificate to verify); refuse rather than trust.
		return fail(errors.New("dtls: peer was not verified"))
	}
	if !slices.Contains(protocols(cfg), st.NegotiatedProtocol) {
		return fail(fmt.Errorf("dtls: peer negotiated application protocol %q, want one of %q", st.NegotiatedProtocol, protocols(cfg)))
	}
	return tls.ConnectionState{
		Version:            versionDTLS12,
		HandshakeComplete:  true,
		CipherSuite:        uint16(st.CipherSuiteID),
		NegotiatedProtocol: st.NegotiatedProtocol,
		ServerName:         v.serverName,
		PeerCertificates:   certs,
		VerifiedChains:     chains,
	}, nil
}

// Dial connects to addr ("host:port") over a new UDP socket, runs the DTLS
// 1.2 client handshake with cfg and returns the reliable conn, which owns
// the socket.
//
// cfg is never modified. It must hold a certificate (authentication is
// mutual), and its verification decides whether the server is trusted:
// chain checking against RootCAs unless InsecureSkipVerify, then
// VerifyPeerCertificate, then VerifyConnection, called with a
// tls.ConnectionState whose PeerCertificates are the server's parsed DTLS
// certificates (so certs.ClientConfig's verification applies as is). A
// config that would verify nothing is refused. NextProtos (default
// [ALPN]) must be agreed on. MinVersion and MaxVersion are ignored: the
// handshake is DTLS 1.2 whatever they say (certs configs ask for TLS 1.3,
// which pion v3 does not offer for DTLS). A refused server fails Dial
// with the verifier's own error (errors.As finds, say, a
// *certs.MismatchError); a server that refuses us fails it with a
// bad_certificate alert.
//
// ctx governs the resolution and the handshake, which is also bounded by
// opts.HandshakeTimeout; once Dial returns, ctx no longer matters.
func Dial(ctx context.Context, addr string, cfg *tls.Config, opts *Options) (*Conn, error) {
	o, err := opts.fill()
	if err != nil {
		return nil, err
	}
	if err := checkConfig(cfg, false); err != nil {
		return nil, err
	}
	var d net.Dialer
	uc, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dtls: dial %s: %w", addr, err)
	}
	udp := uc.(*net.UDPConn)
	setBuffers(udp)
	pc := connectedPC{udp}
	c, err := dialPacket(ctx, pc, udp.RemoteAddr(), cfg, o, newPathMTU(pc))
	if err != nil {
		return nil, fmt.Errorf("dtls: dial %s: %w", addr, err)
	}
	return c, nil
}

// DialPacket runs DTLS over pc to raddr, as [Dial] does over UDP, and
// returns the reliable conn. This is how a DTLS hop runs behind a stream
// hop: pc presents the stream as datagrams. pc should carry only raddr's
// datagrams; others are dropped when they fail to decrypt.
//
// The conn owns pc from then on and closes it; if DialPacket fails it
// closes pc too. ctx governs the handshake only.
func DialPacket(ctx context.Context, pc net.PacketConn, raddr net.Addr, cfg *tls.Config, opts *Options) (*Conn, error) {
	o, err := opts.fill()
	if err == nil {
		err = checkConfig(cfg, false)
	}
	if err != nil {
		pc.Close()
		return nil, err
	}
	c, err := dialPacket(ctx, pc, raddr, cfg, o, nil)
	if err != nil {
		return nil, fmt.Errorf("dtls: dial %s: %w", raddr, err)
	}
	return c, nil
}

func dialPacket(ctx context.Context, pc net.PacketConn, raddr net.Addr, cfg *tls.Config, o *options, pm *pathMTU) (*Conn, error) {
	v := &verifier{cfg: cfg, serverName: cfg.ServerName}
	copts := make([]pdtls.ClientOption, 0, 12)
	for _, opt := range commonOptions(cfg, o, v) {
		copts = append(copts, opt)
	}
	if cfg.ServerName != "" && net.ParseIP(cfg.ServerName) == nil {
		copts = append(copts, pdtls.WithServerName(cfg.ServerName))
	}
	raw, err := pdtls.ClientWithOptions(pc, raddr, copts...)
	if err != nil {
		pc.Close()
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, o.handshakeTimeout)
	defer cancel()
	st, err := handshake(hctx, raw, v, cfg)
	if err != nil {
		return nil, err
	}
	return newConn(raw, st, o, pm, nil), nil
}

// connectedPC adapts a connected UDP socket to the net.PacketConn pion
// wants: the kernel then drops datagrams from anyone but the server.
type connectedPC struct{ *net.UDPConn }

func (c connectedPC) WriteTo(p []byte, _ net.Addr) (int, error) { return c.Write(p) }

// setBuffers asks for socket buffers large enough for a window's burst;
// the kernel may grant less.
func setBuffers(c *net.UDPConn) {
	c.SetReadBuffer(4 << 20)
	c.SetWriteBuffer(4 << 20)
}
