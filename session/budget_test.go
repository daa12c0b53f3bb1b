package session

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// A node-wide budget: while it is spent, new streams are refused (pings
// are not); once readers take what they were sent, streams are accepted
// again.
func TestBudgetRefusesStreams(t *testing.T) {
	b := NewBudget(128 << 10)
	cl, sl := linkPair(t, "tcp", nil, &LinkConfig{Budget: b})
	s, err := cl.OpenStream(t.Context(), KindConnect, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go s.Write(make([]byte, 200<<10))
	held, err := sl.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	waitFor(t, b.Exhausted)
	if b.Used() != sl.Buffered() {
		t.Errorf("budget counts %d, the link holds %d", b.Used(), sl.Buffered())
	}
	s2, err := cl.OpenStream(t.Context(), KindConnect, []byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.Read(make([]byte, 1))
	var se *StreamError
	if !errors.As(err, &se) || se.Code != AbortRefused || !strings.Contains(se.Reason, "budget exhausted") {
		t.Fatalf("stream opened past the budget: %v", err)
	}
	if _, err := cl.Ping(t.Context()); err != nil {
		t.Fatalf("ping past the budget: %v", err)
	}
	if _, err := io.CopyN(io.Discard, held, 200<<10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !b.Exhausted() })
	s3, err := cl.OpenStream(t.Context(), KindConnect, []byte("z"))
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := sl.AcceptStream(t.Context()); err != nil {
		t.Fatal(err)
	}
	held.Close()
	waitFor(t, func() bool { return b.Used() == 0 })
}

// Frames are counted at what they cost smux, not at their payload alone.
func TestTinyFramesCounted(t *testing.T) {
	cl, sl := linkPair(t, "tcp", nil, nil)
	s, err := cl.OpenStream(t.Context(), KindConnect, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held, err := sl.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for range 1000 {
		if _, err := s.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	// 1000 records of one byte: 5 bytes each on the wire, and a frame.
	waitFor(t, func() bool { return sl.Buffered() >= 1000*(5+frameOverhead) })
	if _, err := io.ReadFull(held, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sl.Buffered() == 0 })
}

// Admit refuses a link with a reason the client reads, and hears when an
// admitted link ends.
func TestLinkAdmit(t *testing.T) {
	var mu sync.Mutex
	links := 0
	admit := func(p Peer) (func(), error) {
		mu.Lock()
		defer mu.Unlock()
		if links >= 1 {
			return nil, errors.New("too many links from " + p.Principal)
		}
		links++
		return func() {
			mu.Lock()
			links--
			mu.Unlock()
		}, nil
	}
	scfg := &LinkConfig{Peer: Peer{Principal: "alice"}, Admit: admit}
	cl, sl := linkPair(t, "tcp", nil, scfg)
	if _, err := cl.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	a, b := connPair(t, "tcp")
	go func() {
		if l, err := NewLink(b, Server, scfg); err == nil {
			l.Close()
		}
	}()
	_, err := NewLink(a, Client, nil)
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "refused by peer: too many links from alice") {
		t.Fatalf("second link: %v", err)
	}
	sl.Close()
	cl.Close()
	mu.Lock()
	n := links
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d links still counted after close", n)
	}
}
