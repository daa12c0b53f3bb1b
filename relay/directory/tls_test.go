package directory

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
)

// TestOpenTLS: a NATS server that requires TLS and verifies its clients'
// certificates against a fleet CA (its tls block with verify: true). A
// relay presenting a certificate of that CA, and verifying the server's
// against it, joins with a tls:// URL (and with a nats:// one when given
// the TLS configuration); without a certificate, or verifying the server
// against another CA, it is refused with an error that says why.
func TestOpenTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := certs.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.InitCA(filepath.Join(dir, "other-ca"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvCert, srvKey, err := ca.Issue("nats", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	relayCert, relayKey, err := ca.Issue("r1", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	relayID, err := certs.ParseIdentity(relayCert, relayKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca", "ca.crt")
	if _, err := os.Stat(caFile); err != nil {
		t.Fatalf("the CA's certificate is not at %s: %v", caFile, err)
	}
	conf := write("nats.conf", fmt.Appendf(nil, "tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  verify: true\n  timeout: 2\n}\n",
		write("nats.crt", srvCert), write("nats.key", srvKey), caFile))
	srv := startNATSConf(t, true, conf)
	tlsURL := strings.Replace(srv.URL, "nats://", "tls://", 1)

	self := RelayInfo{ID: "A", Addr: addrOf("A")}
	good := &tls.Config{Certificates: []tls.Certificate{relayID.TLSCertificate()}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	for _, u := range []string{tlsURL, srv.URL} {
		d, err := Open(ctxFor(t, 10*time.Second), u, self, &Options{TLS: good, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("Open %s with the fleet CA's certificate: %v", u, err)
		}
		if err := d.Register(ctxFor(t, 5*time.Second), "db1", fp("db1")); err != nil {
			t.Fatalf("Register over TLS: %v", err)
		}
		if e, err := d.Lookup(ctxFor(t, 5*time.Second), "db1"); err != nil || e.Relay != "A" {
			t.Fatalf("Lookup over TLS: %+v, %v", e, err)
		}
		d.Close()
	}

	refused := []struct {
		name string
		cfg  *tls.Config
		want string
	}{
		{"no client certificate", &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}, "certificate"},
		{"server verified against another CA", &tls.Config{Certificates: good.Certificates, RootCAs: other.Pool(), MinVersion: tls.VersionTLS12}, "certificate signed by unknown authority"},
	}
	for _, c := range refused {
		d, err := Open(ctxFor(t, 5*time.Second), tlsURL, self, &Options{TLS: c.cfg, Logger: testLogger(t)})
		if err == nil {
			d.Close()
			t.Errorf("%s: Open succeeded", c.name)
			continue
		}
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), tlsURL) {
			t.Errorf("%s: Open = %v; want ErrUnavailable naming %s and saying %q", c.name, err, tlsURL, c.want)
		}
	}
}
