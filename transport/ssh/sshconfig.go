package ssh

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxIncludeDepth bounds nested Include directives, as OpenSSH does (16).
const maxIncludeDepth = 16

// configLine is one directive of an ssh_config file, with where it came
// from for error messages.
type configLine struct {
	key  string   // lower-case keyword
	args []string // unquoted arguments
	file string
	line int
}

func (l configLine) where() string { return fmt.Sprintf("%s:%d", l.file, l.line) }

// hostQuery is what a config file is evaluated for: the host as the user
// typed it (the alias, lower-cased as ssh does) and the home directory
// that ~ and relative Include paths refer to.
type hostQuery struct {
	host string
	home string
}

// configEval collects the directives that apply to one host, in file
// order, following Host and Match blocks and Include directives.
type configEval struct {
	q     hostQuery
	lines []configLine
	// hostName is the first HostName seen so far; Match host compares
	// against it, as OpenSSH does.
	hostName string
	// includeDir is where relative Include paths point.
	includeDir string
}

// readConfig evaluates the file at path for q and appends the directives
// that apply to e. A missing file is not an error when optional is true.
// Relative Include paths are resolved in includeDir (~/.ssh for a user's
// file, /etc/ssh for the system-wide one, as OpenSSH does).
func (e *configEval) readConfig(path, includeDir string, optional bool) error {
	e.includeDir = includeDir
	return e.readFile(path, optional, true, false, 0)
}

// readFile reads one file. active says whether directives before the first
// Host or Match line apply; neverMatch makes every Host and Match block in
// the file inactive (an Include inside an inactive block).
func (e *configEval) readFile(path string, optional, active, neverMatch bool, depth int) error {
	f, err := os.Open(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("ssh: config: %w", err)
	}
	defer f.Close()
	return e.parse(f, path, active && !neverMatch, neverMatch, depth)
}

// parse reads directives from r, keeping those that apply to e.q.
func (e *configEval) parse(r io.Reader, name string, active, neverMatch bool, depth int) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		key, args, err := splitDirective(sc.Text())
		if err != nil {
			return fmt.Errorf("ssh: config: %s:%d: %w", name, n, err)
		}
		if key == "" {
			continue
		}
		l := configLine{key: key, args: args, file: name, line: n}
		switch key {
		case "host":
			if len(args) == 0 {
				return fmt.Errorf("ssh: config: %s: Host needs at least one pattern", l.where())
			}
			active = !neverMatch && matchHostPatterns(e.q.host, args)
		case "match":
			m, err := e.match(l)
			if err != nil {
				return err
			}
			active = !neverMatch && m
		case "include":
			if len(args) == 0 {
				return fmt.Errorf("ssh: config: %s: Include needs a file name", l.where())
			}
			if depth+1 > maxIncludeDepth {
				return fmt.Errorf("ssh: config: %s: Include nested too deeply", l.where())
			}
			for _, pat := range args {
				if err := e.include(pat, active, neverMatch || !active, depth+1); err != nil {
					return err
				}
			}
		default:
			if active {
				if key == "hostname" && e.hostName == "" && len(args) > 0 {
					e.hostName = args[0]
				}
				e.lines = append(e.lines, l)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ssh: config: %s: %w", name, err)
	}
	return nil
}

// include reads every file matching pat. A relative pattern is relative to
// e.includeDir. Matching no file is not an error.
func (e *configEval) include(pat string, active, neverMatch bool, depth int) error {
	pat = expandTilde(pat, e.q.home)
	if !filepath.IsAbs(pat) {
		pat = filepath.Join(e.includeDir, pat)
	}
	files, err := filepath.Glob(pat)
	if err != nil {
		return fmt.Errorf("ssh: config: Include %q: %w", pat, err)
	}
	for _, f := range files {
		// Directives after the Include in the including file keep the
		// including block's state, whatever Host lines the included file
		// had: parse restores it by not sharing active.
		if err := e.readFile(f, false, active, neverMatch, depth); err != nil {
			return err
		}
	}
	return nil
}

