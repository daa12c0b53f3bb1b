package hop

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the text of one hop.
const (
	maxAddrLen = 4096 // bytes in one hop, as parsed and as formatted
	maxHostLen = 255  // bytes in a host name
	maxUserLen = 256  // bytes in an ssh user name
	maxNameLen = 64   // bytes in an agent name
)

// Scheme names.
const (
	schemeTCP   = "tcp"
	schemeTLS   = "tls"
	schemeQUIC  = "quic"
	schemeDTLS  = "dtls"
	schemeSSH   = "ssh"
	schemeStdio = "stdio"
)

// knownSchemes is listed in errors about unknown schemes.
const knownSchemes = "tcp, tls, quic, dtls, ssh, stdio"

// fingerprintPrefix starts every pinned fingerprint.
const fingerprintPrefix = "SHA256:"

// fingerprintEncoding decodes the base64 part of a fingerprint. Strict
// rejects non-zero trailing bits, so each digest has exactly one spelling.
var fingerprintEncoding = base64.RawStdEncoding.Strict()

// Addr is one hop of a chain: a network address with a transport scheme, a
// command to spawn, or the name of an agent registered at the previous relay.
//
// Addr is a plain value, safe to copy and to use from several goroutines
// while nobody modifies it (Command is a slice: copy it before changing it).
// [Parse] and [Addr.String] round-trip: for every a returned by Parse,
// Parse(a.String()) returns a value equal to a. An Addr built by hand that
// breaks the rules described in the package documentation formats to a
// string that Parse rejects.
type Addr struct {
	// Scheme is "tcp", "tls", "quic", "dtls", "ssh" or "stdio", or "" for
	// an agent name.
	Scheme string

	// User is the ssh user name, used only with the "ssh" scheme; empty
	// means the dialer picks one.
	User string

	// Host is a host name or IP address. IPv6 addresses are stored without
	// brackets (String adds them), with a zone if one was given.
	Host string

	// Port is the decimal port. It is required for tcp, tls, quic and dtls
	// and optional for ssh; Parse does not fill in ssh's default of 22.
	Port string

	// Name is an agent name, set only when Scheme is "".
	Name string

	// Command is the argv of a stdio hop, with at least one element.
	Command []string

	// Fingerprint pins the hop's identity as "SHA256:" and the unpadded
	// standard base64 of a 32-byte digest. It is optional, and allowed for
	// tls, quic, dtls, ssh and agent names.
	Fingerprint string
}

// Parse parses one hop address in any of the forms described in the package
// documentation. Errors start with "hop: parse" and quote the input.
func Parse(s string) (Addr, error) {
	a, err := parse(s)
	if err != nil {
		return Addr{}, fmt.Errorf("hop: parse %s: %w", quoteInput(s), err)
	}
	return a, nil
}

// parse is [Parse] with errors that do not name the input.
func parse(s string) (Addr, error) {
	if len(s) > maxAddrLen {
		return Addr{}, fmt.Errorf("too long (%d bytes, max %d)", len(s), maxAddrLen)
	}
	if s == "" {
		return Addr{}, errors.New("empty hop address")
	}
	if !utf8.ValidString(s) {
		return Addr{}, errors.New("invalid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Addr{}, fmt.Errorf("control character %q", r)
		}
	}
	if s[0] == ' ' {
		return Addr{}, errors.New("leading space")
	}
	a, err := parseForm(s)
	if err != nil {
		return Addr{}, err
	}
	// Only stdio quoting can make the canonical form longer than the input;
	// refuse what could not be parsed back.
	if n := len(a.String()); n > maxAddrLen {
		return Addr{}, fmt.Errorf("formatted form too long (%d bytes, max %d)", n, maxAddrLen)
	}
	return a, nil
}

// parseForm picks the form of s by its scheme, if it has one.
func parseForm(s string) (Addr, error) {
	colon := strings.IndexByte(s, ':')
	hash := strings.IndexByte(s, '#')
	if colon < 0 || (hash >= 0 && hash < colon) {
		// No scheme; any colon belongs to the fingerprint.
		return parseAgent(s)
	}
	scheme, rest := s[:colon], s[colon+1:]
	if !isSchemeName(scheme) {
		return Addr{}, errors.New("not a hop address: want SCHEME://HOST:PORT, stdio:COMMAND or an agent NAME")
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case schemeStdio:
		return parseStdio(rest)
	case schemeTCP, schemeTLS, schemeQUIC, schemeDTLS, schemeSSH:
		authority, ok := strings.CutPrefix(rest, "//")
		if !ok {
			if scheme == schemeSSH {
				return Addr{}, errors.New(`missing "//": want ssh://[USER@]HOST[:PORT]`)
			}
			return Addr{}, fmt.Errorf(`missing "//": want %s://HOST:PORT`, scheme)
		}
		return parseNetwork(scheme, authority)
	default:
		return Addr{}, fmt.Errorf("unknown scheme %q (known schemes: %s; a bare NAME is an agent)", scheme, knownSchemes)
	}
}

