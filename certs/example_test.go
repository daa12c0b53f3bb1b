package certs_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/hopwire/hopwire/certs"
)

// A fleet CA issues a node certificate and a client certificate; each side
// trusts the CA and learns the other's principal from the handshake.
func Example() {
	dir, err := os.MkdirTemp("", "hopwire-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ca, err := certs.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		log.Fatal(err)
	}
	issue := func(name string) *certs.Identity {
		certPEM, keyPEM, err := ca.Issue(name, []string{"127.0.0.1"}, 0)
		if err != nil {
			log.Fatal(err)
		}
		id, err := certs.ParseIdentity(certPEM, keyPEM)
		if err != nil {
			log.Fatal(err)
		}
		return id
	}
	node, alice := issue("r1"), issue("alice")
	trust := certs.Trust{Pool: ca.Pool()}

	serverCfg, err := certs.ServerConfig(node, trust)
	if err != nil {
		log.Fatal(err)
	}
	clientCfg, err := certs.ClientConfig(alice, trust, "r1")
	if err != nil {
		log.Fatal(err)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	done := make(chan string)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			done <- err.Error()
			return
		}
		name, _ := certs.PeerFromState(tc.ConnectionState())
		io.WriteString(tc, "hello "+name)
		done <- "server sees " + name
	}()

	c, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	name, _ := certs.PeerFromState(c.ConnectionState())
	msg, _ := io.ReadAll(io.LimitReader(c, 11))
	fmt.Println("client sees", name)
	fmt.Println(<-done)
	fmt.Println(string(msg))
	// Output:
	// client sees r1
	// server sees alice
	// hello alice
}

func ExampleParseFingerprint() {
	fp, err := certs.ParseFingerprint("  47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
	fmt.Println(fp, err)
	_, err = certs.ParseFingerprint("SHA256:too-short")
	fmt.Println(err)
	// Output:
	// SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU <nil>
	// certs: invalid fingerprint "SHA256:too-short": want SHA256: and the base64 of 32 bytes
}

func ExampleMatches() {
	fp := "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"
	for _, rule := range []string{"*", "alice", "bob", "fp:" + fp} {
		fmt.Println(rule, certs.Matches(rule, "alice", fp))
	}
	// Output:
	// * true
	// alice true
	// bob false
	// fp:SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU true
}
