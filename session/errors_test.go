package session

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/internal/evilpeer"
	"github.com/hopwire/hopwire/session/internal/wire"
)

type badNames struct{}

func (badNames) Open() error {
	return &fs.PathError{Op: "open", Path: "caf\xe9.txt", Err: fs.ErrNotExist} // Latin-1
}

// An error whose text is not UTF-8 (a file name in another encoding)
// reaches the caller with its invalid bytes replaced; the session lives.
func TestErrorTextNotUTF8(t *testing.T) {
	cc, sc := rpcPair(t, "pipe", nil, nil)
	sc.Expose("b", badNames{})
	_, err := cc.Service("b").Call(t.Context(), "Open")
	var re *RemoteError
	if !errors.As(err, &re) || !errors.Is(err, fs.ErrNotExist) || re.Message != "open caf\uFFFD.txt: file does not exist" {
		t.Fatalf("err = %v", err)
	}
	if err := cc.Err(); err != nil {
		t.Fatalf("the session ended: %v", err)
	}
}

// With Options.ErrorStacks, a handler's error carries where it came from:
// the handler that returned it, or the frames of its panic; and below,
// the stack of the remote error it wraps. The peer's version comes along.
func TestErrorStacks(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			opts := &Options{ErrorStacks: true}
			cc, sc := rpcPair(t, kind, opts, opts)
			sc.Expose("calc", &calc{})
			ctx := t.Context()
			calc := cc.Service("calc")

			_, err := calc.Call(ctx, "Div", 1, 0)
			re := remoteError(t, err)
			if !strings.HasPrefix(re.Stack, "returned by "+modulePath+"/session.(*calc).Div\n\t") || !strings.Contains(re.Stack, "rpc_test.go:") {
				t.Errorf("a returned error's stack:\n%s", re.Stack)
			}
			if re.PeerVersion != software || re.Error() != "remote *errors.errorString: division by zero" {
				t.Errorf("PeerVersion %q, Error() %q", re.PeerVersion, re.Error())
			}

			_, err = calc.Call(ctx, "Panic")
			re = remoteError(t, err)
			if !strings.HasPrefix(re.Stack, modulePath+"/session.(*calc).Panic(") && !strings.HasPrefix(re.Stack, modulePath+"/session.(*calc).Panic\n") {
				t.Errorf("a panic's stack starts elsewhere:\n%s", re.Stack)
			}
			for _, not := range []string{"runtime.gopanic", "reflect.", "(*Conn).invoke", "runtime/debug"} {
				if strings.Contains(re.Stack, not) {
					t.Errorf("a panic's stack shows %s:\n%s", not, re.Stack)
				}
			}
			if !errors.Is(err, ErrPanic) {
				t.Errorf("panic: %v", err)
			}
			t.Logf("a panic's stack:\n%s", re.Stack)

			// A handler that fails with the error of a callback: the
			// callback's stack (from the client) follows its own.
			fail := func(ctx context.Context, x int) (int, error) { return 0, fmt.Errorf("callback failed on %d", x) }
			_, err = calc.Call(ctx, "Apply", fail, 7)
			re = remoteError(t, err)
			head, tail, ok := strings.Cut(re.Stack, "\nremote stack ("+software+"):\n")
			if !ok || !strings.HasPrefix(head, "returned by "+modulePath+"/session.(*calc).Apply\n") ||
				!strings.HasPrefix(tail, "returned by "+modulePath+"/session.TestErrorStacks.") {
				t.Errorf("a nested stack:\n%s", re.Stack)
			}
			t.Logf("a nested stack:\n%s", re.Stack)
			// Errors of the session layer itself have none.
			_, err = calc.Call(ctx, "Nope")
			if re = remoteError(t, err); re.Stack != "" || !errors.Is(err, ErrNoMethod) {
				t.Errorf("no-method: %v, stack %q", err, re.Stack)
			}
		})
	}
}

// Without Options.ErrorStacks no stack is sent, and the caller still
// learns the peer's version.
func TestErrorStacksOffByDefault(t *testing.T) {
	cc, sc := rpcPair(t, "pipe", nil, nil)
	sc.Expose("calc", &calc{})
	for _, m := range []string{"Div", "Panic"} {
		_, err := cc.Service("calc").Call(t.Context(), m, 1, 0)
		if m == "Panic" {
			_, err = cc.Service("calc").Call(t.Context(), m)
		}
		re := remoteError(t, err)
		if re.Stack != "" || re.PeerVersion != software {
			t.Errorf("%s: stack %q, version %q", m, re.Stack, re.PeerVersion)
		}
	}
}

func remoteError(t *testing.T, err error) *RemoteError {
	t.Helper()
	var re *RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("not a RemoteError: %v", err)
	}
	return re
}

// On the wire: the stack field is sent only with Options.ErrorStacks, and
// only to a peer that announced it reads it.
func TestErrorStacksOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		name       string
		stacks     bool
		caps       []string
		wantStacks bool
	}{
		{"off", false, []string{capErrorStack}, false},
		{"on", true, []string{capErrorStack}, true},
		{"on, to an old peer", true, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := connPair(t, "tcp")
			done := make(chan *Conn, 1)
			go func() {
				l, err := NewLink(b, Server, nil)
				if err != nil {
					done <- nil
					return
				}
				c, _ := NewConn(context.Background(), l, &Options{ErrorStacks: tc.stacks, Services: map[string]any{"calc": &calc{}}})
				done <- c
			}()
			p := evilpeer.New(a)
			t.Cleanup(func() { p.Close() })
			h := evilpeer.GoodHello()
			h.Caps = tc.caps
			if err := p.SendHello(h); err != nil {
				t.Fatal(err)
			}
			if sh, err := p.ReadHello(5 * time.Second); err != nil || sh.Text != software {
				t.Fatalf("server hello: %+v, %v", sh, err)
			}
			p.Start()
			r, err := p.OpenRPC(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			srv := <-done
			if srv == nil {
				t.Fatal("no server session")
			}
			t.Cleanup(func() { srv.Close() })
			for id, method := range map[uint64]string{1: "Open", 2: "Panic"} {
				args := []byte{0x80}
				if method == "Open" {
					args = []byte{0x81, 0x61, 'x'}
				}
				if err := r.Msg(evilpeer.Call(id, 0, "calc", method, args)); err != nil {
					t.Fatal(err)
				}
				m, err := r.WaitReply(t.Context(), id)
				if err != nil || m.Kind != wire.MsgError {
					t.Fatalf("%s: %+v, %v", method, m, err)
				}
				if (m.Stack != "") != tc.wantStacks {
					t.Errorf("%s: stack %q", method, m.Stack)
				}
			}
		})
	}
}
