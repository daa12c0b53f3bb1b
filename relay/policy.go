package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/session"
)

// Capability is something a node may grant a principal.
type Capability string

// Capabilities. Everything is denied unless a grant allows it.
const (
	CapConnect       Capability = "connect"        // CONNECT tcp/udp; scope HOST_OR_CIDR[:PORT|:LOW-HIGH]
	CapExec          Capability = "exec"           // CONNECT exec; scope: the whole command line, word by word (see AllowExec)
	CapRegister      Capability = "register"       // register as an agent; scope: a name pattern (default any)
	CapClassic       Capability = "classic"        // classic administration; scope "eval" also allows execute
	CapForwardRemote Capability = "forward-remote" // -R forwards; scope HOST_OR_CIDR[:PORT|:LOW-HIGH] of the bind address
	CapRelay         Capability = "relay"          // a relay of the fleet: reach the agents registered here for its clients; no scope
	CapAgent         Capability = "agent"          // reach an agent through this relay; scope: a name pattern (default any)
)

var capabilities = []Capability{CapConnect, CapExec, CapRegister, CapClassic, CapForwardRemote, CapRelay, CapAgent}

// Grant is one --grant PRINCIPAL:CAPABILITY[=SCOPE] rule.
type Grant struct {
	Principal  string // a certificate name, "fp:SHA256:…", or "*"
	Capability Capability
	Scope      string

	addr *addrScope // connect and forward-remote
}

// String returns the rule as written on the command line.
func (g *Grant) String() string {
	s := g.Principal + ":" + string(g.Capability)
	if g.Scope != "" {
		s += "=" + g.Scope
	}
	return s
}

// ParseGrant parses PRINCIPAL:CAPABILITY[=SCOPE]. The principal may itself
// contain colons (fp:SHA256:…); the capability is the last colon-separated
// word before the first '='.
func ParseGrant(s string) (*Grant, error) {
	left, scope, hasScope := strings.Cut(s, "=")
	i := strings.LastIndexByte(left, ':')
	if i <= 0 {
		return nil, fmt.Errorf("relay: grant %q: want PRINCIPAL:CAPABILITY[=SCOPE]", s)
	}
	g := &Grant{Principal: left[:i], Capability: Capability(left[i+1:]), Scope: scope}
	if g.Principal != "*" && strings.HasPrefix(g.Principal, "fp:") {
		fp, err := certs.ParseFingerprint(g.Principal[3:])
		if err != nil {
			return nil, fmt.Errorf("relay: grant %q: %w", s, err)
		}
		g.Principal = "fp:" + fp
	}
	if strings.ContainsAny(g.Principal, " \t,") {
		return nil, fmt.Errorf("relay: grant %q: bad principal", s)
	}
	known := false
	for _, c := range capabilities {
		known = known || c == g.Capability
	}
	if !known {
		return nil, fmt.Errorf("relay: grant %q: unknown capability %q (want one of %v)", s, g.Capability, capabilities)
	}
	if hasScope && scope == "" {
		return nil, fmt.Errorf("relay: grant %q: empty scope", s)
	}
	switch g.Capability {
	case CapConnect, CapForwardRemote:
		if !hasScope {
			return nil, fmt.Errorf("relay: grant %q: %s needs a scope, e.g. %s=10.1.0.0/16:22", s, g.Capability, g.Capability)
		}
		a, err := parseAddrScope(scope)
		if err != nil {
			return nil, fmt.Errorf("relay: grant %q: %w", s, err)
		}
		g.addr = a
	case CapExec:
		if !hasScope || strings.TrimSpace(scope) == "" {
			return nil, fmt.Errorf("relay: grant %q: exec needs a scope: the command line allowed, e.g. exec='/usr/bin/systemctl status *' or exec='/usr/bin/uptime'", s)
		}
		for _, w := range strings.Fields(scope) {
			if _, err := path.Match(w, ""); err != nil {
				return nil, fmt.Errorf("relay: grant %q: %w", s, err)
			}
		}
	case CapClassic:
		if hasScope && scope != "eval" {
			return nil, fmt.Errorf("relay: grant %q: classic's only scope is eval", s)
		}
	case CapRegister, CapAgent:
		if hasScope {
			if _, err := path.Match(scope, ""); err != nil {
				return nil, fmt.Errorf("relay: grant %q: %w", s, err)
			}
		}
	case CapRelay:
		if hasScope {
			return nil, fmt.Errorf("relay: grant %q: relay takes no scope", s)
		}
	}
	return g, nil
}

