package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hopwire/hopwire/hop"
)

// The config file, $HOPWIRE_HOME/config, names targets so that
// `hopwire exec db1 -- uptime` works like `ssh db1 uptime`:
//
//	# comments, blank lines and trailing " # comments" are ignored
//	connect-timeout 10s              # before any host block: for every chain
//	host db1
//	    target tls://10.0.2.5:7443
//	    via    tls://r1.example:7443,quic://10.0.1.2:7443
//	host lab-*
//	    via    tls://bastion:7443
//
// A `host` line starts a block for one or more names (path.Match patterns
// allowed); `target` replaces the name (default: the name itself) and
// `via` gives the -J chain when none was given on the command line. The
// first matching block wins, as in ssh_config. A name may be used
// wherever a hop may be written: TARGET, -J, --targets files and via.
type hostAlias struct {
	patterns []string
	target   string
	via      string
}

// config is the parsed config file.
type config struct {
	aliases        []hostAlias
	connectTimeout time.Duration
}

func loadConfig(home string) (*config, error) {
	path := filepath.Join(home, "config")
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return &config{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg := &config{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := stripComment(sc.Text())
		if line == "" {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s:%d: %s", errUsage, path, n, fmt.Sprintf(format, args...))
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch key = strings.ToLower(key); key {
		case "host":
			if val == "" {
				return nil, bad("host needs one or more names")
			}
			cfg.aliases = append(cfg.aliases, hostAlias{patterns: strings.Fields(val)})
		case "target", "via":
			if len(cfg.aliases) == 0 {
				return nil, bad("%s outside a host block", key)
			}
			if key == "target" {
				if _, err := hop.Parse(val); err != nil {
					return nil, bad("%v", err)
				}
				cfg.aliases[len(cfg.aliases)-1].target = val
			} else {
				cfg.aliases[len(cfg.aliases)-1].via = val
			}
		case "connect-timeout":
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return nil, bad("connect-timeout %q: want a duration such as 15s", val)
			}
			if len(cfg.aliases) > 0 {
				return nil, bad("connect-timeout goes before the first host block")
			}
			cfg.connectTimeout = d
		default:
			return nil, bad("unknown keyword %q (want host, target, via, connect-timeout)", key)
		}
	}
	return cfg, sc.Err()
}

// stripComment removes a whole-line comment or a trailing one: a "#"
// at the start or after white space (a "#" inside a word, as in a pinned
// hop tls://h:1#SHA256:…, is not one).
func stripComment(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
			break
		}
	}
	return strings.TrimSpace(line)
}

// resolveAlias maps a name through the config: the target to dial and
// the chain to use when -J was not given.
func resolveAlias(aliases []hostAlias, name string) (target, via string, ok bool) {
	for _, a := range aliases {
		for _, p := range a.patterns {
			if m, _ := filepath.Match(p, name); m {
				target = a.target
				if target == "" {
					target = name
				}
				return target, a.via, true
			}
		}
	}
	return name, "", false
}

// expandChain resolves the aliases among a chain's hops (-J, via): a
// bare NAME that a host block matches becomes that block's own via chain,
// then its target, as ssh's -J does with Host blocks. depth bounds
// aliases naming each other.
func (c *config) expandChain(chain []hop.Addr, depth int) ([]hop.Addr, error) {
	if len(c.aliases) == 0 {
		return chain, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("%w: config: aliases nest more than 8 deep (a loop?)", errUsage)
	}
	var out []hop.Addr
	for _, a := range chain {
		if a.Scheme != "" {
			out = append(out, a)
			continue
		}
		target, via, ok := resolveAlias(c.aliases, a.Name)
		if !ok || target == a.Name && via == "" {
			out = append(out, a)
			continue
		}
		more, err := c.resolve(a.Name, target, via, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// resolve returns the hops of the alias name: its via chain, then its
// target (itself resolved, when it is another alias).
func (c *config) resolve(name, target, via string, depth int) ([]hop.Addr, error) {
	var out []hop.Addr
	if via != "" {
		v, err := hop.ParseChain(via)
		if err != nil {
			return nil, fmt.Errorf("%w: config: via: %v", errUsage, err)
		}
		if v, err = c.expandChain(v, depth); err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	t, err := hop.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("%w: config: target: %v", errUsage, err)
	}
	if t.Scheme == "" && t.Name != name {
		// An alias whose target is another alias.
		if _, _, ok := resolveAlias(c.aliases, t.Name); ok && depth < 8 {
			tt, err := c.expandChain([]hop.Addr{t}, depth)
			if err != nil {
				return nil, err
			}
			return append(out, tt...), nil
		}
	}
	return append(out, t), nil
}
