// Package shell quotes words for a POSIX shell. It is hopwire's one
// quoter for command lines, both those a remote shell runs (an SSH exec
// channel hands its command to the remote user's login shell) and those
// shown to people as commands they could paste.
//
// It is not the quoter for hopwire's own stdio hop syntax (hop's quoteArg
// writes what hop's parser reads back), nor for messages, which use Go
// quoting so that control characters show.
package shell

import "strings"

// safe is the set of bytes that no POSIX shell treats specially inside a
// word. '^' is left out (the Bourne shell reads it as a pipe), and so are
// '~' and '#', which are special at the start of a word.
const safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+@%,"

// Quote returns s as one shell word that the shell reads back as s. A
// non-empty word made only of safe characters is returned as it is,
// unless it starts with '=' (zsh, a common login shell, expands "=cmd" to
// cmd's path); anything else is single-quoted.
func Quote(s string) string {
	if s != "" && s[0] != '=' && strings.Trim(s, safe) == "" {
		return s
	}
	return quote(s)
}

// Join quotes each of args with [Quote] and joins them with spaces, so
// that a shell runs args[0] with the rest as its arguments. A first word
// with '=' in it is always quoted: bare, it would be a variable
// assignment rather than the command.
func Join(args []string) string {
	var b strings.Builder
	for i, a := range args {
		switch {
		case i > 0:
			b.WriteByte(' ')
			b.WriteString(Quote(a))
		case strings.Contains(a, "="):
			b.WriteString(quote(a))
		default:
			b.WriteString(Quote(a))
		}
	}
	return b.String()
}

// quote single-quotes s. A ' inside is written as a closing quote, a
// backslash-escaped quote and an opening quote.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