// addrScope is HOST_OR_CIDR[:PORT|:LOW-HIGH]; "*" is any address.
type addrScope struct {
	any    bool
	prefix netip.Prefix
	host   string // a name, resolved when checked
	lo, hi uint16 // 0, 65535 when no port was given
}

func parseAddrScope(s string) (*addrScope, error) {
	a := &addrScope{lo: 0, hi: 65535}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return nil, fmt.Errorf("scope %q: missing ]", s)
		}
		host, port = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if s[end+1:] != "" && !strings.HasPrefix(s[end+1:], ":") {
			return nil, fmt.Errorf("scope %q: junk after ]", s)
		}
	} else if strings.Count(s, ":") == 1 {
		host, port, _ = strings.Cut(s, ":")
	} else if strings.Count(s, ":") > 1 {
		// A bare IPv6 address or prefix, no port.
		host = s
	}
	if port != "" {
		lo, hi, isRange := strings.Cut(port, "-")
		l, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("scope %q: bad port %q", s, lo)
		}
		h := l
		if isRange {
			if h, err = strconv.ParseUint(hi, 10, 16); err != nil || h < l {
				return nil, fmt.Errorf("scope %q: bad port range %q", s, port)
			}
		}
		a.lo, a.hi = uint16(l), uint16(h)
	}
	switch {
	case host == "*":
		a.any = true
	case strings.Contains(host, "/"):
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return nil, fmt.Errorf("scope %q: %w", s, err)
		}
		a.prefix = p.Masked()
	default:
		if ip, err := netip.ParseAddr(host); err == nil {
			a.prefix = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		} else if host != "" && !strings.ContainsAny(host, " /") {
			a.host = strings.ToLower(host)
		} else {
			return nil, fmt.Errorf("scope %q: bad host", s)
		}
	}
	return a, nil
}

// matches reports whether ip:port is inside the scope. A host-name scope is
// resolved now, so a grant names what the name means at dial time.
func (a *addrScope) matches(ip netip.Addr, port uint16, resolve func(string) []netip.Addr) bool {
	if port < a.lo || port > a.hi {
		return false
	}
	ip = ip.Unmap()
	switch {
	case a.any:
		return true
	case a.host != "":
		for _, x := range resolve(a.host) {
			if x.Unmap() == ip {
				return true
			}
		}
		return false
	default:
		return a.prefix.Contains(ip)
	}
}

// Policy is a node's set of grants: default deny. It is immutable and safe
// for concurrent use.
//
// Its checks take the peer as the link authenticated it, a [session.Peer],
// and read only its Principal (who the peer is, as certs or the trust
// files say) and Fingerprint (its key), never its Name, which the peer
// announced itself. There is no policy-side peer type: an earlier
// relay.Peer had a Name field that meant session.Peer's Principal, and
// every caller converted one into the other.
type Policy struct {
	grants  []*Grant
	resolve func(string) []netip.Addr
}

// NewPolicy builds a policy from grants.
func NewPolicy(grants []*Grant) *Policy {
	return &Policy{grants: grants, resolve: lookupHost}
}

func lookupHost(h string) []netip.Addr {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
	if err != nil {
		return nil
	}
	return ips
}

// ErrDenied matches every refusal of the policy. It is session.ErrDenied,
// so errors.Is sees it across the wire too.
var ErrDenied = session.ErrDenied

// DeniedError reports a refusal: who asked for what, and that no grant
// allowed it.
type DeniedError struct {
	Principal   string
	Fingerprint string
	Capability  Capability
	Target      string
}

