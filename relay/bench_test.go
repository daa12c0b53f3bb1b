package relay

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/hop"
)

// chainBytes is what one op of BenchmarkChainThroughput moves.
const chainBytes = 64 << 20

// sinkServer accepts connections and discards what they send; at EOF it
// answers one byte, so the sender knows everything arrived.
func sinkServer(b testing.TB) string {
	return tcpServer(b, func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.Write([]byte{1})
	})
}

// hopwireChain starts r1, r2 and a target (TLS links) and returns a
// dialer function for connections exiting at the target.
func hopwireChain(b testing.TB, dest string) func(ctx context.Context) (net.Conn, func(), error) {
	client := newIdentity(b, "client")
	target := startNode(b, "target", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+dest)
	r2 := startNode(b, "r2", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+hostPort(b, target.url))
	r1 := startNode(b, "r1", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+hostPort(b, r2.url))
	d := dialer(client, r1, r2, target)
	via := []hop.Addr{mustAddr(b, r1.url), mustAddr(b, r2.url)}
	t := mustAddr(b, target.url)
	return func(ctx context.Context) (net.Conn, func(), error) {
		route, err := d.Dial(ctx, via, t)
		if err != nil {
			return nil, nil, err
		}
		c, err := route.DialContext(ctx, "tcp", dest)
		if err != nil {
			route.Close()
			return nil, nil, err
		}
		return c, func() { c.Close(); route.Close() }, nil
	}
}

// spliceChain starts three plain TCP splice proxies in a row in front of
// dest: the floor of any relay chain.
func spliceChain(b testing.TB, dest string) func(ctx context.Context) (net.Conn, func(), error) {
	next := dest
	for range 3 {
		next = spliceProxy(b, next)
	}
	front := next
	return func(ctx context.Context) (net.Conn, func(), error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", front)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
}

func spliceProxy(b testing.TB, dest string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", dest)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				io.Copy(out, c)
				out.(*net.TCPConn).CloseWrite()
			}()
			go func() {
				defer wg.Done()
				io.Copy(c, out)
				c.Close()
				out.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

type chainDialer func(ctx context.Context) (net.Conn, func(), error)

// BenchmarkChainThroughput pushes 64 MiB per op through a chain of two
// relays to a target, which forwards it to a sink (a -L style forward),
// beside three plain TCP splice proxies in the same run.
func BenchmarkChainThroughput(b *testing.B) {
	for _, v := range []struct {
		name  string
		chain func(testing.TB, string) func(context.Context) (net.Conn, func(), error)
	}{{"hopwire", hopwireChain}, {"splice", spliceChain}} {
		b.Run(v.name, func(b *testing.B) {
			dial := chainDialer(v.chain(b, sinkServer(b)))
			buf := make([]byte, 32<<10)
			b.SetBytes(chainBytes)
			b.ResetTimer()
			for range b.N {
				c, done, err := dial(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				for sent := 0; sent < chainBytes; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				c.(interface{ CloseWrite() error }).CloseWrite()
				if _, err := io.ReadFull(c, buf[:1]); err != nil {
					b.Fatal(err)
				}
				done()
			}
		})
	}
}

// BenchmarkChainRTT: a 64-byte ping-pong through the chain to an echo
// server behind the target.
func BenchmarkChainRTT(b *testing.B) {
	for _, v := range []struct {
		name  string
		chain func(testing.TB, string) func(context.Context) (net.Conn, func(), error)
	}{{"hopwire", hopwireChain}, {"splice", spliceChain}} {
		b.Run(v.name, func(b *testing.B) {
			dial := chainDialer(v.chain(b, echoServer(b)))
			c, done, err := dial(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			defer done()
			msg := make([]byte, 64)
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChainSetup: a cold chain of three TLS hops to the first byte
// through it.
func BenchmarkChainSetup(b *testing.B) {
	b.Run("hopwire", func(b *testing.B) {
		dial := chainDialer(hopwireChain(b, echoServer(b)))
		msg := []byte{1}
		b.ResetTimer()
		for range b.N {
			ctx, cancel := context.WithTimeout(b.Context(), 10*time.Second)
			c, done, err := dial(ctx)
			if err == nil {
				if _, err = c.Write(msg); err == nil {
					_, err = io.ReadFull(c, msg)
				}
				done()
			}
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutGet moves a file through client → r1 → r2 → target with
// classic administration (put: WriteFile, streamed; get: ReadFile), beside
// the chain's raw stream (a forward to a sink) in the same run.
func BenchmarkPutGet(b *testing.B) {
	const size = 256 << 20
	client := newIdentity(b, "client")
	sink := sinkServer(b)
	target := startNode(b, "target", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:classic", "client:connect="+sink)
	r2 := startNode(b, "r2", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+hostPort(b, target.url))
	r1 := startNode(b, "r1", "tls://127.0.0.1:0", []*certs.Identity{client}, "client:connect="+hostPort(b, r2.url))
	d := dialer(client, r1, r2, target)
	route, err := d.Dial(b.Context(), []hop.Addr{mustAddr(b, r1.url), mustAddr(b, r2.url)}, mustAddr(b, target.url))
	if err != nil {
		b.Fatal(err)
	}
	defer route.Close()
	c := classic.New(route.Target())
	file := filepath.Join(b.TempDir(), "f")
	b.Run("put", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			if _, err := c.WriteFile(b.Context(), file, io.LimitReader(zeroReader{}, size), 0o600); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			r, err := c.ReadFile(b.Context(), file, 0)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, r)
			r.Close()
			if err != nil || n != size {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("stream", func(b *testing.B) {
		buf := make([]byte, 32<<10)
		b.SetBytes(size)
		for range b.N {
			conn, err := route.DialContext(b.Context(), "tcp", sink)
			if err != nil {
				b.Fatal(err)
			}
			for sent := 0; sent < size; sent += len(buf) {
				if _, err := conn.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			conn.(interface{ CloseWrite() error }).CloseWrite()
			io.ReadFull(conn, buf[:1])
			conn.Close()
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
