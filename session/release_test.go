package session

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/internal/evilpeer"
	"github.com/hopwire/hopwire/session/internal/wire"
)

// tally hands out objects that count the calls that reach them, and
// reports how many references its side still exports.
type tally struct {
	srv  *Conn
	objs []*hits
	mu   sync.Mutex
}

type hits struct{ n atomic.Int64 }

func (h *hits) Hit() int64 { return h.n.Add(1) }

func (s *tally) New() Object {
	h := &hits{}
	s.mu.Lock()
	s.objs = append(s.objs, h)
	s.mu.Unlock()
	return ByRef(h)
}

func (s *tally) Exports() int { return s.srv.NumExports() }

func (s *tally) last() *hits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objs[len(s.objs)-1]
}

func newObj(ctx context.Context, t *testing.T, svc *Ref) *Ref {
	t.Helper()
	var obj *Ref
	res, err := svc.Call(ctx, "New")
	if err == nil {
		err = res.Decode(&obj)
	}
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// wantReleasedHere checks that err is the local refusal of a released
// proxy: ErrUnknownRef, and not an answer of the peer.
func wantReleasedHere(t *testing.T, what string, err error) {
	t.Helper()
	var re *RemoteError
	if !errors.Is(err, ErrUnknownRef) || errors.As(err, &re) {
		t.Fatalf("%s after Release: %v, want a local ErrUnknownRef", what, err)
	}
}

// After Release returns, no call through the proxy, a copy of it, or a
// stub bound to it reaches the object, and the peer has dropped the
// object before it reads the next message.
func TestReleaseIsFinal(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			srv := &tally{srv: sc}
			if err := sc.Expose("tally", srv); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			svc := cc.Service("tally")
			for i := range 500 {
				obj := newObj(ctx, t, svc)
				if n, err := Call[int64](ctx, obj, "Hit"); err != nil || n != 1 {
					t.Fatalf("iteration %d: Hit = %d, %v", i, n, err)
				}
				cp := *obj
				var stub struct {
					Hit func(context.Context) (int64, error)
				}
				if err := obj.Bind(&stub); err != nil {
					t.Fatal(err)
				}
				obj.Release()
				_, err := obj.Call(ctx, "Hit")
				wantReleasedHere(t, "a call", err)
				_, err = cp.Call(ctx, "Hit")
				wantReleasedHere(t, "a call through a copy", err)
				_, err = stub.Hit(ctx)
				wantReleasedHere(t, "a bound stub", err)
				a := cp.Go(ctx, "Hit")
				_, err = a.Wait(ctx)
				wantReleasedHere(t, "an async call", err)
				obj.Release() // again: nothing
				// The release went out ahead of this call: the peer
				// no longer holds the object when it runs it.
				if n, err := Call[int](ctx, svc, "Exports"); err != nil || n != 0 {
					t.Fatalf("iteration %d: the peer still exports %d refs (%v)", i, n, err)
				}
				if n := srv.last().n.Load(); n != 1 {
					t.Fatalf("iteration %d: the object ran %d calls, want 1", i, n)
				}
			}
		})
	}
}

// Calls racing with Release either run or fail with ErrUnknownRef;
// every call that ran returned its result, and every call started after
// Release returned failed here.
func TestReleaseRacingCalls(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			srv := &tally{srv: sc}
			sc.Expose("tally", srv)
			ctx := t.Context()
			svc := cc.Service("tally")
			for i := range 100 {
				obj := newObj(ctx, t, svc)
				var ok atomic.Int64
				var released atomic.Bool
				var wg sync.WaitGroup
				for w := range 4 {
					wg.Go(func() {
						r := obj
						if w%2 == 1 {
							cp := *obj
							r = &cp
						}
						for {
							after := released.Load()
							_, err := r.Call(ctx, "Hit")
							if err == nil {
								if after {
									t.Errorf("iteration %d: a call started after Release ran", i)
								}
								ok.Add(1)
								continue
							}
							if !errors.Is(err, ErrUnknownRef) {
								t.Errorf("iteration %d: %v", i, err)
							}
							return
						}
					})
				}
				for srv.last().n.Load() < int64(i%7) {
					Call[int](ctx, svc, "Exports") // let some calls through
				}
				obj.Release()
				released.Store(true)
				wg.Wait()
				if n, err := Call[int](ctx, svc, "Exports"); err != nil || n != 0 {
					t.Fatalf("iteration %d: the peer still exports %d refs (%v)", i, n, err)
				}
				if ran := srv.last().n.Load(); ran != ok.Load() {
					t.Fatalf("iteration %d: the object ran %d calls, %d succeeded", i, ran, ok.Load())
				}
			}
		})
	}
}

// The peer resolves a call's target in the order of the wire: calls sent
// before a release run, even when they arrive in the same write; calls
// after it reach nothing.
func TestReleaseInWireOrder(t *testing.T) {
	svc := &canarySvc{}
	p, srv := startEvilWith(t, map[string]any{"canary": svc})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := p.Handshake(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	r, err := p.OpenRPC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-srv.done
	if srv.conn == nil {
		t.Fatal(srv.connErr)
	}
	id := uint64(1)
	for i := range 200 {
		obj := refOf(ctx, t, r, id, "canary", "New")
		id++
		before, after := id, id+1
		id += 2
		if err := r.Msgs([][]byte{
			evilpeer.Call(before, obj, "", "Inc", []byte{0x80}),
			wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgRelease, IDs: []uint64{obj}}),
			evilpeer.Call(after, obj, "", "Inc", []byte{0x80}),
		}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			m, err := r.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case m.ID == before && m.Kind != wire.MsgReply:
				t.Fatalf("iteration %d: the call sent before the release: %v %q", i, m.Kind, m.Text)
			case m.ID == after && (m.Kind != wire.MsgError || m.Code != "unknown-ref"):
				t.Fatalf("iteration %d: the call sent after the release: %v %q", i, m.Kind, m.Code)
			}
		}
		if n := svc.calls.Load(); n != int64(i+1) {
			t.Fatalf("iteration %d: the canary counted %d calls, want %d", i, n, i+1)
		}
	}
}

// A copy of a proxy keeps the object: the peer is told to drop it only
// once neither the proxy nor any copy is reachable.
func TestReleaseWhenNoCopyIsLeft(t *testing.T) {
	cc, sc := rpcPair(t, "pipe", nil, nil)
	srv := &tally{srv: sc}
	sc.Expose("tally", srv)
	ctx := t.Context()
	cp := *newObj(ctx, t, cc.Service("tally")) // the proxy itself is garbage at once
	for range 3 {
		runtime.GC()
	}
	if _, err := cp.Call(ctx, "Hit"); err != nil {
		t.Fatalf("a copy after its original was collected: %v", err)
	}
	if n := sc.NumExports(); n != 1 {
		t.Fatalf("the peer exports %d refs, want 1", n)
	}
	runtime.KeepAlive(cp)
	waitFor(t, func() bool {
		runtime.GC()
		return sc.NumExports() == 0
	})
}