func (e *DeniedError) Error() string {
	who := e.Principal
	if who == "" {
		who = "fp:" + e.Fingerprint
	}
	msg := fmt.Sprintf("relay: %s %s denied by policy for %s (%s): no grant allows it", e.Capability, e.Target, e.Principal, e.Fingerprint)
	if e.Principal == "" {
		msg = fmt.Sprintf("relay: %s %s denied by policy for %s: no grant allows it", e.Capability, e.Target, who)
	}
	if scope := e.scope(); scope != "" || e.Capability == CapRelay {
		msg += fmt.Sprintf("; the node's operator can allow it with --grant '%s:%s%s'", who, e.Capability, scope)
	}
	return msg
}

// scope is the =SCOPE of a grant that would allow the refused request,
// when one can be written from what was asked.
func (e *DeniedError) scope() string {
	switch e.Capability {
	case CapConnect, CapForwardRemote, CapRegister, CapAgent:
		if e.Target != "" && !strings.ContainsAny(e.Target, " '\"\n") {
			return "=" + e.Target
		}
	case CapClassic:
		if e.Target == "classic=eval" {
			return "=eval"
		}
		return ""
	}
	return ""
}

// Is matches ErrDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// AllowAddr checks a connect or forward-remote to the resolved ip:port and
// returns the grant that allows it.
func (p *Policy) AllowAddr(peer session.Peer, c Capability, ip netip.Addr, port uint16) (*Grant, error) {
	for _, g := range p.grants {
		if g.Capability == c && certs.Matches(g.Principal, peer.Principal, peer.Fingerprint) && g.addr.matches(ip, port, p.resolve) {
			return g, nil
		}
	}
	return nil, &DeniedError{Principal: peer.Principal, Fingerprint: peer.Fingerprint, Capability: c,
		Target: netip.AddrPortFrom(ip.Unmap(), port).String()}
}

// couldConnect reports whether some connect grant of peer could allow
// address (HOST:PORT, as the peer gave it) for an address its host may
// resolve to, resolving nothing: neither the host nor the grants' names.
// dialChecked asks it first, so that a peer no grant can serve (none for
// it, or only grants for addresses and ports that exclude this one) does
// not make the node look up names of its choosing (review F11); AllowAddr
// still decides, on the address dialled. An address it cannot parse is
// left to the dialer, which fails on it before resolving anything.
func (p *Policy) couldConnect(ctx context.Context, network string, peer session.Peer, address string) bool {
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return true
	}
	port, err := net.DefaultResolver.LookupPort(ctx, network, service) // a number, or the services file: no DNS
	if err != nil {
		return true
	}
	ip, err := netip.ParseAddr(host)
	literal := err == nil
	for _, g := range p.grants {
		if g.Capability != CapConnect || !certs.Matches(g.Principal, peer.Principal, peer.Fingerprint) {
			continue
		}
		a := g.addr
		if port < int(a.lo) || port > int(a.hi) {
			continue
		}
		if !literal || a.any || a.host != "" || a.prefix.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// AllowExec checks a command line. An exec scope matches the whole argv,
// word by word: its first word is a pattern on the program (on argv[0] as
// given, or, when the pattern is an absolute path, on the program's
// absolute path as resolve finds it in this node's PATH), and each further
// word a pattern on one argument, where '*' matches any run of characters
// ('/' included) and '?' any one. A last word "..." allows any further
// arguments. So exec=/usr/bin/uptime allows uptime with no arguments,
// exec='/usr/bin/systemctl status *' one status query, and exec='/bin/* ...'
// anything in /bin. It returns the grant and the program to run: the
// resolved path when an absolute pattern matched it, argv[0] otherwise.
func (p *Policy) AllowExec(peer session.Peer, argv []string, resolve func(string) (string, error)) (*Grant, string, error) {
	if len(argv) == 0 {
		return nil, "", &DeniedError{Principal: peer.Principal, Fingerprint: peer.Fingerprint, Capability: CapExec, Target: "(empty command)"}
	}
	resolved := ""
	for _, g := range p.grants {
		if g.Capability != CapExec || !certs.Matches(g.Principal, peer.Principal, peer.Fingerprint) {
			continue
		}
		words := strings.Fields(g.Scope)
		prog := argv[0]
		if strings.HasPrefix(words[0], "/") && !strings.HasPrefix(prog, "/") {
			if resolved == "" && resolve != nil {
				if r, err := resolve(prog); err == nil {
					resolved = r
				}
			}
			prog = resolved
		}
		if prog == "" {
			continue
		}
		if ok, _ := path.Match(words[0], prog); ok && argsMatch(words[1:], argv[1:]) {
			return g, prog, nil
		}
	}
	return nil, "", &DeniedError{Principal: peer.Principal, Fingerprint: peer.Fingerprint, Capability: CapExec, Target: quoteArgv(argv)}
}

// HasExec reports whether some exec grant names peer (whatever its scope).
func (p *Policy) HasExec(peer session.Peer) bool {
	for _, g := range p.grants {
		if g.Capability == CapExec && certs.Matches(g.Principal, peer.Principal, peer.Fingerprint) {
			return true
		}
	}
	return false
}

// argsMatch matches arguments against an exec scope's argument patterns.
func argsMatch(pats, args []string) bool {
	if n := len(pats); n > 0 && pats[n-1] == "..." {
		pats = pats[:n-1]
		if len(args) < len(pats) {
			return false
		}
		args = args[:len(pats)]
	}
	if len(pats) != len(args) {
		return false
	}
	for i, pat := range pats {
		if !globAny(pat, args[i]) {
			return false
		}
	}
	return true
}

// globAny is path.Match where '*' and '?' also match '/'.
func globAny(pat, s string) bool {
	const slash = "\x00" // path.Match treats '/' specially; NUL cannot appear in an argument
	ok, _ := path.Match(strings.ReplaceAll(pat, "/", slash), strings.ReplaceAll(s, "/", slash))
	return ok
}

// quoteArgv renders a command line for a message, bounded. It uses Go
// quoting, not internal/shell: the argv comes from a peer, and a denial
// message must show control characters rather than print them.
func quoteArgv(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if b.Len() > 200 {
			b.WriteString("…")
			break
		}
		b.WriteString(strconv.Quote(a))
	}
	return b.String()
}

