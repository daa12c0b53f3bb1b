package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hopwire/hopwire/session/rpyc"
)

// runRPyC: hopwire rpyc [-J chain] HOST:PORT EXPR
//
// Pokes an RPyC classic server: EXPR is an attribute path with optional
// calls (Python literal arguments), e.g. modules.sys.platform or
// modules.os.getcwd() or modules.os.listdir('/tmp'); a path whose first
// name is not "modules" starts at the server's builtins (open('/etc/hostname').read()).
// It prints the result's str(). With -J the connection to HOST:PORT
// leaves from the chain's last hop.
func runRPyC(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("rpyc", stderr)
	var idf identityFlags
	var cf chainFlags
	idf.register(fs)
	cf.register(fs)
	useTLS := fs.Bool("tls", false, "TLS to the RPyC server (verified against the system roots or --tls-ca)")
	tlsCA := fs.String("tls-ca", "", "PEM file of CAs that sign the RPyC server's certificate")
	dialect := fs.String("dialect", "auto", "RPyC message dialect: 5, 6 or auto (ask the server: 5.x, then 6.x)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: rpyc [-J HOPS] HOST:PORT EXPR", errUsage)
	}
	addr, src := fs.Arg(0), fs.Arg(1)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%w: %q is not HOST:PORT", errUsage, addr)
	}
	expr, err := parseRPyCExpr(src)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	opts := &rpyc.Options{}
	switch *dialect {
	case "auto":
	case "5":
		opts.Dialect = rpyc.Dialect5
	case "6":
		opts.Dialect = rpyc.Dialect6
	default:
		return fmt.Errorf("%w: --dialect %q: want 5, 6 or auto", errUsage, *dialect)
	}
	if *useTLS || *tlsCA != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if *tlsCA != "" {
			pem, err := os.ReadFile(*tlsCA)
			if err != nil {
				return err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("%w: --tls-ca %s holds no PEM certificate", errUsage, *tlsCA)
			}
		}
		opts.TLS = cfg
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if cf.jump != "" {
		hops, err := cf.via(idf.home)
		if err != nil {
			return err
		}
		c, err := dialChain(ctx, hops[:len(hops)-1], hops[len(hops)-1], &idf, &cf, stderr, nil)
		if err != nil {
			return err
		}
		defer c.Close()
		opts.DialContext = c.DialContext
	}
	c, err := rpyc.Dial(ctx, addr, opts)
	if err != nil {
		return dialectHint(err)
	}
	defer c.Close()
	v, err := evalRPyCExpr(ctx, c, expr)
	if err != nil {
		return dialectHint(err)
	}
	s, err := pyStr(ctx, v)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, s)
	return nil
}

// dialectHint names the flag in an error about the RPyC dialect, which
// the library words for Go callers (Options.Dialect).
func dialectHint(err error) error {
	if !errors.Is(err, rpyc.ErrDialect) {
		return err
	}
	return &rewordedError{strings.ReplaceAll(err.Error(), "Options.Dialect", "--dialect 5 or --dialect 6"), err}
}

// rewordedError is err under another message.
type rewordedError struct {
	msg string
	err error
}

func (e *rewordedError) Error() string { return e.msg }
func (e *rewordedError) Unwrap() error { return e.err }

// rpycStep is one step of an expression: an attribute or a call.
type rpycStep struct {
	attr string
	call bool
	args []any
}

// parseRPyCExpr parses NAME(.NAME | (ARGS))* where ARGS are Python
// literals: 'str', "str", ints, floats, True, False, None.
func parseRPyCExpr(s string) ([]rpycStep, error) {
	p := &exprParser{s: s}
	var steps []rpycStep
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	steps = append(steps, rpycStep{attr: name})
	for {
		p.space()
		if p.eof() {
			return steps, nil
		}
		switch p.s[p.i] {
		case '.':
			p.i++
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			steps = append(steps, rpycStep{attr: name})
		case '(':
			p.i++
			args, err := p.args()
			if err != nil {
				return nil, err
			}
			steps = append(steps, rpycStep{call: true, args: args})
		default:
			return nil, fmt.Errorf("expression %q: unexpected %q at %d", s, p.s[p.i], p.i)
		}
	}
}

type exprParser struct {
	s string
	i int
}

func (p *exprParser) eof() bool { return p.i >= len(p.s) }

func (p *exprParser) space() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *exprParser) ident() (string, error) {
	p.space()
	start := p.i
	for !p.eof() {
		r := rune(p.s[p.i])
		if r != '_' && !unicode.IsLetter(r) && !(p.i > start && unicode.IsDigit(r)) {
			break
		}
		p.i++
	}
	if p.i == start {
		return "", fmt.Errorf("expression %q: want a name at %d", p.s, start)
	}
	return p.s[start:p.i], nil
}

