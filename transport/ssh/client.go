package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Scheme is the hop scheme this transport serves, and the Network of
// its conns' errors.
const Scheme = "ssh"

// ChannelType is the SSH channel type that carries a hopwire link to an
// embedded hopwire SSH server ([Listen]).
const ChannelType = "hopwire"

// clientVersion is the identification string sent to servers.
const clientVersion = "SSH-2.0-hopwire"

// Client is an authenticated SSH connection to one server. It opens
// channels: direct-tcpip ([Client.DialContext]), exec ([Client.Exec]) and
// hopwire ([Client.OpenHopwire]).
//
// A Client is safe for concurrent use. The caller closes it; Close closes
// the SSH connection, and so every conn opened through it, and the conn
// it runs over, and waits for its goroutines. Conns opened through it
// may be closed before or after, in any order.
type Client struct {
	conn    ssh.Conn
	cfg     *ClientConfig
	hostKey ssh.PublicKey
	log     *slog.Logger

	wg        sync.WaitGroup // every goroutine the Client or its conns run
	mu        sync.Mutex     // guards isClosed, so wg.Go never races wg.Wait
	isClosed  bool
	closing   chan struct{} // closed by Close: stops the conns' goroutines
	closeOnce sync.Once
	closeErr  error
}

// Dial connects to cfg.Addr() over TCP and runs the SSH handshake (see
// [NewClient]). It refuses a cfg that says the host is reached through
// ProxyJump or ProxyCommand: those hops must be dialled first, and the
// client run over them with NewClient.
//
// ctx governs the TCP connection and the handshake only.
func Dial(ctx context.Context, cfg *ClientConfig) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if len(cfg.ProxyJump) > 0 || cfg.ProxyCommand != "" {
		via := fmt.Sprintf("ProxyJump %v", cfg.ProxyJump)
		if cfg.ProxyCommand != "" {
			via = "ProxyCommand " + strconv.Quote(cfg.ProxyCommand)
		}
		return nil, fmt.Errorf("ssh: %s is reached through %s (%s); dial that first and run NewClient over it",
			cfg.Host, via, cfg.Source["proxyjump"]+cfg.Source["proxycommand"])
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr())
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	return NewClient(ctx, raw, cfg)
}

// NewClient runs the SSH client handshake with cfg over under, which may
// be a TCP connection or a stream through earlier hops, and returns the
// authenticated Client.
//
// The server's host key must be in cfg.KnownHostsFiles: an unknown host,
// a changed key or a revoked one fails with a *[HostKeyError] that says
// what to do. The host key algorithms offered are those of the keys
// known_hosts holds for the host (golang/go#49631). Keys are offered in
// the order cfg.Signers, cfg.IdentityFiles, other ssh-agent keys; the
// agent connection is closed when the handshake ends.
//
// ctx governs the handshake only: its deadline is set on under during the
// handshake (and cleared after), and cancelling it aborts the handshake.
// NewClient owns under: the Client closes it, and NewClient closes it if
// it fails.
func NewClient(ctx context.Context, under net.Conn, cfg *ClientConfig) (*Client, error) {
	if err := cfg.check(); err != nil {
		under.Close()
		return nil, err
	}
	hk, err := newHostKeyChecker(cfg)
	if err != nil {
		under.Close()
		return nil, err
	}
	log := cfg.logger().With("transport", Scheme, "addr", cfg.Addr())
	keys := &authKeys{cfg: cfg, ctx: ctx, log: log}
	defer keys.close()
	scfg := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(keys.callback)},
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: hk.hostKeyAlgorithms(),
		ClientVersion:     clientVersion,
	}

	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		under.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { under.Close() })
	conn, chans, reqs, err := ssh.NewClientConn(under, cfg.Addr(), scfg)
	if !stop() {
		if err == nil {
			conn.Close()
		}
		return nil, fmt.Errorf("ssh: handshake with %s: %w", cfg, context.Cause(ctx))
	}
	if err != nil && (ctx.Err() != nil || hasDeadline && !time.Now().Before(deadline)) {
		// The conn's deadline, set from ctx, may fire just before ctx
		// itself reports it.
		cause := context.Cause(ctx)
		if cause == nil {
			cause = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("ssh: handshake with %s: %w", cfg, cause)
	}
	if err != nil {
		var hke *HostKeyError
		if errors.As(err, &hke) {
			return nil, hke
		}
		return nil, fmt.Errorf("ssh: handshake with %s: %w", cfg, keys.authFailed(err))
	}
	if err := under.SetDeadline(time.Time{}); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Debug("ssh: cannot clear the handshake deadline", "err", err)
	}
	c := &Client{conn: conn, cfg: cfg, hostKey: hk.seen, log: log, closing: make(chan struct{})}
	c.wg.Go(func() { ssh.DiscardRequests(reqs) })
	c.wg.Go(func() {
		for nc := range chans {
			nc.Reject(ssh.Prohibited, "hopwire clients accept no channels")
		}
	})
	return c, nil
}

