package udpflow

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// udpEcho answers every datagram with itself.
func udpEcho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			pc.WriteTo(b[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

// Flows carry datagrams both ways, one upstream per key, and close after
// Idle without traffic; Close ends the rest.
func TestFlows(t *testing.T) {
	echo := udpEcho(t)
	tab := &Table{Idle: 300 * time.Millisecond}
	got := make(chan string, 8)
	dials := 0
	dial := func() (net.Conn, error) { dials++; return net.Dial("udp", echo) }
	for _, k := range []string{"a", "b", "a"} {
		if err := tab.Send(k, []byte("to-"+k), dial, func(b []byte) { got <- string(b) }); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != "to-"+k {
				t.Fatalf("flow %s got %q", k, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no reply on flow %s", k)
		}
	}
	if dials != 2 || tab.Len() != 2 {
		t.Fatalf("%d dials, %d flows; want 2 and 2", dials, tab.Len())
	}
	// Keep "a" busy past the idle time; "b" goes quiet.
	for range 6 {
		time.Sleep(100 * time.Millisecond)
		tab.Send("a", []byte("keep"), dial, func([]byte) {})
	}
	if tab.Len() != 1 {
		t.Fatalf("%d flows after b went idle, want 1 (a)", tab.Len())
	}
	tab.Close()
	if tab.Len() != 0 {
		t.Fatal("flows left after Close")
	}
	if err := tab.Send("c", nil, dial, func([]byte) {}); err == nil {
		t.Fatal("Send after Close worked")
	}
}
