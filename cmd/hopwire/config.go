package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The config file, $HOPWIRE_HOME/config, names targets so that
// `hopwire exec db1 -- uptime` works like `ssh db1 uptime`:
//
//	# comments and blank lines are ignored
//	host db1
//	    target tls://10.0.2.5:7443
//	    via    tls://r1.example:7443,quic://10.0.1.2:7443
//	host lab-*
//	    via    tls://bastion:7443
//
// A `host` line starts a block for one or more names (path.Match patterns
// allowed); `target` replaces the name (default: the name itself) and
// `via` gives the -J chain when none was given on the command line. The
// first matching block wins, as in ssh_config.
type hostAlias struct {
	patterns []string
	target   string
	via      string
}

func loadConfig(home string) ([]hostAlias, error) {
	f, err := os.Open(filepath.Join(home, "config"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []hostAlias
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch strings.ToLower(key) {
		case "host":
			out = append(out, hostAlias{patterns: strings.Fields(val)})
		case "target", "via":
			if len(out) == 0 {
				return nil, fmt.Errorf("config:%d: %s outside a host block", n, key)
			}
			if strings.EqualFold(key, "target") {
				out[len(out)-1].target = val
			} else {
				out[len(out)-1].via = val
			}
		default:
			return nil, fmt.Errorf("config:%d: unknown keyword %q (want host, target, via)", n, key)
		}
	}
	return out, sc.Err()
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
