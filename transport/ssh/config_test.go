package ssh_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	hssh "github.com/hopwire/hopwire/transport/ssh"
)

func TestWildcard(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbb", false},
		{"?", "a", true},
		{"?", "", false},
		{"h?st", "host", true},
		{"h?st", "hoost", false},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"10.0.0.*", "10.0.0.7", true},
		{"*a*a*a*a*b", strings.Repeat("a", 40), false},
	}
	for _, c := range cases {
		if got := hssh.Wildcard(c.pat, c.s); got != c.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
}

func TestMatchHostPatterns(t *testing.T) {
	cases := []struct {
		host     string
		patterns []string
		want     bool
	}{
		{"web1.example.com", []string{"*.example.com"}, true},
		{"WEB1.Example.COM", []string{"*.example.com"}, true},
		{"bad.example.com", []string{"*.example.com", "!bad.example.com"}, false},
		{"bad.example.com", []string{"!bad.example.com", "*.example.com"}, false},
		{"good.example.com", []string{"!bad.example.com", "*.example.com"}, true},
		{"x", []string{"!y"}, false}, // a negation alone matches nothing
		{"db3", []string{"web?", "db?"}, true},
	}
	for _, c := range cases {
		if got := hssh.MatchHostPatterns(c.host, c.patterns); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.host, c.patterns, got, c.want)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"a b\tc", []string{"a", "b", "c"}},
		{`"with space" x`, []string{"with space", "x"}},
		{`'single q' x`, []string{"single q", "x"}},
		{`a\ b`, []string{"a b"}},
		{`"a\"b"`, []string{`a"b`}},
		{`a # comment`, []string{"a"}},
		{`a#b`, []string{"a#b"}},
		{``, nil},
	}
	for _, c := range cases {
		got, err := hssh.SplitArgs(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := hssh.SplitArgs(`"open`); err == nil {
		t.Error("unterminated quote: no error")
	}
}

// loadWith writes config as ~/.ssh/config in a fresh home and resolves
// host with opts (Home and ConfigFile filled in).
func loadWith(t *testing.T, config, host string, opts hssh.ClientOptions) (*hssh.ClientConfig, string, error) {
	t.Helper()
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".ssh", "config"), config)
	opts.Home = home
	if opts.ConfigFile == "" {
		opts.ConfigFile = filepath.Join(home, ".ssh", "config")
	}
	if opts.AgentSocket == "" {
		opts.AgentSocket = "none"
	}
	cfg, err := hssh.LoadClientConfig(host, &opts)
	return cfg, home, err
}

