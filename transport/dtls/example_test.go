package dtls_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/transport/dtls"
)

// A node and a client that pin each other's fingerprints exchange a
// message over loopback DTLS.
func Example() {
	dir, err := os.MkdirTemp("", "hopwire-dtls-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	node, err := certs.LoadOrCreate(filepath.Join(dir, "node"), "r1")
	if err != nil {
		log.Fatal(err)
	}
	alice, err := certs.LoadOrCreate(filepath.Join(dir, "alice"), "alice")
	if err != nil {
		log.Fatal(err)
	}
	scfg, err := certs.ServerConfig(node, certs.Trust{Pinned: []string{alice.Fingerprint()}})
	if err != nil {
		log.Fatal(err)
	}
	ccfg, err := certs.ClientConfig(alice, certs.Trust{Pinned: []string{node.Fingerprint()}}, "r1")
	if err != nil {
		log.Fatal(err)
	}

	ln, err := dtls.Listen("127.0.0.1:0", scfg, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.AcceptContext(context.Background())
		if err != nil {
			return
		}
		defer c.Close()
		name, _ := certs.PeerFromState(c.ConnectionState())
		msg, _ := io.ReadAll(c) // until the client's CloseWrite
		fmt.Fprintf(c, "hello %s, you said %q", name, msg)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dtls.Dial(ctx, ln.Addr().String(), ccfg, nil)
	if err != nil {
		log.Fatal(err) // e.g. a *certs.MismatchError if the node is not r1
	}
	defer c.Close()
	io.WriteString(c, "ping")
	c.CloseWrite()
	reply, _ := io.ReadAll(c)
	fmt.Println(string(reply))
	<-done
	// Output: hello alice, you said "ping"
}
