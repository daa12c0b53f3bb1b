package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/internal/shell"
	hssh "github.com/hopwire/hopwire/transport/ssh"
)

// uninstallScript removes what a zero-install ssh:// target leaves on its
// host: the uploaded binaries under ~/.cache/hopwire ($XDG_CACHE_HOME/hopwire
// when set), and the identity
// the spawned node created (id.crt, id.key in its hopwire home), then
// those directories if nothing else is in them. It prints what it
// removed, and what it left, one line each.
const uninstallScript = `set -u
c="${XDG_CACHE_HOME:-$HOME/.cache}/hopwire"
for f in "$c"/hopwire-*; do
  [ -e "$f" ] || continue
  rm -f "$f" && echo "removed $f"
done
rmdir "$c" 2>/dev/null && echo "removed $c/"
h="${HOPWIRE_HOME:-$HOME/.hopwire}"
for f in "$h/id.crt" "$h/id.key"; do
  [ -e "$f" ] || continue
  rm -f "$f" && echo "removed $f"
done
if [ -d "$h" ]; then
  if rmdir "$h" 2>/dev/null; then echo "removed $h/"; else echo "kept $h/ (it holds files hopwire did not create there: trust files, config)"; fi
fi
`

// runUninstall: hopwire uninstall [-J chain] ssh://[USER@]HOST[:PORT]
func runUninstall(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("uninstall", stderr)
	var idf identityFlags
	idf.register(fs)
	var cf chainFlags
	cf.register(fs)
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: uninstall [-J HOPS] ssh://[USER@]HOST[:PORT]", errUsage)
	}
	a, err := hop.Parse(fs.Arg(0))
	if err != nil || a.Scheme != "ssh" {
		return fmt.Errorf("%w: uninstall takes the ssh:// target that hopwire was uploaded to, not %q", errUsage, fs.Arg(0))
	}
	ctx, cancel := context.WithTimeout(ctx, idf.timeout(nil)+30e9)
	defer cancel()
	c, err := sshTo(ctx, &idf, &cf, a, stderr)
	if err != nil {
		return fmt.Errorf("uninstall: %s: %w", a, err)
	}
	defer c.Close()
	out, err := c.Run(ctx, "sh -c "+shell.Quote(uninstallScript))
	if err != nil {
		return fmt.Errorf("uninstall: %s: %w", a, err)
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		fmt.Fprintf(stdout, "nothing to remove on %s\n", a)
		return nil
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fmt.Fprintln(stdout, quoteName(l))
	}
	return nil
}

// sshTo opens an SSH connection to a, through -J: plain OpenSSH bastions
// (direct-tcpip), or a chain whose last hop is a hopwire node. It never
// runs or uploads hopwire on a.
func sshTo(ctx context.Context, idf *identityFlags, cf *chainFlags, a hop.Addr, stderr io.Writer) (*hssh.Client, error) {
	cfg, err := sshConfig(cf, a)
	if err != nil {
		return nil, err
	}
	if cf.jump == "" {
		return hssh.Dial(ctx, cfg)
	}
	via, err := hop.ParseChain(cf.jump)
	if err != nil {
		return nil, fmt.Errorf("%w: -J: %v", errUsage, err)
	}
	var under net.Conn
	if last := via[len(via)-1]; last.Scheme == "ssh" {
		// OpenSSH bastions only: each one forwards to the next.
		var prev *hssh.Client
		for _, b := range via {
			if b.Scheme != "ssh" {
				return nil, fmt.Errorf("%w: uninstall -J takes OpenSSH bastions, or a chain ending in a hopwire node", errUsage)
			}
			bc, err := sshConfig(cf, b)
			if err != nil {
				return nil, err
			}
			var next *hssh.Client
			if prev == nil {
				next, err = hssh.Dial(ctx, bc)
			} else {
				var u net.Conn
				if u, err = prev.DialContext(ctx, "tcp", bc.Addr()); err == nil {
					next, err = hssh.NewClient(ctx, u, bc)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", b, err)
			}
			prev = next
		}
		under, err = prev.DialContext(ctx, "tcp", cfg.Addr())
	} else {
		r, err := dialChain(ctx, via[:len(via)-1], last, idf, cf, stderr, nil)
		if err != nil {
			return nil, err
		}
		under, err = r.DialContext(ctx, "tcp", cfg.Addr())
		if err != nil {
			r.Close()
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	return hssh.NewClient(ctx, under, cfg)
}

func sshConfig(cf *chainFlags, a hop.Addr) (*hssh.ClientConfig, error) {
	opts := hssh.ClientOptions{IdentityFiles: cf.sshKeys, User: a.User}
	if a.Port != "" {
		opts.Port, _ = strconv.Atoi(a.Port)
	}
	return hssh.LoadClientConfig(a.Host, &opts)
}
