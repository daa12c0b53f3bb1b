package hop

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hopwire/hopwire/session"
)

// pipeRoute is a one-hop route over an in-memory link; it breaks when the
// returned function closes the far side.
func pipeRoute(t *testing.T) (*Route, func()) {
	a, b := net.Pipe()
	cl, sl := overConns(t, a, b)
	ctx := t.Context()
	far := make(chan *session.Conn, 1)
	go func() {
		c, err := session.NewConn(ctx, sl, nil)
		if err != nil {
			t.Error(err)
		}
		far <- c
	}()
	c, err := session.NewConn(ctx, cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	fc := <-far
	t.Cleanup(func() { c.Close(); fc.Close() })
	return &Route{Hops: []*Hop{{Conn: c}}}, func() { fc.Close() }
}

// A Redialer hands out its route until it breaks, then dials once for all
// the callers that arrive, and refuses everything after Close.
func TestRedialer(t *testing.T) {
	var dials atomic.Int32
	var breakFns []func()
	var mu sync.Mutex
	rd := NewRedialer(nil, func(ctx context.Context) (*Route, error) {
		dials.Add(1)
		r, brk := pipeRoute(t)
		mu.Lock()
		breakFns = append(breakFns, brk)
		mu.Unlock()
		return r, nil
	})
	ctx := t.Context()
	r1, err := rd.Route(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := rd.Route(ctx); r != r1 || dials.Load() != 1 {
		t.Fatalf("a live route was dialed again (%d dials)", dials.Load())
	}
	mu.Lock()
	breakFns[0]()
	mu.Unlock()
	<-r1.Done()
	var wg sync.WaitGroup
	got := make([]*Route, 8)
	for i := range got {
		wg.Go(func() { got[i], _ = rd.Route(ctx) })
	}
	wg.Wait()
	for _, r := range got {
		if r == nil || r == r1 || r != got[0] {
			t.Fatalf("after the break, callers got %v (old %p)", got, r1)
		}
	}
	if n := dials.Load(); n != 2 {
		t.Fatalf("%d dials for one break, want 2 in all", n)
	}
	rd.Close()
	select {
	case <-got[0].Done():
	default:
		t.Fatal("Close left the route open")
	}
	if _, err := rd.Route(ctx); !errors.Is(err, ErrRedialerClosed) {
		t.Fatalf("Route after Close: %v", err)
	}
}

// A failed dial is returned, and the next call tries again.
func TestRedialerDialFails(t *testing.T) {
	boom := errors.New("hop 1 is down")
	fail := true
	rd := NewRedialer(nil, func(ctx context.Context) (*Route, error) {
		if fail {
			return nil, boom
		}
		r, _ := pipeRoute(t)
		return r, nil
	})
	defer rd.Close()
	if _, err := rd.Route(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	fail = false
	if r, err := rd.Route(t.Context()); err != nil || r == nil {
		t.Fatalf("second try: %v", err)
	}
}
