package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	hssh "github.com/hopwire/hopwire/transport/ssh"
)

// A node's embedded SSH server and a client reaching it over a hopwire
// channel. Keys and files are made up on the spot; in real use the host
// key is the node's identity, authorized_keys lists the clients, and the
// client resolves the node through ~/.ssh/config and ~/.ssh/known_hosts.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hopwire-ssh-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	hostKey, clientKey := exampleKey(), exampleKey()
	authorized := filepath.Join(dir, "authorized_keys")
	os.WriteFile(authorized, ssh.MarshalAuthorizedKey(clientKey.PublicKey()), 0o600)

	// The node.
	ln, err := hssh.Listen(ctx, "127.0.0.1:0", &hssh.ServerConfig{
		HostKeys:           []ssh.Signer{hostKey},
		AuthorizedKeysFile: authorized,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := ln.AcceptContext(ctx)
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Println("node: link from", conn.User(), "authenticated:", conn.PeerFingerprint() == ssh.FingerprintSHA256(clientKey.PublicKey()))
		io.Copy(conn, conn)
	}()

	// The client: the node's host key must be in known_hosts.
	addr := ln.Addr().String()
	knownHosts := filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey.PublicKey())+"\n"), 0o600)
	port, _ := strconv.Atoi(addr[len("127.0.0.1:"):])
	cfg, err := hssh.LoadClientConfig("127.0.0.1", &hssh.ClientOptions{
		Home:            dir,
		ConfigFile:      "none",
		User:            "alice",
		Port:            port,
		Signers:         []ssh.Signer{clientKey},
		KnownHostsFiles: []string{knownHosts},
		AgentSocket:     "none",
	})
	if err != nil {
		log.Fatal(err)
	}
	c, err := hssh.Dial(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	conn, err := c.OpenHopwire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(conn, "ping")
	conn.(*hssh.Conn).CloseWrite()
	reply, _ := io.ReadAll(conn)
	conn.Close()
	<-served
	fmt.Printf("client: echo %q\n", reply)
	// Output:
	// node: link from alice authenticated: true
	// client: echo "ping"
}

func exampleKey() ssh.Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	s, err := ssh.NewSignerFromSigner(priv)
	if err != nil {
		log.Fatal(err)
	}
	return s
}
