package hop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hopwire/hopwire/session"
	hssh "github.com/hopwire/hopwire/transport/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// An ssh:// hop is one of three things, found out in this order:
//
//  1. a hopwire node with an embedded SSH listener: the link runs over a
//     "hopwire" channel;
//  2. the target of the chain on a plain OpenSSH server: the link runs over
//     an exec channel of `hopwire serve --stdio`; when the host has no
//     hopwire, the running binary is uploaded first (same OS and
//     architecture, content-addressed under ~/.cache/hopwire ($XDG_CACHE_HOME/hopwire when set), checked by
//     SHA-256) — zero-install, like RPyC's zero-deploy;
//  3. a plain OpenSSH bastion in the middle of a chain: no link at all;
//     the next hop is reached with direct-tcpip, and a stdio: hop after
//     it runs as an exec channel.
func (d *Dialer) dialSSH(ctx context.Context, prev *Hop, a Addr, last bool) (*Hop, error) {
	var opts hssh.ClientOptions
	if d.SSH != nil {
		opts = *d.SSH
	}
	if a.User != "" {
		opts.User = a.User
	}
	if a.Port != "" {
		opts.Port, _ = strconv.Atoi(a.Port)
	}
	cfg, err := hssh.LoadClientConfig(a.Host, &opts)
	if err != nil {
		return nil, err
	}
	var c *hssh.Client
	cfg.ProxyJump = nil // expanded into the chain by Dial
	if prev == nil {
		if cfg.ProxyCommand != "" {
			return nil, fmt.Errorf("ProxyCommand is not supported (%q); use ProxyJump or a stdio: hop", cfg.ProxyCommand)
		}
		c, err = hssh.Dial(ctx, cfg)
	} else {
		var under net.Conn
		if under, err = prev.dialTCP(ctx, cfg.Addr()); err == nil {
			c, err = hssh.NewClient(ctx, under, cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	h := &Hop{Addr: a, Transport: "ssh", SSH: c, Verified: "known_hosts"}
	hostPeer := session.Peer{Principal: "ssh:" + cfg.User + "@" + cfg.HostName, Fingerprint: hostFingerprint(c)}
	if ch, err := c.OpenHopwire(ctx); err == nil {
		l, err := session.NewLink(ch, session.Client, d.linkConfig(hostPeer))
		if err != nil {
			c.Close()
			return nil, err
		}
		return d.finishHop(ctx, h, l)
	}
	if !last {
		return h, nil // a bastion: the next hop goes through it
	}
	cmd, err := d.remoteHopwire(ctx, c)
	if err != nil {
		c.Close()
		return nil, err
	}
	ex, err := c.Exec(ctx, cmd+" serve --stdio")
	if err != nil {
		c.Close()
		return nil, err
	}
	h.Transport = "ssh+stdio"
	l, err := session.NewLink(ex, session.Client, d.linkConfig(hostPeer))
	if err != nil {
		// The remote command's exit status and stderr say why, better
		// than "read hello: EOF".
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if werr := ex.Wait(wctx); werr != nil && errors.As(werr, new(*hssh.ExitError)) {
			err = fmt.Errorf("%w (%v)", err, werr)
		}
		cancel()
		c.Close()
		return nil, fmt.Errorf("%s serve --stdio: %w", cmd, err)
	}
	return d.finishHop(ctx, h, l)
}

// SSHFingerprint returns the host key fingerprint of an ssh:// hop, or "".
func (h *Hop) SSHFingerprint() string {
	if h.SSH == nil {
		return ""
	}
	return hostFingerprint(h.SSH)
}

func hostFingerprint(c *hssh.Client) string {
	if k := c.HostKey(); k != nil {
		return gossh.FingerprintSHA256(k)
	}
	return ""
}

// remoteHopwire returns the command that runs hopwire on the far host,
// uploading this binary when the host has none.
func (d *Dialer) remoteHopwire(ctx context.Context, c *hssh.Client) (string, error) {
	if out, err := c.Run(ctx, "command -v hopwire"); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		return "hopwire", nil
	}
	if d.NoUpload {
		return "", errors.New("hopwire is not installed on the host and uploading is disabled")
	}
	uname, err := c.Run(ctx, "uname -sm")
	if err != nil {
		return "", fmt.Errorf("zero-install: uname: %w", err)
	}
	if want := localUname(); strings.TrimSpace(string(uname)) != want {
		return "", fmt.Errorf("zero-install: the host is %q, this binary is for %q; install hopwire there", strings.TrimSpace(string(uname)), want)
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	sum, err := fileSHA256(self)
	if err != nil {
		return "", err
	}
	// The cache is ${XDG_CACHE_HOME:-~/.cache}/hopwire, as XDG says.
	path := "${XDG_CACHE_HOME:-$HOME/.cache}/hopwire/hopwire-" + sum[:16]
	if out, err := c.Run(ctx, sha256Cmd(path)+" 2>/dev/null"); err == nil && strings.HasPrefix(string(out), sum) {
		return path, nil // already there, and intact
	}
	f, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cache, err := c.Run(ctx, "printf %s \"${XDG_CACHE_HOME:-$HOME/.cache}\"")
	if err != nil {
		return "", err
	}
	dest := strings.TrimSpace(string(cache)) + "/hopwire/hopwire-" + sum[:16]
	if err := c.Upload(ctx, f, dest, 0o755); err != nil {
		return "", fmt.Errorf("zero-install: upload: %w", err)
	}
	out, err := c.Run(ctx, sha256Cmd(path))
	if err != nil || !strings.HasPrefix(string(out), sum) {
		return "", fmt.Errorf("zero-install: the uploaded binary does not check out (%q, %v)", out, err)
	}
	return path, nil
}

func localUname() string { return unameOf(runtime.GOOS, runtime.GOARCH) }

// sha256Cmd is the shell command that prints path's SHA-256 first:
// sha256sum, or shasum on macOS, which has no sha256sum.
func sha256Cmd(path string) string {
	return "{ sha256sum " + path + " || shasum -a 256 " + path + "; }"
}

// unameOf is what `uname -sm` prints on a host of goos/goarch.
func unameOf(goos, goarch string) string {
	osName := map[string]string{"linux": "Linux", "darwin": "Darwin", "freebsd": "FreeBSD"}[goos]
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l"}[goarch]
	if goos == "darwin" && goarch == "arm64" {
		arch = "arm64" // Apple silicon's uname -m
	}
	return osName + " " + arch
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// expandProxyJumps puts, before each ssh:// hop whose host has a ProxyJump
// in the ssh configuration, the hops it names (as ssh -J would).
func (d *Dialer) expandProxyJumps(hops []Addr) ([]Addr, error) {
	var out []Addr
	for _, a := range hops {
		if a.Scheme == "ssh" {
			jumps, err := d.proxyJumps(a, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, jumps...)
		}
		out = append(out, a)
	}
	return out, nil
}

func (d *Dialer) proxyJumps(a Addr, depth int) ([]Addr, error) {
	if depth > 8 {
		return nil, errors.New("hop: ProxyJump nested deeper than 8")
	}
	var opts hssh.ClientOptions
	if d.SSH != nil {
		opts = *d.SSH
	}
	cfg, err := hssh.LoadClientConfig(a.Host, &opts)
	if err != nil {
		return nil, err
	}
	var out []Addr
	for _, j := range cfg.ProxyJump {
		ja, err := Parse("ssh://" + strings.TrimPrefix(j, "ssh://"))
		if err != nil {
			return nil, fmt.Errorf("hop: ProxyJump %q of %s: %w", j, a.Host, err)
		}
		more, err := d.proxyJumps(ja, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(append(out, more...), ja)
	}
	return out, nil
}
