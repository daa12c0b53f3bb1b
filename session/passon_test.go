package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/internal/wire"
)

// owner is the service of the side that owns the objects: it hands them
// out and checks what comes back.
type owner struct {
	objs      []*counter
	cancelled chan error
	calc
}

func (o *owner) NewCounter() Object {
	k := &counter{}
	o.objs = append(o.objs, k)
	return ByRef(k)
}

// Same reports whether v is, itself, the first counter handed out.
func (o *owner) Same(v any) bool { k, ok := v.(*counter); return ok && k == o.objs[0] }

// Typed takes the counter back as its own type.
func (o *owner) Typed(k *counter) int { return k.n }

// Kind says what arrived: the counter itself, or a proxy.
func (o *owner) Kind(v any) string {
	switch v.(type) {
	case *counter:
		return "own"
	case *Ref:
		return "proxy"
	}
	return "other"
}

func (o *owner) Adder() func(int) int { return func(x int) int { return x + 100 } }

// Use calls the func it is given, which may be its own.
func (o *owner) Use(f func(int) int, x int) int { return f(x) }

// hub is the holder's service: it passes on whatever it holds.
type hub struct {
	held atomic.Pointer[Ref]
	got  chan any
}

func (h *hub) Get() *Ref { return h.held.Load() }

func (h *hub) Put(v any) { h.got <- v }

// Send passes v on to the owner's Kind and says what the owner saw.
func (h *hub) Send(ctx context.Context, v *Ref) (string, error) {
	svc := h.held.Load().c.Service("owner")
	return Call[string](ctx, svc, "Kind", v)
}

// three is an owner (A), a holder (H) and a third side (B): H is A's
// client and B's server.
type three struct {
	a, hToA, hToB, b *Conn
	own              *owner
	hub              *hub
	hubB             *Ref // B's proxy for H's hub
}

func threeSessions(t *testing.T, kind string) *three {
	t.Helper()
	var s three
	s.hToA, s.a = rpcPair(t, kind, nil, nil)
	s.b, s.hToB = rpcPair(t, kind, nil, nil)
	s.own = &owner{cancelled: make(chan error, 1)}
	s.own.calc.cancelled = s.own.cancelled
	if err := s.a.Expose("owner", s.own); err != nil {
		t.Fatal(err)
	}
	s.hub = &hub{got: make(chan any, 1)}
	if err := s.hToB.Expose("hub", s.hub); err != nil {
		t.Fatal(err)
	}
	s.hubB = s.b.Service("hub")
	return &s
}

func TestRefSentHome(t *testing.T) {
	for _, kind := range []string{"pipe", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			cc, sc := rpcPair(t, kind, nil, nil)
			own := &owner{}
			if err := sc.Expose("owner", own); err != nil {
				t.Fatal(err)
			}
			svc := cc.Service("owner")
			k, err := Call[*Ref](ctx, svc, "NewCounter")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Call(ctx, "Inc", 5); err != nil {
				t.Fatal(err)
			}
			// Back home, it is the object itself, as any and as its type.
			if same, err := Call[bool](ctx, svc, "Same", k); err != nil || !same {
				t.Fatalf("Same = %v, %v; want the owner's own object", same, err)
			}
			if n, err := Call[int](ctx, svc, "Typed", k); err != nil || n != 5 {
				t.Fatalf("Typed = %v, %v; want 5", n, err)
			}
			exports := sc.NumExports()
			// A func comes home as the func itself.
			f, err := Call[*Ref](ctx, svc, "Adder")
			if err != nil {
				t.Fatal(err)
			}
			if n, err := Call[int](ctx, svc, "Use", f, 1); err != nil || n != 101 {
				t.Fatalf("Use = %v, %v; want 101", n, err)
			}
			// Sending a proxy home exports nothing on either side.
			if got := sc.NumExports(); got != exports+1 {
				t.Fatalf("owner exports %d, want %d (the adder only)", got, exports+1)
			}
			if got := cc.NumExports(); got != 0 {
				t.Fatalf("holder exports %d after sending proxies home, want 0", got)
			}
			// A proxy of the peer's own service cannot go back.
			if _, err := svc.Call(ctx, "Kind", svc); err == nil || !strings.Contains(err.Error(), "own service") {
				t.Fatalf("service proxy sent home: %v", err)
			}
			// Released, it cannot be sent.
			k.Release()
			if _, err := svc.Call(ctx, "Same", k); !errors.Is(err, ErrUnknownRef) {
				t.Fatalf("released proxy sent home: %v, want ErrUnknownRef", err)
			}
		})
	}
}

