// Command chainclient is a test program: it dials a chain with the hopwire
// library and exercises it (RPC through the node service, a forwarded TCP
// connection with a checked transfer). Integration tests run it inside a
// network namespace.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

func main() {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	home := flag.String("home", "", "hopwire home of the client")
	jump := flag.String("J", "", "jump hops")
	target := flag.String("target", "", "target hop")
	forward := flag.String("forward", "", "HOST:PORT to reach from the target; sends -bytes and expects them echoed")
	n := flag.Int64("bytes", 1<<20, "bytes to send through the forward")
	flag.Parse()
	if err := run(*home, *jump, *target, *forward, *n); err != nil {
		fmt.Fprintln(os.Stderr, "chainclient:", err)
		os.Exit(1)
	}
}

func run(home, jump, target, forward string, n int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := certs.LoadOrCreate(home, "")
	if err != nil {
		return err
	}
	known, err := certs.LoadFingerprints(filepath.Join(home, certs.KnownNodesFile))
	if err != nil {
		return err
	}
	via, err := hop.ParseChain(jump)
	if err != nil {
		return err
	}
	t, err := hop.Parse(target)
	if err != nil {
		return err
	}
	d := &hop.Dialer{Identity: id, Trust: func(hop.Addr) certs.Trust { return certs.Trust{Store: known} }}
	route, err := d.Dial(ctx, via, t)
	if err != nil {
		return err
	}
	defer route.Close()
	for i, h := range route.Hops {
		if h.Conn == nil {
			fmt.Printf("hop %d %s bastion %s\n", i+1, h.Transport, h.SSHFingerprint())
			continue
		}
		info, err := session.Call[relay.NodeInfo](ctx, h.Conn.Service("node"), "Info")
		if err != nil {
			return fmt.Errorf("hop %d info: %w", i+1, err)
		}
		fmt.Printf("hop %d %s %s %s\n", i+1, h.Transport, info.Name, info.Peer)
	}
	if forward == "" {
		return nil
	}
	c, err := route.DialContext(ctx, "tcp", forward)
	if err != nil {
		return err
	}
	defer c.Close()
	sent := sha256.New()
	go func() {
		io.Copy(io.MultiWriter(c, sent), io.LimitReader(&pattern{}, n))
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got := sha256.New()
	check := &prefixChecker{}
	start := time.Now()
	m, err := io.Copy(io.MultiWriter(got, check), c)
	if err != nil {
		// Whatever arrived must be exactly what was sent, in order.
		return fmt.Errorf("forward: after %d bytes (prefix intact: %v): %w", m, check.ok(), err)
	}
	if m != n || hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(sent.Sum(nil)) {
		return fmt.Errorf("forward: %d of %d bytes, digests differ", m, n)
	}
	fmt.Printf("forward %d bytes ok %.0f MiB/s\n", m, float64(m)/(1<<20)/time.Since(start).Seconds())
	return nil
}

// pattern yields byte(off*31 + off>>9) at offset off: any prefix of the
// stream can be checked without keeping it.
type pattern struct{ off int64 }

func patternAt(off int64) byte { return byte(off*31 + off>>9) }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = patternAt(p.off + int64(i))
	}
	p.off += int64(len(b))
	return len(b), nil
}

// prefixChecker checks that what it is written is the pattern from 0.
type prefixChecker struct {
	off int64
	bad bool
}

func (c *prefixChecker) Write(b []byte) (int, error) {
	for i := range b {
		if b[i] != patternAt(c.off+int64(i)) {
			c.bad = true
		}
	}
	c.off += int64(len(b))
	return len(b), nil
}

func (c *prefixChecker) ok() bool { return !c.bad }
