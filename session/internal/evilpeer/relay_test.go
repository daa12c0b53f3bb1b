package evilpeer_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/internal/evilpeer"
	htls "github.com/hopwire/hopwire/transport/tls"
)

// netEvilSvc is the service evilpeer.Violations expects.
type netEvilSvc struct{}

func (netEvilSvc) Echo(v any) any   { return v }
func (netEvilSvc) Add(a, b int) int { return a + b }
func (netEvilSvc) Block(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// logBuf collects a relay's log, so that tests can look for the error a
// violation was refused with.
type logBuf struct {
	mu sync.Mutex
	b  []byte
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *logBuf) tail(off int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b[off:])
}

func (l *logBuf) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.b)
}

// waitFor waits until the log after off holds one of the words.
func (l *logBuf) waitFor(off int, timeout time.Duration, words ...string) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		tail := l.tail(off)
		for _, w := range words {
			if strings.Contains(tail, w) {
				return true
			}
		}
	}
	return false
}

func identity(t *testing.T, name string) *certs.Identity {
	t.Helper()
	id, err := certs.LoadOrCreate(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestEvilPeerRelay is scenario 11 over the network: every violation of
// the evil peer against a real relay's TLS listener, before
// authentication (over raw TCP, and after a TLS handshake with an identity
// the relay does not trust) and after it (mutual TLS with a trusted
// identity). Before authentication every attempt is cut off at the
// transport, within the handshake deadline. After it, a fatal violation
// closes the conn and any other leaves the link up; throughout, a good
// client of the same relay keeps calling.
func TestEvilPeerRelay(t *testing.T) {
	const hsTimeout = time.Second
	good, evil, stranger := identity(t, "good"), identity(t, "evil"), identity(t, "stranger")
	nodeID := identity(t, "relay")
	logs := &logBuf{}
	srv, err := relay.New(&relay.Options{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Name:   "relay", Identity: nodeID,
		Trust:            certs.Trust{Store: certs.StoreOf(good, evil)},
		Listen:           []string{"tls://127.0.0.1:0"},
		HandshakeTimeout: hsTimeout,
		Link:             &session.LinkConfig{HandshakeTimeout: hsTimeout, OpenTimeout: 2 * time.Second},
		Services: func(session.Peer) map[string]any {
			return map[string]any{evilpeer.ServiceName: netEvilSvc{}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url := srv.Addrs()[0]
	target, err := hop.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	addr := target.HostPort()

	// The good client keeps calling until the test ends.
	d := &hop.Dialer{Identity: good, Trust: func(hop.Addr) certs.Trust {
		return certs.Trust{Pinned: []string{nodeID.Fingerprint()}}
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	route, err := d.Dial(ctx, nil, target)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { route.Close() })
	var calls atomic.Int64
	goodErr := make(chan error, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n, err := session.Call[int](ctx, route.Target().Service(evilpeer.ServiceName), "Add", i, 1)
			cancel()
			if err == nil && n != i+1 {
				err = errors.New("wrong sum")
			}
			if err != nil {
				goodErr <- err
				return
			}
			calls.Add(1)
		}
	})
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
	checkGood := func(t *testing.T) {
		t.Helper()
		select {
		case err := <-goodErr:
			t.Fatalf("the good client failed: %v", err)
		default:
		}
		n := calls.Load()
		for end := time.Now().Add(6 * time.Second); calls.Load() == n; time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("the good client stopped making calls")
			}
		}
	}

	// sessions waits until the relay holds n RPC sessions.
	sessions := func(t *testing.T, n int) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); srv.State().Sessions != n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("the relay holds %d sessions, want %d", srv.State().Sessions, n)
			}
		}
	}

	clientTLS := func(id *certs.Identity) func(t *testing.T) net.Conn {
		return func(t *testing.T) net.Conn {
			cfg, err := certs.ClientConfig(id, certs.Trust{Pinned: []string{nodeID.Fingerprint()}}, "")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			c, err := htls.Dial(ctx, addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	rawTCP := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	for _, mode := range []struct {
		name string
		dial func(t *testing.T) net.Conn
		auth bool
	}{
		{"pre-auth/tcp", rawTCP, false},
		{"pre-auth/untrusted-tls", clientTLS(stranger), false},
		{"post-auth", clientTLS(evil), true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for _, v := range evilpeer.Violations() {
				t.Run(v.Name, func(t *testing.T) {
					p := evilpeer.New(mode.dial(t))
					defer p.Close()
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					defer cancel()
					if !mode.auth {
						// Nothing gets past the transport: the violation
						// (or the steps leading to it) is cut off there.
						if v.Stage == evilpeer.StageConnect {
							v.Run(ctx, p, nil)
						} else if _, err := v.Setup(ctx, p); err == nil {
							t.Fatal("an unauthenticated peer got through the hello")
						}
						if !p.WaitClosed(hsTimeout + 2*time.Second) {
							t.Fatal("the relay did not close an unauthenticated conn")
						}
						sessions(t, 1) // the good client's, no other
						checkGood(t)
						return
					}
					rpc, err := v.Setup(ctx, p)
					if err != nil {
						t.Fatalf("setup to stage %v: %v", v.Stage, err)
					}
					off := logs.len()
					if err := v.Run(ctx, p, rpc); err != nil {
						t.Errorf("violation: %v", err)
					}
					if v.Fatal {
						if !p.WaitClosed(hsTimeout + 2*time.Second) {
							t.Fatal("fatal violation: the relay did not close the conn")
						}
						// The relay says why, in so many words.
						if !logs.waitFor(off, 2*time.Second, "protocol violation", "handshake failed", "protocol error", "aborted by peer") {
							t.Errorf("no clear protocol error in the relay's log:\n%s", logs.tail(off))
						}
						sessions(t, 1) // the evil session is gone
					} else {
						if err := v.CheckAlive(ctx, p, rpc); err != nil {
							t.Fatalf("after a non-fatal violation: %v", err)
						}
						if v.Stage == evilpeer.StageRPC {
							sessions(t, 2) // the evil session lives on
						}
					}
					checkGood(t)
				})
			}
		})
	}
}
