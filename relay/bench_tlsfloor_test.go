package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The crypto ceiling of the direct real-process shape: the client's
// forward and the target as two processes that do nothing but TLS 1.3
// (crypto/tls, its default AES-128-GCM) between them and plain TCP on
// either side — no multiplexing, no authentication of keys, no framing —
// copying with 256 KiB buffers. hopwire's direct shape does this much
// crypto and these many processes at least; the row "throughput, direct,
// against its crypto ceiling" reads hopwire against it, as the in-process
// chain is read against its nested-crypto ceiling.
//
// The processes are this test binary run again (tlsFloorEnv set): see
// runTLSFloor.

// tlsFloorEnv, set in a child's environment, makes the test binary a TLS
// floor relay: "in LISTEN NEXT" takes TCP and dials TLS, "out LISTEN
// NEXT" takes TLS and dials TCP. The certificate (and, for "in", the
// pool that trusts it) comes in tlsFloorCertEnv and tlsFloorKeyEnv.
const (
	tlsFloorEnv     = "HOPWIRE_BENCH_TLSFLOOR"
	tlsFloorCertEnv = "HOPWIRE_BENCH_TLSFLOOR_CERT"
	tlsFloorKeyEnv  = "HOPWIRE_BENCH_TLSFLOOR_KEY"
)

func init() {
	if spec := os.Getenv(tlsFloorEnv); spec != "" {
		if err := runTLSFloor(spec); err != nil {
			fmt.Fprintln(os.Stderr, "tls floor:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// runTLSFloor runs one TLS floor relay until killed.
func runTLSFloor(spec string) error {
	f := strings.Fields(spec)
	if len(f) != 3 || (f[0] != "in" && f[0] != "out") {
		return fmt.Errorf("want \"in|out LISTEN NEXT\", got %q", spec)
	}
	mode, listen, next := f[0], f[1], f[2]
	cert, err := tls.X509KeyPair([]byte(os.Getenv(tlsFloorCertEnv)), []byte(os.Getenv(tlsFloorKeyEnv)))
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			var (
				in, out net.Conn = c, nil
				err     error
			)
			if mode == "out" {
				in = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
				out, err = net.Dial("tcp", next)
			} else {
				out, err = tls.Dial("tcp", next, &tls.Config{RootCAs: pool, ServerName: "floor", MinVersion: tls.VersionTLS13})
			}
			if err != nil {
				c.Close()
				return
			}
			done := make(chan struct{})
			go func() {
				io.CopyBuffer(out, in, make([]byte, 256<<10))
				if cw, ok := out.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				close(done)
			}()
			io.CopyBuffer(in, out, make([]byte, 256<<10))
			<-done
			in.Close()
			out.Close()
		}()
	}
}

// tlsFloorProcChain is the direct shape's crypto ceiling: two TLS floor
// processes, the first taking the benchmark's connections.
func tlsFloorProcChain() func(testing.TB, string) *procChain {
	return func(b testing.TB, dest string) *procChain {
		certPEM, keyPEM := floorCert(b)
		outAddr := net.JoinHostPort("127.0.0.1", freeTCPPort(b, "127.0.0.1"))
		inAddr := net.JoinHostPort("127.0.0.1", freeTCPPort(b, "127.0.0.1"))
		var pgids []int
		for _, spec := range []string{"out " + outAddr + " " + dest, "in " + inAddr + " " + outAddr} {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), tlsFloorEnv+"="+spec, tlsFloorCertEnv+"="+certPEM, tlsFloorKeyEnv+"="+keyPEM)
			startProcess(b, "tls floor relay", cmd, strings.Fields(spec)[1])
			pgids = append(pgids, cmd.Process.Pid)
		}
		return &procChain{dial: localDialer(inAddr), nodes: pgids}
	}
}

// floorCert makes the TLS floor's self-signed certificate (name "floor").
func floorCert(b testing.TB) (certPEM, keyPEM string) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "floor"}, DNSNames: []string{"floor"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}
