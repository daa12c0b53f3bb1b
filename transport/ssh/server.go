package ssh

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hopwire/hopwire/transport/internal/preauth"
)

// Defaults for [ServerConfig].
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxPreAuth       = 64
)

// serverVersion is the identification string the embedded server sends.
const serverVersion = "SSH-2.0-hopwire"

// Permissions extensions through which the public key callback passes
// the key it approved to the code that runs after authentication. They
// are read only from the Permissions of the authentication that
// succeeded (CVE-2024-45337).
const (
	extFingerprint = "fingerprint@hopwire"
	extKey         = "key@hopwire"
	extBoundUser   = "bound-user@hopwire" // set when the user's own file listed the key
)

// authorizedOptions are the authorized_keys options that grant or deny
// only things this server never offers (terminals, forwarding, agent, X11,
// rc files, environment): an entry with them is used as if they were not
// there. An entry with any other option (from=, command=, principals=,
// expiry-time=, cert-authority, verify-required, …) restricts the key in
// ways this server does not enforce, so the entry is ignored: a key is
// never granted more than its line says.
var authorizedOptions = map[string]bool{
	"restrict": true, "no-agent-forwarding": true, "no-port-forwarding": true, "no-pty": true,
	"no-user-rc": true, "no-x11-forwarding": true, "agent-forwarding": true, "port-forwarding": true,
	"pty": true, "user-rc": true, "x11-forwarding": true, "no-touch-required": true,
}

// ServerConfig configures the embedded SSH server of a hopwire node
// ([Listen]). Listen copies what it needs and never modifies it.
type ServerConfig struct {
	// HostKeys are the server's host keys; at least one is required. Use
	// ssh.NewSignerFromSigner for a crypto.Signer (a hopwire identity's
	// Ed25519 key, for instance).
	HostKeys []ssh.Signer

	// AuthorizedKeysFile is an OpenSSH authorized_keys file listing the
	// client keys allowed in. It is read again at every authentication
	// attempt, so edits apply to the next connection; if it cannot be
	// read then, every key is refused (and a warning logged). Entries
	// with options other than those restricting terminals, forwarding,
	// agent, X11, user rc or environment are ignored (see the package
	// documentation).
	//
	// The path may contain %u, which stands for the login name the client
	// asks for (as in sshd_config's AuthorizedKeysFile): each user then
	// has a file of their own, and a key authorizes exactly the users
	// whose files list it, as with OpenSSH; [Conn.BoundUser] reports the
	// user. A name that could not be a file name ('/', "..", control
	// characters, empty, over 64 bytes) is refused. Without %u the file
	// authorizes keys, not users: the name a client asks for carries no
	// authority, and BoundUser is empty.
	AuthorizedKeysFile string

	// AuthorizedKeys are further allowed client keys, held in memory.
	AuthorizedKeys []ssh.PublicKey

	// HandshakeTimeout bounds each connection from the TCP accept until
	// the authenticated client has opened its hopwire channel. Zero means
	// DefaultHandshakeTimeout (10s).
	HandshakeTimeout time.Duration

	// MaxPreAuth caps the connections held between the TCP accept and
	// Accept: handshakes in progress, and authenticated conns waiting to
	// be accepted. A connection arriving beyond it takes the slot of a
	// stalled handshake, which is closed: the oldest connection that has
	// sent nothing for an eighth of HandshakeTimeout (at most 250ms), or
	// failing that the oldest handshake running for a quarter of it (at
	// most a second). With none, the newcomer is closed at once, before
	// any SSH state exists for it. With a cap of 16 or more, one source
	// network (an IPv4 /24, an IPv6 /64) may hold at most a quarter of
	// the slots; past that, its newcomers can only take the slots of its
	// own stalled handshakes. At the cap, a newcomer from a network
	// holding at least two slots fewer than the network holding the most
	// may also take that one's oldest handshake past the quiet grace, so
	// that a flood from several networks cannot keep clients of others
	// out.
	// Zero means DefaultMaxPreAuth (64).
	MaxPreAuth int

	// Logger receives refused and failed handshakes (Warn, or Debug for
	// peers that left or stalled) and connections dropped at the cap
	// (Warn, at most once a second). Nil discards them.
	Logger *slog.Logger

	// offered, if set (tests), is called with every key a client offers.
	offered func(user string, key ssh.PublicKey)
}

