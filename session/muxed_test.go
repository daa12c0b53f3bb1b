package session

import (
	"context"
	"net"
	"testing"

	"github.com/xtaci/smux"
)

// smuxAsMuxer presents an smux session as a natively multiplexed
// connection, to test NewMuxedLink without a QUIC stack.
type smuxAsMuxer struct{ s *smux.Session }

func (m smuxAsMuxer) OpenStream(ctx context.Context) (net.Conn, error) { return m.s.OpenStream() }
func (m smuxAsMuxer) AcceptStream(ctx context.Context) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		st, err := m.s.AcceptStream()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		ch <- res{st, nil}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		m.s.Close()
		r := <-ch
		if r.c != nil {
			r.c.Close()
		}
		return nil, ctx.Err()
	}
}
func (m smuxAsMuxer) Close() error { return m.s.Close() }

func muxedPair(t testing.TB) (*Link, *Link) {
	a, b := connPair(t, "tcp")
	cfg := smux.DefaultConfig()
	cfg.Version = 2
	cs, _ := smux.Client(a, cfg)
	ss, _ := smux.Server(b, cfg)
	ch := make(chan *Link, 1)
	go func() {
		l, err := NewMuxedLink(smuxAsMuxer{ss}, Server, &LinkConfig{Name: "srv"})
		if err != nil {
			t.Error(err)
		}
		ch <- l
	}()
	cl, err := NewMuxedLink(smuxAsMuxer{cs}, Client, &LinkConfig{Name: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	sl := <-ch
	if sl == nil {
		t.FailNow()
	}
	t.Cleanup(func() {
		cl.Close()
		sl.Close()
	})
	return cl, sl
}

func TestMuxedLink(t *testing.T) {
	cl, sl := muxedPair(t)
	if cl.Peer().Name != "srv" || sl.Peer().Name != "cli" {
		t.Fatalf("peers %q %q", cl.Peer().Name, sl.Peer().Name)
	}
	if _, err := cl.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *Conn, 1)
	go func() {
		c, err := NewConn(context.Background(), sl, nil)
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	cc, err := NewConn(t.Context(), cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc := <-ch
	defer sc.Close()
	sc.Expose("calc", &calc{})
	double := func(x int) int { return 2 * x }
	if n, err := Call[int](t.Context(), cc.Service("calc"), "Apply", func(ctx context.Context, x int) (int, error) { return double(x), nil }, 4); err != nil || n != 8 {
		t.Fatalf("Apply over a muxed link = %d %v", n, err)
	}
}