func TestLoadClientConfig(t *testing.T) {
	const config = `
# A typical config.
Host bastion
    HostName bastion.example.com
    User jump
    Port 2200
    IdentityFile ~/.ssh/jump_key

Host *.internal !secret.internal
    ProxyJump bastion,ops@relay.example.com:2222
    User deploy

Host web?
    HostName %h.prod.example.com
    IdentityFile ~/.ssh/%r_%h

Host secret.internal
    ProxyJump none
    StrictHostKeyChecking no

Host legacy
    ProxyCommand nc %h %p

Host eq
    HostName=eq.example.com
    User = "quoted user"
    UserKnownHostsFile ~/.ssh/kh1 "~/.ssh/kh 2"
    IdentitiesOnly yes

Host *
    User fallback
    Port 22
    IdentityFile ~/.ssh/id_star
`
	type want struct {
		hostName   string
		user       string
		port       int
		identities []string // relative to home
		jump       []string
		proxyCmd   string
		strict     string
		onlyIDs    bool
		knownHosts []string // relative to home, when checked
	}
	cases := []struct {
		name string
		host string
		opts hssh.ClientOptions
		want want
	}{
		{"first value wins", "bastion", hssh.ClientOptions{}, want{
			hostName: "bastion.example.com", user: "jump", port: 2200,
			identities: []string{".ssh/jump_key", ".ssh/id_star"},
		}},
		{"negation and ProxyJump list", "db.internal", hssh.ClientOptions{}, want{
			hostName: "db.internal", user: "deploy", port: 22,
			identities: []string{".ssh/id_star"},
			jump:       []string{"bastion", "ops@relay.example.com:2222"},
		}},
		{"negated host skips the block", "secret.internal", hssh.ClientOptions{}, want{
			hostName: "secret.internal", user: "fallback", port: 22,
			identities: []string{".ssh/id_star"}, strict: "no",
		}},
		{"tokens and ? pattern", "web1", hssh.ClientOptions{}, want{
			hostName: "web1.prod.example.com", user: "fallback", port: 22,
			identities: []string{".ssh/fallback_web1.prod.example.com", ".ssh/id_star"},
		}},
		{"options override", "web2", hssh.ClientOptions{User: "root", Port: 2022, IdentityFiles: []string{"~/k1"}}, want{
			hostName: "web2.prod.example.com", user: "root", port: 2022,
			identities: []string{"k1", ".ssh/root_web2.prod.example.com", ".ssh/id_star"},
		}},
		{"ProxyCommand", "legacy", hssh.ClientOptions{}, want{
			hostName: "legacy", user: "fallback", port: 22,
			identities: []string{".ssh/id_star"}, proxyCmd: "nc legacy 22",
		}},
		{"key=value and quotes", "eq", hssh.ClientOptions{}, want{
			hostName: "eq.example.com", user: "quoted user", port: 22,
			identities: []string{".ssh/id_star"}, onlyIDs: true,
			knownHosts: []string{".ssh/kh1", ".ssh/kh 2", "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
		}},
		{"no match but Host *", "other.example.org", hssh.ClientOptions{}, want{
			hostName: "other.example.org", user: "fallback", port: 22,
			identities: []string{".ssh/id_star"},
			knownHosts: []string{".ssh/known_hosts", ".ssh/known_hosts2", "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
		}},
		{"explicit known hosts", "bastion", hssh.ClientOptions{KnownHostsFiles: []string{"~/kh"}}, want{
			hostName: "bastion.example.com", user: "jump", port: 2200,
			identities: []string{".ssh/jump_key", ".ssh/id_star"},
			knownHosts: []string{"kh"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, home, err := loadWith(t, config, c.host, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			abs := func(rel []string) []string {
				var out []string
				for _, r := range rel {
					if filepath.IsAbs(r) {
						out = append(out, r)
					} else {
						out = append(out, filepath.Join(home, r))
					}
				}
				return out
			}
			w := c.want
			if cfg.HostName != w.hostName || cfg.User != w.user || cfg.Port != w.port {
				t.Errorf("got %s@%s:%d, want %s@%s:%d", cfg.User, cfg.HostName, cfg.Port, w.user, w.hostName, w.port)
			}
			if !slices.Equal(cfg.IdentityFiles, abs(w.identities)) {
				t.Errorf("IdentityFiles %q, want %q", cfg.IdentityFiles, abs(w.identities))
			}
			if !slices.Equal(cfg.ProxyJump, w.jump) {
				t.Errorf("ProxyJump %q, want %q", cfg.ProxyJump, w.jump)
			}
			if cfg.ProxyCommand != w.proxyCmd {
				t.Errorf("ProxyCommand %q, want %q", cfg.ProxyCommand, w.proxyCmd)
			}
			if cfg.StrictHostKeyChecking != w.strict {
				t.Errorf("StrictHostKeyChecking %q, want %q", cfg.StrictHostKeyChecking, w.strict)
			}
			if cfg.IdentitiesOnly != w.onlyIDs {
				t.Errorf("IdentitiesOnly %v, want %v", cfg.IdentitiesOnly, w.onlyIDs)
			}
			if w.knownHosts != nil && !slices.Equal(cfg.KnownHostsFiles, abs(w.knownHosts)) {
				t.Errorf("KnownHostsFiles %q, want %q", cfg.KnownHostsFiles, abs(w.knownHosts))
			}
		})
	}
}

func TestLoadClientConfigDefaults(t *testing.T) {
	cfg, home, err := loadWith(t, "", "plain.example.com", hssh.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		want = append(want, filepath.Join(home, ".ssh", n))
	}
	if !slices.Equal(cfg.IdentityFiles, want) {
		t.Errorf("default identities %q, want %q", cfg.IdentityFiles, want)
	}
	if cfg.Port != 22 || cfg.HostName != "plain.example.com" || cfg.User == "" {
		t.Errorf("defaults: %s@%s:%d", cfg.User, cfg.HostName, cfg.Port)
	}
	if cfg.Addr() != "plain.example.com:22" {
		t.Errorf("Addr %q", cfg.Addr())
	}
}

// TestLoadClientConfigSystem reads the real ~/.ssh/config location (empty
// here) and this machine's /etc/ssh/ssh_config, whatever it holds.
func TestLoadClientConfigSystem(t *testing.T) {
	cfg, err := hssh.LoadClientConfig("example.com", &hssh.ClientOptions{Home: t.TempDir(), AgentSocket: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HostName == "" || cfg.Port == 0 {
		t.Errorf("resolved %+v", cfg)
	}
}

func TestLoadClientConfigInclude(t *testing.T) {
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".ssh", "config"), `
Include conf.d/*.conf
Host inner
    User outer-after-include
Host *
    Port 2222
`)
	writeFile(t, filepath.Join(home, ".ssh", "conf.d", "a.conf"), `
Host inner
    HostName inner.example.com
    User from-include
Host other
    User other
`)
	cfg, err := hssh.LoadClientConfig("inner", &hssh.ClientOptions{Home: home, ConfigFile: filepath.Join(home, ".ssh", "config"), AgentSocket: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HostName != "inner.example.com" || cfg.User != "from-include" || cfg.Port != 2222 {
		t.Errorf("got %s@%s:%d, want from-include@inner.example.com:2222", cfg.User, cfg.HostName, cfg.Port)
	}

	// An Include inside a block that does not match is skipped whole.
	writeFile(t, filepath.Join(home, ".ssh", "config"), `
Host nomatch
    Include conf.d/*.conf
Host *
    User star
`)
	cfg, err = hssh.LoadClientConfig("inner", &hssh.ClientOptions{Home: home, ConfigFile: filepath.Join(home, ".ssh", "config"), AgentSocket: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "star" || cfg.HostName != "inner" {
		t.Errorf("conditional Include: got %s@%s", cfg.User, cfg.HostName)
	}
}

func TestLoadClientConfigMatch(t *testing.T) {
	const config = `
Match host *.corp exec "true"
    User never
Match originalhost box
    HostName box.corp
Match host *.corp
    User corp
Match all
    Port 2200
`
	cfg, _, err := loadWith(t, config, "box", hssh.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "corp" || cfg.HostName != "box.corp" || cfg.Port != 2200 {
		t.Errorf("got %s@%s:%d, want corp@box.corp:2200", cfg.User, cfg.HostName, cfg.Port)
	}
}

func TestLoadClientConfigErrors(t *testing.T) {
	cases := []struct {
		name, config, host, want string
	}{
		{"bad port", "Host x\n Port 99999\n", "x", "bad Port"},
		{"unterminated quote", "Host x\n User \"bob\n", "x", "unterminated quote"},
		{"unknown token", "Host x\n IdentityFile ~/.ssh/%C\n", "x", "not supported"},
		{"bad yes/no", "Host x\n IdentitiesOnly maybe\n", "x", "yes or no"},
		{"user in host", "", "bob@x", "invalid host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := loadWith(t, c.config, c.host, hssh.ClientOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := hssh.LoadClientConfig("x", &hssh.ClientOptions{Home: t.TempDir(), ConfigFile: "/nonexistent/config"}); err == nil {
		t.Error("missing explicit ConfigFile: no error")
	}
}

// TestShellPath checks the remote paths Upload writes against a real sh:
// quoted as a word, with a leading "~/" left to the shell's $HOME. (The
// quoting itself is internal/shell's, tested there.)
func TestShellPath(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for p, want := range map[string]string{
		"plain": "plain", "with space": "with space", "it's": "it's", "$HOME": "$HOME", "*": "*", "-n": "-n",
		"~": "/h", "~/": "/h/", "~/a b": "/h/a b", "~/it's": "/h/it's", "~x/y": "~x/y", "/abs/~/z": "/abs/~/z",
	} {
		cmd := exec.Command(sh, "-c", "printf %s "+hssh.ShellPath(p))
		cmd.Env = append(os.Environ(), "HOME=/h")
		out, err := cmd.Output()
		if err != nil || string(out) != want {
			t.Errorf("shellPath(%q) = %s gave %q, %v; want %q", p, hssh.ShellPath(p), out, err, want)
		}
	}
	if got := hssh.ShellPath("~/a b"); got != `"$HOME"/'a b'` {
		t.Errorf("shellPath(~/a b) = %s", got)
	}
}
