package ssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authKeys gathers the keys a client offers during one handshake. It
// owns the ssh-agent connection, which close ends once authentication is
// over (agent keys are only used to sign the authentication request).
type authKeys struct {
	cfg *ClientConfig
	ctx context.Context
	log *slog.Logger

	loaded  bool
	signers []ssh.Signer
	offered []string // "file (ED25519 SHA256:…)" for error messages
	err     error

	agentConn net.Conn
}

// close closes the agent connection, if one was opened.
func (a *authKeys) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
		a.agentConn = nil
	}
}

// callback is the ssh.PublicKeysCallback: it loads the keys on first use.
func (a *authKeys) callback() ([]ssh.Signer, error) {
	if !a.loaded {
		a.loaded = true
		a.signers, a.err = a.load()
	}
	return a.signers, a.err
}

// load collects, in order: the in-memory signers, the identity files
// (using the agent's signer for an encrypted file whose key the agent
// holds), then the agent's other keys unless IdentitiesOnly.
func (a *authKeys) load() ([]ssh.Signer, error) {
	var (
		out  []ssh.Signer
		seen = map[string]bool{}
	)
	add := func(s ssh.Signer, from string) {
		k := string(s.PublicKey().Marshal())
		if seen[k] {
			return
		}
		seen[k] = true
		out = append(out, s)
		a.offered = append(a.offered, fmt.Sprintf("%s (%s %s)", from, keyTypeName(s.PublicKey()), ssh.FingerprintSHA256(s.PublicKey())))
	}
	for _, s := range a.cfg.Signers {
		add(s, "in-memory key")
	}

	agentKeys := a.agentSigners()
	inAgent := func(pub ssh.PublicKey) ssh.Signer {
		for _, s := range agentKeys {
			if string(s.PublicKey().Marshal()) == string(pub.Marshal()) {
				return s
			}
		}
		return nil
	}
	for i, path := range a.cfg.IdentityFiles {
		required := i < a.cfg.RequiredIdentityFiles
		s, err := loadIdentity(path, inAgent)
		if err != nil {
			if required {
				return nil, err
			}
			if errors.Is(err, os.ErrNotExist) {
				a.log.Debug("ssh: identity file not found; skipped", "file", path)
			} else {
				a.log.Debug("ssh: identity file skipped", "file", path, "err", err)
			}
			continue
		}
		add(s, path)
	}
	if !a.cfg.IdentitiesOnly {
		for _, s := range agentKeys {
			add(s, "ssh-agent")
		}
	}
	for _, o := range a.offered {
		a.log.Debug("ssh: offering key", "key", o)
	}
	return out, nil
}

// agentSigners connects to the agent, if one is configured, and returns
// its keys. An agent that cannot be reached is noted and skipped.
func (a *authKeys) agentSigners() []ssh.Signer {
	sock := a.cfg.AgentSocket
	if sock == "" {
		return nil
	}
	var d net.Dialer
	conn, err := d.DialContext(a.ctx, "unix", sock)
	if err != nil {
		a.log.Debug("ssh: ssh-agent unreachable; not used", "socket", sock, "err", err)
		return nil
	}
	a.agentConn = conn
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		a.log.Debug("ssh: ssh-agent did not list its keys; not used", "socket", sock, "err", err)
		return nil
	}
	return signers
}

// loadIdentity reads a private key file. An encrypted key is usable only
// if the agent holds it (inAgent finds its signer); hopwire does not ask
// for passphrases.
func loadIdentity(path string, inAgent func(ssh.PublicKey) ssh.Signer) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ssh: identity: %w", err)
	}
	s, err := ssh.ParsePrivateKey(data)
	if err == nil {
		return s, nil
	}
	var pme *ssh.PassphraseMissingError
	if !errors.As(err, &pme) {
		return nil, fmt.Errorf("ssh: identity %s: %w", path, err)
	}
	pub := pme.PublicKey
	if pub == nil {
		// Older PEM-encrypted keys do not carry their public half; the
		// .pub file beside them does.
		if b, err := os.ReadFile(path + ".pub"); err == nil {
			if k, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
				pub = k
			}
		}
	}
	if pub != nil {
		if s := inAgent(pub); s != nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("ssh: identity %s is encrypted and ssh-agent does not hold it (add it with: ssh-add %s)", path, path)
}

// authFailed adds the keys that were offered to x/crypto's "unable to
// authenticate" error, which names none.
func (a *authKeys) authFailed(err error) error {
	if !strings.Contains(err.Error(), "unable to authenticate") {
		return err
	}
	if len(a.offered) == 0 {
		return fmt.Errorf("%w (no key was available to offer: no identity file could be read and no ssh-agent key was found)", err)
	}
	return fmt.Errorf("%w (offered: %s)", err, strings.Join(a.offered, ", "))
}
