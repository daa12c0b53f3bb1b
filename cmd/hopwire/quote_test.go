package main

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/classic"
)

func TestQuoteName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain.txt", "plain.txt"},
		{"with space", "with space"},
		{"ünïcødé 日本", "ünïcødé 日本"},
		{`"quoted"`, `"quoted"`},
		{"", ""},
		{"clear\x1b[2J", `"clear\x1b[2J"`},
		{"two\nlines", `"two\nlines"`},
		{"tab\there", `"tab\there"`},
		{"bell\a", `"bell\a"`},
		{"csi\u009b2J", `"csi\u009b2J"`},
		{"bidi\u202etxt.exe", `"bidi\u202etxt.exe"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
	} {
		if got := quoteName(tc.in); got != tc.want {
			t.Errorf("quoteName(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestLsEscapesNames: names, link targets and an error message from a
// hostile node reach the terminal quoted, without their escapes; plain
// names print as they are.
func TestLsEscapesNames(t *testing.T) {
	addr, home := startHostile(t, &hostileFS{dirs: map[string][]classic.FileInfo{"/d": {
		{Name: "evil\x1b[2Jname", Mode: 0o644},
		{Name: "link", Link: "\x1b]0;pwned\a", Mode: uint32(fs.ModeSymlink | 0o777)},
		{Name: "plain name.txt", Mode: 0o644},
	}}})
	for _, long := range []bool{false, true} {
		args := []string{"ls", "--home", home, addr, "/d"}
		if long {
			args = []string{"ls", "-l", "--home", home, addr, "/d"}
		}
		out, errOut, code := runCmdErr(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d:\n%s", args, code, errOut)
		}
		if strings.Contains(out, "\x1b") || strings.Contains(out, "\a") {
			t.Errorf("%v: escapes reached stdout: %q", args, out)
		}
		lines := strings.Split(out, "\n")
		for _, want := range []string{`"evil\x1b[2Jname"`, `link -> "\x1b]0;pwned\a"`, "plain name.txt"} {
			found := false
			for _, l := range lines {
				// The name ends the line; -l puts a time before it.
				found = found || l == want || strings.HasSuffix(l, " "+want)
			}
			if !found {
				t.Errorf("%v: no line ends with %s:\n%s", args, want, out)
			}
		}
	}
	_, errOut, code := runCmdErr(t, "ls", "--home", home, addr, "/boom")
	if code != 1 || strings.Contains(errOut, "\x1b") || !strings.Contains(errOut, `\x1b[2J`) {
		t.Errorf("a remote error: exit %d, %q", code, errOut)
	}
}
