package connect

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// slowWriter records each Write and blocks until released, so datagrams
// sent meanwhile pile up.
type slowWriter struct {
	mu      sync.Mutex
	writes  [][]byte
	gate    chan struct{}
	failing error
}

func (w *slowWriter) Write(p []byte) (int, error) {
	<-w.gate
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing != nil {
		return 0, w.failing
	}
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

// Datagrams sent while a write is in progress go out together in the next
// write, in order, each framed; a full buffer drops datagrams rather than
// blocking; a failed write fails later sends.
func TestDatagramSenderBatches(t *testing.T) {
	w := &slowWriter{gate: make(chan struct{})}
	d := NewDatagramSender(w)
	for i := range 100 {
		if err := d.Send(bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	close(w.gate) // let every write through
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) > 3 {
		t.Fatalf("100 datagrams queued behind one write took %d writes", len(w.writes))
	}
	r := bytes.NewReader(bytes.Join(w.writes, nil))
	buf := make([]byte, 2000)
	for i := range 100 {
		n, err := ReadDatagram(r, buf)
		if err != nil || n != 1000 || buf[0] != byte(i) || buf[n-1] != byte(i) {
			t.Fatalf("datagram %d: %d bytes, %v", i, n, err)
		}
	}
	if _, err := ReadDatagram(r, buf); err != io.EOF {
		t.Fatalf("after the last datagram: %v", err)
	}
	if err := d.Send([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}

	// A writer that never returns: Send still never blocks, and drops
	// once the buffer is full.
	stuck := &slowWriter{gate: make(chan struct{})}
	d = NewDatagramSender(stuck)
	for range 1000 {
		if err := d.Send(make([]byte, 1200)); err != nil {
			t.Fatal(err)
		}
	}
	if d.Dropped() == 0 {
		t.Fatal("1.2 MB queued behind a stuck write and nothing dropped")
	}
	stuck.failing = errors.New("broken")
	close(stuck.gate)
	if err := d.Close(); err == nil || err.Error() != "broken" {
		t.Fatalf("Close after a failed write: %v", err)
	}
	if err := d.Send([]byte("x")); err == nil || err.Error() != "broken" {
		t.Fatalf("Send after a failed write: %v", err)
	}
}
