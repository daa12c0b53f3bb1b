package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/relay/directory"
)

// A node's config file (hopwire serve --config FILE) holds serve's own
// flags, one per line, in the shape of sshd_config and of hopwire's
// client config ($HOPWIRE_HOME/config):
//
//	# /etc/hopwire/relay.conf
//	name        r1
//	home        /var/lib/hopwire
//	listen      tls://0.0.0.0:7443
//	listen      quic://0.0.0.0:7443     # repeatable flags repeat
//	grant       ops:connect=10.0.0.0/8:22
//	grant       ci:exec=make test
//	log-level   info
//	log-format  json
//
// Why this format rather than YAML, TOML or JSON: it needs no new
// dependency, it takes comments, an operator who knows the flags knows
// the file (a setting is a flag's name and its value, so `hopwire serve
// -h` documents both), and the people who run relays already write
// sshd_config. Flags given on the command line override the file: a
// setting the command line sets is not taken from the file at all (for
// repeatable settings too: --grant on the command line replaces the
// file's grants). `hopwire serve --check --config FILE` checks the file
// and everything it names (grants, listen URLs, identity, trust files)
// and exits, like `sshd -t`.
//
// SIGHUP reloads what can change under running links: the grants, the
// log level, the node's certificate and key (re-read from the same
// files: a renewed certificate is presented from the next handshake),
// and the trust files. The listeners and the other settings take a
// restart; a reload that finds them changed says so. A reload that fails
// (a bad grant, an unreadable certificate) keeps everything as it was and
// logs why.

// serveSetting is one line of a node's config file.
type serveSetting struct {
	key, val string
	line     int
}

// notInFile are serve's flags that have no place in its config file.
var notInFile = []string{"config", "check", "stdio", "h", "help"}

// readServeConfig reads a node's config file and checks its keys against
// fs's flags.
func readServeConfig(path string, fs *flag.FlagSet) ([]serveSetting, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --config: %v", errUsage, err)
	}
	defer f.Close()
	var out []serveSetting
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := stripComment(sc.Text())
		if line == "" {
			continue
		}
		key, val, _ := strings.Cut(strings.ReplaceAll(line, "\t", " "), " ")
		key, val = strings.TrimPrefix(strings.ToLower(key), "--"), strings.TrimSpace(val)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s:%d: %s", errUsage, path, n, fmt.Sprintf(format, args...))
		}
		if slices.Contains(notInFile, key) {
			return nil, bad("%q belongs on the command line, not in the config file", key)
		}
		fl := fs.Lookup(key)
		if fl == nil {
			return nil, bad("unknown setting %q (the settings are serve's flags: hopwire serve -h)", key)
		}
		if bf, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			switch strings.ToLower(val) {
			case "", "yes", "on", "true":
				val = "true"
			case "no", "off", "false":
				val = "false"
			default:
				return nil, bad("%s takes yes or no, not %q", key, val)
			}
		} else if val == "" {
			return nil, bad("%s needs a value", key)
		}
		out = append(out, serveSetting{key: key, val: val, line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: --config %s: %v", errUsage, path, err)
	}
	return out, nil
}

// setFlags reports which flags the command line set.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// applyServeConfig sets on fs every setting of the file at path that the
// command line did not set. It returns what it read, for reloads.
func applyServeConfig(fs *flag.FlagSet, path string, cmdline map[string]bool) ([]serveSetting, error) {
	settings, err := readServeConfig(path, fs)
	if err != nil {
		return nil, err
	}
	for _, s := range settings {
		if cmdline[s.key] {
			continue
		}
		if err := fs.Set(s.key, s.val); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %s: %v", errUsage, path, s.line, s.key, err)
		}
	}
	return settings, nil
}

// serveReload is what SIGHUP re-reads for a running node.
type serveReload struct {
	fs       *flag.FlagSet
	path     string          // --config; "" without a file
	cmdline  map[string]bool // flags set on the command line: the file does not change them
	settings []serveSetting  // the file as read at start (or at the last reload)
	grants   []string        // --grant of the command line
	extra    []*relay.Grant  // grants of no flag (a stdio node's)
	idf      *identityFlags
	srv      *relay.Server
	log      *slog.Logger
}

