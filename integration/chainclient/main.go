// Command chainclient is a test program: it dials a chain with the hopwire
// library and exercises it (RPC through the node service, a forwarded TCP
// connection with a checked transfer). Integration tests run it inside a
// network namespace.
//
// With -streams N it runs N forwarded connections at once, each checked on
// its own. It prints "mark" when every stream has received -mark of its
// bytes (a test injects a fault then), and for a stream that fails
// "stream I failed at UNIXNANO after M bytes (prefix intact: BOOL): ERR",
// so a test can tell how long the failure took to notice.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

func main() {
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	var o options
	flag.StringVar(&o.home, "home", "", "hopwire home of the client")
	flag.StringVar(&o.jump, "J", "", "jump hops")
	flag.StringVar(&o.target, "target", "", "target hop")
	flag.StringVar(&o.forward, "forward", "", "HOST:PORT to reach from the target; sends -bytes and expects them echoed")
	flag.Int64Var(&o.n, "bytes", 1<<20, "bytes to send through each forwarded connection")
	flag.IntVar(&o.streams, "streams", 1, "forwarded connections at once")
	flag.Float64Var(&o.mark, "mark", 0, "print \"mark\" once every stream has received this fraction of its bytes")
	flag.DurationVar(&o.keepalive, "keepalive", 0, "keepalive interval of the links (timeout 3x)")
	flag.Parse()
	if err := run(&o); err != nil {
		fmt.Fprintln(os.Stderr, "chainclient:", err)
		os.Exit(1)
	}
}

type options struct {
	home, jump, target, forward string
	n                           int64
	streams                     int
	mark                        float64
	keepalive                   time.Duration
}

func run(o *options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	via, err := hop.ParseChain(o.jump)
	if err != nil {
		return err
	}
	t, err := hop.Parse(o.target)
	if err != nil {
		return err
	}
	// The library's front door: identity and known_nodes from -home.
	opts := &hopwire.Options{Home: o.home, ConnectTimeout: 5 * time.Minute}
	if o.keepalive > 0 {
		opts.Link = &session.LinkConfig{KeepAlive: o.keepalive, KeepAliveTimeout: 3 * o.keepalive}
	}
	c, err := hopwire.DialChain(ctx, via, t, opts)
	if err != nil {
		return err
	}
	route := c.Route()
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
	if o.forward == "" {
		return nil
	}
	var (
		wg      sync.WaitGroup
		marked  atomic.Int32
		failed  atomic.Int32
		printMu sync.Mutex
	)
	start := time.Now()
	for i := range o.streams {
		wg.Go(func() {
			err := transfer(ctx, route, o, func() {
				if int(marked.Add(1)) == o.streams {
					printMu.Lock()
					fmt.Println("mark")
					printMu.Unlock()
				}
			})
			printMu.Lock()
			defer printMu.Unlock()
			if err != nil {
				failed.Add(1)
				fmt.Printf("stream %d %v\n", i, err)
				return
			}
			fmt.Printf("stream %d ok\n", i)
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("forward: %d of %d streams failed", n, o.streams)
	}
	total := o.n * int64(o.streams)
	fmt.Printf("forward %d bytes ok %.0f MiB/s\n", total, float64(total)/(1<<20)/time.Since(start).Seconds())
	return nil
}

// transfer sends o.n pattern bytes on one forwarded connection and checks
// the echo; mark runs once the echo passes o.mark of them.
func transfer(ctx context.Context, route *hop.Route, o *options, mark func()) error {
	c, err := route.DialContext(ctx, "tcp", o.forward)
	if err != nil {
		return fmt.Errorf("failed at %d after 0 bytes (prefix intact: true): %w", time.Now().UnixNano(), err)
	}
	defer c.Close()
	sent := sha256.New()
	go func() {
		io.Copy(io.MultiWriter(c, sent), io.LimitReader(&pattern{}, o.n))
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got := sha256.New()
	check := &prefixChecker{}
	var w io.Writer = io.MultiWriter(got, check)
	if o.mark > 0 {
		w = &marker{w: w, at: int64(o.mark * float64(o.n)), fn: mark}
	}
	m, err := io.Copy(w, c)
	if err != nil {
		// Whatever arrived must be exactly what was sent, in order.
		return fmt.Errorf("failed at %d after %d bytes (prefix intact: %v): %w", time.Now().UnixNano(), m, check.ok(), err)
	}
	if m != o.n || hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(sent.Sum(nil)) {
		return fmt.Errorf("failed at %d after %d bytes (prefix intact: %v): %d of %d bytes, digests differ", time.Now().UnixNano(), m, check.ok(), m, o.n)
	}
	return nil
}

// marker calls fn once at bytes have passed through it.
type marker struct {
	w    io.Writer
	at   int64
	n    int64
	fn   func()
	done bool
}

func (m *marker) Write(b []byte) (int, error) {
	n, err := m.w.Write(b)
	m.n += int64(n)
	if !m.done && m.n >= m.at {
		m.done = true
		m.fn()
	}
	return n, err
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
