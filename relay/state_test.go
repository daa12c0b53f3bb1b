//go:build unix

package relay

import (
	"context"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
)

// waitState polls the state socket until ok accepts a snapshot.
func waitState(t *testing.T, sock string, what string, ok func(State) bool) State {
	t.Helper()
	return pollState(t, sock, false, what, ok)
}

// waitStateGC is waitState with a collection before each reading: Go's
// splice(2) keeps pipe pairs in a sync.Pool, closed only by finalizers
// after the pool drops them (two collections), so without collections
// the descriptors count pipes of connections long gone.
func waitStateGC(t *testing.T, sock string, what string, ok func(State) bool) State {
	t.Helper()
	return pollState(t, sock, true, what, ok)
}

func pollState(t *testing.T, sock string, gc bool, what string, ok func(State) bool) State {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := ReadState(t.Context(), sock, gc)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("state never showed %s: %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The state socket reports sessions, streams, pre-auth connections and
// drops, and returns to its baseline when sessions end.
func TestStateEndpoint(t *testing.T) {
	client := newIdentity(t, "client")
	id := newIdentity(t, "r1")
	sock := filepath.Join(t.TempDir(), "state.sock")
	g := mustGrant(t, "client:connect=127.0.0.1/32:1-65535")
	srv, err := New(&Options{Name: "r1", Identity: id, Trust: certs.Trust{Store: certs.StoreOf(client)},
		Policy: NewPolicy([]*Grant{g}), Listen: []string{"tls://127.0.0.1:0"}, StateSocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state socket mode %v, want 0600", fi.Mode().Perm())
	}
	r1 := &testNode{id: id, srv: srv, url: srv.Addrs()[0]}
	echo := echoServer(t) // before the baseline: its listener is in this process too
	// The baseline is taken once the descriptors of the tests before this
	// one (in this process too) are gone: the same count in readings
	// 100ms apart, with collections between.
	var prev State
	base := waitStateGC(t, sock, "an idle node, settled", func(s State) bool {
		settled := s.Sessions == 0 && s.PreAuth == 0 && s.FDs == prev.FDs
		prev = s
		if !settled {
			time.Sleep(100 * time.Millisecond)
		}
		return settled
	})
	t.Logf("baseline: %+v", base)
	if base.Node != "r1" || base.Goroutines <= 0 || base.FDs <= 0 || base.Children != 0 {
		t.Fatalf("baseline: %+v", base)
	}

	// A silent TCP connection waits in pre-auth.
	raw, err := net.Dial("tcp", hostPort(t, r1.url))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, sock, "one pre-auth connection", func(s State) bool { return s.PreAuth == 1 })
	raw.Close()
	waitState(t, sock, "the silent connection dropped", func(s State) bool {
		return s.PreAuth == 0 && s.Drops["tls:silent"] == 1
	})

	// A session with an open forward, then a denied one.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	route, err := dialer(client, r1).Dial(ctx, nil, mustAddr(t, r1.url))
	if err != nil {
		t.Fatal(err)
	}
	c, err := route.DialContext(ctx, "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	// The route's RPC session and its connections' own (hop.Route's data
	// link), with the connect stream on it.
	st := waitState(t, sock, "two sessions with a connect stream", func(s State) bool { return s.Sessions == 2 && s.Streams >= 3 })
	if st.Refs != 0 {
		t.Errorf("refs %d with no reference exported", st.Refs)
	}
	d, err := route.DialContext(ctx, "tcp", "127.0.0.2:9")
	if err == nil {
		_, err = d.Read(make([]byte, 1))
		d.Close()
	}
	if err == nil {
		t.Fatal("a denied connect succeeded")
	}
	waitState(t, sock, "one denial", func(s State) bool { return s.Drops["denied"] == 1 })
	c.Close()
	route.Close()
	end := waitStateGC(t, sock, "back to baseline", func(s State) bool {
		return s.Sessions == 0 && s.Streams == 0 && s.FDs == base.FDs && s.Goroutines <= base.Goroutines
	})
	if end.Drops["link"] != 0 || end.Drops["session"] != 0 {
		t.Errorf("drops: %v", end.Drops)
	}
	srv.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("state socket left behind: %v", err)
	}
}

// A state socket path that is another kind of file is refused, never
// removed.
func TestStateSocketNotASocket(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(p, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := New(&Options{StateSocket: p})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Start(t.Context()); err == nil {
		t.Fatal("Start over a regular file succeeded")
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "keep" {
		t.Fatalf("the file was touched: %q %v", b, err)
	}
}

// The state socket is 0600 from the moment it appears at its path,
// whatever the umask: a watcher never sees it with another mode. (It was
// created with the umask's mode and chmod'ed after, and the watcher saw
// it 0777 about a hundred times a start: review F11.) Nothing is left
// beside it, and Close removes it.
func TestStateSocketPrivate(t *testing.T) {
	old := syscall.Umask(0) // the loosest: a socket would be created 0777
	defer syscall.Umask(old)
	for range 30 { // the old window was short: catch it even under -race
		dir := t.TempDir()
		sock := filepath.Join(dir, "state.sock")
		var loose atomic.Int64
		stop := make(chan struct{})
		var watch sync.WaitGroup
		watch.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if fi, err := os.Lstat(sock); err == nil && fi.Mode().Perm() != 0o600 {
					loose.Add(1)
				}
			}
		})
		srv, err := New(&Options{Name: "n", StateSocket: sock})
		if err != nil {
			t.Fatal(err)
		}
		err = srv.Start(t.Context())
		close(stop)
		watch.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if n := loose.Load(); n > 0 {
			t.Errorf("the state socket was seen %d times with a mode other than 0600", n)
		}
		fi, err := os.Lstat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("state socket %v, want a socket of mode 0600", fi.Mode())
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
			t.Errorf("beside the socket: %v %v", ents, err)
		}
		if st, err := ReadState(t.Context(), sock, false); err != nil || st.Node != "n" {
			t.Fatalf("ReadState: %+v %v", st, err)
		}
		srv.Close()
		if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
			t.Errorf("left behind after Close: %v %v", ents, err)
		}
		if t.Failed() {
			break
		}
	}
}
