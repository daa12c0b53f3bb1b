package hop

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fp is a valid pinned fingerprint.
var fp = func() string {
	sum := sha256.Sum256([]byte("hopwire test key"))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}()

// equalAddr reports whether a and b are the same hop.
func equalAddr(a, b Addr) bool {
	return a.Scheme == b.Scheme && a.User == b.User && a.Host == b.Host &&
		a.Port == b.Port && a.Name == b.Name && a.Fingerprint == b.Fingerprint &&
		slices.Equal(a.Command, b.Command)
}

func equalChain(a, b []Addr) bool {
	return slices.EqualFunc(a, b, equalAddr)
}

type validCase struct {
	name string
	in   string
	want Addr
	str  string // canonical form; "" means in
}

var validCases = []validCase{
	{name: "tcp", in: "tcp://r1:7000", want: Addr{Scheme: "tcp", Host: "r1", Port: "7000"}},
	{name: "tcp upper scheme", in: "TCP://r1:7000", want: Addr{Scheme: "tcp", Host: "r1", Port: "7000"}, str: "tcp://r1:7000"},
	{name: "tcp port 1", in: "tcp://h:1", want: Addr{Scheme: "tcp", Host: "h", Port: "1"}},
	{name: "tcp port 65535", in: "tcp://h:65535", want: Addr{Scheme: "tcp", Host: "h", Port: "65535"}},
	{name: "tcp ipv4", in: "tcp://10.0.0.1:80", want: Addr{Scheme: "tcp", Host: "10.0.0.1", Port: "80"}},
	{name: "tcp ipv6", in: "tcp://[::1]:7000", want: Addr{Scheme: "tcp", Host: "::1", Port: "7000"}},
	{name: "tcp host chars", in: "tcp://my_host.example.com.:8080", want: Addr{Scheme: "tcp", Host: "my_host.example.com.", Port: "8080"}},
	{name: "tls", in: "tls://r1:7443", want: Addr{Scheme: "tls", Host: "r1", Port: "7443"}},
	{name: "tls fingerprint", in: "tls://r1:7443#" + fp, want: Addr{Scheme: "tls", Host: "r1", Port: "7443", Fingerprint: fp}},
	{name: "tls ipv6 zone", in: "tls://[fe80::1%eth0]:7443", want: Addr{Scheme: "tls", Host: "fe80::1%eth0", Port: "7443"}},
	{name: "quic", in: "quic://r2:443", want: Addr{Scheme: "quic", Host: "r2", Port: "443"}},
	{name: "quic fingerprint", in: "quic://[2001:db8::2]:443#" + fp, want: Addr{Scheme: "quic", Host: "2001:db8::2", Port: "443", Fingerprint: fp}},
	{name: "dtls", in: "dtls://10.0.0.1:5684", want: Addr{Scheme: "dtls", Host: "10.0.0.1", Port: "5684"}},
	{name: "ssh host", in: "ssh://bastion", want: Addr{Scheme: "ssh", Host: "bastion"}},
	{name: "ssh user port", in: "ssh://admin@bastion:2222", want: Addr{Scheme: "ssh", User: "admin", Host: "bastion", Port: "2222"}},
	{name: "ssh user port fingerprint", in: "ssh://admin@bastion:2222#" + fp, want: Addr{Scheme: "ssh", User: "admin", Host: "bastion", Port: "2222", Fingerprint: fp}},
	{name: "ssh fingerprint no port", in: "ssh://bastion#" + fp, want: Addr{Scheme: "ssh", Host: "bastion", Fingerprint: fp}},
	{name: "ssh ipv6 no port", in: "ssh://[2001:db8::1]", want: Addr{Scheme: "ssh", Host: "2001:db8::1"}},
	{name: "ssh user ipv6", in: "ssh://git@[::1]:22", want: Addr{Scheme: "ssh", User: "git", Host: "::1", Port: "22"}},
	{name: "ssh machine account", in: "ssh://HOST$@h", want: Addr{Scheme: "ssh", User: "HOST$", Host: "h"}},
	{name: "agent", in: "agent-7", want: Addr{Name: "agent-7"}},
	{name: "agent one char", in: "a", want: Addr{Name: "a"}},
	{name: "agent digit start", in: "7.db_primary", want: Addr{Name: "7.db_primary"}},
	{name: "agent named like scheme", in: "stdio", want: Addr{Name: "stdio"}},
	{name: "agent 64 chars", in: strings.Repeat("n", 64), want: Addr{Name: strings.Repeat("n", 64)}},
	{name: "agent fingerprint", in: "agent-7#" + fp, want: Addr{Name: "agent-7", Fingerprint: fp}},
	{name: "stdio sudo", in: "stdio:sudo -n hopwire serve --stdio",
		want: Addr{Scheme: "stdio", Command: []string{"sudo", "-n", "hopwire", "serve", "--stdio"}}},
	{name: "stdio single word", in: "stdio:cat", want: Addr{Scheme: "stdio", Command: []string{"cat"}}},
	{name: "stdio extra spaces", in: "stdio:   cat   -u  ", want: Addr{Scheme: "stdio", Command: []string{"cat", "-u"}}, str: "stdio:cat -u"},
	{name: "stdio upper scheme", in: "STDIO:cat", want: Addr{Scheme: "stdio", Command: []string{"cat"}}, str: "stdio:cat"},
	{name: "stdio single quotes", in: "stdio:docker exec -i 'my container' hopwire",
		want: Addr{Scheme: "stdio", Command: []string{"docker", "exec", "-i", "my container", "hopwire"}}},
	{name: "stdio double quotes", in: `stdio:sh -c "echo \"hi\""`,
		want: Addr{Scheme: "stdio", Command: []string{"sh", "-c", `echo "hi"`}}, str: `stdio:sh -c 'echo "hi"'`},
	{name: "stdio empty args", in: `stdio:a '' ""`, want: Addr{Scheme: "stdio", Command: []string{"a", "", ""}}, str: "stdio:a '' ''"},
	{name: "stdio escaped space", in: `stdio:a b\ c`, want: Addr{Scheme: "stdio", Command: []string{"a", "b c"}}, str: "stdio:a 'b c'"},
	{name: "stdio quoted comma", in: "stdio:a 'x,y'", want: Addr{Scheme: "stdio", Command: []string{"a", "x,y"}}},
	{name: "stdio escaped comma", in: `stdio:a \,`, want: Addr{Scheme: "stdio", Command: []string{"a", ","}}, str: "stdio:a ','"},
	{name: "stdio quoted hash", in: "stdio:a '#x'", want: Addr{Scheme: "stdio", Command: []string{"a", "#x"}}},
	{name: "stdio single quote in arg", in: `stdio:a 'it'\''s'`, want: Addr{Scheme: "stdio", Command: []string{"a", "it's"}}, str: `stdio:a "it's"`},
	{name: "stdio both quotes", in: `stdio:a "it's \"x\""`, want: Addr{Scheme: "stdio", Command: []string{"a", `it's "x"`}}},
	{name: "stdio double quote escapes", in: "stdio:a \"\\$HOME \\`x\\` \\\\ \\q '\"",
		want: Addr{Scheme: "stdio", Command: []string{"a", "$HOME `x` \\ \\q '"}},
		str:  "stdio:a \"\\$HOME \\`x\\` \\\\ \\\\q '\""},
	{name: "stdio backslash in single quotes", in: `stdio:a 'C:\dir\'`, want: Addr{Scheme: "stdio", Command: []string{"a", `C:\dir\`}}},
	{name: "stdio concatenation", in: `stdio:a"b c"'d'`, want: Addr{Scheme: "stdio", Command: []string{"ab cd"}}, str: "stdio:'ab cd'"},
	{name: "stdio shell metachars", in: "stdio:sh -c 'exec hopwire serve --stdio 2>/dev/null; $x'",
		want: Addr{Scheme: "stdio", Command: []string{"sh", "-c", "exec hopwire serve --stdio 2>/dev/null; $x"}}},
	{name: "stdio bare punctuation", in: "stdio:env A=1 user@host:/p%^+",
		want: Addr{Scheme: "stdio", Command: []string{"env", "A=1", "user@host:/p%^+"}}},
	{name: "stdio unicode", in: "stdio:échos ünï", want: Addr{Scheme: "stdio", Command: []string{"échos", "ünï"}}},
	{name: "stdio unicode space", in: "stdio:a 'x\u3000y'", want: Addr{Scheme: "stdio", Command: []string{"a", "x\u3000y"}}},
	{name: "stdio double slash", in: "stdio://usr/bin/cat", want: Addr{Scheme: "stdio", Command: []string{"//usr/bin/cat"}}},
	{name: "stdio kubectl", in: "stdio:kubectl exec -i pod-0 -- hopwire serve --stdio",
		want: Addr{Scheme: "stdio", Command: []string{"kubectl", "exec", "-i", "pod-0", "--", "hopwire", "serve", "--stdio"}}},
	{name: "max length", in: "stdio:" + strings.Repeat("x", maxAddrLen-len("stdio:")),
		want: Addr{Scheme: "stdio", Command: []string{strings.Repeat("x", maxAddrLen-len("stdio:"))}}},
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	for _, tc := range validCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !equalAddr(got, tc.want) {
				t.Fatalf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			wantStr := tc.str
			if wantStr == "" {
				wantStr = tc.in
			}
			if s := got.String(); s != wantStr {
				t.Errorf("String() = %q, want %q", s, wantStr)
			}
			again, err := Parse(got.String())
			if err != nil {
				t.Fatalf("Parse(String()) = %v", err)
			}
			if !equalAddr(again, got) {
				t.Errorf("Parse(String()) = %#v, want %#v", again, got)
			}
			chain, err := ParseChain(tc.in)
			if err != nil || len(chain) != 1 || !equalAddr(chain[0], got) {
				t.Errorf("ParseChain(%q) = %#v, %v; want the one hop", tc.in, chain, err)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	// 43 base64 characters whose last one has non-zero padding bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	sloppyFP := fp[:len(fp)-1] + string(alphabet[strings.IndexByte(alphabet, fp[len(fp)-1])|1])
	tests := []struct {
		name string
		in   string
		want string // substring of the error after the input
	}{
		{"empty", "", "empty hop address"},
		{"too long", "stdio:" + strings.Repeat("x", maxAddrLen), "too long"},
		{"formatted too long", "stdio:'" + strings.Repeat(`\`, maxAddrLen-20) + `'\'`, "formatted form too long"},
		{"invalid utf8", "agent\xff", "invalid UTF-8"},
		{"control char", "tcp://h:1\n", "control character"},
		{"tab in stdio", "stdio:a\tb", "control character"},
		{"leading space", " tcp://h:1", "leading space"},
		{"quic missing port", "quic://r2", "missing port"},
		{"tcp missing port", "tcp://r1", "missing port"},
		{"tls ipv6 missing port", "tls://[::1]", "missing port"},
		{"missing host", "tcp://:7000", "missing host"},
		{"missing everything", "tcp://", "missing host"},
		{"ssh missing host", "ssh://admin@", "missing host"},
		{"port zero", "tcp://h:0", "invalid port"},
		{"port too big", "tcp://h:65536", "invalid port"},
		{"port huge", "tcp://h:99999999999999999999999", "invalid port"},
		{"port leading zero", "tcp://h:080", "leading zeros"},
		{"port sign", "tcp://h:+80", "not a decimal number"},
		{"port name", "tcp://h:http", "not a decimal number"},
		{"empty port", "tcp://h:", "empty port"},
		{"ssh empty port", "ssh://h:", "empty port"},
		{"ipv6 unbracketed", "tcp://::1:7000", "must be in brackets"},
		{"ipv6 missing bracket", "tcp://[::1:7000", "missing ']'"},
		{"bracketed ipv4", "tcp://[10.0.0.1]:80", "invalid IPv6"},
		{"bracketed name", "tcp://[r1]:80", "invalid IPv6"},
		{"bracket junk", "tcp://[::1]x:80", "after ']'"},
		{"zone comma", "tcp://[fe80::1%a,b]:1", "invalid character"},
		{"empty zone", "tcp://[fe80::1%]:1", "invalid IPv6"},
		{"host space", "tcp://a b:1", "invalid character ' '"},
		{"host comma", "tcp://a,b:1", "invalid character ','"},
		{"host quote", "tcp://a'b:1", "invalid character"},
		{"host unicode", "tcp://bücher.de:1", "invalid character"},
		{"host dash", "tcp://-h:1", "starts with '-'"},
		{"host too long", "tcp://" + strings.Repeat("h", 256) + ":1", "host too long"},
		{"path", "tcp://r1:7000/x", "unexpected path"},
		{"query", "tcp://r1:7000?x", "invalid port"},
		{"user on tcp", "tcp://u@r1:7000", "only ssh hops take a user"},
		{"empty user", "ssh://@h", "empty user"},
		{"user dash", "ssh://-oProxyCommand@h", "starts with '-'"},
		{"user password", "ssh://u:pw@h", "invalid character ':' in user"},
		{"two at signs", "ssh://a@b@h", "invalid character '@' in host"},
		{"tcp fingerprint", "tcp://h:1#" + fp, "tcp hops take no fingerprint"},
		{"empty fingerprint", "tls://h:1#", "empty fingerprint"},
		{"fingerprint md5", "tls://h:1#MD5:00:11", "want SHA256:"},
		{"fingerprint lower prefix", "tls://h:1#sha256:" + fp[len("SHA256:"):], "want SHA256:"},
		{"fingerprint short", "tls://h:1#SHA256:abc", "want 43 base64 characters"},
		{"fingerprint padded", "tls://h:1#" + fp + "=", "want 43 base64 characters"},
		{"fingerprint url alphabet", "tls://h:1#" + fp[:len(fp)-1] + "-", "not unpadded standard base64"},
		{"fingerprint trailing bits", "tls://h:1#" + sloppyFP, "not unpadded standard base64"},
		{"fingerprint twice", "tls://h:1#" + fp + "#" + fp, "want 43"},
		{"unknown scheme", "ftp://x:21", `unknown scheme "ftp" (known schemes: tcp, tls, quic, dtls, ssh, stdio`},
		{"host port without scheme", "r1:7000", `unknown scheme "r1"`},
		{"missing slashes", "tcp:r1:7000", `missing "//"`},
		{"ssh missing slashes", "ssh:r1", `missing "//"`},
		{"bracketed without scheme", "[::1]:7000", "not a hop address"},
		{"colon first", ":7000", "not a hop address"},
		{"stdio empty", "stdio:", "missing command"},
		{"stdio spaces", "stdio:   ", "missing command"},
		{"stdio empty command", "stdio:'' x", "empty command name"},
		{"stdio unterminated single", "stdio:a 'b", "unterminated single quote"},
		{"stdio unterminated double", `stdio:a "b\"`, "unterminated double quote"},
		{"stdio trailing backslash", `stdio:a \`, "trailing backslash"},
		{"stdio comma", "stdio:a,b", "unquoted ','"},
		{"stdio hash", "stdio:a #b", "unquoted '#'"},
		{"stdio fingerprint", "stdio:a#" + fp, "unquoted '#'"},
		{"agent dash", "-agent", "must start with a letter or digit"},
		{"agent dot", ".agent", "must start with a letter or digit"},
		{"agent bang", "bad!", "invalid character '!'"},
		{"agent space", "a b", "invalid character ' '"},
		{"agent too long", strings.Repeat("n", 65), "agent name too long"},
		{"agent bad fingerprint", "agent#SHA256:x", "invalid fingerprint"},
		{"agent empty name", "#" + fp, "empty agent name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want error", tc.in, a)
			}
			if !equalAddr(a, Addr{}) {
				t.Errorf("Parse(%q) returned %#v with its error", tc.in, a)
			}
			prefix := "hop: parse " + quoteInput(tc.in) + ": "
			msg := err.Error()
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := Parse("quic://r2")
	if got, want := err.Error(), `hop: parse "quic://r2": missing port`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	_, err = Parse(strings.Repeat("x", 5000))
	if got := err.Error(); len(got) > 300 || !strings.Contains(got, "...") {
		t.Errorf("error for a long input is not shortened: %d bytes", len(got))
	}
}

func TestStringQuoting(t *testing.T) {
	t.Parallel()
	// Arguments built by hand, including ones no valid input spells the
	// same way, must survive String and Parse.
	args := []string{
		"", " ", ",", "#", "'", `"`, `\`, "$", "`", "'\"", `a\`, `\'`,
		"it's", `say "hi"`, "a,b#c d", "~/bin", "*", "-", "--", "é", "\u00a0", "\u3000",
		"$(rm -rf /)", `\\"'`, "\uFFFD", "x y z",
	}
	for _, arg := range args {
		t.Run(strconv.Quote(arg), func(t *testing.T) {
			t.Parallel()
			a := Addr{Scheme: "stdio", Command: []string{"cmd", arg, arg}}
			got, err := Parse(a.String())
			if err != nil {
				t.Fatalf("Parse(%q): %v", a.String(), err)
			}
			if !equalAddr(got, a) {
				t.Errorf("Parse(%q) = %q, want %q", a.String(), got.Command, a.Command)
			}
		})
	}
}

func TestNetworkHostPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		network  string
		hostPort string
	}{
		{"tcp://r1:7000", "tcp", "r1:7000"},
		{"tls://[::1]:7443", "tcp", "[::1]:7443"},
		{"ssh://bastion", "tcp", "bastion:22"},
		{"ssh://u@[::1]", "tcp", "[::1]:22"},
		{"ssh://bastion:2222", "tcp", "bastion:2222"},
		{"quic://r2:443", "udp", "r2:443"},
		{"dtls://[fe80::1%eth0]:5684", "udp", "[fe80::1%eth0]:5684"},
		{"stdio:cat", "", ""},
		{"agent-7", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			a, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Network(); got != tc.network {
				t.Errorf("Network() = %q, want %q", got, tc.network)
			}
			if got := a.HostPort(); got != tc.hostPort {
				t.Errorf("HostPort() = %q, want %q", got, tc.hostPort)
			}
		})
	}
}

func TestParseChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []Addr
		str  string // canonical form; "" means in
	}{
		{name: "one hop", in: "tls://r1:7443", want: []Addr{{Scheme: "tls", Host: "r1", Port: "7443"}}},
		{name: "three hops", in: "tls://r1:7443#" + fp + ",ssh://admin@bastion,agent-7", want: []Addr{
			{Scheme: "tls", Host: "r1", Port: "7443", Fingerprint: fp},
			{Scheme: "ssh", User: "admin", Host: "bastion"},
			{Name: "agent-7"},
		}},
		{name: "ipv6 hops", in: "tcp://[::1]:1,quic://[2001:db8::1]:2", want: []Addr{
			{Scheme: "tcp", Host: "::1", Port: "1"},
			{Scheme: "quic", Host: "2001:db8::1", Port: "2"},
		}},
		{name: "single quoted comma", in: "stdio:sh -c 'a,b',tcp://h:1", want: []Addr{
			{Scheme: "stdio", Command: []string{"sh", "-c", "a,b"}},
			{Scheme: "tcp", Host: "h", Port: "1"},
		}},
		{name: "double quoted and escaped commas", in: `stdio:echo "x,y" \,z,agent`, want: []Addr{
			{Scheme: "stdio", Command: []string{"echo", "x,y", ",z"}},
			{Name: "agent"},
		}, str: `stdio:echo 'x,y' ',z',agent`},
		{name: "escaped quote then comma", in: `stdio:echo \',agent`, want: []Addr{
			{Scheme: "stdio", Command: []string{"echo", "'"}},
			{Name: "agent"},
		}, str: `stdio:echo "'",agent`},
		{name: "escaped quote in double quotes", in: `stdio:echo "\",",agent`, want: []Addr{
			{Scheme: "stdio", Command: []string{"echo", `",`}},
			{Name: "agent"},
		}, str: `stdio:echo '",',agent`},
		{name: "backslash in single quotes", in: `stdio:echo 'a\',agent`, want: []Addr{
			{Scheme: "stdio", Command: []string{"echo", `a\`}},
			{Name: "agent"},
		}},
		{name: "two stdio hops", in: "stdio:ssh -T 'b,1' hopwire serve --stdio,stdio:sudo -n hopwire serve --stdio", want: []Addr{
			{Scheme: "stdio", Command: []string{"ssh", "-T", "b,1", "hopwire", "serve", "--stdio"}},
			{Scheme: "stdio", Command: []string{"sudo", "-n", "hopwire", "serve", "--stdio"}},
		}},
		{name: "unquoted comma ends stdio hop", in: "stdio:a b,c", want: []Addr{
			{Scheme: "stdio", Command: []string{"a", "b"}},
			{Name: "c"},
		}},
		{name: "max hops", in: strings.Repeat("a,", maxHops-1) + "a", want: slices.Repeat([]Addr{{Name: "a"}}, maxHops)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseChain(tc.in)
			if err != nil {
				t.Fatalf("ParseChain(%q): %v", tc.in, err)
			}
			if !equalChain(got, tc.want) {
				t.Fatalf("ParseChain(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			wantStr := tc.str
			if wantStr == "" {
				wantStr = tc.in
			}
			s := FormatChain(got)
			if s != wantStr {
				t.Errorf("FormatChain = %q, want %q", s, wantStr)
			}
			again, err := ParseChain(s)
			if err != nil || !equalChain(again, got) {
				t.Errorf("ParseChain(FormatChain) = %#v, %v; want %#v", again, err, got)
			}
		})
	}
}

func TestParseChainInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // the whole error, or a substring when sub is set
		sub  bool
	}{
		{name: "empty", in: "", want: `hop: parse chain "": empty chain`},
		{name: "empty middle", in: "a,,b", want: `hop: parse chain: hop 2 "": empty hop address`},
		{name: "trailing comma", in: "a,", want: `hop: parse chain: hop 2 "": empty hop address`},
		{name: "leading comma", in: ",a", want: `hop: parse chain: hop 1 "": empty hop address`},
		{name: "space after comma", in: "a, b", want: `hop: parse chain: hop 2 " b": leading space`},
		{name: "bad second hop", in: "tls://r1:7443,quic://r2", want: `hop: parse chain: hop 2 "quic://r2": missing port`},
		{name: "unterminated quote swallows rest", in: "stdio:a 'b,c", want: `hop: parse chain: hop 1 "stdio:a 'b,c": unterminated single quote`, sub: true},
		{name: "too many hops", in: strings.Repeat("a,", maxHops) + "a", want: "more than 32 hops", sub: true},
		{name: "too long", in: strings.Repeat("a", maxChainLen+1), want: "too long", sub: true},
		{name: "hop too long", in: "a," + strings.Repeat("a", maxAddrLen+1), want: "hop 2", sub: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseChain(tc.in)
			if err == nil {
				t.Fatalf("ParseChain(%q) = %#v, want error", tc.in, got)
			}
			if got != nil {
				t.Errorf("ParseChain(%q) returned %#v with its error", tc.in, got)
			}
			msg := err.Error()
			if tc.sub {
				if !strings.HasPrefix(msg, "hop: parse chain") || !strings.Contains(msg, tc.want) {
					t.Errorf("error %q, want it to contain %q", msg, tc.want)
				}
			} else if msg != tc.want {
				t.Errorf("error %q, want %q", msg, tc.want)
			}
		})
	}
}

func TestFormatChainEmpty(t *testing.T) {
	t.Parallel()
	if s := FormatChain(nil); s != "" {
		t.Errorf("FormatChain(nil) = %q, want \"\"", s)
	}
}

// maxSeedLen keeps long inputs out of the fuzz seeds: the fuzzer minimizes
// every new interesting input, which for a 4 KB input takes most of a short
// -fuzztime with no executions counted.
const maxSeedLen = 256

func FuzzParse(f *testing.F) {
	for _, tc := range validCases {
		if len(tc.in) > maxSeedLen {
			continue
		}
		f.Add(tc.in)
		if a, err := Parse(tc.in); err == nil {
			f.Add(a.String())
		}
	}
	for _, s := range []string{"", "tcp://[::1", `stdio:a "b`, "stdio:'", "agent#", "ssh://a@b@c", "tls://h:1#SHA256:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "hop: parse ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		str := a.String()
		b, err := Parse(str)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v, but Parse(String() = %q): %v", s, a, str, err)
		}
		if !equalAddr(a, b) {
			t.Fatalf("Parse(%q) = %#v, but Parse(%q) = %#v", s, a, str, b)
		}
		if str2 := b.String(); str2 != str {
			t.Fatalf("String() not stable: %q then %q", str, str2)
		}
		chain, err := ParseChain(s)
		if err != nil || len(chain) != 1 || !equalAddr(chain[0], a) {
			t.Fatalf("Parse(%q) = %#v, but ParseChain = %#v, %v", s, a, chain, err)
		}
	})
}

func FuzzParseChain(f *testing.F) {
	for _, tc := range validCases {
		if len(tc.in) <= maxSeedLen {
			f.Add(tc.in)
		}
	}
	for _, s := range []string{
		"tls://r1:7443#" + fp + ",ssh://admin@bastion,agent-7",
		"stdio:sh -c 'a,b',tcp://h:1",
		`stdio:echo "x,y" \,z,agent`,
		`stdio:echo "\",",agent`,
		`stdio:echo 'a\',agent`,
		"a,,b",
		"stdio:a 'b,c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		chain, err := ParseChain(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "hop: parse chain") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if len(chain) == 0 || len(chain) > maxHops {
			t.Fatalf("ParseChain(%q) returned %d hops", s, len(chain))
		}
		str := FormatChain(chain)
		again, err := ParseChain(str)
		if err != nil {
			t.Fatalf("ParseChain(%q) = %#v, but ParseChain(%q): %v", s, chain, str, err)
		}
		if !equalChain(chain, again) {
			t.Fatalf("ParseChain(%q) = %#v, but ParseChain(%q) = %#v", s, chain, str, again)
		}
		if str2 := FormatChain(again); str2 != str {
			t.Fatalf("FormatChain not stable: %q then %q", str, str2)
		}
		for i, a := range chain {
			b, err := Parse(a.String())
			if err != nil || !equalAddr(a, b) {
				t.Fatalf("hop %d: Parse(%q) = %#v, %v; want %#v", i+1, a.String(), b, err, a)
			}
		}
	})
}
