package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
)

// serveFlags is a flag set with the shapes of serve's flags.
func serveFlags() (*flag.FlagSet, *multi, *string, *bool) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var grants multi
	fs.Var(&grants, "grant", "")
	fs.Var(new(multi), "listen", "")
	level := fs.String("log-level", "", "")
	insecure := fs.Bool("insecure-tcp", false, "")
	fs.String("config", "", "")
	return fs, &grants, level, insecure
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeConfigPrecedence(t *testing.T) {
	conf := writeConf(t, "# comment\n\ngrant a:connect=10.0.0.1:22   # trailing comment\n"+
		"grant b:exec\nlog-level\tdebug\ninsecure-tcp yes\n--listen tls://127.0.0.1:7443\n")
	// Nothing on the command line: the file's settings.
	fs, grants, level, insecure := serveFlags()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := applyServeConfig(fs, conf, setFlags(fs)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(*grants, multi{"a:connect=10.0.0.1:22", "b:exec"}) || *level != "debug" || !*insecure {
		t.Fatalf("from the file: grants %q, level %q, insecure-tcp %v", *grants, *level, *insecure)
	}
	// The command line wins, repeatable flags included.
	fs, grants, level, _ = serveFlags()
	if err := fs.Parse([]string{"--grant", "c:classic", "--log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	if _, err := applyServeConfig(fs, conf, setFlags(fs)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(*grants, multi{"c:classic"}) || *level != "warn" {
		t.Fatalf("command line over the file: grants %q, level %q", *grants, *level)
	}
}

func TestServeConfigErrors(t *testing.T) {
	for text, want := range map[string]string{
		"grant a:exec\nlisten-on x\n": `:2: unknown setting "listen-on"`,
		"config other.conf\n":         `:1: "config" belongs on the command line`,
		"insecure-tcp maybe\n":        `:1: insecure-tcp takes yes or no, not "maybe"`,
		"grant\n":                     `:1: grant needs a value`,
	} {
		fs, _, _, _ := serveFlags()
		fs.Parse(nil)
		conf := writeConf(t, text)
		_, err := applyServeConfig(fs, conf, setFlags(fs))
		if err == nil || !errors.Is(err, errUsage) || !strings.Contains(err.Error(), conf+want) {
			t.Errorf("%q: %v, want %q", text, err, conf+want)
		}
	}
	fs, _, _, _ := serveFlags()
	if _, err := applyServeConfig(fs, filepath.Join(t.TempDir(), "missing.conf"), nil); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestRestartOnly(t *testing.T) {
	before := []serveSetting{{key: "listen", val: "tls://a"}, {key: "grant", val: "x:exec"}, {key: "name", val: "n"}, {key: "state", val: "/s"}}
	after := []serveSetting{{key: "listen", val: "tls://b"}, {key: "grant", val: "y:exec"}, {key: "name", val: "n"}, {key: "log-level", val: "debug"}}
	got := restartOnly(before, after, map[string]bool{})
	if !slices.Equal(got, []string{"listen", "state"}) {
		t.Fatalf("restartOnly = %q, want [listen state]", got)
	}
	if got := restartOnly(before, after, map[string]bool{"listen": true}); !slices.Equal(got, []string{"state"}) {
		t.Fatalf("with --listen on the command line: %q, want [state]", got)
	}
}

func TestWarnExpiry(t *testing.T) {
	ca, err := certs.InitCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("node", nil, 10*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := certs.ParseIdentity(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Now(), "level=WARN msg=\"the node's certificate expires soon"},
		{time.Now().Add(-30 * 24 * time.Hour), ""},
		{time.Now().Add(11 * 24 * time.Hour), "level=ERROR msg=\"the node's certificate has expired"},
	} {
		var buf strings.Builder
		warnExpiry(slog.New(slog.NewTextHandler(&buf, nil)), id, tc.at)
		if tc.want == "" && buf.Len() != 0 || !strings.Contains(buf.String(), tc.want) {
			t.Errorf("at %v: logged %q, want %q", tc.at, buf.String(), tc.want)
		}
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "1GiB": 1 << 30, "64k": 64 << 10, "1000": 1000, "2M": 2 << 20, "3KB": 3 << 10} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1TiB", "1.5G", "lots"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("%q accepted as %d", in, b)
		}
	}
}
