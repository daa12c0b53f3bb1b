package session

import (
	"errors"
	"io"
	"strings"
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