// Listener is the embedded SSH server of a hopwire node. It
// authenticates clients by public key against the authorized keys, and
// hands each authenticated client's single hopwire channel to Accept as a
// *[Conn]. Other channel types (session, direct-tcpip, …) and global
// requests are refused: the node offers no shell and no forwarding over
// SSH itself.
//
// A background goroutine accepts TCP connections and runs each handshake
// on its own goroutine, under a deadline and a cap on how many are in
// progress. A Listener is safe for concurrent use. The caller closes it;
// Close stops the accept loop and every handshake in progress, closes
// conns authenticated but not yet accepted, and waits for its goroutines.
// Conns returned by Accept belong to the caller.
type Listener struct {
	scfg *ssh.ServerConfig
	log  *slog.Logger
	pre  *preauth.Listener[*Conn]
}

// Listen listens for TCP connections on addr ("host:port") and serves
// SSH on them with cfg. cfg is checked first: it needs a host key and
// authorized keys (a file, which must be readable now, or keys in
// memory); hopwire never runs an SSH server without client
// authentication.
//
// ctx governs the bind only. The caller closes the Listener.
func Listen(ctx context.Context, addr string, cfg *ServerConfig) (*Listener, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	inner, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	return NewListener(inner, cfg)
}

// NewListener serves SSH with cfg on the conns inner accepts, as
// [Listen] does. It takes ownership of inner: the Listener closes it, and
// NewListener closes it itself if it returns an error.
func NewListener(inner net.Listener, cfg *ServerConfig) (*Listener, error) {
	if err := cfg.check(); err != nil {
		inner.Close()
		return nil, err
	}
	o := *cfg
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.MaxPreAuth <= 0 {
		o.MaxPreAuth = DefaultMaxPreAuth
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger.With("transport", Scheme, "listen", inner.Addr().String())
	auth := &authorizer{file: o.AuthorizedKeysFile, log: log}
	for _, k := range o.AuthorizedKeys {
		auth.static = append(auth.static, k.Marshal())
	}
	scfg := &ssh.ServerConfig{
		PublicKeyCallback:         auth.publicKeyCallback(o.offered),
		VerifiedPublicKeyCallback: verifiedPublicKey,
		ServerVersion:             serverVersion,
	}
	for _, k := range o.HostKeys {
		scfg.AddHostKey(k)
	}
	l := &Listener{scfg: scfg, log: log}
	l.pre = preauth.NewListener(inner, l.handshake, preauth.Options{
		Scheme:           Scheme,
		HandshakeTimeout: o.HandshakeTimeout,
		Max:              o.MaxPreAuth,
		Logger:           log,
	})
	return l, nil
}

// check validates a ServerConfig.
func (c *ServerConfig) check() error {
	switch {
	case c == nil:
		return errors.New("ssh: nil ServerConfig")
	case len(c.HostKeys) == 0:
		return errors.New("ssh: ServerConfig has no host key")
	case c.AuthorizedKeysFile == "" && len(c.AuthorizedKeys) == 0:
		return errors.New("ssh: ServerConfig authorizes no client key (set AuthorizedKeysFile or AuthorizedKeys)")
	}
	for _, k := range c.HostKeys {
		if k == nil {
			return errors.New("ssh: ServerConfig has a nil host key")
		}
	}
	if c.AuthorizedKeysFile != "" && !strings.Contains(c.AuthorizedKeysFile, "%u") {
		if _, err := os.ReadFile(c.AuthorizedKeysFile); err != nil {
			return fmt.Errorf("ssh: authorized keys: %w", err)
		}
	}
	return nil
}

// Accept waits for and returns the next authenticated client's hopwire
// channel, a *[Conn]. It implements [net.Listener]; see
// [Listener.AcceptContext].
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptContext(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptContext waits for the next authenticated client's hopwire
// channel, until ctx is done or the Listener is closed. The conn's
// PeerKey is the key the client authenticated with. The caller closes
// it; closing it ends that client's SSH connection. After Close it
// returns an error wrapping [net.ErrClosed]; if the underlying listener
// failed for good, that error.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	return l.pre.AcceptContext(ctx)
}

// Stats is a snapshot of a listener's connections that have not
// authenticated, for monitoring (a node's state endpoint).
type Stats struct {
	// PreAuth counts connections held between the accept and Accept:
	// handshakes in progress and authenticated conns not yet taken.
	PreAuth int
	// Dropped counts connections closed before authentication since the
	// listener started, by reason: "cap" (the pre-auth cap was reached),
	// "silent" (the peer left, stalled or reset without completing the
	// handshake) and "refused" (the handshake failed or the peer was not
	// trusted).
	Dropped map[string]uint64
}

// Stats returns a snapshot of the connections that have not authenticated.
func (l *Listener) Stats() Stats { return Stats(l.pre.Stats()) }

// Addr returns the listener's network address.
func (l *Listener) Addr() net.Addr { return l.pre.Addr() }

// Close stops the Listener: it closes the underlying listener,
// interrupts the handshakes in progress, closes authenticated conns not
// yet accepted and waits for its goroutines. It is idempotent; every call
// returns the result of closing the underlying listener.
func (l *Listener) Close() error { return l.pre.Close() }

// handshake runs the SSH server handshake on raw, an admitted TCP conn,
// and waits for the client's hopwire channel, until ctx is done.
func (l *Listener) handshake(ctx context.Context, raw net.Conn) (*Conn, error) {
	sconn, chans, reqs, err := ssh.NewServerConn(raw, l.scfg)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup // the connection's goroutines; its Conn waits for them
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	fail := func(err error) (*Conn, error) {
		sconn.Close()
		wg.Wait()
		return nil, err
	}

	// Authorization comes from the Permissions of the authentication
	// that succeeded, never from keys seen along the way.
	var key ssh.PublicKey
	if p := sconn.Permissions; p != nil && p.Extensions != nil {
		key, _ = ssh.ParsePublicKey([]byte(p.Extensions[extKey]))
		if key != nil && ssh.FingerprintSHA256(key) != p.Extensions[extFingerprint] {
			key = nil
		}
	}
	if key == nil {
		return fail(errors.New("ssh: authenticated without a recorded key"))
	}

	var nc ssh.NewChannel
	for nc == nil {
		select {
		case n, ok := <-chans:
			if !ok {
				return fail(fmt.Errorf("ssh: %s closed the connection before opening a %s channel", ssh.FingerprintSHA256(key), ChannelType))
			}
			if n.ChannelType() != ChannelType {
				n.Reject(ssh.Prohibited, "hopwire nodes accept only \""+ChannelType+"\" channels")
				continue
			}
			nc = n
		case <-ctx.Done():
			return fail(fmt.Errorf("ssh: %s opened no %s channel in time: %w", ssh.FingerprintSHA256(key), ChannelType, context.Cause(ctx)))
		}
	}
	ch, creqs, err := nc.Accept()
	if err != nil {
		return fail(err)
	}
	wg.Go(func() {
		for n := range chans {
			n.Reject(ssh.Prohibited, "one \""+ChannelType+"\" channel per connection")
		}
	})
	c := newConn(ch, creqs, wg.Go, nil, raw.LocalAddr(), raw.RemoteAddr())
	c.peerKey = key
	c.user = sconn.User()
	if u, ok := sconn.Permissions.Extensions[extBoundUser]; ok && u == c.user {
		c.boundUser = u
	}
	c.onClose = func() error {
		err := sconn.Close()
		wg.Wait()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		return err
	}
	l.log.Debug("ssh: client authenticated", "addr", raw.RemoteAddr().String(), "user", c.User(), "peer", c.PeerFingerprint())
	return c, nil
}

// verifiedPublicKey runs after x/crypto has verified the client's
// signature, with the key that signed and the Permissions that the public
// key callback returned for that same key. It checks that they agree
// (belt and braces for CVE-2024-45337).
func verifiedPublicKey(_ ssh.ConnMetadata, key ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	if perms == nil || perms.Extensions[extFingerprint] != ssh.FingerprintSHA256(key) ||
		perms.Extensions[extKey] != string(key.Marshal()) {
		return nil, errors.New("ssh: permissions do not belong to the verified key")
	}
	return perms, nil
}

// authorizer decides which client keys may authenticate.
type authorizer struct {
	file   string
	static [][]byte // marshalled keys
	log    *slog.Logger
}

// publicKeyCallback returns the ssh.ServerConfig callback. It records the
// approved key in the Permissions it returns; only the Permissions of the
// key that then signs reach the connection.
func (a *authorizer) publicKeyCallback(offered func(string, ssh.PublicKey)) func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
	return func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		if offered != nil {
			offered(meta.User(), key)
		}
		fp := ssh.FingerprintSHA256(key)
		ok, noTouch, bound := a.authorized(key, meta.User())
		if !ok {
			a.log.Debug("ssh: key not authorized", "addr", meta.RemoteAddr().String(), "user", meta.User(), "peer", fp)
			return nil, fmt.Errorf("ssh: key %s is not authorized", fp)
		}
		perms := &ssh.Permissions{Extensions: map[string]string{
			extFingerprint: fp,
			extKey:         string(key.Marshal()),
		}}
		if noTouch {
			perms.Extensions["no-touch-required"] = ""
		}
		if bound {
			perms.Extensions[extBoundUser] = meta.User()
		}
		return perms, nil
	}
}

