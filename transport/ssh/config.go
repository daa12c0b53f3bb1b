package ssh

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// DefaultPort is the SSH port used when neither the options nor
// ssh_config give one.
const DefaultPort = 22

// systemConfigFile is OpenSSH's system-wide client configuration, read
// after the user's unless ClientOptions.ConfigFile is set.
const systemConfigFile = "/etc/ssh/ssh_config"

// systemKnownHosts are OpenSSH's default GlobalKnownHostsFile entries.
var systemKnownHosts = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}

// defaultIdentities are tried, in this order, when neither the options
// nor ssh_config name an identity file. OpenSSH tries id_rsa first; we
// put the modern key types first, so they are offered before a server's
// MaxAuthTries runs out.
var defaultIdentities = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// ClientOptions are the caller's explicit settings for [LoadClientConfig],
// the equivalent of ssh's command-line flags: where set, they override
// ssh_config. A nil *ClientOptions means none. LoadClientConfig never
// modifies it.
type ClientOptions struct {
	// Home is the home directory that "~" and the default files
	// (~/.ssh/config, ~/.ssh/known_hosts, ~/.ssh/id_*) refer to. Empty
	// means os.UserHomeDir.
	Home string

	// ConfigFile is the ssh_config file to read instead of ~/.ssh/config,
	// like ssh -F; the system-wide /etc/ssh/ssh_config is then not read
	// either. "none" reads no file at all. Empty means ~/.ssh/config
	// (skipped if missing) followed by /etc/ssh/ssh_config.
	ConfigFile string

	// User is the remote user (ssh -l, or user@ in a hop address).
	User string

	// Port is the remote port (ssh -p). Zero means ssh_config's, or 22.
	Port int

	// IdentityFiles are private key files to offer first (ssh -i). A
	// file that cannot be read is an error at Dial, unlike ssh_config
	// IdentityFile entries and the default ~/.ssh/id_*, which are skipped
	// when missing.
	IdentityFiles []string

	// Signers are keys held in memory, offered before any file or agent
	// key (for instance a hopwire identity, or keys in tests).
	Signers []ssh.Signer

	// KnownHostsFiles, if not empty, are the only known_hosts files
	// consulted, replacing both UserKnownHostsFile and
	// GlobalKnownHostsFile from ssh_config and their defaults.
	KnownHostsFiles []string

	// AgentSocket is the ssh-agent socket to use. Empty means
	// $SSH_AUTH_SOCK, unless ssh_config's IdentityAgent says otherwise;
	// "none" uses no agent.
	AgentSocket string

	// Stderr, if not nil, receives the standard error of commands run by
	// [Client.Exec], one line at a time (without the newline; lines longer
	// than 4 KiB arrive in pieces). It is called from one goroutine per
	// command, in order, and must return quickly: while it runs, that
	// command's output is not read. Nil discards standard error.
	Stderr func(line string)

	// Logger receives debug notes: keys skipped (missing files, encrypted
	// keys with no agent holding them) and keys offered. Nil discards them.
	Logger *slog.Logger
}

// ClientConfig is everything needed to connect to one SSH server: the
// result of resolving a host through ssh_config and the caller's
// [ClientOptions]. [LoadClientConfig] builds one; callers may also fill
// one in themselves. Dial and NewClient never modify it, and one
// ClientConfig may be used by several connections at once.
type ClientConfig struct {
	// Host is the host as the user gave it: an alias from ssh_config or a
	// host name. It is used in messages.
	Host string

	// HostName is the host to connect to (ssh_config HostName, with %h
	// expanded; otherwise Host).
	HostName string

	// Port is the port to connect to.
	Port int

	// User is the remote user to log in as.
	User string

	// HostKeyAlias, if set, is the name looked up in known_hosts instead
	// of HostName (ssh_config HostKeyAlias).
	HostKeyAlias string

	// Signers are in-memory keys offered before anything else.
	Signers []ssh.Signer

	// IdentityFiles are the private key files to offer, in order, after
	// Signers: -i files first, then ssh_config IdentityFile entries, or
	// the default ~/.ssh/id_ed25519, id_ecdsa and id_rsa when neither
	// named any.
	IdentityFiles []string

	// RequiredIdentityFiles is how many of the first IdentityFiles were
	// given explicitly (-i): those must be readable.
	RequiredIdentityFiles int

	// IdentitiesOnly restricts agent keys to those matching
	// IdentityFiles (ssh_config IdentitiesOnly).
	IdentitiesOnly bool

	// AgentSocket is the ssh-agent socket path, or empty for no agent.
	AgentSocket string

	// KnownHostsFiles are the known_hosts files that the server's host
	// key is checked against. Files that do not exist are skipped; if
	// none exists, every host is unknown.
	KnownHostsFiles []string

	// StrictHostKeyChecking is ssh_config's value, lower-cased, or empty.
	// It is recorded for messages only: checking is always strict (see
	// the package documentation).
	StrictHostKeyChecking string

	// ProxyJump lists the jump hosts that ssh_config's ProxyJump gives
	// for this host, in order ("[user@]host[:port]" or "ssh://…" as
	// written); empty when there are none or the value is "none". This
	// package does not dial them: [Dial] refuses a config that has them,
	// and the hop layer builds the chain and calls [NewClient] over it.
	ProxyJump []string

	// ProxyCommand is ssh_config's ProxyCommand for this host, with its
	// tokens expanded, or empty. Like ProxyJump, it is left to the
	// caller; [Dial] refuses a config that has one.
	ProxyCommand string

	// Stderr and Logger are as in [ClientOptions].
	Stderr func(line string)
	Logger *slog.Logger

	// Source says where each setting came from, for messages ("ssh_config
	// /home/u/.ssh/config:12"); keyed by lower-case keyword.
	Source map[string]string
}

