package hop

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on a chain. A chain of maxHops hops, each at most maxAddrLen bytes
// when formatted, always formats within maxChainLen bytes, so whatever
// ParseChain accepts, ParseChain(FormatChain(...)) accepts too.
const (
	maxHops     = 32
	maxChainLen = maxHops*(maxAddrLen+1) - 1
)

// ParseChain parses the value of a -J flag: one or more hops separated by
// commas, such as "tls://r1:7443,ssh://admin@bastion,agent-7". Commas quoted
// or escaped inside a stdio command do not separate hops; spaces around
// commas are not allowed. A chain has at most 32 hops. Errors start with
// "hop: parse chain" and name the offending hop and its position (from 1).
func ParseChain(jump string) ([]Addr, error) {
	if len(jump) > maxChainLen {
		return nil, fmt.Errorf("hop: parse chain %s: too long (%d bytes, max %d)", quoteInput(jump), len(jump), maxChainLen)
	}
	parts, err := splitChain(jump)
	if err != nil {
		return nil, fmt.Errorf("hop: parse chain %s: %w", quoteInput(jump), err)
	}
	chain := make([]Addr, 0, len(parts))
	for i, p := range parts {
		a, err := parse(p)
		if err != nil {
			return nil, fmt.Errorf("hop: parse chain: hop %d %s: %w", i+1, quoteInput(p), err)
		}
		chain = append(chain, a)
	}
	return chain, nil
}

// splitChain splits s at the commas that are outside quotes and not escaped
// by a backslash, following the quoting rules of splitCommand. Only stdio
// hops can contain quotes or backslashes; in any other hop they are left for
// [Parse] to reject.
func splitChain(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("empty chain")
	}
	var (
		parts []string
		start int
		quote byte // '\'' or '"' while inside quotes, else 0
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			}
		case c == '\\':
			// Outside quotes a backslash escapes anything; inside double
			// quotes it escapes at most the next byte, and skipping a byte
			// that it does not escape changes nothing here.
			i++
		case quote == '"':
			if c == '"' {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ',':
			parts = append(parts, s[start:i])
			start = i + 1
			if len(parts) >= maxHops {
				return nil, fmt.Errorf("more than %d hops", maxHops)
			}
		}
	}
	parts = append(parts, s[start:])
	return parts, nil
}

// FormatChain formats hops as a comma-separated chain that [ParseChain]
// reads back. It returns "" for an empty chain, which ParseChain rejects.
func FormatChain(hops []Addr) string {
	var b strings.Builder
	for i, a := range hops {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
	return b.String()
}
