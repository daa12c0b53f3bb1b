package relay

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/hopwire/hopwire/session"
)

const fpA = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"

func TestParseGrant(t *testing.T) {
	good := []struct{ in, principal, cap, scope string }{
		{"alice:connect=10.1.0.0/16:22", "alice", "connect", "10.1.0.0/16:22"},
		{"*:connect=127.0.0.1:7000-7100", "*", "connect", "127.0.0.1:7000-7100"},
		{"fp:" + fpA + ":register", "fp:" + fpA, "register", ""},
		{"ops:exec=/usr/bin/uptime", "ops", "exec", "/usr/bin/uptime"},
		{"ops:classic=eval", "ops", "classic", "eval"},
		{"ops:classic", "ops", "classic", ""},
		{"bob:connect=[fd00::/8]:443", "bob", "connect", "[fd00::/8]:443"},
		{"bob:connect=db.internal:5432", "bob", "connect", "db.internal:5432"},
		{"bob:forward-remote=127.0.0.1:8000-9000", "bob", "forward-remote", "127.0.0.1:8000-9000"},
	}
	for _, tc := range good {
		t.Run(tc.in, func(t *testing.T) {
			g, err := ParseGrant(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if g.Principal != tc.principal || string(g.Capability) != tc.cap || g.Scope != tc.scope || g.String() != tc.in {
				t.Fatalf("got %+v (%s)", g, g)
			}
		})
	}
	for _, bad := range []string{"", "alice", ":connect=1.2.3.4", "alice:fly", "alice:connect", "alice:connect=", "alice:connect=10.0.0.0/33",
		"alice:connect=1.2.3.4:99999", "alice:connect=1.2.3.4:9-1", "fp:nope:connect=*", "alice:classic=everything", "alice:exec"} {
		t.Run("bad/"+bad, func(t *testing.T) {
			if _, err := ParseGrant(bad); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func mustPolicy(t *testing.T, rules ...string) *Policy {
	t.Helper()
	var gs []*Grant
	for _, r := range rules {
		g, err := ParseGrant(r)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	p := NewPolicy(gs)
	p.resolve = func(h string) []netip.Addr {
		if h == "db.internal" {
			return []netip.Addr{netip.MustParseAddr("10.9.9.9")}
		}
		return nil
	}
	return p
}

func TestPolicyAddr(t *testing.T) {
	p := mustPolicy(t, "alice:connect=10.1.0.0/16:22", "*:connect=127.0.0.1:7000-7100", "bob:connect=db.internal:5432", "bob:connect=[::1]:80")
	alice := session.Peer{Principal: "alice", Fingerprint: fpA}
	bob := session.Peer{Principal: "bob", Fingerprint: "SHA256:x"}
	for _, tc := range []struct {
		name string
		peer session.Peer
		ip   string
		port uint16
		ok   bool
	}{
		{"in-subnet", alice, "10.1.2.3", 22, true},
		{"wrong-port", alice, "10.1.2.3", 23, false},
		{"out-of-subnet", alice, "10.2.0.1", 22, false},
		{"mapped-v4", alice, "::ffff:10.1.2.3", 22, true},
		{"any-peer-range", bob, "127.0.0.1", 7050, true},
		{"other-loopback", bob, "127.0.0.2", 7050, false},
		{"range-end", bob, "127.0.0.1", 7101, false},
		{"name-resolved", bob, "10.9.9.9", 5432, true},
		{"name-other-ip", bob, "10.9.9.8", 5432, false},
		{"v6", bob, "::1", 80, true},
		{"not-alice-rule", bob, "10.1.2.3", 22, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := p.AllowAddr(tc.peer, CapConnect, netip.MustParseAddr(tc.ip), tc.port)
			if tc.ok != (err == nil) {
				t.Fatalf("allowed=%v (%v), want %v", err == nil, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrDenied) {
				t.Fatalf("refusal %v is not ErrDenied", err)
			}
			if err == nil && g == nil {
				t.Fatal("no grant returned")
			}
		})
	}
	// forward-remote is a separate capability.
	if _, err := p.AllowAddr(alice, CapForwardRemote, netip.MustParseAddr("10.1.2.3"), 22); err == nil {
		t.Fatal("connect grant allowed forward-remote")
	}
}

func TestPolicyOther(t *testing.T) {
	p := mustPolicy(t, "ops:exec=/usr/bin/*", "agent1:register=db-*", "fp:"+fpA+":register", "ops:classic", "root:classic=eval")
	ops := session.Peer{Principal: "ops", Fingerprint: "SHA256:o"}
	if _, _, err := p.AllowExec(ops, []string{"/usr/bin/uptime"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.AllowExec(ops, []string{"/bin/sh"}, nil); err == nil {
		t.Fatal("exec outside the pattern allowed")
	}
	if _, err := p.AllowRegister(session.Peer{Principal: "agent1", Fingerprint: "SHA256:a"}, "db-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AllowRegister(session.Peer{Principal: "agent1", Fingerprint: "SHA256:a"}, "web-1"); err == nil {
		t.Fatal("register outside the pattern allowed")
	}
	if _, err := p.AllowRegister(session.Peer{Principal: "whatever", Fingerprint: fpA}, "anything"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AllowClassic(ops, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AllowClassic(ops, true); err == nil {
		t.Fatal("classic without eval allowed eval")
	}
	if _, err := p.AllowClassic(session.Peer{Principal: "root", Fingerprint: "SHA256:r"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AllowClassic(session.Peer{Principal: "nobody", Fingerprint: "SHA256:n"}, false); !errors.Is(err, ErrDenied) {
		t.Fatal("default is not deny")
	}
}

// TestPolicyIgnoresAnnouncedName: the policy decides on the principal the
// link authenticated, never on the name the peer announced in its hello.
func TestPolicyIgnoresAnnouncedName(t *testing.T) {
	p := mustPolicy(t, "alice:connect=10.1.0.0/16:22", "alice:exec=/usr/bin/*", "alice:register=*", "alice:classic=eval")
	mallory := session.Peer{Name: "alice", Principal: "mallory", Fingerprint: "SHA256:m"}
	ip := netip.MustParseAddr("10.1.2.3")
	if _, err := p.AllowAddr(mallory, CapConnect, ip, 22); !errors.Is(err, ErrDenied) {
		t.Errorf("connect: %v, want a denial", err)
	}
	if p.couldConnect(t.Context(), "tcp", mallory, "10.1.2.3:22") {
		t.Error("couldConnect allowed an announced name")
	}
	if _, _, err := p.AllowExec(mallory, []string{"/usr/bin/id"}, nil); !errors.Is(err, ErrDenied) {
		t.Errorf("exec: %v, want a denial", err)
	}
	if p.HasExec(mallory) {
		t.Error("HasExec allowed an announced name")
	}
	if _, err := p.AllowRegister(mallory, "db-1"); !errors.Is(err, ErrDenied) {
		t.Errorf("register: %v, want a denial", err)
	}
	if _, err := p.AllowClassic(mallory, false); !errors.Is(err, ErrDenied) {
		t.Errorf("classic: %v, want a denial", err)
	}
	if _, err := p.AllowClassic(mallory, false); err != nil {
		if d, ok := errors.AsType[*DeniedError](err); !ok || d.Principal != "mallory" {
			t.Errorf("denial %v does not name the principal mallory", err)
		}
	}
	alice := session.Peer{Name: "whoever", Principal: "alice", Fingerprint: "SHA256:a"}
	if _, err := p.AllowAddr(alice, CapConnect, ip, 22); err != nil {
		t.Errorf("alice, announcing another name: %v", err)
	}
}

// TestExecScopeIsTheWholeCommandLine: an exec grant names a command line,
// not a program that then takes any arguments (F4: exec=hopwire was
// hopwire serve --stdio, and with it eval).
func TestExecScopeIsTheWholeCommandLine(t *testing.T) {
	p := mustPolicy(t,
		"ops:exec=/usr/bin/uptime",
		"ops:exec=/usr/bin/systemctl status *",
		"ops:exec=/opt/tools/* ...",
		"hop:exec=/usr/local/bin/hopwire serve --stdio --home /var/lib/hw/*",
		"dev:exec=cat")
	ops, hop, dev := session.Peer{Principal: "ops", Fingerprint: "SHA256:o"}, session.Peer{Principal: "hop", Fingerprint: "SHA256:h"}, session.Peer{Principal: "dev", Fingerprint: "SHA256:d"}
	resolve := func(p string) (string, error) {
		if p == "uptime" {
			return "/usr/bin/uptime", nil
		}
		return "", errors.New("not found")
	}
	for _, tc := range []struct {
		peer session.Peer
		argv []string
		ok   bool
		prog string
	}{
		{ops, []string{"/usr/bin/uptime"}, true, "/usr/bin/uptime"},
		{ops, []string{"uptime"}, true, "/usr/bin/uptime"}, // resolved in PATH, and that is what runs
		{ops, []string{"/usr/bin/uptime", "-p"}, false, ""},
		{ops, []string{"/usr/bin/systemctl", "status", "nginx.service"}, true, "/usr/bin/systemctl"},
		{ops, []string{"/usr/bin/systemctl", "status", "a/b"}, true, "/usr/bin/systemctl"},
		{ops, []string{"/usr/bin/systemctl", "stop", "nginx"}, false, ""},
		{ops, []string{"/usr/bin/systemctl", "status", "a", "b"}, false, ""},
		{ops, []string{"/opt/tools/x"}, true, "/opt/tools/x"},
		{ops, []string{"/opt/tools/x", "-a", "/etc/passwd"}, true, "/opt/tools/x"},
		{hop, []string{"/usr/local/bin/hopwire", "serve", "--stdio", "--home", "/var/lib/hw/inner"}, true, "/usr/local/bin/hopwire"},
		{hop, []string{"/usr/local/bin/hopwire", "serve", "--stdio", "--home", "/var/lib/hw/inner", "--grant", "x:classic=eval"}, false, ""},
		{hop, []string{"/usr/local/bin/hopwire", "exec", "x", "--", "id"}, false, ""},
		{dev, []string{"cat"}, true, "cat"},
		{dev, []string{"cat", "/etc/shadow"}, false, ""},
		{dev, nil, false, ""},
	} {
		_, prog, err := p.AllowExec(tc.peer, tc.argv, resolve)
		if (err == nil) != tc.ok || prog != tc.prog {
			t.Errorf("%s %q: prog %q err %v; want ok=%v prog %q", tc.peer.Principal, tc.argv, prog, err, tc.ok, tc.prog)
		}
		if err != nil && !errors.Is(err, ErrDenied) {
			t.Errorf("%q: %v is not a denial", tc.argv, err)
		}
	}
}

// couldConnect refuses, without resolving anything, a CONNECT that no
// grant of the peer could allow whatever its host resolves to: none for
// the peer, or only grants for addresses or ports that exclude it. A name
// that some grant's port range admits may be looked up (review F11).
func TestPolicyCouldConnect(t *testing.T) {
	p := mustPolicy(t, "alice:connect=10.1.0.0/16:22", "alice:connect=[::1]:80-90",
		"bob:connect=db.internal:5432", "carol:connect=*:443", "*:connect=127.0.0.1:7000")
	var lookups int
	p.resolve = func(string) []netip.Addr { lookups++; return nil }
	alice := session.Peer{Principal: "alice", Fingerprint: fpA}
	bob := session.Peer{Principal: "bob", Fingerprint: "SHA256:x"}
	carol := session.Peer{Principal: "carol", Fingerprint: "SHA256:y"}
	dave := session.Peer{Principal: "dave", Fingerprint: "SHA256:z"}
	for _, tc := range []struct {
		peer    session.Peer
		network string
		address string
		could   bool
	}{
		{dave, "tcp", "evil.example:80", false},   // no grant of dave's for port 80
		{dave, "tcp", "evil.example:7000", true},  // the "*" grant: the name may be 127.0.0.1
		{dave, "udp", "evil.example:7000", true},  // connect covers udp too
		{alice, "tcp", "evil.example:23", false},  // alice's ports are 22 and 80-90
		{alice, "tcp", "evil.example:22", true},   // may resolve into 10.1/16
		{alice, "tcp", "evil.example:ssh", true},  // a service name is a port
		{alice, "tcp", "evil.example:http", true}, // 80
		{alice, "tcp", "10.1.2.3:22", true},
		{alice, "tcp", "10.2.0.1:22", false}, // a literal outside the prefix
		{alice, "tcp", "[::ffff:10.1.2.3]:22", true},
		{alice, "tcp", "[::1]:85", true},
		{alice, "tcp", "[::2]:85", false},
		{bob, "tcp", "evil.example:5432", true}, // a name grant: may be anything
		{bob, "tcp", "10.9.9.9:5432", true},     // decided at dial time, on the grant's name
		{bob, "tcp", "evil.example:5433", false},
		{carol, "tcp", "evil.example:443", true},
		{carol, "tcp", "192.0.2.1:444", false},
		{alice, "tcp", "no-port", true}, // left to the dialer, which fails on it
	} {
		if got := p.couldConnect(t.Context(), tc.network, tc.peer, tc.address); got != tc.could {
			t.Errorf("%s %s %s: could %v, want %v", tc.peer.Principal, tc.network, tc.address, got, tc.could)
		}
	}
	if lookups != 0 {
		t.Errorf("%d grant names resolved", lookups)
	}
}

// AllowAgent: a client reaches the agents its agent grant names, and no
// other; without a grant, none.
func TestAllowAgent(t *testing.T) {
	p := mustPolicy(t, "ops:agent=db-*", "fp:"+fpA+":agent")
	ops := session.Peer{Principal: "ops", Fingerprint: "SHA256:o"}
	if _, err := p.AllowAgent(ops, "db-1"); err != nil {
		t.Errorf("ops to db-1: %v", err)
	}
	if _, err := p.AllowAgent(ops, "web-1"); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "--grant 'ops:agent=web-1'") {
		t.Errorf("ops to web-1: %v, want a denial naming the grant", err)
	}
	if _, err := p.AllowAgent(session.Peer{Principal: "x", Fingerprint: fpA}, "anything"); err != nil {
		t.Errorf("a key granted every agent: %v", err)
	}
	if _, err := p.AllowAgent(session.Peer{Principal: "eve", Fingerprint: "SHA256:e"}, "db-1"); !errors.Is(err, ErrDenied) {
		t.Errorf("no grant: %v", err)
	}
	if _, err := ParseGrant("ops:agent=[x"); err == nil {
		t.Error("a malformed agent pattern was accepted")
	}
}