func TestRefPassedToThirdSession(t *testing.T) {
	for _, kind := range []string{"pipe", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			s := threeSessions(t, kind)
			own, h, hubB := s.own, s.hub, s.hubB
			k, err := Call[*Ref](ctx, s.hToA.Service("owner"), "NewCounter")
			if err != nil {
				t.Fatal(err)
			}
			h.held.Store(k)

			// B calls the owner's object through the holder.
			fk, err := Call[*Ref](ctx, hubB, "Get")
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 3; i++ {
				if n, err := Call[int](ctx, fk, "Inc", 2); err != nil || n != 2*i {
					t.Fatalf("Inc through the holder = %v, %v; want %d", n, err, 2*i)
				}
			}
			if own.objs[0].n != 6 {
				t.Fatalf("owner's counter %d, want 6", own.objs[0].n)
			}

			// B hands the forwarder back to the holder: it arrives as the
			// holder's own proxy.
			if _, err := hubB.Call(ctx, "Put", fk); err != nil {
				t.Fatal(err)
			}
			if got := <-h.got; got != k {
				t.Fatalf("forwarder back at the holder = %v, want its own proxy %v", got, k)
			}
			// B passes it through the holder on to the owner: the owner
			// sees its own object.
			if what, err := Call[string](ctx, hubB, "Send", fk); err != nil || what != "own" {
				t.Fatalf("owner got %q, %v; want its own object", what, err)
			}
		})
	}
}

func TestRefPassedOnCallsAndErrors(t *testing.T) {
	ctx := context.Background()
	s := threeSessions(t, "pipe")
	own, hubB := s.own, s.hubB
	s.hub.held.Store(s.hToA.Service("owner")) // a service proxy passes on too
	svc, err := Call[*Ref](ctx, hubB, "Get")
	if err != nil {
		t.Fatal(err)
	}
	// Arguments and results, by value.
	if n, err := Call[int](ctx, svc, "Add", 2, 3); err != nil || n != 5 {
		t.Fatalf("Add = %v, %v", n, err)
	}
	if got, err := Call[complex128](ctx, svc, "Echo", complex(1, -2)); err != nil || got != complex(1, -2) {
		t.Fatalf("Echo = %v, %v", got, err)
	}
	// A callback from B to the owner, nested through the holder both ways.
	double := func(ctx context.Context, x int) (int, error) { return 2 * x, nil }
	if n, err := Call[int](ctx, svc, "Apply", double, 21); err != nil || n != 42 {
		t.Fatalf("Apply = %v, %v", n, err)
	}
	// Errors keep their identity along the path.
	if _, err := svc.Call(ctx, "Panic"); !errors.Is(err, ErrPanic) {
		t.Fatalf("Panic through the holder: %v, want ErrPanic", err)
	}
	if _, err := svc.Call(ctx, "NoSuchMethod"); !errors.Is(err, ErrNoMethod) {
		t.Fatalf("unknown method through the holder: %v, want ErrNoMethod", err)
	}
	// Streams are copied through the holder.
	var r io.ReadCloser
	res, err := svc.Call(ctx, "Download", 1<<20)
	if err == nil {
		err = res.Decode(&r)
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	r.Close()
	if err != nil || n != 1<<20 {
		t.Fatalf("download through the holder: %d bytes, %v", n, err)
	}
	if n, _, err := Call2[int64, string](ctx, svc, "Sum", strings.NewReader("hello")); err != nil || n != 5 {
		t.Fatalf("Sum through the holder = %v, %v", n, err)
	}
	// Cancellation reaches the owner's handler.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := svc.Call(cctx, "Sleep", time.Minute)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	select {
	case err := <-own.cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("owner's handler ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancel did not reach the owner's handler")
	}
	// A deadline does too.
	dctx, dcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer dcancel()
	if _, err := svc.Call(dctx, "Sleep", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline: %v", err)
	}
	<-own.cancelled
}