// reload re-reads the config file, the grants and the certificate, and
// puts them in force, or changes nothing and says why.
func (r *serveReload) reload() error {
	grants, level := r.grants, r.idf.logLevelFlag
	var restart []string
	if r.path != "" {
		settings, err := readServeConfig(r.path, r.fs)
		if err != nil {
			return err
		}
		var fileGrants []string
		fileLevel := ""
		for _, s := range settings {
			switch {
			case r.cmdline[s.key]:
			case s.key == "grant":
				fileGrants = append(fileGrants, s.val)
			case s.key == "log-level":
				fileLevel = s.val
			}
		}
		if !r.cmdline["grant"] {
			grants = fileGrants
		}
		if !r.cmdline["log-level"] {
			level = fileLevel
		}
		restart = restartOnly(r.settings, settings, r.cmdline)
		r.settings = settings
	}
	gs := slices.Clone(r.extra)
	for _, g := range grants {
		pg, err := relay.ParseGrant(g)
		if err != nil {
			return fmt.Errorf("grant %q: %v", g, err)
		}
		gs = append(gs, pg)
	}
	lvl := r.idf.logLevel
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return fmt.Errorf("log-level %q: want debug, info, warn or error", level)
		}
	}
	id, err := r.idf.identity()
	if err != nil {
		return fmt.Errorf("certificate: %v", err)
	}
	// Everything read: put it in force.
	old := r.srv.Identity()
	if err := r.srv.SetIdentity(id); err != nil {
		return err
	}
	closed := r.srv.SetPolicy(relay.NewPolicy(gs))
	if r.idf.level != nil && !r.idf.verbose && !r.idf.quiet {
		r.idf.level.Set(lvl)
	}
	closed += r.srv.Revalidate()
	r.log.Info("SIGHUP: reloaded grants, log level, certificate and trust files", "grants", len(gs),
		"log_level", lvl.String(), "cert_expires", id.Certificate().NotAfter.UTC().Format(time.RFC3339), "sessions_closed", closed)
	if old != nil && old.Fingerprint() != id.Fingerprint() {
		r.log.Warn("SIGHUP: the node's key changed: clients that pin the old one refuse it until they run 'hopwire trust --known FP NAME' with the new fingerprint", "old_fp", old.Fingerprint(), "fp", id.Fingerprint())
	}
	if len(restart) > 0 {
		r.log.Warn("SIGHUP: these settings changed in the config file and take a restart", "settings", strings.Join(restart, ","), "file", r.path)
	}
	warnExpiry(r.log, id, time.Now())
	return nil
}

// restartOnly lists the settings that changed between two readings of
// the file, other than those a reload puts in force.
func restartOnly(before, after []serveSetting, cmdline map[string]bool) []string {
	values := func(ss []serveSetting) map[string][]string {
		m := map[string][]string{}
		for _, s := range ss {
			m[s.key] = append(m[s.key], s.val)
		}
		return m
	}
	b, a := values(before), values(after)
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var changed []string
	for _, k := range keys {
		switch {
		case cmdline[k], k == "grant", k == "log-level", k == "cert", k == "key":
		case !slices.Equal(a[k], b[k]):
			changed = append(changed, k)
		}
	}
	return changed
}

// certWarnBefore is how long before its expiry a node's certificate is
// warned about.
const certWarnBefore = 30 * 24 * time.Hour

// warnExpiry logs a warning when id's certificate expires within
// certWarnBefore (or has expired).
func warnExpiry(log *slog.Logger, id *certs.Identity, now time.Time) {
	left := id.Certificate().NotAfter.Sub(now)
	switch {
	case left <= 0:
		log.Error("the node's certificate has expired: peers refuse it; renew it and send SIGHUP", "expired", id.Certificate().NotAfter.UTC().Format(time.RFC3339))
	case left < certWarnBefore:
		log.Warn("the node's certificate expires soon: renew it and send SIGHUP", "expires", id.Certificate().NotAfter.UTC().Format(time.RFC3339), "days_left", int(left.Hours()/24))
	}
}

// checkServe is serve --check: everything was read and parsed (the
// config file, grants, identity, trust files); it checks the listen URLs
// too, prints what the node would run, and returns.
func checkServe(stdout io.Writer, listens []string, gs []*relay.Grant, id *certs.Identity, fleet fleetDir) error {
	for _, l := range listens {
		if _, err := hop.Parse(l); err != nil {
			return fmt.Errorf("%w: --listen %q: %v", errUsage, l, err)
		}
		fmt.Fprintf(stdout, "listen %s\n", l)
	}
	for _, g := range gs {
		fmt.Fprintf(stdout, "grant %s\n", g)
	}
	if fleet.url != "" {
		o, err := fleet.options()
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		redacted, _, _ := directory.ParseURL(fleet.url) // options checked it
		if o.Credentials != "" {
			if _, err := os.Stat(o.Credentials); err != nil {
				return fmt.Errorf("%w: --directory-creds: %v", errUsage, err)
			}
		}
		how := "plain"
		if o.TLS != nil {
			how = "TLS, servers verified against the system's roots"
			if fleet.ca != "" {
				how = "TLS, servers verified against " + fleet.ca
			}
		}
		if o.Credentials != "" {
			how += ", credentials " + o.Credentials
		}
		fmt.Fprintf(stdout, "fleet directory %s (%s), lease %v, %d replica(s)\n", redacted, how, fleet.lease, max(fleet.replicas, 1))
		if fleet.addr != "" {
			fmt.Fprintf(stdout, "fleet address %s\n", fleet.addr)
		}
	}
	fmt.Fprintf(stdout, "node %s %s (certificate valid until %s)\n", id.Name(), id.Fingerprint(), id.Certificate().NotAfter.UTC().Format(time.RFC3339))
	if left := time.Until(id.Certificate().NotAfter); left < certWarnBefore {
		fmt.Fprintf(stdout, "warning: the certificate expires in %d days\n", int(left.Hours()/24))
	}
	fmt.Fprintln(stdout, "configuration OK")
	return nil
}

// byteSize is a flag of bytes: a number with an optional unit (B, KiB,
// MiB, GiB; k, M, G mean the same binary units).
type byteSize int64

func (b *byteSize) String() string {
	if b == nil || *b == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	num := strings.TrimRightFunc(s, unicode.IsLetter)
	mult := byteUnits[strings.ToLower(s[len(num):])]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a number of bytes such as 512MiB, not %q", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// byteUnits are the units byteSize takes, each binary.
var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
}
