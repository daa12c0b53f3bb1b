package hopwire_test

import (
	"context"
	"errors"
	"math"
	"math/cmplx"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/session"
)

// dialServices starts a node over TLS that exposes services to every
// session (with sess as its session options), and dials it.
func dialServices(t *testing.T, services map[string]any, sess *session.Options) *hopwire.Client {
	t.Helper()
	home := t.TempDir()
	node := startNode(t, home, &hopwire.ServeOptions{Session: sess,
		Services: func(session.Peer) map[string]any { return services }})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := hopwire.Dial(ctx, node, &hopwire.Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type hitCounter struct{ n atomic.Int64 }

func (h *hitCounter) Hit() int64 { return h.n.Add(1) }

type objects struct{ last atomic.Pointer[hitCounter] }

func (o *objects) New() session.Object {
	h := &hitCounter{}
	o.last.Store(h)
	return session.ByRef(h)
}

// Owns reports whether v is, itself, the object New handed out last: a
// proxy of it sent home arrives as the object.
func (o *objects) Owns(v any) bool { h, ok := v.(*hitCounter); return ok && h == o.last.Load() }

// user calls objects it is given, which may live in another session.
type user struct{}

func (user) HitVia(ctx context.Context, r *session.Ref) (int64, error) {
	return session.Call[int64](ctx, r, "Hit")
}

// checkPassOn passes a proxy of an object of c1's node home to that node
// (which sees its own object) and on to c2's node (whose calls reach the
// object through this client).
func checkPassOn(ctx context.Context, t *testing.T, c1, c2 *hopwire.Client, objs *objects) {
	t.Helper()
	obj, err := session.Call[*session.Ref](ctx, c1.Conn().Service("objects"), "New")
	if err != nil {
		t.Fatal(err)
	}
	if mine, err := session.Call[bool](ctx, c1.Conn().Service("objects"), "Owns", obj); err != nil || !mine {
		t.Fatalf("a proxy sent home: Owns = %v, %v; want the node's own object", mine, err)
	}
	for i := int64(1); i <= 3; i++ {
		if n, err := session.Call[int64](ctx, c2.Conn().Service("user"), "HitVia", obj); err != nil || n != i {
			t.Fatalf("a proxy passed to another node: HitVia = %d, %v; want %d", n, err, i)
		}
	}
	if n := objs.last.Load().n.Load(); n != 3 {
		t.Fatalf("the object ran %d calls, want 3", n)
	}
	obj.Release()
	if _, err := c2.Conn().Service("user").Call(ctx, "HitVia", obj); !errors.Is(err, session.ErrUnknownRef) {
		t.Fatalf("passing on a released proxy: %v, want ErrUnknownRef", err)
	}
}

// Over real TLS links: a proxy goes home as the object itself, and on to
// a second node through this client.
func TestPassOnOverTLS(t *testing.T) {
	objs := &objects{}
	c1 := dialServices(t, map[string]any{"objects": objs}, nil)
	c2 := dialServices(t, map[string]any{"user": user{}}, nil)
	checkPassOn(t.Context(), t, c1, c2, objs)
}

// Over a real TLS link: a released proxy reaches nothing, at once.
func TestReleaseOverTLS(t *testing.T) {
	objs := &objects{}
	c := dialServices(t, map[string]any{"objects": objs}, nil)
	ctx := t.Context()
	svc := c.Conn().Service("objects")
	for i := range 100 {
		obj, err := session.Call[*session.Ref](ctx, svc, "New")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obj.Call(ctx, "Hit"); err != nil {
			t.Fatal(err)
		}
		cp := *obj
		obj.Release()
		for _, r := range []*session.Ref{obj, &cp} {
			if _, err := r.Call(ctx, "Hit"); !errors.Is(err, session.ErrUnknownRef) {
				t.Fatalf("iteration %d: a call after Release: %v", i, err)
			}
		}
		if n := objs.last.Load().n.Load(); n != 1 {
			t.Fatalf("iteration %d: the object ran %d calls, want 1", i, n)
		}
	}
}

type phasor struct {
	Name string
	Z    complex128
	Bins map[string]complex64
}

type rotator struct{}

func (rotator) Rotate(p phasor, by complex128) phasor {
	p.Z *= by
	for k, v := range p.Bins {
		p.Bins[k] = v * complex64(by)
	}
	return p
}

// Complex numbers cross a TLS link as arguments and results, inside
// structs and maps, NaN and infinite parts included.
func TestComplexOverTLS(t *testing.T) {
	c := dialServices(t, map[string]any{"rotator": rotator{}}, nil)
	in := phasor{Name: "p", Z: complex(1, math.Inf(1)), Bins: map[string]complex64{"a": 1 + 1i, "nan": complex64(complex(math.NaN(), 0))}}
	out, err := session.Call[phasor](t.Context(), c.Conn().Service("rotator"), "Rotate", in, 1i)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != "p" || !cmplx.IsInf(out.Z) || out.Bins["a"] != -1+1i || !cmplx.IsNaN(complex128(out.Bins["nan"])) {
		t.Fatalf("Rotate = %+v", out)
	}
}

type kv struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *kv) Get(k string) string { s.mu.Lock(); defer s.mu.Unlock(); return s.m[k] }
func (s *kv) Put(k, v string)     { s.mu.Lock(); defer s.mu.Unlock(); s.m[k] = v }

type getter interface{ Get(k string) string }

// A node's service narrowed to an interface, over TLS: the interface's
// methods answer, the others are unknown.
func TestExposeAsOverTLS(t *testing.T) {
	st := &kv{m: map[string]string{"k": "v"}}
	c := dialServices(t, map[string]any{"ro": session.ByRefAs[getter](st)}, nil)
	ro := c.Conn().Service("ro")
	if v, err := session.Call[string](t.Context(), ro, "Get", "k"); err != nil || v != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := ro.Call(t.Context(), "Put", "k", "x"); !errors.Is(err, session.ErrNoMethod) {
		t.Fatalf("Put through the narrow view: %v", err)
	}
	if st.Get("k") != "v" {
		t.Fatal("the store changed")
	}
}

type failing struct{}

func (failing) Fail() error { return errors.New("it failed") }
func (failing) Crash()      { panic("it crashed") }

// Over TLS: a node serving with ErrorStacks sends where its errors came
// from; one without sends none. Both announce their version.
func TestErrorStacksOverTLS(t *testing.T) {
	for _, stacks := range []bool{false, true} {
		c := dialServices(t, map[string]any{"f": failing{}}, &session.Options{ErrorStacks: stacks})
		for _, m := range []string{"Fail", "Crash"} {
			_, err := c.Conn().Service("f").Call(t.Context(), m)
			var re *session.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("%s: %v", m, err)
			}
			if !strings.HasPrefix(re.PeerVersion, "hopwire/") || re.PeerVersion != c.Conn().Link().Peer().Version {
				t.Errorf("%s: PeerVersion %q, the link's peer %q", m, re.PeerVersion, c.Conn().Link().Peer().Version)
			}
			if stacks != strings.Contains(re.Stack, "hopwire_test.failing") {
				t.Errorf("ErrorStacks %v, %s: stack %q", stacks, m, re.Stack)
			}
		}
	}
}
