package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fleet is the cast of the handshake tests.
type fleet struct {
	ca, otherCA          *Authority
	srv, cli             *Identity // issued by ca: "r1" and "alice"
	selfSrv, selfCli     *Identity // self-signed: "r1" and "alice"
	knownPath, authzPath string    // empty trust files
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{ca: newCA(t), otherCA: newCA(t)}
	f.srv = issueID(t, f.ca, "r1", issueOpts{})
	f.cli = issueID(t, f.ca, "alice", issueOpts{})
	f.selfSrv = selfID(t, "r1")
	f.selfCli = selfID(t, "alice")
	dir := t.TempDir()
	f.knownPath = filepath.Join(dir, KnownNodesFile)
	f.authzPath = filepath.Join(dir, AuthorizedFile)
	return f
}

// store loads the trust file at path after adding the given identities.
func store(t *testing.T, path string, ids ...*Identity) *FingerprintStore {
	t.Helper()
	for _, id := range ids {
		if err := AddFingerprint(path, id.Fingerprint(), id.Name()); err != nil {
			t.Fatal(err)
		}
	}
	s, err := LoadFingerprints(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustClient(t *testing.T, id *Identity, tr Trust) *tls.Config {
	t.Helper()
	c, err := ClientConfig(id, tr, "r1")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustServer(t *testing.T, id *Identity, tr Trust) *tls.Config {
	t.Helper()
	c, err := ServerConfig(id, tr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// errCheck inspects one side's error; nil means the side must succeed.
type errCheck func(t *testing.T, err error)

// refused wants an error whose message contains every string in want.
func refused(want ...string) errCheck {
	return func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("handshake succeeded, want it refused")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	}
}

// expiredErr wants an x509 validity error.
func expiredErr(t *testing.T, err error) {
	t.Helper()
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.Expired {
		t.Errorf("err = %v, want an x509.CertificateInvalidError (Expired)", err)
	}
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	past := issueOpts{notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)}
	ca := Trust{Pool: f.ca.Pool()}

	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T) (client, server *tls.Config)
		client errCheck // nil: client side must succeed
		server errCheck // nil: server side must succeed
		peers  [2]*Identity
	}{
		{
			name: "ca",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.cli, ca), mustServer(t, f.srv, ca)
			},
			peers: [2]*Identity{f.srv, f.cli},
		},
		{
			name: "ca/expected name",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.cli, Trust{Pool: f.ca.Pool(), Name: "r1"}), mustServer(t, f.srv, ca)
			},
			peers: [2]*Identity{f.srv, f.cli},
		},
		{
			name: "ca/other fleet member than expected",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.cli, Trust{Pool: f.ca.Pool(), Name: "r2"}), mustServer(t, f.srv, ca)
			},
			client: refused(`certs: peer "r1"`, `issued to "r1", not to this hop (r2)`),
			server: refused(),
		},
		{
			name: "ca/client trusts another CA",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.cli, Trust{Pool: f.otherCA.Pool()}), mustServer(t, f.srv, ca)
			},
			client: func(t *testing.T, err error) {
				refused(`certs: peer "r1" fingerprint `+f.srv.Fingerprint()+": does not chain to the CA")(t, err)
				var ua x509.UnknownAuthorityError
				if !errors.As(err, &ua) {
					t.Errorf("err = %v, want it to wrap x509.UnknownAuthorityError", err)
				}
			},
			server: refused(),
		},
		{
			name: "ca/server trusts another CA",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.cli, ca), mustServer(t, f.srv, Trust{Pool: f.otherCA.Pool()})
			},
			client: refused("bad certificate"),
			server: refused(`peer "alice"`, "does not chain to the CA"),
		},
		{
			name: "ca/self-signed peer",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.cli, ca), mustServer(t, f.selfSrv, ca)
			},
			client: refused("does not chain to the CA"),
			server: refused(),
		},
		{
			name: "ca/expired server certificate",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.cli, ca), mustServer(t, issueID(t, f.ca, "r1", past), ca)
			},
			client: func(t *testing.T, err error) {
				refused("does not chain to the CA", "expired")(t, err)
				expiredErr(t, err)
			},
			server: refused(),
		},
		{
			name: "ca/expired client certificate",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, issueID(t, f.ca, "alice", past), ca), mustServer(t, f.srv, ca)
			},
			client: refused(),
			server: expiredErr,
		},
		{
			name: "ca/server certificate for clients only",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				id := issueID(t, f.ca, "r1", issueOpts{usage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
				return mustClient(t, f.cli, ca), mustServer(t, id, ca)
			},
			client: func(t *testing.T, err error) {
				var inv x509.CertificateInvalidError
				if !errors.As(err, &inv) || inv.Reason != x509.IncompatibleUsage {
					t.Errorf("err = %v, want IncompatibleUsage", err)
				}
			},
			server: refused(),
		},
		{
			name: "ca/client certificate for servers only",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				id := issueID(t, f.ca, "alice", issueOpts{usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				return mustClient(t, id, ca), mustServer(t, f.srv, ca)
			},
			client: refused(),
			server: refused("incompatible key usage"),
		},
		{
			name: "fp/both known",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				known := store(t, f.knownPath+".both", f.selfSrv)
				authz := store(t, f.authzPath+".both", f.selfCli)
				return mustClient(t, f.selfCli, Trust{Store: known}), mustServer(t, f.selfSrv, Trust{Store: authz})
			},
			peers: [2]*Identity{f.selfSrv, f.selfCli},
		},
		{
			name: "fp/unknown server",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				known := store(t, f.knownPath+".unknown")
				authz := store(t, f.authzPath+".unknown", f.selfCli)
				return mustClient(t, f.selfCli, Trust{Store: known, StorePath: "~/.hopwire/known_nodes"}),
					mustServer(t, f.selfSrv, Trust{Store: authz})
			},
			client: func(t *testing.T, err error) {
				fp := f.selfSrv.Fingerprint()
				refused(`certs: unknown peer "r1" fingerprint `+fp+": not in ~/.hopwire/known_nodes; "+
					"to trust it run: hopwire trust --known "+fp+" r1")(t, err)
				var u *UnknownPeerError
				if !errors.As(err, &u) || u.Fingerprint != fp || u.Name != "r1" || u.Hint != "hopwire trust --known "+fp+" r1" {
					t.Errorf("err = %#v, want an *UnknownPeerError for r1", err)
				}
			},
			server: refused(),
		},
		{
			name: "fp/unknown client",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				known := store(t, f.knownPath+".unknown-client", f.selfSrv)
				authz := store(t, f.authzPath+".unknown-client")
				return mustClient(t, f.selfCli, Trust{Store: known}), mustServer(t, f.selfSrv, Trust{Store: authz})
			},
			client: refused("bad certificate"),
			server: refused(`unknown peer "alice" fingerprint `+f.selfCli.Fingerprint(), "not in "+f.authzPath+".unknown-client",
				"hopwire trust --authorized "+f.selfCli.Fingerprint()+" alice"),
		},
		{
			name: "fp/store edited after the config was built",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				path := f.knownPath + ".later"
				known := store(t, path)
				cc := mustClient(t, f.selfCli, Trust{Store: known})
				store(t, path, f.selfSrv)
				return cc, mustServer(t, f.selfSrv, Trust{Pinned: []string{f.selfCli.Fingerprint()}})
			},
			peers: [2]*Identity{f.selfSrv, f.selfCli},
		},
		{
			name: "fp/pinned",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.selfCli, Trust{Pinned: []string{f.selfSrv.Fingerprint()}}),
					mustServer(t, f.selfSrv, Trust{Pinned: []string{f.selfCli.Fingerprint()}})
			},
			peers: [2]*Identity{f.selfSrv, f.selfCli},
		},
		{
			name: "fp/pinned mismatch",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.selfCli, Trust{Pinned: []string{f.srv.Fingerprint()}, Store: store(t, f.knownPath+".mismatch")}),
					mustServer(t, f.selfSrv, Trust{Pinned: []string{f.selfCli.Fingerprint()}})
			},
			client: func(t *testing.T, err error) {
				refused("certs: peer fingerprint "+f.selfSrv.Fingerprint()+" does not match the pinned "+f.srv.Fingerprint())(t, err)
				var m *MismatchError
				if !errors.As(err, &m) || m.Got != f.selfSrv.Fingerprint() || m.Want != f.srv.Fingerprint() {
					t.Errorf("err = %#v, want a *MismatchError", err)
				}
			},
			server: refused(),
		},
		{
			name: "fp/expired self-signed server",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				id := selfSignedWith(t, "old", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
				return mustClient(t, f.selfCli, Trust{Pinned: []string{id.Fingerprint()}}),
					mustServer(t, id, Trust{Pinned: []string{f.selfCli.Fingerprint()}})
			},
			client: func(t *testing.T, err error) {
				refused(`peer "old"`, "expired")(t, err)
				expiredErr(t, err)
			},
			server: refused(),
		},
		{
			name: "fp/not yet valid client",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				id := selfSignedWith(t, "future", time.Now().Add(time.Hour), time.Now().Add(48*time.Hour))
				return mustClient(t, id, Trust{Pinned: []string{f.selfSrv.Fingerprint()}}),
					mustServer(t, f.selfSrv, Trust{Store: store(t, f.authzPath+".future", id)})
			},
			client: refused(),
			server: expiredErr,
		},
		{
			name: "mixed/self-signed client in the store of a CA node",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.selfCli, Trust{Pinned: []string{f.srv.Fingerprint()}}),
					mustServer(t, f.srv, Trust{Pool: f.ca.Pool(), Store: store(t, f.authzPath+".mixed", f.selfCli)})
			},
			peers: [2]*Identity{f.srv, f.selfCli},
		},
		{
			name: "mixed/unknown client names both causes",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				return mustClient(t, f.selfCli, Trust{Pinned: []string{f.srv.Fingerprint()}}),
					mustServer(t, f.srv, Trust{Pool: f.ca.Pool(), Store: store(t, f.authzPath+".mixed-unknown")})
			},
			client: refused(),
			server: func(t *testing.T, err error) {
				refused(`unknown peer "alice"`, "does not chain to the CA", "hopwire trust --authorized")(t, err)
				var ua x509.UnknownAuthorityError
				if !errors.As(err, &ua) {
					t.Errorf("err = %v, want it to wrap x509.UnknownAuthorityError", err)
				}
			},
		},
		{
			name: "client without a certificate",
			setup: func(t *testing.T) (*tls.Config, *tls.Config) {
				cc := mustClient(t, f.cli, ca)
				cc.Certificates = nil
				return cc, mustServer(t, f.srv, ca)
			},
			client: refused("certificate required"),
			server: refused("client didn't provide a certificate"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cc, sc := tc.setup(t)
			client, server := handshake(t, cc, sc)
			t.Logf("client: %v", client.err)
			t.Logf("server: %v", server.err)
			check := func(who string, c errCheck, err error) {
				t.Helper()
				switch {
				case c != nil:
					c(t, err)
				case err != nil:
					t.Errorf("%s: %v", who, err)
				}
			}
			check("client", tc.client, client.err)
			check("server", tc.server, server.err)
			if tc.client != nil || tc.server != nil {
				return
			}
			for i, st := range []tls.ConnectionState{client.state, server.state} {
				want := tc.peers[i]
				name, fp := PeerFromState(st)
				if name != want.Name() || fp != want.Fingerprint() {
					t.Errorf("peer %d: PeerFromState = %q, %s; want %q, %s", i, name, fp, want.Name(), want.Fingerprint())
				}
				if st.Version != tls.VersionTLS13 {
					t.Errorf("version %#x, want TLS 1.3", st.Version)
				}
			}
		})
	}
}

