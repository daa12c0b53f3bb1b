package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Scheme is the hop scheme this transport serves.
const Scheme = "tcp"

// InsecureFlag is the command-line flag that sets [Options.Insecure]; the
// refusal errors name it so that users know what to pass.
const InsecureFlag = "--insecure-tcp"

// ErrNotLoopback is wrapped by the error for a dial or listen address that
// is not a loopback address when [Options.Insecure] is false. The full error
// names the address; its text says why and which flag allows it.
var ErrNotLoopback = errors.New("plain TCP is neither encrypted nor authenticated; use tls:// or pass " + InsecureFlag + " to allow it")

// defaultKeepAlive is the idle time before the first TCP keep-alive probe
// and the interval between probes.
const defaultKeepAlive = 15 * time.Second

// keepAliveProbes is how many unanswered probes end a connection: a dead
// peer is noticed after about KeepAlive × (1 + keepAliveProbes).
const keepAliveProbes = 4

// Options configures [Dial] and [Listen]. A nil *Options means the zero
// value, which allows loopback addresses only. Dial and Listen never modify
// the Options they are given, and may be given the same Options at once.
type Options struct {
	// Insecure allows plain TCP to and on addresses that are not loopback
	// addresses. Plain TCP carries no identity and no encryption, so it is
	// off unless the user asks for it with InsecureFlag.
	Insecure bool

	// KeepAlive is the idle time before the first TCP keep-alive probe and
	// the interval between probes. Zero means 15s; negative disables
	// keep-alive probes.
	KeepAlive time.Duration

	// Control, if not nil, is called for every socket after the loopback
	// check and before it is connected (Dial) or bound (Listen), with the
	// numeric address, as in [net.Dialer.Control]. A relay can use it to
	// apply its CONNECT policy to the IP actually dialled.
	Control func(network, address string, c syscall.RawConn) error
}

// Dial connects to addr ("host:port") over TCP. Unless opts.Insecure is set,
// every IP address the name resolves to is checked before it is dialled:
// a non-loopback one is refused, before any packet is sent, with an error
// wrapping [ErrNotLoopback]. So a DNS name that resolves off loopback is
// refused too.
//
// ctx governs the connection attempt only: once Dial returns, cancelling it
// does not affect the conn. The conn has TCP_NODELAY set (Go's default) and
// keep-alive probes as configured in opts; the caller closes it. Errors are
// the usual [*net.OpError]s, naming the address.
func Dial(ctx context.Context, addr string, opts *Options) (net.Conn, error) {
	o := opts.orDefault()
	d := net.Dialer{
		KeepAlive:       -1, // KeepAliveConfig decides
		KeepAliveConfig: o.keepAlive(),
		Control:         o.control(),
	}
	return d.DialContext(ctx, "tcp", addr)
}

// Listen listens for TCP connections on addr ("host:port"). Unless
// opts.Insecure is set, the address bound must be a loopback address: an
// empty host (":7000"), "0.0.0.0", "::" or any other non-loopback address
// is refused with an error wrapping [ErrNotLoopback] that names
// [InsecureFlag]; a name such as "localhost" is checked on the address it
// resolves to.
//
// ctx governs the bind only; close the listener to stop listening. Accepted
// conns get TCP_NODELAY and keep-alive probes as configured in opts. The
// caller closes the listener and every conn it returns.
func Listen(ctx context.Context, addr string, opts *Options) (net.Listener, error) {
	o := opts.orDefault()
	lc := net.ListenConfig{
		KeepAlive:       -1, // KeepAliveConfig decides
		KeepAliveConfig: o.keepAlive(),
		Control:         o.control(),
	}
	return lc.Listen(ctx, "tcp", addr)
}

// orDefault returns a copy of o, or the zero Options for nil.
func (o *Options) orDefault() Options {
	if o == nil {
		return Options{}
	}
	return *o
}

// keepAlive returns the keep-alive settings for o.KeepAlive.
func (o Options) keepAlive() net.KeepAliveConfig {
	switch {
	case o.KeepAlive < 0:
		return net.KeepAliveConfig{Enable: false}
	case o.KeepAlive == 0:
		o.KeepAlive = defaultKeepAlive
	}
	return net.KeepAliveConfig{
		Enable:   true,
		Idle:     o.KeepAlive,
		Interval: o.KeepAlive,
		Count:    keepAliveProbes,
	}
}

// control returns the socket control hook: the loopback check (unless
// Insecure), then the caller's Control.
func (o Options) control() func(network, address string, c syscall.RawConn) error {
	if o.Insecure {
		return o.Control
	}
	next := o.Control
	return func(network, address string, c syscall.RawConn) error {
		if err := checkLoopback(address); err != nil {
			return err
		}
		if next != nil {
			return next(network, address, c)
		}
		return nil
	}
}

// checkLoopback returns nil if address ("host:port" with a numeric host, as
// the socket control hook gets it) is a loopback address.
func checkLoopback(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	if host == "" {
		return fmt.Errorf("tcp: refusing all interfaces: %w", ErrNotLoopback)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("tcp: refusing non-numeric address %q: %w", host, ErrNotLoopback)
	}
	if !ip.Unmap().IsLoopback() {
		what := "non-loopback address " + ip.String()
		if ip.IsUnspecified() {
			what = "all interfaces (" + ip.String() + ")"
		}
		return fmt.Errorf("tcp: refusing %s: %w", what, ErrNotLoopback)
	}
	return nil
}
