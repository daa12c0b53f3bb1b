package hop

import (
	"os"
	"path/filepath"
	"testing"

	hssh "github.com/hopwire/hopwire/transport/ssh"
)

func TestProxyJumpExpansion(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	os.WriteFile(cfg, []byte(`Host db
  HostName 10.2.0.5
  ProxyJump jump2
Host jump2
  ProxyJump alice@jump1:2222
`), 0o600)
	d := &Dialer{SSH: &hssh.ClientOptions{ConfigFile: cfg, Home: dir, AgentSocket: "none"}}
	in, err := ParseChain("tls://r0:7443,ssh://db")
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.expandProxyJumps(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FormatChain(out), "tls://r0:7443,ssh://alice@jump1:2222,ssh://jump2,ssh://db"; got != want {
		t.Fatalf("expanded to %s, want %s", got, want)
	}
	// A cycle is refused, not followed for ever.
	os.WriteFile(cfg, []byte("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n"), 0o600)
	if _, err := d.expandProxyJumps([]Addr{{Scheme: "ssh", Host: "a"}}); err == nil {
		t.Fatal("a ProxyJump cycle was accepted")
	}
}