func TestConfigs(t *testing.T) {
	t.Parallel()
	id := selfID(t, "r1")
	tr := Trust{Pinned: []string{id.Fingerprint()}}
	cc, err := ClientConfig(id, tr, "r1")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ServerConfig(id, tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*tls.Config{cc, sc} {
		if c.MinVersion != tls.VersionTLS13 || c.MaxVersion != tls.VersionTLS13 {
			t.Errorf("versions %#x..%#x, want TLS 1.3 only", c.MinVersion, c.MaxVersion)
		}
		if len(c.Certificates) != 1 || c.VerifyConnection == nil || c.NextProtos != nil {
			t.Errorf("config %+v", c)
		}
		if err := c.VerifyConnection(tls.ConnectionState{}); !errors.Is(err, ErrNoCertificate) {
			t.Errorf("no peer certificate: err = %v, want ErrNoCertificate", err)
		}
		// What a transport that is not crypto/tls does with VerifyConnection.
		st := tls.ConnectionState{PeerCertificates: []*x509.Certificate{id.Certificate()}}
		if err := c.VerifyConnection(st); err != nil {
			t.Errorf("VerifyConnection(pinned peer): %v", err)
		}
	}
	if !cc.InsecureSkipVerify || cc.ServerName != "r1" {
		t.Errorf("client: InsecureSkipVerify=%v ServerName=%q", cc.InsecureSkipVerify, cc.ServerName)
	}
	if sc.InsecureSkipVerify || sc.ClientAuth != tls.RequireAnyClientCert {
		t.Errorf("server: InsecureSkipVerify=%v ClientAuth=%v", sc.InsecureSkipVerify, sc.ClientAuth)
	}

	for _, bad := range []struct {
		name string
		id   *Identity
		tr   Trust
	}{
		{"nil identity", nil, tr},
		{"empty trust", id, Trust{}},
		{"empty trust with only a path", id, Trust{StorePath: "x", Name: "r1"}},
		{"bad pinned fingerprint", id, Trust{Pinned: []string{"SHA256:nope"}}},
	} {
		if _, err := ClientConfig(bad.id, bad.tr, ""); err == nil {
			t.Errorf("%s: ClientConfig succeeded", bad.name)
		}
		if _, err := ServerConfig(bad.id, bad.tr); err == nil {
			t.Errorf("%s: ServerConfig succeeded", bad.name)
		}
	}
}

func TestUnknownPeerHint(t *testing.T) {
	t.Parallel()
	fp := testFP("x")
	for _, tc := range []struct {
		role role
		name string
		want string
	}{
		{roleServer, "r1", "hopwire trust --known " + fp + " r1"},
		{roleClient, "alice", "hopwire trust --authorized " + fp + " alice"},
		{roleServer, "$(reboot)", "hopwire trust --known " + fp},
		{roleServer, "a b", "hopwire trust --known " + fp},
		{roleServer, "", "hopwire trust --known " + fp},
	} {
		v := &verifier{role: tc.role}
		if got := v.hint(fp, tc.name); got != tc.want {
			t.Errorf("hint(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	e := &UnknownPeerError{Fingerprint: fp, Name: "r1"}
	if got, want := e.Error(), `certs: unknown peer "r1" fingerprint `+fp+": not trusted"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