// check validates what Dial and NewClient need.
func (c *ClientConfig) check() error {
	switch {
	case c == nil:
		return errors.New("ssh: nil ClientConfig")
	case c.HostName == "":
		return errors.New("ssh: ClientConfig has no HostName")
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("ssh: bad port %d", c.Port)
	case c.User == "":
		return fmt.Errorf("ssh: no user to log in to %s as", c.Addr())
	}
	return nil
}

// HostKey returns the host key the server authenticated with, which
// known_hosts vouched for.
func (c *Client) HostKey() ssh.PublicKey { return c.hostKey }

// Close closes the SSH connection, and so every channel on it and the
// conn it runs over, and waits for the Client's goroutines. It is
// idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.isClosed = true
		close(c.closing)
		c.mu.Unlock()
		err := c.conn.Close()
		c.conn.Wait()
		c.wg.Wait()
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
			c.closeErr = fmt.Errorf("ssh: close: %w", err)
		}
	})
	return c.closeErr
}

// openChannel opens a channel under ctx. x/crypto's OpenChannel waits for
// the server without a context; if ctx ends first, the channel, should it
// open later, is closed by the goroutine that was waiting.
func (c *Client) openChannel(ctx context.Context, typ string, payload []byte) (ssh.Channel, <-chan *ssh.Request, error) {
	type opened struct {
		ch   ssh.Channel
		reqs <-chan *ssh.Request
		err  error
	}
	resc := make(chan opened)
	abandon := make(chan struct{})
	started := c.spawn(func() {
		ch, reqs, err := c.conn.OpenChannel(typ, payload)
		select {
		case resc <- opened{ch, reqs, err}:
		case <-abandon:
			if err == nil {
				ch.Close()
				ssh.DiscardRequests(reqs)
			}
		}
	})
	if !started {
		return nil, nil, net.ErrClosed
	}
	select {
	case r := <-resc:
		return r.ch, r.reqs, r.err
	case <-ctx.Done():
		close(abandon)
		return nil, nil, context.Cause(ctx)
	}
}

// spawn runs f on a goroutine that Close waits for, unless the Client is
// closed; then it does nothing and returns false (what f would have
// served is dead anyway, and conns watch c.closing).
func (c *Client) spawn(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		return false
	}
	c.wg.Go(f)
	return true
}

// newConn wraps a channel this Client opened.
func (c *Client) newConn(ch ssh.Channel, reqs <-chan *ssh.Request, remote net.Addr) *Conn {
	conn := newConn(ch, reqs, func(f func()) { c.spawn(f) }, c.closing, c.conn.LocalAddr(), remote)
	conn.peerKey = c.hostKey
	conn.user = c.cfg.User
	return conn
}

// peerAddr is the address of the SSH server, for conns whose far end is
// the server itself.
func (c *Client) peerAddr() net.Addr {
	if ra := c.conn.RemoteAddr(); ra != nil {
		if _, _, err := net.SplitHostPort(ra.String()); err == nil {
			return ra
		}
	}
	return Addr{Net: Scheme, S: c.cfg.Addr()}
}

// directTCPIP is the payload of a direct-tcpip channel open (RFC 4254
// §7.2).
type directTCPIP struct {
	Host     string
	Port     uint32
	OrigHost string
	OrigPort uint32
}

// DialContext asks the server to connect to addr ("host:port") and
// returns the connection as a *[Conn] over a direct-tcpip channel (RFC
// 4254 §7.2), the way ssh -J reaches the next hop through a bastion. The
// name is resolved by the server. network must be "tcp", "tcp4" or
// "tcp6" (the server picks the address family either way).
//
// ctx governs opening the channel only. The caller closes the conn.
// DialContext has the signature of net.Dialer.DialContext, so a Client
// fits wherever a dial function does.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: Addr{Net: network, S: addr}, Err: err}
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, opErr(net.UnknownNetworkError(network))
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, opErr(err)
	}
	port, err := net.DefaultResolver.LookupPort(ctx, network, portStr)
	if err != nil {
		return nil, opErr(err)
	}
	payload := ssh.Marshal(&directTCPIP{Host: host, Port: uint32(port), OrigHost: "127.0.0.1", OrigPort: 0})
	ch, reqs, err := c.openChannel(ctx, "direct-tcpip", payload)
	if err != nil {
		return nil, opErr(fmt.Errorf("ssh: through %s: %w", c.cfg, err))
	}
	var remote net.Addr = Addr{Net: "tcp", S: net.JoinHostPort(host, strconv.Itoa(port))}
	if ip, err := netip.ParseAddr(host); err == nil {
		remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
	}
	return c.newConn(ch, reqs, remote), nil
}

// OpenHopwire opens a hopwire channel to a hopwire node's embedded SSH
// server ([Listen]) and returns it as a *[Conn], over which the hopwire
// link runs. A plain OpenSSH server refuses it (unknown channel type).
//
// ctx governs opening the channel only. The caller closes the conn.
func (c *Client) OpenHopwire(ctx context.Context) (net.Conn, error) {
	ch, reqs, err := c.openChannel(ctx, ChannelType, nil)
	if err != nil {
		return nil, fmt.Errorf("ssh: open %s channel on %s: %w", ChannelType, c.cfg, err)
	}
	return c.newConn(ch, reqs, c.peerAddr()), nil
}
