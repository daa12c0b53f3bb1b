package rpyc

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

// Repr renders a received value as Python's repr() would: 'text',
// b'bytes', (1, 2.0, None), a proxy as <rpyc proxy ...> (use Ref.Repr for
// the remote object's own repr).
func Repr(v any) string { return pyRepr(v) }

// Str renders a received value as Python's str() would: a str as itself,
// anything else as Repr. Use Ref.Str for a proxy.
func Str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case *big.Int:
		return x.String()
	case float64:
		return pyFloat(x)
	case complex128:
		re, im := real(x), imag(x)
		if re == 0 && !math.Signbit(re) {
			return trimFloat(im) + "j"
		}
		sign := "+"
		if im < 0 || (im == 0 && math.Signbit(im)) {
			sign = "-"
			im = -im
		}
		return "(" + trimFloat(re) + sign + trimFloat(im) + "j)"
	case string:
		return pyQuote(x, false)
	case []byte:
		return pyQuote(string(x), true)
	case Tuple:
		return joinRepr("(", []any(x), ")", len(x) == 1)
	case FrozenSet:
		if len(x) == 0 {
			return "frozenset()"
		}
		return "frozenset(" + joinRepr("{", []any(x), "}", false) + ")"
	case Slice:
		return "slice(" + pyRepr(x.Start) + ", " + pyRepr(x.Stop) + ", " + pyRepr(x.Step) + ")"
	case Singleton:
		return x.String()
	case *Ref:
		return x.String()
	case *RemoteError:
		return x.Type + pyRepr(x.Args)
	}
	return fmt.Sprint(v)
}

func joinRepr(open string, items []any, close string, trailingComma bool) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = pyRepr(it)
	}
	s := strings.Join(parts, ", ")
	if trailingComma {
		s += ","
	}
	return open + s + close
}

// pyFloat is Python's repr of a float: shortest round-trip digits, in
// fixed notation for exponents from -5 to 15, always with a '.' or an
// exponent.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// trimFloat is pyFloat without a trailing ".0", as in complex reprs.
func trimFloat(f float64) string { return strings.TrimSuffix(pyFloat(f), ".0") }

// pyQuote quotes like Python: single quotes unless the text holds a
// single quote and no double one; escapes for the unprintable.
func pyQuote(s string, isBytes bool) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	if isBytes {
		b.WriteByte('b')
	}
	b.WriteByte(q)
	write := func(r rune) {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || (isBytes && r >= 0x80):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !isBytes && !unicode.IsPrint(r):
			switch {
			case r <= 0xff:
				fmt.Fprintf(&b, `\x%02x`, r)
			case r <= 0xffff:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	if isBytes {
		for i := 0; i < len(s); i++ {
			write(rune(s[i]))
		}
	} else {
		for _, r := range s {
			write(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
