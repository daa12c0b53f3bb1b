package session

import (
	"context"
	mrand "math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/internal/evilpeer"
	"github.com/hopwire/hopwire/session/internal/wire"
)

// canary counts every call that reaches it, by method or as a func.
type canary struct{ calls *atomic.Int64 }

func (c *canary) Inc() { c.calls.Add(1) }

type canarySvc struct{ calls atomic.Int64 }

func (s *canarySvc) New() Object { return ByRef(&canary{&s.calls}) }
func (s *canarySvc) Func() func() {
	return func() { s.calls.Add(1) }
}

// refOf calls service.method on the raw RPC stream and returns the
// reference id of its single result.
func refOf(ctx context.Context, t *testing.T, r *evilpeer.RPC, id uint64, service, method string) uint64 {
	t.Helper()
	if err := r.Msg(evilpeer.Call(id, 0, service, method, []byte{0x80})); err != nil {
		t.Fatal(err)
	}
	m, err := r.WaitReply(ctx, id)
	if err != nil || m.Kind != wire.MsgReply {
		t.Fatalf("%s.%s: %v %+v", service, method, err, m)
	}
	items, err := splitArray(m.Body, 1)
	if err != nil || len(items) != 1 {
		t.Fatalf("%s.%s: result %x: %v", service, method, m.Body, err)
	}
	wr, ok, err := parseRef(items[0])
	if !ok || err != nil {
		t.Fatalf("%s.%s: not a reference: %x %v", service, method, items[0], err)
	}
	return wr.ID
}

// callObj calls obj (method "" for a func) and returns the answer.
func callObj(ctx context.Context, t *testing.T, r *evilpeer.RPC, id, obj uint64, method string) *wire.Msg {
	t.Helper()
	if err := r.Msg(evilpeer.Call(id, obj, "", method, []byte{0x80})); err != nil {
		t.Fatal(err)
	}
	m, err := r.WaitReply(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestForgedRefs is scenario 12: forged, replayed and released reference
// ids, and 10^6 random ones, reach no object. A canary object counts the
// calls that reach it: only the legitimate ones do.
func TestForgedRefs(t *testing.T) {
	svc := &canarySvc{}
	p, srv := startEvilWith(t, map[string]any{"canary": svc})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
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

	// Another session of the same server side holds its own canary: its
	// ids mean nothing in the evil session.
	other, otherSrv := rpcPair(t, "tcp", nil, &Options{Services: map[string]any{"canary": svc}})
	otherObj, err := Call[*Ref](ctx, other.Service("canary"), "New")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := otherObj.Call(ctx, "Inc"); err != nil {
		t.Fatal(err)
	}
	var foreign []uint64
	otherSrv.mu.Lock()
	for id := range otherSrv.exports {
		foreign = append(foreign, id)
	}
	otherSrv.mu.Unlock()

	// Legitimate references work: the canary counts.
	live := refOf(ctx, t, r, 1, "canary", "New")
	fn := refOf(ctx, t, r, 2, "canary", "Func")
	released := refOf(ctx, t, r, 3, "canary", "New")
	if m := callObj(ctx, t, r, 4, live, "Inc"); m.Kind != wire.MsgReply {
		t.Fatalf("a live reference: %+v", m)
	}
	if m := callObj(ctx, t, r, 5, fn, ""); m.Kind != wire.MsgReply {
		t.Fatalf("a live func: %+v", m)
	}
	if m := callObj(ctx, t, r, 6, released, "Inc"); m.Kind != wire.MsgReply {
		t.Fatalf("a live reference: %+v", m)
	}
	// Release one; a ping orders the release before what follows.
	if err := r.Msg(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgRelease, IDs: []uint64{released}})); err != nil {
		t.Fatal(err)
	}
	if err := r.Ping(ctx, 7); err != nil {
		t.Fatal(err)
	}
	base := svc.calls.Load() // 1 (other session) + 3
	if base != 4 {
		t.Fatalf("canary counted %d calls, want 4", base)
	}

	// The forged ids: the released one replayed, the other session's,
	// neighbours of the live ones, then random ids.
	ids := []uint64{released, released, 1, 1<<64 - 1, live ^ 1, live + 1, live - 1, fn ^ 1<<63}
	ids = append(ids, foreign...)
	// 10^6 ids take ~6 s; the race detector makes the server's side of
	// each call ~10 times slower, so it gets a twentieth of them.
	n := 1_000_000
	if raceEnabled || testing.Short() {
		n = 50_000
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for len(ids) < n {
		id := rng.Uint64()
		if id != live && id != fn {
			ids = append(ids, id)
		}
	}
	start := time.Now()
	const window = 4000 // calls in flight; below the server's MaxCalls
	nextID := uint64(1000)
	msgs := make([][]byte, 0, window)
	for off := 0; off < len(ids); off += window {
		batch := ids[off:min(off+window, len(ids))]
		msgs = msgs[:0]
		first := nextID
		for i, obj := range batch {
			method := "Inc"
			if i%2 == 1 {
				method = "" // as a func
			}
			msgs = append(msgs, evilpeer.Call(nextID, obj, "", method, []byte{0x80}))
			nextID++
		}
		if err := r.Msgs(msgs); err != nil {
			t.Fatal(err)
		}
		for range batch {
			m, err := r.Recv(ctx)
			if err != nil {
				t.Fatalf("after %d ids: %v", off, err)
			}
			if m.ID < first || m.ID >= nextID {
				t.Fatalf("answer for id %d, not in this batch", m.ID)
			}
			if m.Kind != wire.MsgError || m.Code != "unknown-ref" {
				t.Fatalf("forged id %x reached something: %v %q %q", batch[m.ID-first], m.Kind, m.Code, m.Text)
			}
		}
	}
	t.Logf("%d forged ids refused in %v", len(ids), time.Since(start))
	if got := svc.calls.Load(); got != base {
		t.Fatalf("forged ids reached the canary: %d calls, want %d", got, base)
	}
	// Forged releases drop nothing: the live references still work, and
	// only they count.
	for off := 0; off < len(ids); off += wire.MaxReleaseIDs {
		if err := r.Msg(wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgRelease, IDs: ids[off:min(off+wire.MaxReleaseIDs, len(ids))]})); err != nil {
			t.Fatal(err)
		}
	}
	if m := callObj(ctx, t, r, 8, live, "Inc"); m.Kind != wire.MsgReply {
		t.Fatalf("the live reference after forged releases: %v %q", m.Kind, m.Text)
	}
	if m := callObj(ctx, t, r, 9, fn, ""); m.Kind != wire.MsgReply {
		t.Fatalf("the live func after forged releases: %v %q", m.Kind, m.Text)
	}
	if got := svc.calls.Load(); got != base+2 {
		t.Fatalf("canary counted %d calls, want %d", got, base+2)
	}
	if n := srv.conn.NumExports(); n != 2 {
		t.Errorf("the evil session holds %d exports, want 2", n)
	}
	if err := srv.conn.Err(); err != nil {
		t.Fatalf("session ended: %v", err)
	}
}
