package preauth

import (
	"net"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/transporttest"
)

// TestDeps keeps preauth a leaf like the transports that use it.
func TestDeps(t *testing.T) { transporttest.StdlibOnly(t) }

// conn is one end of a pipe, and reports whether it was closed.
func conn(t *testing.T) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func closed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// At the cap, silent connections go first (oldest first, once past the
// quiet grace), then any handshake past the slow grace; below either
// grace, nobody is evicted and the newcomer is refused.
func TestGateEviction(t *testing.T) {
	g := NewGate(2, 8*time.Second) // quiet 250ms, slow 1s (at most a second)
	if g.quiet != 250*time.Millisecond || g.slow != time.Second {
		t.Fatalf("graces %v %v", g.quiet, g.slow)
	}
	// Shorten the graces so that the test need not wait for them.
	g.quiet, g.slow = 40*time.Millisecond, 120*time.Millisecond

	talkerSrv, talker := conn(t)
	silentSrv, silentCli := conn(t)
	tk, ok := g.Admit(talkerSrv)
	if !ok {
		t.Fatal("first refused")
	}
	go talker.Write([]byte("x"))
	if _, err := tk.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	sk, ok := g.Admit(silentSrv)
	if !ok {
		t.Fatal("second refused")
	}

	// Nothing past its grace yet: refused.
	third, _ := conn(t)
	if _, ok := g.Admit(third); ok {
		t.Fatal("admitted over the cap with no stalled handshake")
	}
	if g.Held() != 2 {
		t.Fatalf("held %d", g.Held())
	}

	// The silent one goes first, although the talker is older.
	time.Sleep(60 * time.Millisecond)
	c3, ok := g.Admit(third)
	if !ok {
		t.Fatal("not admitted with a silent peer past the quiet grace")
	}
	if !sk.Evicted() || tk.Evicted() || !closed(silentCli) || closed(talker) {
		t.Fatalf("evicted: silent %v talker %v", sk.Evicted(), tk.Evicted())
	}
	g.Release(sk) // the evicted handshake's goroutine ends: the slot stays with c3
	if g.Held() != 2 {
		t.Fatalf("held %d after the evicted one's release", g.Held())
	}
	if g.Authenticated(sk) {
		t.Fatal("an evicted conn authenticated")
	}

	// Past the slow grace, the talker goes too; an authenticated conn
	// never does.
	if !g.Authenticated(c3) {
		t.Fatal("c3 evicted")
	}
	time.Sleep(130 * time.Millisecond)
	fourth, _ := conn(t)
	c4, ok := g.Admit(fourth)
	if !ok || !tk.Evicted() || c3.Evicted() {
		t.Fatalf("admitted %v; talker evicted %v, authenticated conn evicted %v", ok, tk.Evicted(), c3.Evicted())
	}
	g.Release(tk)
	fifth, _ := conn(t)
	time.Sleep(130 * time.Millisecond)
	if !g.Authenticated(c4) {
		t.Fatal("c4 evicted")
	}
	if _, ok := g.Admit(fifth); ok {
		t.Fatal("admitted with every slot held by authenticated conns")
	}
	g.Release(c3)
	g.Release(c4)
	if g.Held() != 0 {
		t.Fatalf("held %d after releasing all", g.Held())
	}
}
