package session

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// meter has a method on its value and methods on its pointer.
type meter struct{ n int }

func (m meter) Name() string   { return "meter" }
func (m *meter) Add(d int) int { m.n += d; return m.n }
func (m *meter) Reset()        { m.n = 0 }

// onlyValue has methods on its value only: exposing a copy loses nothing.
type onlyValue struct{}

func (onlyValue) Ping() string { return "pong" }

type meterSvc struct{}

func (meterSvc) Copy() Object { return ByRef(meter{}) }

// A value whose pointer type has methods it lacks is refused, with an
// error that names them, wherever it would be exposed.
func TestExposeRefusesLostPointerMethods(t *testing.T) {
	cc, sc := rpcPair(t, "pipe", nil, nil)
	err := sc.Expose("m", meter{})
	if err == nil || !strings.Contains(err.Error(), "Add, Reset") || !strings.Contains(err.Error(), "pointer receivers") {
		t.Fatalf("Expose(meter{}) = %v", err)
	}
	if err := sc.Expose("m", &meter{}); err != nil {
		t.Fatalf("Expose(&meter{}) = %v", err)
	}
	if err := sc.Expose("v", onlyValue{}); err != nil {
		t.Fatalf("Expose(onlyValue{}) = %v", err)
	}
	// Sent by reference: the call that returns it fails, and says why.
	sc.Expose("svc", meterSvc{})
	_, err = cc.Service("svc").Call(t.Context(), "Copy")
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, "pointer receivers") {
		t.Fatalf("ByRef(meter{}) as a result: %v", err)
	}
	if n := sc.NumExports(); n != 0 {
		t.Fatalf("%d exports after the refused result", n)
	}
	// And as a service of Options.Services: the session does not start.
	cl, sl := linkPair(t, "pipe", nil, nil)
	go NewConn(context.Background(), cl, nil)
	if _, err := NewConn(t.Context(), sl, &Options{Services: map[string]any{"m": meter{}}}); err == nil || !strings.Contains(err.Error(), "pointer receivers") {
		t.Fatalf("Options.Services with meter{}: %v", err)
	}
}

// store is a rich object; reader is the narrow view a service hands out.
type store struct{ m map[string]string }

func (s *store) Get(k string) (string, error) {
	v, ok := s.m[k]
	if !ok {
		return "", errors.New("no such key")
	}
	return v, nil
}
func (s *store) Put(k, v string)  { s.m[k] = v }
func (s *store) Delete(k string)  { delete(s.m, k) }
func (s *store) ReadOnly() Object { return ByRefAs[reader](s) }

type reader interface {
	Get(k string) (string, error)
}

type badView interface {
	Get(k string) (string, error)
	Watch(ch chan string)
}

func (s *store) Watch(ch chan string) {}

// Exposed through an interface, an object answers that interface's
// methods only; the others fail as unknown methods.
func TestExposeAs(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			st := &store{m: map[string]string{"k": "v"}}
			cc, sc := rpcPair(t, kind, nil, &Options{Services: map[string]any{"boot": ByRefAs[reader](st)}})
			if err := ExposeAs[reader](sc, "ro", st); err != nil {
				t.Fatal(err)
			}
			sc.Expose("rw", st)
			ctx := t.Context()
			ro, err := Call[*Ref](ctx, cc.Service("rw"), "ReadOnly")
			if err != nil {
				t.Fatal(err)
			}
			for name, r := range map[string]*Ref{"service": cc.Service("ro"), "Options.Services": cc.Service("boot"), "ByRefAs": ro} {
				if v, err := Call[string](ctx, r, "Get", "k"); err != nil || v != "v" {
					t.Fatalf("%s: Get = %q, %v", name, v, err)
				}
				for _, m := range []string{"Put", "Delete", "ReadOnly", "Watch", "Nope"} {
					_, err := r.Call(ctx, m, "k", "x")
					if !errors.Is(err, ErrNoMethod) {
						t.Fatalf("%s: %s through the narrow view: %v", name, m, err)
					}
				}
			}
			if st.m["k"] != "v" {
				t.Fatalf("the store changed through a narrow view: %v", st.m)
			}
			// The rich service still has everything.
			if err := cc.Service("rw").Call2(ctx, "Put", "k", "w"); err != nil || st.m["k"] != "w" {
				t.Fatalf("Put through the rich service: %v", err)
			}
		})
	}
}

func TestExposeAsRefusals(t *testing.T) {
	_, sc := rpcPair(t, "pipe", nil, nil)
	for name, err := range map[string]error{
		"not an interface":  ExposeAs[*store](sc, "x", &store{}),
		"ineligible method": ExposeAs[badView](sc, "x", &store{}),
		"nil":               ExposeAs[reader](sc, "x", nil),
		"empty interface":   ExposeAs[any](sc, "x", &store{}),
	} {
		if err == nil {
			t.Errorf("%s: exposed", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if err := ExposeAs[reader](sc, "x", &store{}); err != nil {
		t.Fatal(err)
	}
}
