package session

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/internal/evilpeer"
)

// evilSvc is the service evilpeer.Violations expects.
type evilSvc struct{ calls atomic.Int64 }

func (s *evilSvc) Echo(v any) any { s.calls.Add(1); return v }
func (s *evilSvc) Add(a, b int) int {
	s.calls.Add(1)
	return a + b
}
func (s *evilSvc) Block(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// evilServer is the server side of a link the evil peer drives: a Link
// and a Conn, as a relay builds them.
type evilServer struct {
	done    chan struct{} // NewLink and NewConn have returned
	linkErr error
	conn    *Conn
	connErr error
}

// evilLinkConfig is the server's link configuration: short handshake and
// open timeouts, so that a silent peer is dropped fast.
func evilLinkConfig() *LinkConfig {
	return &LinkConfig{Name: "server", HandshakeTimeout: time.Second, OpenTimeout: 2 * time.Second}
}

func startEvil(t *testing.T) (*evilpeer.Peer, *evilServer) {
	return startEvilWith(t, map[string]any{evilpeer.ServiceName: &evilSvc{}})
}

func startEvilWith(t *testing.T, services map[string]any) (*evilpeer.Peer, *evilServer) {
	t.Helper()
	a, b := connPair(t, "tcp")
	srv := &evilServer{done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		l, err := NewLink(b, Server, evilLinkConfig())
		if err != nil {
			srv.linkErr = err
			return
		}
		// Long enough for a violation at the link stage (a flood of
		// streams) to finish before the RPC stream is due.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.conn, srv.connErr = NewConn(ctx, l, &Options{Services: services})
	}()
	p := evilpeer.New(a)
	t.Cleanup(func() {
		p.Close()
		<-srv.done
		if srv.conn != nil {
			srv.conn.Close()
		}
	})
	return p, srv
}

// err returns why the server side ended (or nil while it is up).
func (s *evilServer) err() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	if s.linkErr != nil {
		return s.linkErr
	}
	if s.connErr != nil {
		return s.connErr
	}
	return s.conn.Err()
}

// waitErr waits for the server side to end.
func (s *evilServer) waitErr(timeout time.Duration) error {
	deadline := time.After(timeout)
	select {
	case <-s.done:
	case <-deadline:
		return nil
	}
	if s.conn == nil {
		return s.err()
	}
	select {
	case <-s.conn.Done():
		return s.conn.Err()
	case <-deadline:
		return nil
	}
}

// goodClient is another session of the same process that keeps calling
// while the evil peer works; gate stops it while allocations are
// measured.
type goodClient struct {
	gate  sync.RWMutex
	calls atomic.Int64
	errs  chan error
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startGoodClient(t *testing.T) *goodClient {
	cc, sc := rpcPair(t, "tcp", nil, nil)
	sc.Expose("calc", &calc{})
	g := &goodClient{errs: make(chan error, 1), stop: make(chan struct{})}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-g.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			g.gate.RLock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n, err := Call[int](ctx, cc.Service("calc"), "Add", i, 1)
			cancel()
			g.gate.RUnlock()
			if err == nil && n != i+1 {
				err = errors.New("wrong sum")
			}
			if err != nil {
				select {
				case g.errs <- err:
				default:
				}
				return
			}
			g.calls.Add(1)
		}
	}()
	t.Cleanup(func() {
		close(g.stop)
		g.wg.Wait()
	})
	return g
}

// check fails t if the good client failed, and checks it still calls.
func (g *goodClient) check(t *testing.T) {
	t.Helper()
	select {
	case err := <-g.errs:
		t.Fatalf("the good session failed: %v", err)
	default:
	}
	n := g.calls.Load()
	deadline := time.Now().Add(6 * time.Second)
	for g.calls.Load() == n {
		if time.Now().After(deadline) {
			t.Fatal("the good session stopped making calls")
		}
		time.Sleep(time.Millisecond)
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// Allocation bounds of one violation, whatever it declares: a declared
// size must cost nothing in proportion to it.
const (
	maxAllocDeclared = 1 << 20  // a violation that declares a size
	maxAllocOther    = 16 << 20 // floods and the rest
)

// wantClearError reports whether err says plainly that the peer broke
// the protocol.
func wantClearError(v *evilpeer.Violation, err error) bool {
	var se *StreamError
	switch {
	case v.Stage == evilpeer.StageConnect:
		return errors.Is(err, ErrHandshake)
	case v.Name == "rpc/abort-rpc-stream":
		return errors.As(err, &se) && se.Remote
	case errors.As(err, &se) && se.Code == AbortProtocol:
		return true
	}
	return errors.Is(err, ErrProtocol)
}

// TestEvilPeer is scenario 11 in process: each violation of the evil
// peer against a server Link and Conn. A fatal violation ends the link
// with a clear protocol error within a second (or the handshake timeout);
// any other leaves the link up and answers on the spot. No violation
// allocates in proportion to a size it declares, and a good session of
// the same process keeps calling throughout.
func TestEvilPeer(t *testing.T) {
	good := startGoodClient(t)
	for _, v := range evilpeer.Violations() {
		t.Run(v.Name, func(t *testing.T) {
			p, srv := startEvil(t)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			rpc, err := v.Setup(ctx, p)
			if err != nil {
				t.Fatalf("setup to stage %v: %v", v.Stage, err)
			}
			if v.Stage == evilpeer.StageRPC {
				// The RPC stream is up: the server Conn exists.
				<-srv.done
			}
			good.gate.Lock()
			runtime.GC()
			before := totalAlloc()
			runErr := v.Run(ctx, p, rpc)
			closed := false
			if v.Fatal {
				closed = p.WaitClosed(3 * time.Second)
			} else {
				time.Sleep(20 * time.Millisecond) // let the server act on it
			}
			alloc := totalAlloc() - before
			good.gate.Unlock()

			if runErr != nil {
				t.Errorf("violation: %v", runErr)
			}
			limit := uint64(maxAllocOther)
			if raceEnabled {
				limit *= 16
			}
			if v.Declared > 0 {
				limit = maxAllocDeclared
			}
			if alloc > limit {
				t.Errorf("allocated %d bytes (limit %d; declared %d)", alloc, limit, v.Declared)
			}
			if v.Fatal {
				if !closed {
					t.Fatalf("fatal violation: the server did not close the conn (server: %v)", srv.err())
				}
				err := srv.waitErr(2 * time.Second)
				if err == nil {
					t.Fatal("the conn closed but the server side did not end")
				}
				if !wantClearError(&v, err) {
					t.Errorf("server ended with %v, want a clear protocol error", err)
				}
				if strings.Contains(err.Error(), "%!") {
					t.Errorf("badly formatted error: %v", err)
				}
			} else {
				if err := v.CheckAlive(ctx, p, rpc); err != nil {
					t.Fatalf("after a non-fatal violation: %v (server: %v)", err, srv.err())
				}
				if err := srv.err(); err != nil {
					t.Fatalf("server ended: %v", err)
				}
			}
			good.check(t)
		})
	}
}