// Addr returns the address to connect to, "HostName:Port".
func (c *ClientConfig) Addr() string {
	return net.JoinHostPort(c.HostName, strconv.Itoa(c.Port))
}

// knownHostsAddr is the address looked up in known_hosts.
func (c *ClientConfig) knownHostsAddr() string {
	h := c.HostName
	if c.HostKeyAlias != "" {
		h = c.HostKeyAlias
	}
	return net.JoinHostPort(h, strconv.Itoa(c.Port))
}

// String returns "user@host:port" for messages.
func (c *ClientConfig) String() string {
	s := c.Addr()
	if c.Host != "" && c.Host != c.HostName {
		s = c.Host + " (" + s + ")"
	}
	if c.User != "" {
		s = c.User + "@" + s
	}
	return s
}

// logger returns c's logger or a discarding one.
func (c *ClientConfig) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// LoadClientConfig resolves host through the user's SSH configuration and
// opts, the way ssh(1) would for "ssh host":
//
//   - ssh_config is read from ~/.ssh/config and then /etc/ssh/ssh_config
//     (or opts.ConfigFile alone). For each keyword the first value
//     obtained wins, except IdentityFile, which accumulates. Host
//     patterns (*, ?, !negation) and Include (relative paths under
//     ~/.ssh, globs) are supported; of Match, only "all", "host" and
//     "originalhost" are — a Match block with any other criterion is
//     skipped.
//   - Keywords used: HostName, User, Port, IdentityFile, IdentitiesOnly,
//     IdentityAgent, ProxyJump, ProxyCommand, UserKnownHostsFile,
//     GlobalKnownHostsFile, HostKeyAlias, StrictHostKeyChecking. Others
//     are ignored.
//   - opts.User, opts.Port and opts.KnownHostsFiles override ssh_config;
//     opts.IdentityFiles are offered before IdentityFile entries.
//
// It reads files only; it does not connect, and does not read the keys.
func LoadClientConfig(host string, opts *ClientOptions) (*ClientConfig, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if host == "" || strings.ContainsAny(host, "@ \t\r\n") {
		return nil, fmt.Errorf("ssh: invalid host %q", host)
	}
	home := o.Home
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("ssh: %w", err)
		}
		home = h
	}
	e := &configEval{q: hostQuery{host: strings.ToLower(host), home: home}}
	switch o.ConfigFile {
	case "none":
	case "":
		if err := e.readConfig(filepath.Join(home, ".ssh", "config"), filepath.Join(home, ".ssh"), true); err != nil {
			return nil, err
		}
		if err := e.readConfig(systemConfigFile, filepath.Dir(systemConfigFile), true); err != nil {
			return nil, err
		}
	default:
		if err := e.readConfig(expandTilde(o.ConfigFile, home), filepath.Join(home, ".ssh"), false); err != nil {
			return nil, err
		}
	}
	return resolve(host, home, &o, e.lines)
}