// authorized reports whether key is allowed for user, reading the
// authorized keys file afresh, whether its entry waives the security-key
// touch, and whether it was user's own file (a %u path) that allowed it.
func (a *authorizer) authorized(key ssh.PublicKey, user string) (ok, noTouch, bound bool) {
	want := key.Marshal()
	for _, k := range a.static {
		if subtle.ConstantTimeCompare(k, want) == 1 {
			return true, false, false
		}
	}
	if a.file == "" {
		return false, false, false
	}
	file := a.file
	perUser := strings.Contains(file, "%u")
	if perUser {
		if !fileSafeUser(user) {
			a.log.Debug("ssh: login name refused", "user", fmt.Sprintf("%.64q", user))
			return false, false, false
		}
		file = strings.ReplaceAll(file, "%u", user)
	}
	data, err := os.ReadFile(file)
	if perUser && errors.Is(err, fs.ErrNotExist) {
		return false, false, false // no such user here
	}
	if err != nil {
		a.log.Warn("ssh: cannot read the authorized keys; refusing every key", "file", file, "err", err)
		return false, false, false
	}
	rest := data
	for len(rest) > 0 {
		k, comment, options, next, err := ssh.ParseAuthorizedKey(rest)
		if err != nil {
			break // no further valid line
		}
		rest = next
		if subtle.ConstantTimeCompare(k.Marshal(), want) != 1 {
			continue
		}
		usable, nt := true, false
		for _, opt := range options {
			name, _, _ := strings.Cut(opt, "=")
			name = strings.ToLower(name)
			switch {
			case name == "environment":
			case authorizedOptions[name]:
				nt = nt || name == "no-touch-required"
			default:
				usable = false
				a.log.Warn("ssh: authorized key ignored: option not supported", "file", a.file,
					"option", name, "peer", ssh.FingerprintSHA256(k), "comment", comment)
			}
		}
		if usable {
			return true, nt, perUser
		}
	}
	return false, false, false
}

// fileSafeUser reports whether a login name may be put into a file path.
func fileSafeUser(u string) bool {
	if u == "" || len(u) > 64 || u == "." || strings.Contains(u, "..") || u[0] == '-' {
		return false
	}
	for _, r := range u {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f || r == '%' {
			return false
		}
	}
	return true
}