// isSchemeName reports whether s is shaped like a URL scheme (RFC 3986).
func isSchemeName(s string) bool {
	if s == "" || !isASCIILetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isASCIILetter(c) && !isASCIIDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// parseAgent parses NAME[#FP].
func parseAgent(s string) (Addr, error) {
	name, fp, hasFP := strings.Cut(s, "#")
	if err := checkName(name); err != nil {
		return Addr{}, err
	}
	a := Addr{Name: name}
	if hasFP {
		if err := checkFingerprint(fp); err != nil {
			return Addr{}, err
		}
		a.Fingerprint = fp
	}
	return a, nil
}

// parseNetwork parses the part of a tcp, tls, quic, dtls or ssh address
// after "SCHEME://": [USER@]HOST[:PORT][#FP].
func parseNetwork(scheme, s string) (Addr, error) {
	a := Addr{Scheme: scheme}
	s, fp, hasFP := strings.Cut(s, "#")
	if hasFP {
		if scheme == schemeTCP {
			return Addr{}, errors.New("tcp hops take no fingerprint (plain TCP has no identity to pin; use tls)")
		}
		if err := checkFingerprint(fp); err != nil {
			return Addr{}, err
		}
		a.Fingerprint = fp
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return Addr{}, fmt.Errorf("unexpected path %q", s[i:])
	}
	if user, hostport, ok := strings.Cut(s, "@"); ok {
		if scheme != schemeSSH {
			return Addr{}, fmt.Errorf("user %q given, but only ssh hops take a user", user)
		}
		if err := checkUser(user); err != nil {
			return Addr{}, err
		}
		a.User, s = user, hostport
	}
	host, port, hasPort, err := splitHostPort(s)
	if err != nil {
		return Addr{}, err
	}
	a.Host = host
	if hasPort {
		if err := checkPort(port); err != nil {
			return Addr{}, err
		}
		a.Port = port
	} else if scheme != schemeSSH {
		return Addr{}, errors.New("missing port")
	}
	return a, nil
}

// splitHostPort splits HOST[:PORT] or [IPV6][:PORT] and checks the host.
func splitHostPort(s string) (host, port string, hasPort bool, err error) {
	var rest string
	if inner, ok := strings.CutPrefix(s, "["); ok {
		end := strings.IndexByte(inner, ']')
		if end < 0 {
			return "", "", false, fmt.Errorf("missing ']' in %q", s)
		}
		host, rest = inner[:end], inner[end+1:]
		if err := checkIPv6(host); err != nil {
			return "", "", false, err
		}
		if rest != "" && rest[0] != ':' {
			return "", "", false, fmt.Errorf("unexpected %q after ']'", rest)
		}
	} else {
		switch strings.Count(s, ":") {
		case 0:
			host = s
		case 1:
			i := strings.IndexByte(s, ':')
			host, rest = s[:i], s[i:]
		default:
			return "", "", false, fmt.Errorf("IPv6 address %q must be in brackets, as in tcp://[::1]:7000", s)
		}
		if err := checkHost(host); err != nil {
			return "", "", false, err
		}
	}
	if rest == "" {
		return host, "", false, nil
	}
	return host, rest[1:], true, nil
}

// checkHost checks an unbracketed host name or IPv4 address.
func checkHost(h string) error {
	if h == "" {
		return errors.New("missing host")
	}
	if len(h) > maxHostLen {
		return fmt.Errorf("host too long (%d bytes, max %d)", len(h), maxHostLen)
	}
	if h[0] == '-' {
		return fmt.Errorf("host %q starts with '-'", h)
	}
	for _, r := range h {
		if !isHostChar(r) {
			return fmt.Errorf("invalid character %q in host %q", r, h)
		}
	}
	return nil
}

// checkIPv6 checks the text between brackets: an IPv6 address, optionally
// with a zone made of host name characters.
func checkIPv6(h string) error {
	ip, err := netip.ParseAddr(h)
	if err != nil || !ip.Is6() {
		return fmt.Errorf("invalid IPv6 address %q in brackets", h)
	}
	if _, zone, ok := strings.Cut(h, "%"); ok {
		for _, r := range zone {
			if !isHostChar(r) {
				return fmt.Errorf("invalid character %q in IPv6 zone %q", r, zone)
			}
		}
	}
	return nil
}

// isHostChar reports whether r may appear in a host name or an IPv6 zone.
func isHostChar(r rune) bool {
	return r < utf8.RuneSelf && (isASCIILetter(byte(r)) || isASCIIDigit(byte(r)) || r == '-' || r == '.' || r == '_')
}

// checkPort checks a decimal port in 1..65535 without leading zeros.
func checkPort(p string) error {
	if p == "" {
		return errors.New("empty port")
	}
	for i := 0; i < len(p); i++ {
		if !isASCIIDigit(p[i]) {
			return fmt.Errorf("invalid port %q: not a decimal number", p)
		}
	}
	if p[0] == '0' {
		return fmt.Errorf("invalid port %q: want 1 to 65535 without leading zeros", p)
	}
	if n, err := strconv.Atoi(p); err != nil || n > 65535 {
		return fmt.Errorf("invalid port %q: want 1 to 65535", p)
	}
	return nil
}

// checkUser checks an ssh user name.
func checkUser(u string) error {
	if u == "" {
		return errors.New("empty user before '@'")
	}
	if len(u) > maxUserLen {
		return fmt.Errorf("user too long (%d bytes, max %d)", len(u), maxUserLen)
	}
	if u[0] == '-' {
		return fmt.Errorf("user %q starts with '-'", u)
	}
	for _, r := range u {
		ok := r < utf8.RuneSelf && (isASCIILetter(byte(r)) || isASCIIDigit(byte(r)) ||
			r == '.' || r == '_' || r == '-' || r == '$')
		if !ok {
			return fmt.Errorf("invalid character %q in user %q", r, u)
		}
	}
	return nil
}

// checkName checks an agent name.
func checkName(n string) error {
	if n == "" {
		return errors.New("empty agent name")
	}
	if len(n) > maxNameLen {
		return fmt.Errorf("agent name too long (%d bytes, max %d)", len(n), maxNameLen)
	}
	if !isASCIILetter(n[0]) && !isASCIIDigit(n[0]) {
		return fmt.Errorf("agent name %q must start with a letter or digit", n)
	}
	for _, r := range n {
		ok := r < utf8.RuneSelf && (isASCIILetter(byte(r)) || isASCIIDigit(byte(r)) ||
			r == '-' || r == '_' || r == '.')
		if !ok {
			return fmt.Errorf("invalid character %q in agent name %q (want letters, digits, '-', '_', '.')", r, n)
		}
	}
	return nil
}

// checkFingerprint checks "SHA256:" followed by the unpadded standard base64
// of 32 bytes.
func checkFingerprint(fp string) error {
	if fp == "" {
		return errors.New("empty fingerprint after '#'")
	}
	b64, ok := strings.CutPrefix(fp, fingerprintPrefix)
	if !ok {
		return fmt.Errorf("invalid fingerprint %q: want SHA256:<43 characters of unpadded base64>", fp)
	}
	// The encoding would skip '\r' and '\n'; the length check and the
	// control character check in parse keep them out.
	const b64Len = 43 // base64.RawStdEncoding.EncodedLen(32)
	if len(b64) != b64Len {
		return fmt.Errorf("invalid fingerprint %q: want %d base64 characters after SHA256:, got %d", fp, b64Len, len(b64))
	}
	if b, err := fingerprintEncoding.DecodeString(b64); err != nil || len(b) != 32 {
		return fmt.Errorf("invalid fingerprint %q: not unpadded standard base64 of 32 bytes", fp)
	}
	return nil
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isASCIIDigit(c byte) bool { return '0' <= c && c <= '9' }

// String returns a in the canonical syntax that [Parse] reads. For an Addr
// returned by Parse, Parse(a.String()) returns a again.
func (a Addr) String() string {
	var b strings.Builder
	switch a.Scheme {
	case "":
		b.WriteString(a.Name)
	case schemeStdio:
		b.WriteString("stdio:")
		for i, arg := range a.Command {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(quoteArg(arg))
		}
		return b.String() // stdio takes no fingerprint
	default:
		b.WriteString(a.Scheme)
		b.WriteString("://")
		if a.User != "" {
			b.WriteString(a.User)
			b.WriteByte('@')
		}
		switch {
		case a.Port != "":
			b.WriteString(net.JoinHostPort(a.Host, a.Port))
		case strings.Contains(a.Host, ":"):
			b.WriteString("[" + a.Host + "]")
		default:
			b.WriteString(a.Host)
		}
	}
	if a.Fingerprint != "" {
		b.WriteByte('#')
		b.WriteString(a.Fingerprint)
	}
	return b.String()
}

// Network returns the network the hop is reached over: "tcp" for tcp, tls
// and ssh, "udp" for quic and dtls, and "" for stdio and agent names.
func (a Addr) Network() string {
	switch a.Scheme {
	case schemeTCP, schemeTLS, schemeSSH:
		return "tcp"
	case schemeQUIC, schemeDTLS:
		return "udp"
	}
	return ""
}

// HostPort returns the hop's host and port joined by [net.JoinHostPort],
// using port 22 for an ssh hop without one. It returns "" for stdio and agent
// hops, which have no host.
func (a Addr) HostPort() string {
	if a.Host == "" {
		return ""
	}
	port := a.Port
	if port == "" && a.Scheme == schemeSSH {
		port = "22"
	}
	return net.JoinHostPort(a.Host, port)
}

// quoteInput quotes s for an error message, shortened if it is long.
func quoteInput(s string) string {
	const max = 128
	if len(s) <= max {
		return strconv.Quote(s)
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strconv.Quote(s[:i]) + "..."
}

// parseStdio splits the command of a stdio hop into arguments.
func parseStdio(s string) (Addr, error) {
	args, err := splitCommand(s)
	if err != nil {
		return Addr{}, err
	}
	if len(args) == 0 {
		return Addr{}, errors.New("missing command after stdio")
	}
	if args[0] == "" {
		return Addr{}, errors.New("empty command name")
	}
	return Addr{Scheme: schemeStdio, Command: args}, nil
}

// splitCommand splits s into words like a POSIX shell without expansions:
// see the package documentation. Its quoting rules must agree with
// [splitChain].
func splitCommand(s string) ([]string, error) {
	var (
		args   []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case ' ':
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
			i++
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at byte %d", i)
			}
			word.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case '"':
			start := i
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("unterminated double quote at byte %d", start)
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(s) && isDoubleQuoteEscapable(s[i+1]) {
					word.WriteByte(s[i+1])
					i += 2
					continue
				}
				word.WriteByte(c)
				i++
			}
			inWord = true
		case '\\':
			if i+1 >= len(s) {
				return nil, errors.New("trailing backslash")
			}
			word.WriteByte(s[i+1])
			inWord = true
			i += 2
		case ',':
			return nil, fmt.Errorf("unquoted ',' at byte %d (quote it: commas separate the hops of a chain)", i)
		case '#':
			return nil, fmt.Errorf("unquoted '#' at byte %d (quote it: stdio hops take no fingerprint)", i)
		default:
			word.WriteByte(c)
			inWord = true
			i++
		}
	}
	if inWord {
		args = append(args, word.String())
	}
	return args, nil
}