// resolve applies the ssh_config directives that matched (in order) and
// the options to build a ClientConfig.
func resolve(host, home string, o *ClientOptions, lines []configLine) (*ClientConfig, error) {
	c := &ClientConfig{
		Host:    host,
		Signers: append([]ssh.Signer(nil), o.Signers...),
		Stderr:  o.Stderr,
		Logger:  o.Logger,
		Source:  map[string]string{},
	}
	// first returns the first value of key, and where it came from.
	first := func(key string) (configLine, bool) {
		for _, l := range lines {
			if l.key == key && len(l.args) > 0 {
				return l, true
			}
		}
		return configLine{}, false
	}
	note := func(l configLine) { c.Source[l.key] = "ssh_config " + l.where() }

	c.HostName = host
	if l, ok := first("hostname"); ok {
		c.HostName = expandHostName(l.args[0], host)
		note(l)
	}
	c.Port = DefaultPort
	if l, ok := first("port"); ok {
		p, err := strconv.Atoi(l.args[0])
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("ssh: config: %s: bad Port %q", l.where(), l.args[0])
		}
		c.Port = p
		note(l)
	}
	if o.Port != 0 {
		if o.Port < 1 || o.Port > 65535 {
			return nil, fmt.Errorf("ssh: bad port %d", o.Port)
		}
		c.Port = o.Port
		c.Source["port"] = "options"
	}
	local := localUser()
	switch {
	case o.User != "":
		c.User = o.User
		c.Source["user"] = "options"
	default:
		if l, ok := first("user"); ok {
			c.User = l.args[0]
			note(l)
		} else {
			c.User = local
		}
	}
	if l, ok := first("hostkeyalias"); ok {
		c.HostKeyAlias = l.args[0]
		note(l)
	}

	tokens := map[byte]string{
		'd': home,
		'h': c.HostName,
		'n': host,
		'p': strconv.Itoa(c.Port),
		'r': c.User,
		'u': local,
	}
	path := func(l configLine, v string) (string, error) {
		v, err := expandTokens(v, tokens)
		if err != nil {
			return "", fmt.Errorf("ssh: config: %s: %w", l.where(), err)
		}
		return expandTilde(v, home), nil
	}

	// Identities: -i first, then every IdentityFile; defaults only when
	// neither named one.
	for _, f := range o.IdentityFiles {
		c.IdentityFiles = append(c.IdentityFiles, expandTilde(f, home))
	}
	c.RequiredIdentityFiles = len(c.IdentityFiles)
	for _, l := range lines {
		if l.key != "identityfile" || len(l.args) == 0 {
			continue
		}
		if strings.EqualFold(l.args[0], "none") {
			continue
		}
		p, err := path(l, l.args[0])
		if err != nil {
			return nil, err
		}
		if !slices.Contains(c.IdentityFiles, p) {
			c.IdentityFiles = append(c.IdentityFiles, p)
		}
	}
	if len(c.IdentityFiles) == 0 {
		for _, name := range defaultIdentities {
			c.IdentityFiles = append(c.IdentityFiles, filepath.Join(home, ".ssh", name))
		}
	}
	if l, ok := first("identitiesonly"); ok {
		v, err := yesNo(l)
		if err != nil {
			return nil, err
		}
		c.IdentitiesOnly = v
		note(l)
	}

	// Agent: options, then IdentityAgent, then $SSH_AUTH_SOCK.
	c.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	if l, ok := first("identityagent"); ok {
		switch v := l.args[0]; {
		case strings.EqualFold(v, "none"):
			c.AgentSocket = ""
		case v == "SSH_AUTH_SOCK":
		case strings.HasPrefix(v, "$"):
			c.AgentSocket = os.Getenv(strings.Trim(v[1:], "{}"))
		default:
			p, err := path(l, v)
			if err != nil {
				return nil, err
			}
			c.AgentSocket = p
		}
		note(l)
	}
	switch o.AgentSocket {
	case "":
	case "none":
		c.AgentSocket = ""
	default:
		c.AgentSocket = expandTilde(o.AgentSocket, home)
	}

	// known_hosts.
	if len(o.KnownHostsFiles) > 0 {
		for _, f := range o.KnownHostsFiles {
			c.KnownHostsFiles = append(c.KnownHostsFiles, expandTilde(f, home))
		}
		c.Source["userknownhostsfile"] = "options"
	} else {
		user := []string{filepath.Join(home, ".ssh", "known_hosts"), filepath.Join(home, ".ssh", "known_hosts2")}
		global := systemKnownHosts
		for _, kw := range []string{"userknownhostsfile", "globalknownhostsfile"} {
			l, ok := first(kw)
			if !ok {
				continue
			}
			note(l)
			var files []string
			if !(len(l.args) == 1 && strings.EqualFold(l.args[0], "none")) {
				for _, a := range l.args {
					p, err := path(l, a)
					if err != nil {
						return nil, err
					}
					files = append(files, p)
				}
			}
			if kw == "userknownhostsfile" {
				user = files
			} else {
				global = files
			}
		}
		c.KnownHostsFiles = append(append(c.KnownHostsFiles, user...), global...)
	}
	if l, ok := first("stricthostkeychecking"); ok {
		c.StrictHostKeyChecking = strings.ToLower(l.args[0])
		note(l)
	}

	// Proxies: the first of ProxyJump and ProxyCommand wins, as in
	// OpenSSH.
	for _, l := range lines {
		if l.key != "proxyjump" && l.key != "proxycommand" || len(l.args) == 0 {
			continue
		}
		note(l)
		if len(l.args) == 1 && strings.EqualFold(l.args[0], "none") {
			break
		}
		if l.key == "proxyjump" {
			for _, hop := range strings.Split(strings.Join(l.args, ""), ",") {
				if hop = strings.TrimSpace(hop); hop != "" {
					c.ProxyJump = append(c.ProxyJump, hop)
				}
			}
			break
		}
		cmd, err := expandTokens(strings.Join(l.args, " "), tokens)
		if err != nil {
			return nil, fmt.Errorf("ssh: config: %s: %w", l.where(), err)
		}
		c.ProxyCommand = cmd
		break
	}
	return c, nil
}

// yesNo parses a yes/no ssh_config value.
func yesNo(l configLine) (bool, error) {
	switch strings.ToLower(l.args[0]) {
	case "yes", "true":
		return true, nil
	case "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("ssh: config: %s: %s wants yes or no, not %q", l.where(), l.key, l.args[0])
}

// localUser is the name of the user running this process.
func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return os.Getenv("LOGNAME")
}