// AllowRegister checks an agent registration under name.
func (p *Policy) AllowRegister(peer session.Peer, name string) (*Grant, error) {
	return p.allowName(CapRegister, peer, name)
}

// allowName checks a capability whose scope is a name pattern (default
// any): register and agent.
func (p *Policy) allowName(c Capability, peer session.Peer, name string) (*Grant, error) {
	for _, g := range p.grants {
		if g.Capability == c && certs.Matches(g.Principal, peer.Principal, peer.Fingerprint) {
			if g.Scope == "" {
				return g, nil
			}
			if ok, _ := path.Match(g.Scope, name); ok {
				return g, nil
			}
		}
	}
	return nil, &DeniedError{Principal: peer.Principal, Fingerprint: peer.Fingerprint, Capability: c, Target: name}
}

// AllowAgent checks a client's request for the agent called name,
// registered at this relay or, in a fleet, at another. The agent
// authenticates the client itself, end to end; the grant decides who may
// reach it through this relay at all (and so who may make it run a TLS
// handshake).
func (p *Policy) AllowAgent(peer session.Peer, name string) (*Grant, error) {
	return p.allowName(CapAgent, peer, name)
}

// AllowRelay checks that peer is a relay of this node's fleet: its
// requests for agents are served from the agents registered here, and
// from nowhere else (a mesh link is one hop; no request goes round the
// fleet).
func (p *Policy) AllowRelay(peer session.Peer) (*Grant, error) {
	for _, g := range p.grants {
		if g.Capability == CapRelay && certs.Matches(g.Principal, peer.Principal, peer.Fingerprint) {
			return g, nil
		}
	}
	return nil, &DeniedError{Principal: peer.Principal, Fingerprint: peer.Fingerprint, Capability: CapRelay, Target: "access to this relay's agents"}
}

// AllowClassic checks classic administration; eval asks for execute too.
func (p *Policy) AllowClassic(peer session.Peer, eval bool) (*Grant, error) {
	for _, g := range p.grants {
		if g.Capability == CapClassic && certs.Matches(g.Principal, peer.Principal, peer.Fingerprint) && (!eval || g.Scope == "eval") {
			return g, nil
		}
	}
	what := "classic"
	if eval {
		what = "classic=eval"
	}
	return nil, &DeniedError{Principal: peer.Principal, Fingerprint: peer.Fingerprint, Capability: CapClassic, Target: what}
}
