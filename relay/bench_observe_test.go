package relay

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/session"
)

// BenchmarkObservability measures what a node's observability costs
// (issue 17): the chain throughput of BenchmarkChainThroughput and a null
// call through two relays, with every node's access records and logs off
// (a discarding logger, no admin listener) and on (JSON records at info
// level to a file, as a node writes them for journald; an admin listener
// whose /metrics a scraper reads every 100 ms, far more often than a
// Prometheus server would). The counters behind /metrics are kept either
// way: they are atomic adds per connection, handshake and decision, none
// per byte of a TCP connection.
func BenchmarkObservability(b *testing.B) {
	for _, on := range []bool{false, true} {
		suffix := map[bool]string{false: "off", true: "on"}[on]
		b.Run("throughput-"+suffix, func(b *testing.B) {
			dial, _ := observedChain(b, on, sinkServer(b))
			b.SetBytes(chainBytes)
			b.ResetTimer()
			for range b.N {
				sendToSink(b, dial, chainBytes)
			}
		})
		b.Run("nullcall-"+suffix, func(b *testing.B) {
			_, route := observedChain(b, on, sinkServer(b))
			svc := route.Target().Service("null")
			ctx := b.Context()
			if _, err := session.Call[int](ctx, svc, "Null", 1); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if n, err := session.Call[int](ctx, svc, "Null", i); err != nil || n != i {
					b.Fatal(n, err)
				}
			}
		})
	}
}

// observedChain starts r1 → r2 → target (TLS), with observability on or
// off, and returns a dialer of connections to dest through it and one
// route, dialed, for calls to the target's null service.
func observedChain(b *testing.B, on bool, dest string) (chainDialer, *hop.Route) {
	client := newIdentity(b, "client")
	set := func(o *Options) {
		o.Services = func(session.Peer) map[string]any { return map[string]any{"null": nullSvc{}} }
		if !on {
			return
		}
		f, err := os.Create(filepath.Join(b.TempDir(), o.Name+".log"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		o.Logger = slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo}))
		o.Admin = "127.0.0.1:0"
	}
	var nodes []*testNode
	next := dest
	for i, name := range []string{"target", "r2", "r1"} {
		n := startNodeWith(b, name, "tls://127.0.0.1:0", []*certs.Identity{client}, set, "client:connect="+next)
		nodes = append([]*testNode{n}, nodes...)
		next = hostPort(b, n.url)
		if on {
			scrapeEvery(b, n.srv.AdminURL()+"/metrics", i)
		}
	}
	d := dialer(client, nodes...)
	via := []hop.Addr{mustAddr(b, nodes[0].url), mustAddr(b, nodes[1].url)}
	route, err := d.Dial(b.Context(), via, mustAddr(b, nodes[2].url))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { route.Close() })
	return routeDialer(d, via, mustAddr(b, nodes[2].url), dest), route
}

// scrapeEvery reads url every 100 ms until the benchmark ends, as a
// Prometheus server would (but more often); the scrapes of the nodes are
// staggered by i.
func scrapeEvery(b *testing.B, url string, i int) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	client := &http.Client{Transport: &http.Transport{}}
	b.Cleanup(client.CloseIdleConnections)
	wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(i) * scrapeInterval / 3):
		}
		t := time.NewTicker(scrapeInterval)
		defer t.Stop()
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("scrape %s: %s", url, resp.Status)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// scrapeInterval is how often the benchmark's scraper reads /metrics.
const scrapeInterval = 100 * time.Millisecond
