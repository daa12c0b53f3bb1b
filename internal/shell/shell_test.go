package shell

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/transport/transporttest"
)

// TestDeps keeps the package a leaf that the transports may import: its
// non-test files import the standard library only.
func TestDeps(t *testing.T) { transporttest.StdlibOnly(t) }

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"./relay/", "./relay/"},
		{"-bench=.", "-bench=."},
		{"user@host:22", "user@host:22"},
		{"a,b+c%d", "a,b+c%d"},
		{"", "''"},
		{"with space", "'with space'"},
		{"it's", `'it'\''s'`},
		{"'", `''\'''`},
		{"^$", "'^$'"},
		{"a^b", "'a^b'"},
		{"~", "'~'"},
		{"~/x", "'~/x'"},
		{"#x", "'#x'"},
		{"=ls", "'=ls'"},
		{"$HOME", "'$HOME'"},
		{"`id`", "'`id`'"},
		{`a\b`, `'a\b'`},
		{`a"b`, `'a"b'`},
		{"*", "'*'"},
		{"semi;colon", "'semi;colon'"},
		{"new\nline", "'new\nline'"},
		{"tab\t", "'tab\t'"},
		{"ü", "'ü'"},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestJoin(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{""}, "''"},
		{[]string{"hopwire", "serve", "--stdio"}, "hopwire serve --stdio"},
		{[]string{"go", "test", "-run", "^$", "-bench", "Chain/openssh", "./relay/"}, "go test -run '^$' -bench Chain/openssh ./relay/"},
		{[]string{"sh", "-c", "exec hopwire serve --stdio 2>/dev/null"}, "sh -c 'exec hopwire serve --stdio 2>/dev/null'"},
		{[]string{"a=b", "c=d"}, "'a=b' c=d"},
		{[]string{"x", "", "y"}, "x '' y"},
	} {
		if got := Join(c.in); got != c.want {
			t.Errorf("Join(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestShell runs quoted words through a real sh and checks it reads them
// back unchanged, and that a quoted first word is run as the command.
func TestShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	args := []string{"plain", "with space", "it's", "'", "''", `a"b`, "$HOME", "${x}", "`id`", "$(id)", `a\b`, `\`,
		"-n", "*", "?", "[a]", "", "semi;colon", "a&b", "a|b", "<x>", "(x)", "{a,b}", "~", "~root", "#c", "!x",
		"^x", "a^b", "=ls", "x=y", "new\nline", "tab\there", "ü", "%1", "a,b", "+@:%"}
	out, err := exec.Command(sh, "-c", Join(append([]string{"printf", `%s\0`}, args...))).Output()
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !slices.Equal(got, args) {
		t.Errorf("sh read %q back as %q", args, got)
	}

	// A first word with '=' is the command, not an assignment.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x=y"), []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(sh, "-c", "PATH="+Quote(dir)+":$PATH; "+Join([]string{"x=y"})).Output()
	if err != nil || string(out) != "ran\n" {
		t.Errorf("sh -c %s: %q, %v; want the command x=y run", Join([]string{"x=y"}), out, err)
	}
}

// FuzzQuote checks that any string, quoted, reads back as itself through
// splitWords, which refuses every character a shell treats specially.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "plain", "it's", "'", "a b", "$x", "=ls", "~", "#", "^", "a=b", "\x00", "\n", "ü"} {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		words, err := splitWords(Quote(a))
		if err != nil || len(words) != 1 || words[0] != a {
			t.Fatalf("Quote(%q) = %s reads back as %q, %v", a, Quote(a), words, err)
		}
		args := []string{a, b, a}
		line := Join(args)
		words, err = splitWords(line)
		if err != nil || !slices.Equal(words, args) {
			t.Fatalf("Join(%q) = %s reads back as %q, %v", args, line, words, err)
		}
		if first, _, _ := strings.Cut(line, " "); strings.Contains(first, "=") && !strings.HasPrefix(first, "'") {
			t.Fatalf("Join(%q) = %s: the first word would be an assignment", args, line)
		}
	})
}

// splitWords splits a command line into words as a POSIX shell does, for
// the part of the grammar Quote writes: bare words, '…' quotes and \
// escapes, separated by spaces. It is deliberately strict: an unquoted
// character that any shell treats specially, or '=' at the start of a
// word, is an error, so a quoting that merely happens to read back in
// this parser but not in sh fails here too.
func splitWords(line string) ([]string, error) {
	var (
		words []string
		word  strings.Builder
		in    bool // inside a word
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ':
			if in {
				words = append(words, word.String())
				word.Reset()
				in = false
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated quote")
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			in = true
		case c == '\\':
			if i+1 == len(line) {
				return nil, errors.New("trailing backslash")
			}
			i++
			word.WriteByte(line[i])
			in = true
		case bare(c, !in):
			word.WriteByte(c)
			in = true
		default:
			return nil, errors.New("unquoted special character " + string(rune(c)))
		}
	}
	if in {
		words = append(words, word.String())
	}
	return words, nil
}

// bare reports whether c may stand unquoted, at the start of a word or
// within it.
func bare(c byte, start bool) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '=':
		return !start
	}
	return strings.IndexByte("-_./:+@%,", c) >= 0
}