// Call2 decodes two results.
func Call2[A, B any](ctx context.Context, r *Ref, method string, args ...any) (A, B, error) {
	var a A
	var b B
	res, err := r.Call(ctx, method, args...)
	if err == nil {
		err = res.Decode(&a, &b)
	}
	return a, b, err
}

func TestRefPassedOnRelease(t *testing.T) {
	ctx := context.Background()
	s := threeSessions(t, "pipe")
	h, hubB := s.hub, s.hubB
	k, err := Call[*Ref](ctx, s.hToA.Service("owner"), "NewCounter")
	if err != nil {
		t.Fatal(err)
	}
	h.held.Store(k)
	fk, err := Call[*Ref](ctx, hubB, "Get")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.hToB.NumExports(); n != 1 {
		t.Fatalf("holder exports %d to B, want the forwarder", n)
	}
	// B releases: the holder drops its forwarder.
	fk.Release()
	waitFor(t, func() bool { return s.hToB.NumExports() == 0 })
	// Once the holder's own proxy is garbage too, the owner is told.
	h.held.Store(nil)
	k = nil
	_ = k
	waitFor(t, func() bool {
		runtime.GC()
		return s.a.NumExports() == 0
	})

	// Release on the holder is final for what it passed on.
	k2, err := Call[*Ref](ctx, s.hToA.Service("owner"), "NewCounter")
	if err != nil {
		t.Fatal(err)
	}
	h.held.Store(k2)
	fk2, err := Call[*Ref](ctx, hubB, "Get")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fk2.Call(ctx, "Inc", 1); err != nil {
		t.Fatal(err)
	}
	k2.Release()
	if _, err := fk2.Call(ctx, "Inc", 1); !errors.Is(err, ErrUnknownRef) {
		t.Fatalf("call through a forwarder of a released proxy: %v, want ErrUnknownRef", err)
	}
	// And a released proxy cannot be passed on.
	if _, err := hubB.Call(ctx, "Get"); !errors.Is(err, ErrUnknownRef) {
		t.Fatalf("passing on a released proxy: %v, want ErrUnknownRef", err)
	}
}

// A version 1 peer cannot take its own objects back: it gets a forwarder,
// which works but is a proxy, not the object.
func TestRefSentHomeToVersion1Peer(t *testing.T) {
	ctx := context.Background()
	cc, sc := rpcPair(t, "pipe", nil, nil)
	own := &owner{}
	if err := sc.Expose("owner", own); err != nil {
		t.Fatal(err)
	}
	svc := cc.Service("owner")
	k, err := Call[*Ref](ctx, svc, "NewCounter")
	if err != nil {
		t.Fatal(err)
	}
	cc.peerRPC = 1 // as if the owner had announced version 1
	if what, err := Call[string](ctx, svc, "Kind", k); err != nil || what != "proxy" {
		t.Fatalf("sent home to a version 1 peer: %q, %v; want a proxy", what, err)
	}
}

// Proxies sent home while the garbage collector runs: each arrives as the
// owner's object (the proxy outlives the message that names it, so its
// release cannot overtake it).
func TestRefSentHomeUnderGC(t *testing.T) {
	ctx := context.Background()
	cc, sc := rpcPair(t, "pipe", nil, nil)
	own := &owner{}
	if err := sc.Expose("owner", own); err != nil {
		t.Fatal(err)
	}
	svc := cc.Service("owner")
	stop := make(chan struct{})
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); <-gcDone }()
	for i := range 200 {
		k, err := Call[*Ref](ctx, svc, "NewCounter")
		if err != nil {
			t.Fatal(err)
		}
		if what, err := Call[string](ctx, svc, "Kind", k); err != nil || what != "own" {
			t.Fatalf("iteration %d: %q, %v; want the owner's own object", i, what, err)
		}
	}
}