// isDoubleQuoteEscapable reports whether a backslash before c inside double
// quotes escapes it, as in a POSIX shell.
func isDoubleQuoteEscapable(c byte) bool {
	return c == '"' || c == '\\' || c == '$' || c == '`'
}

// quoteArg quotes one argument of a stdio command so that splitCommand
// reads it back unchanged. It is not internal/shell's Quote: it writes
// hopwire's hop grammar (where ',' separates hops and double quotes are
// read too), not a line for a shell.
func quoteArg(s string) string {
	if s == "" {
		return "''"
	}
	bare := true
	for _, r := range s {
		if !isBareArgRune(r) {
			bare = false
			break
		}
	}
	switch {
	case bare:
		return s
	case !strings.Contains(s, "'"):
		return "'" + s + "'"
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if isDoubleQuoteEscapable(s[i]) {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// isBareArgRune reports whether r may appear in an argument that String
// leaves unquoted. The set is narrower than what splitCommand reads bare so
// that formatted commands also read well in a shell.
func isBareArgRune(r rune) bool {
	if r >= utf8.RuneSelf {
		return !unicode.IsSpace(r) && !unicode.IsControl(r) && r != utf8.RuneError
	}
	c := byte(r)
	return isASCIILetter(c) || isASCIIDigit(c) || strings.IndexByte("-_./:=+@%^", c) >= 0
}
