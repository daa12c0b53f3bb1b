package relay

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxEcho is how much of a peer's string an error or log message quotes.
const maxEcho = 64

// clip quotes s for an error or a log message, cut to its first maxEcho
// bytes (at a character boundary) when longer: a peer's string echoed
// whole makes a message as large as the peer likes, and %q makes it up to
// four times larger still (review F10).
func clip(s string) string { return clipWith(s, strconv.Quote) }

// clipAttr is clip for a log attribute: cut the same way, not quoted
// (slog's handlers quote and escape values themselves; quoting here too
// wrote "\"10.0.0.5:22\"").
func clipAttr(s string) string { return clipWith(s, func(s string) string { return s }) }

func clipWith(s string, quote func(string) string) string {
	if len(s) <= maxEcho {
		return quote(s)
	}
	i := maxEcho
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s... (%d bytes)", quote(s[:i]), len(s))
}