// The rpc hellos settle on the lower version; one below 1 is refused.
func TestRPCVersionNegotiation(t *testing.T) {
	for _, tc := range []struct {
		peer, want uint64
		refused    bool
	}{{1, 1, false}, {2, 2, false}, {3, 2, false}, {0, 0, true}} {
		cl, sl := linkPair(t, "pipe", nil, nil)
		type result struct {
			c   *Conn
			err error
		}
		srvc := make(chan result, 1)
		go func() {
			c, err := NewConn(context.Background(), sl, nil)
			srvc <- result{c, err}
		}()
		s, err := cl.OpenStream(t.Context(), KindRPC, nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := wire.AppendMsg(nil, &wire.Msg{Kind: wire.MsgHello, Version: tc.peer, MaxMsg: 1 << 20, MaxCalls: 16, MaxRefs: 16})
		go func() {
			s.Write(binary.AppendUvarint(nil, uint64(len(msg))))
			s.Write(msg)
			io.Copy(io.Discard, s)
		}()
		r := <-srvc
		switch {
		case tc.refused:
			if r.err == nil || !errors.Is(r.err, ErrProtocol) || !strings.Contains(r.err.Error(), "rpc version 0") {
				t.Fatalf("peer of version %d: %v, want a protocol error naming it", tc.peer, r.err)
			}
		case r.err != nil:
			t.Fatalf("peer of version %d: %v", tc.peer, r.err)
		default:
			if r.c.peerRPC != tc.want {
				t.Fatalf("peer of version %d: session speaks %d, want %d", tc.peer, r.c.peerRPC, tc.want)
			}
			r.c.Close()
		}
		cl.Close()
	}
}

// Options.Forward: a session proxy serves the services of another
// session as its own.
func TestForwardServices(t *testing.T) {
	ctx := context.Background()
	hToA, a := rpcPair(t, "pipe", nil, nil)
	if err := a.Expose("calc", &calc{}); err != nil {
		t.Fatal(err)
	}
	b, _ := rpcPair(t, "pipe", nil, &Options{Forward: func(name string) *Ref {
		if name == "hidden" {
			return nil
		}
		return hToA.Service(name)
	}})
	svc := b.Service("calc")
	if n, err := Call[int](ctx, svc, "Add", 40, 2); err != nil || n != 42 {
		t.Fatalf("Add through the proxy = %v, %v", n, err)
	}
	double := func(ctx context.Context, x int) (int, error) { return 2 * x, nil }
	if n, err := Call[int](ctx, svc, "Apply", double, 21); err != nil || n != 42 {
		t.Fatalf("a callback through the proxy = %v, %v", n, err)
	}
	if _, err := b.Service("nosuch").Call(ctx, "X"); !errors.Is(err, ErrNoService) {
		t.Fatalf("a service the far side lacks: %v, want ErrNoService", err)
	}
	if _, err := b.Service("hidden").Call(ctx, "X"); !errors.Is(err, ErrNoService) {
		t.Fatalf("a service the proxy refuses: %v, want ErrNoService", err)
	}
}

type rwUser struct{}

// Greet writes to whatever it is given.
func (rwUser) Greet(w io.Writer) error { _, err := io.WriteString(w, "hi there"); return err }

// Slurp reads what it is given.
func (rwUser) Slurp(r io.Reader) (string, error) { b, err := io.ReadAll(r); return string(b), err }

// An io.ReadWriter (a *bytes.Buffer) passed through a holder goes the
// way the final receiver picks, both ways.
func TestReadWriterPassedOn(t *testing.T) {
	ctx := context.Background()
	hToA, a := rpcPair(t, "pipe", nil, nil)
	if err := a.Expose("rw", rwUser{}); err != nil {
		t.Fatal(err)
	}
	b, _ := rpcPair(t, "pipe", nil, &Options{Forward: func(name string) *Ref { return hToA.Service(name) }})
	svc := b.Service("rw")
	var out bytes.Buffer
	if _, err := svc.Call(ctx, "Greet", &out); err != nil || out.String() != "hi there" {
		t.Fatalf("Greet through the holder: %q, %v", out.String(), err)
	}
	in := bytes.NewBufferString("from B")
	if got, err := Call[string](ctx, svc, "Slurp", in); err != nil || got != "from B" {
		t.Fatalf("Slurp through the holder: %q, %v", got, err)
	}
}