// match evaluates a Match line. Only "all", "host" and "originalhost" are
// understood; a Match with any other criterion never matches, so its
// directives are ignored rather than applied where they may not belong.
func (e *configEval) match(l configLine) (bool, error) {
	args := l.args
	if len(args) == 0 {
		return false, fmt.Errorf("ssh: config: %s: Match needs a criterion", l.where())
	}
	result := true
	for len(args) > 0 {
		crit := strings.ToLower(args[0])
		negate := strings.HasPrefix(crit, "!")
		crit = strings.TrimPrefix(crit, "!")
		args = args[1:]
		var ok bool
		switch crit {
		case "all":
			ok = true
		case "host", "originalhost":
			if len(args) == 0 {
				return false, fmt.Errorf("ssh: config: %s: Match %s needs patterns", l.where(), crit)
			}
			target := e.q.host
			if crit == "host" && e.hostName != "" {
				target = expandHostName(e.hostName, e.q.host)
			}
			ok = matchHostPatterns(target, strings.Split(args[0], ","))
			args = args[1:]
		default:
			return false, nil
		}
		if negate {
			ok = !ok
		}
		result = result && ok
	}
	return result, nil
}

// splitDirective splits one config line into its lower-case keyword and
// its arguments. Blank lines and comments give an empty keyword. The
// keyword may be followed by whitespace or by one "=" (OpenSSH accepts
// "Key=Value" and "Key = Value"). Arguments may be quoted with double or
// single quotes; a backslash escapes a quote, a backslash or (outside
// quotes) a space.
func splitDirective(line string) (string, []string, error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", nil, nil
	}
	end := strings.IndexAny(line, " \t=")
	if end < 0 {
		return strings.ToLower(line), nil, nil
	}
	key := strings.ToLower(line[:end])
	rest := strings.TrimLeft(line[end:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	args, err := splitArgs(rest)
	return key, args, err
}

// splitArgs splits s into words as OpenSSH's argv_split does: whitespace
// separates words, quotes group them, a backslash escapes the next quote,
// backslash or (outside quotes) space, and a # at the start of a word
// starts a comment.
func splitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t'):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case quote == 0 && c == '#' && !inArg:
			return args, nil
		case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\'' || s[i+1] == '\\' || (quote == 0 && s[i+1] == ' ')):
			cur.WriteByte(s[i+1])
			i++
			inArg = true
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
			inArg = true
		case quote != 0 && c == quote:
			quote = 0
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// matchHostPatterns reports whether host matches a Host line's pattern
// list: at least one pattern matches and no negated ("!") pattern does.
// Matching ignores case.
func matchHostPatterns(host string, patterns []string) bool {
	host = strings.ToLower(host)
	matched := false
	for _, p := range patterns {
		p = strings.ToLower(p)
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if wildcard(neg, host) {
				return false
			}
			continue
		}
		if wildcard(p, host) {
			matched = true
		}
	}
	return matched
}

// wildcard reports whether s matches pattern, where * matches any run of
// characters (also none) and ? matches exactly one.
func wildcard(pattern, s string) bool {
	// Iterative matching with backtracking to the last star: linear in
	// practice, and never exponential.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// expandTilde replaces a leading "~" or "~/" in path with home. Other
// forms ("~user/…") are left as they are.
func expandTilde(path, home string) string {
	if path == "~" {
		return home
	}
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		return filepath.Join(home, rest)
	}
	return path
}

// expandHostName expands the tokens allowed in HostName: %h (the host as
// typed) and %%.
func expandHostName(v, host string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+1 < len(v) {
			switch v[i+1] {
			case 'h':
				b.WriteString(host)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// expandTokens expands the % tokens of a path-like value (IdentityFile,
// UserKnownHostsFile, ProxyCommand) from tokens; an unknown token is an
// error, so that a path is never used half-expanded.
func expandTokens(v string, tokens map[byte]string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 == len(v) {
			return "", fmt.Errorf("%q ends with a lone %%", v)
		}
		i++
		if v[i] == '%' {
			b.WriteByte('%')
			continue
		}
		s, ok := tokens[v[i]]
		if !ok {
			return "", fmt.Errorf("%q: token %%%c is not supported", v, v[i])
		}
		b.WriteString(s)
	}
	return b.String(), nil
}
