package hop

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"

	"github.com/hopwire/hopwire/session"
	hssh "github.com/hopwire/hopwire/transport/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// ssh://: a hopwire node's embedded SSH listener (a hopwire channel), or a
// plain OpenSSH server: a bastion (direct-tcpip) or, as the target, the
// host of a `hopwire serve --stdio` (see ssh.go).
var sshScheme = scheme{
	dialHop: func(ctx context.Context, d *Dialer, prev *Hop, a Addr, last bool) (*Hop, error) {
		return d.dialSSH(ctx, prev, a, last)
	},
	listen: func(ctx context.Context, hostport string, cfg *ListenConfig) (Listener, error) {
		if cfg.Identity == nil {
			return nil, errors.New("hop: an ssh listener needs an identity (its host key)")
		}
		signer, err := gossh.NewSignerFromSigner(cfg.Identity.TLSCertificate().PrivateKey.(crypto.Signer))
		if err != nil {
			return nil, fmt.Errorf("hop: ssh host key: %w", err)
		}
		if cfg.SSHAuthorizedKeys == "" {
			return nil, errors.New("hop: an ssh listener needs an authorized_keys file")
		}
		ln, err := hssh.Listen(ctx, hostport, &hssh.ServerConfig{HostKeys: []gossh.Signer{signer},
			AuthorizedKeysFile: cfg.SSHAuthorizedKeys, HandshakeTimeout: cfg.HandshakeTimeout,
			MaxPreAuth: cfg.MaxHandshakes, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		return sshListener{ln}, nil
	},
}

type sshListener struct{ ln *hssh.Listener }

func (l sshListener) Accept(ctx context.Context) (Accepted, error) {
	c, err := l.ln.AcceptContext(ctx)
	if err != nil {
		return Accepted{}, err
	}
	// An SSH client is its key (fp:SHA256:… rules), and ssh:USER only
	// when USER's own authorized keys file (a %u path) listed that key,
	// as OpenSSH binds logins to keys.
	p := session.Peer{Fingerprint: c.PeerFingerprint()}
	if u := c.BoundUser(); u != "" {
		p.Principal = "ssh:" + u
	}
	return Accepted{Conn: c, Peer: p, Close: c.Close}, nil
}

func (l sshListener) Addr() net.Addr { return l.ln.Addr() }
func (l sshListener) Close() error   { return l.ln.Close() }
func (l sshListener) Stats() (int, map[string]uint64, bool) {
	st := l.ln.Stats()
	return st.PreAuth, st.Dropped, true
}