func (p *exprParser) args() ([]any, error) {
	var out []any
	p.space()
	if !p.eof() && p.s[p.i] == ')' {
		p.i++
		return out, nil
	}
	for {
		v, err := p.literal()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.space()
		if p.eof() {
			return nil, fmt.Errorf("expression %q: missing )", p.s)
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ')':
			p.i++
			return out, nil
		default:
			return nil, fmt.Errorf("expression %q: unexpected %q at %d", p.s, p.s[p.i], p.i)
		}
	}
}

func (p *exprParser) literal() (any, error) {
	p.space()
	if p.eof() {
		return nil, fmt.Errorf("expression %q: missing argument", p.s)
	}
	if q := p.s[p.i]; q == '\'' || q == '"' {
		var b strings.Builder
		for p.i++; !p.eof(); p.i++ {
			c := p.s[p.i]
			if c == '\\' && p.i+1 < len(p.s) {
				p.i++
				b.WriteByte(p.s[p.i])
				continue
			}
			if c == q {
				p.i++
				return b.String(), nil
			}
			b.WriteByte(c)
		}
		return nil, fmt.Errorf("expression %q: unterminated string", p.s)
	}
	start := p.i
	for !p.eof() && !strings.ContainsRune(",) ", rune(p.s[p.i])) {
		p.i++
	}
	tok := p.s[start:p.i]
	switch tok {
	case "None":
		return nil, nil
	case "True":
		return true, nil
	case "False":
		return false, nil
	}
	if i, err := strconv.ParseInt(tok, 10, 64); err == nil {
		return i, nil
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return f, nil
	}
	return nil, fmt.Errorf("expression %q: %q is not a literal (strings, numbers, True, False, None)", p.s, tok)
}

// evalRPyCExpr runs the steps against a classic server.
func evalRPyCExpr(ctx context.Context, c *rpyc.Conn, steps []rpycStep) (any, error) {
	k, err := rpyc.NewClassic(ctx, c)
	if err != nil {
		return nil, err
	}
	var cur any
	if steps[0].attr == "modules" {
		if len(steps) < 2 || steps[1].call {
			return nil, fmt.Errorf("%w: modules must be followed by a module name", errUsage)
		}
		if cur, err = k.Module(ctx, steps[1].attr); err != nil {
			return nil, err
		}
		steps = steps[2:]
	} else {
		if cur, err = k.Builtins(ctx); err != nil {
			return nil, err
		}
	}
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		ref, ok := cur.(*rpyc.Ref)
		if !ok {
			return nil, fmt.Errorf("rpyc: %s is a value: it has no attributes and cannot be called", describe(cur))
		}
		if st.call {
			cur, err = ref.Call(ctx, st.args...)
		} else if i+1 < len(steps) && steps[i+1].call {
			cur, err = ref.CallAttr(ctx, st.attr, steps[i+1].args...) // one round trip
			i++
		} else {
			cur, err = ref.Getattr(ctx, st.attr)
		}
		if err != nil {
			return nil, err
		}
	}
	return cur, nil
}

func describe(v any) string {
	s, _ := pyStr(context.Background(), v)
	return s
}

// pyStr renders v as Python's str() would; a proxy asks the server.
func pyStr(ctx context.Context, v any) (string, error) {
	if r, ok := v.(*rpyc.Ref); ok {
		return r.Str(ctx)
	}
	return rpyc.Str(v), nil
}

// rpycNode is what `hopwire serve --rpyc` serves to Python RPyC clients:
// conn.root.name, conn.root.echo(x), conn.root.hostname().
type rpycNode struct {
	Name        string
	Fingerprint string
	Version     string
}

// Echo returns its argument.
func (n *rpycNode) Echo(x any) any { return x }

// Hostname is the node's host name.
func (n *rpycNode) Hostname() (string, error) { return os.Hostname() }

// startRPyC serves root to RPyC clients on a loopback address (RPyC
// itself authenticates nobody) until stop is called or ctx ends.
func startRPyC(ctx context.Context, addr string, root any, stdout io.Writer) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: --rpyc %q: %v", errUsage, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%w: --rpyc %s: RPyC has no authentication, so it listens on loopback only", errUsage, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "rpyc %s\n", ln.Addr())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rpyc.Serve(ctx, ln, &rpyc.Options{Root: root})
	}()
	return func() { cancel(); <-done }, nil
}
