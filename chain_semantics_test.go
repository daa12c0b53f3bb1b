package hopwire_test

// Issue 21 ("remote objects behave like local ones") through two relays:
// each item the session tests check over net.Pipe and remote_test.go
// over one TLS link, here on a route client → r1 → r2 → target dialed
// with hopwire.Dial, every hop a node started with hopwire.Start and
// checked against the client's known_nodes. The relays carry the inner
// link's bytes only; what is tested is that nothing of the RPC semantics
// is lost on the way.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/cmplx"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire"
	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

// twoRelays is a client home and the relays r1 → r2 in front of one or
// more targets.
type twoRelays struct {
	home    string
	targets []string // their bound addresses (tls://127.0.0.1:PORT)
	via     []string // r1, r2
}

// startTwoRelays starts a target node for each of targets (the options
// are completed with an identity, the client's trust and a loopback TLS
// listener; the caller sets Services and Session), then r2, which may
// reach only those targets, and r1, which may reach only r2. The client's
// known_nodes binds each node's key to the address it bound, as "hopwire
// trust --known FP NAME --addr HOST:PORT" does. Every node ends with the
// test.
func startTwoRelays(t *testing.T, targets ...*hopwire.ServeOptions) *twoRelays {
	t.Helper()
	home := t.TempDir()
	client, err := certs.LoadOrCreate(home, "client")
	if err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(home, certs.KnownNodesFile)
	start := func(name string, opts *hopwire.ServeOptions, grants ...string) string {
		t.Helper()
		id, err := certs.LoadOrCreate(t.TempDir(), name)
		if err != nil {
			t.Fatal(err)
		}
		var gs []*relay.Grant
		for _, g := range grants {
			pg, err := relay.ParseGrant(g)
			if err != nil {
				t.Fatal(err)
			}
			gs = append(gs, pg)
		}
		o := *opts
		o.Name, o.Identity = name, id
		o.Trust = certs.Trust{Store: certs.StoreOf(client)}
		o.Listen = []string{"tls://127.0.0.1:0"}
		if len(gs) > 0 {
			o.Policy = relay.NewPolicy(gs)
		}
		node, err := hopwire.Start(t.Context(), &o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		addr := node.Addrs()[0]
		hostPort := strings.TrimPrefix(addr, "tls://")
		if err := certs.AddEntry(known, certs.Entry{Fingerprint: id.Fingerprint(), Name: name, Addrs: []string{hostPort}}); err != nil {
			t.Fatal(err)
		}
		return addr
	}
	c := &twoRelays{home: home}
	var toTargets []string
	for i, o := range targets {
		addr := start(fmt.Sprintf("target%d", i+1), o)
		c.targets = append(c.targets, addr)
		toTargets = append(toTargets, "client:connect="+strings.TrimPrefix(addr, "tls://"))
	}
	r2 := start("r2", &hopwire.ServeOptions{}, toTargets...)
	r1 := start("r1", &hopwire.ServeOptions{}, "client:connect="+strings.TrimPrefix(r2, "tls://"))
	c.via = []string{r1, r2}
	return c
}

// dial reaches target i through r1 and r2 with hopwire.Dial, opts
// (which may be nil) completed with the home and the relays.
func (c *twoRelays) dial(t *testing.T, i int, opts *hopwire.Options) *hopwire.Client {
	t.Helper()
	var o hopwire.Options
	if opts != nil {
		o = *opts
	}
	o.Home, o.Via = c.home, c.via
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cl, err := hopwire.Dial(ctx, c.targets[i], &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if hops := cl.Hops(); len(hops) != 3 || hops[0].Peer.Name != "r1" || hops[1].Peer.Name != "r2" {
		t.Fatalf("the route is not client → r1 → r2 → target: %d hops", len(hops))
	}
	return cl
}

// counters hands out objects by reference (objects, remote_test.go) and
// says how many references the session it is called on still exports.
type counters struct{ objects }

func (*counters) Exports(ctx context.Context) int { return session.ConnFrom(ctx).NumExports() }

type sample struct {
	Name  string
	Peak  complex128
	Small complex64
	Bins  []complex128
	Gains map[string]complex64
}

// complexes answers complex numbers: as results, and inside a struct.
type complexes struct{}

func (complexes) Conj(z complex128) complex128 { return cmplx.Conj(z) }
func (complexes) Conj64(z complex64) complex64 { return complex64(cmplx.Conj(complex128(z))) }
func (complexes) Scale(s sample, by complex64) sample {
	s.Peak *= complex128(by)
	s.Small *= by
	for i := range s.Bins {
		s.Bins[i] *= complex128(by)
	}
	for k, g := range s.Gains {
		s.Gains[k] = g * by
	}
	return s
}

// shelf is a rich service whose ReadOnly hands out a narrow view of its
// store, by reference.
type shelf struct{ st *kv }

func (s *shelf) ReadOnly() session.Object { return session.ByRefAs[getter](s.st) }

// nest calls back into its caller, which calls it again: Down(n) is
// n + f(n), and the caller's f(n) is Down(n-1) (0 at the bottom).
type nest struct{}

func (nest) Down(ctx context.Context, n int, f func(context.Context, int) (int, error)) (int, error) {
	if n == 0 {
		return 0, nil
	}
	v, err := f(ctx, n)
	return n + v, err
}

// sameComplex is == that also holds for NaN parts in the same places.
func sameComplex(a, b complex128) bool {
	same := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return same(real(a), real(b)) && same(imag(a), imag(b))
}

// Through two relays, remote objects behave as they do on one link:
// release is final, complex numbers keep their values, a narrowed
// service refuses the rest, errors carry stacks when the node allows
// it, a handler reaches its caller's services, and callbacks nest.
func TestSemanticsThroughTwoRelays(t *testing.T) {
	st := &kv{m: map[string]string{"k": "v"}}
	objs := &counters{}
	services := map[string]any{
		"objects":   objs,
		"complexes": complexes{},
		"ro":        session.ByRefAs[getter](st), // ExposeAs through ServeOptions.Services
		"shelf":     &shelf{st: st},
		"f":         failing{},
		"shop":      shop{},
		"nest":      nest{},
		"user":      user{},
	}
	serve := func(stacks bool) *hopwire.ServeOptions {
		return &hopwire.ServeOptions{Session: &session.Options{ErrorStacks: stacks},
			Services: func(session.Peer) map[string]any { return services }}
	}
	chain := startTwoRelays(t, serve(false), serve(true))
	cl := chain.dial(t, 0, &hopwire.Options{Services: map[string]any{"wallet": wallet{}}})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a deadlock fails, not hangs
	defer cancel()

	t.Run("release is final", func(t *testing.T) {
		svc := cl.Conn().Service("objects")
		base, err := session.Call[int](ctx, svc, "Exports")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			obj, err := session.Call[*session.Ref](ctx, svc, "New")
			if err != nil {
				t.Fatal(err)
			}
			if n, err := session.Call[int64](ctx, obj, "Hit"); err != nil || n != 1 {
				t.Fatalf("iteration %d: Hit = %d, %v", i, n, err)
			}
			cp := *obj
			obj.Release()
			for what, r := range map[string]*session.Ref{"the proxy": obj, "a copy": &cp} {
				_, err := r.Call(ctx, "Hit")
				var re *session.RemoteError
				if !errors.Is(err, session.ErrUnknownRef) || errors.As(err, &re) {
					t.Fatalf("iteration %d: a call through %s after Release: %v, want a local ErrUnknownRef", i, what, err)
				}
			}
			// The release went ahead of this call through both relays:
			// the target no longer holds the object when it answers.
			if n, err := session.Call[int](ctx, svc, "Exports"); err != nil || n != base {
				t.Fatalf("iteration %d: the target exports %d references, want %d (%v)", i, n, base, err)
			}
			if n := objs.last.Load().n.Load(); n != 1 {
				t.Fatalf("iteration %d: the object ran %d calls, want 1", i, n)
			}
		}
	})

	t.Run("complex numbers", func(t *testing.T) {
		svc := cl.Conn().Service("complexes")
		nan, inf := math.NaN(), math.Inf(1)
		for _, z := range []complex128{0, complex(1.5, -2.25), complex(nan, 1), complex(inf, -inf),
			complex(math.MaxFloat64, math.SmallestNonzeroFloat64), cmplx.NaN()} {
			got, err := session.Call[complex128](ctx, svc, "Conj", z)
			if err != nil || !sameComplex(got, cmplx.Conj(z)) {
				t.Fatalf("Conj(%v) = %v, %v", z, got, err)
			}
			z64 := complex64(z)
			got64, err := session.Call[complex64](ctx, svc, "Conj64", z64)
			if want := complex64(cmplx.Conj(complex128(z64))); err != nil || !sameComplex(complex128(got64), complex128(want)) {
				t.Fatalf("Conj64(%v) = %v, %v", z64, got64, err)
			}
		}
		mk := func() sample {
			return sample{Name: "s", Peak: complex(3, 4), Small: complex(1, -1),
				Bins: []complex128{1, 1i, complex(inf, 0)}, Gains: map[string]complex64{"a": 2 + 2i, "nan": complex64(complex(nan, 0))}}
		}
		out, err := session.Call[sample](ctx, svc, "Scale", mk(), complex64(1i))
		if err != nil {
			t.Fatal(err)
		}
		want := complexes{}.Scale(mk(), 1i)
		ok := out.Name == want.Name && sameComplex(out.Peak, want.Peak) && sameComplex(complex128(out.Small), complex128(want.Small)) &&
			len(out.Bins) == len(want.Bins) && len(out.Gains) == len(want.Gains)
		for i := range min(len(out.Bins), len(want.Bins)) {
			ok = ok && sameComplex(out.Bins[i], want.Bins[i])
		}
		for k, g := range want.Gains {
			ok = ok && sameComplex(complex128(out.Gains[k]), complex128(g))
		}
		if !ok {
			t.Fatalf("Scale = %+v, want %+v", out, want)
		}
	})

	t.Run("narrowed services", func(t *testing.T) {
		view, err := session.Call[*session.Ref](ctx, cl.Conn().Service("shelf"), "ReadOnly")
		if err != nil {
			t.Fatal(err)
		}
		defer view.Release()
		for name, r := range map[string]*session.Ref{"ServeOptions.Services": cl.Conn().Service("ro"), "ByRefAs": view} {
			if v, err := session.Call[string](ctx, r, "Get", "k"); err != nil || v != "v" {
				t.Fatalf("%s: Get = %q, %v", name, v, err)
			}
			for _, m := range []string{"Put", "ReadOnly", "Nope"} {
				if _, err := r.Call(ctx, m, "k", "x"); !errors.Is(err, session.ErrNoMethod) {
					t.Fatalf("%s: %s through the narrow view: %v, want ErrNoMethod", name, m, err)
				}
			}
		}
		if st.Get("k") != "v" {
			t.Fatal("the store changed through a narrow view")
		}
	})

	t.Run("error stacks", func(t *testing.T) {
		for i, stacks := range []bool{false, true} {
			c := cl
			if stacks {
				c = chain.dial(t, i, nil)
			}
			peer := c.Conn().Link().Peer()
			if peer.Name != fmt.Sprintf("target%d", i+1) {
				t.Fatalf("the session is with %q", peer.Name)
			}
			for _, tc := range []struct{ method, where string }{
				{"Crash", "github.com/hopwire/hopwire_test.failing.Crash"},
				{"Fail", "returned by github.com/hopwire/hopwire_test.failing.Fail\n"},
			} {
				_, err := c.Conn().Service("f").Call(ctx, tc.method)
				var re *session.RemoteError
				if !errors.As(err, &re) {
					t.Fatalf("%s: %v, want a RemoteError", tc.method, err)
				}
				if tc.method == "Crash" && !errors.Is(err, session.ErrPanic) {
					t.Errorf("a panic: %v, want ErrPanic", err)
				}
				if !strings.HasPrefix(re.PeerVersion, "hopwire/") || re.PeerVersion != peer.Version {
					t.Errorf("ErrorStacks %v, %s: PeerVersion %q, the target's %q", stacks, tc.method, re.PeerVersion, peer.Version)
				}
				if stacks && !strings.HasPrefix(re.Stack, tc.where) || !stacks && re.Stack != "" {
					t.Errorf("ErrorStacks %v, %s: stack %q, want it to start with %s", stacks, tc.method, re.Stack, tc.where)
				}
			}
			// The node keeps serving after a handler's panic.
			if v, err := session.Call[string](ctx, c.Conn().Service("ro"), "Get", "k"); err != nil || v != "v" {
				t.Fatalf("after a panic: %q, %v", v, err)
			}
		}
	})

	t.Run("ConnFrom calls back the client", func(t *testing.T) {
		got, err := session.Call[string](ctx, cl.Conn().Service("shop"), "Checkout", 7)
		if err != nil || got != "paid 7" {
			t.Fatalf("Checkout (a callback into the client's wallet) = %q, %v", got, err)
		}
	})

	t.Run("proxies passed home and on", func(t *testing.T) {
		// target1 → client → target2, each leg through both relays.
		checkPassOn(ctx, t, cl, chain.dial(t, 1, nil), &objs.objects)
	})

	t.Run("nested callbacks", func(t *testing.T) {
		svc := cl.Conn().Service("nest")
		var down func(ctx context.Context, n int) (int, error)
		down = func(ctx context.Context, n int) (int, error) {
			return session.Call[int](ctx, svc, "Down", n-1, down)
		}
		// Several at once, each 8 round trips deep through the relays
		// in both directions.
		const depth = 8
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				got, err := session.Call[int](ctx, svc, "Down", depth, down)
				if err != nil || got != depth*(depth+1)/2 {
					t.Errorf("Down(%d) = %d, %v, want %d", depth, got, err, depth*(depth+1)/2)
				}
			})
		}
		wg.Wait()
	})
}

// TestCallsFirstThroughTwoRelays: the connections of a Client's
// DialContext ride a link of their own that gives way to the Client's
// calls; with Options.BulkFirst it does not. (What giving way does to
// the calls' latency is BenchmarkRPCUnderBulk's to measure.)
func TestCallsFirstThroughTwoRelays(t *testing.T) {
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	grant, err := relay.ParseGrant("client:connect=" + sink.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	chain := startTwoRelays(t, &hopwire.ServeOptions{Policy: relay.NewPolicy([]*relay.Grant{grant})})
	for _, bulkFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("BulkFirst=", bulkFirst), func(t *testing.T) {
			cl := chain.dial(t, 0, &hopwire.Options{BulkFirst: bulkFirst})
			conn, err := cl.DialContext(t.Context(), "tcp", sink.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(make([]byte, 1<<20)); err != nil {
				t.Fatal(err)
			}
			dl := conn.(*session.Stream).Link()
			want := cl.Conn()
			if bulkFirst {
				want = nil
			}
			if dl == cl.Conn().Link() || dl.YieldsTo() != want {
				t.Fatalf("the connection's link yields to %p, want %p", dl.YieldsTo(), want)
			}
		})
	}
}
