// Package udpflow keeps the UDP flows of a forward: for each key (a
// client's address, or a destination) one upstream connection whose
// datagrams go back to that client, closed when the flow has been idle
// (no datagram either way) for Table.Idle. hopwire's -L …/udp forwards
// and its SOCKS5 UDP ASSOCIATE use it, so that a client that stops
// sending does not hold an upstream connection (a stream through the
// chain) forever.
package udpflow

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultIdle is Table.Idle's default: a flow with no datagram either way
// for this long is closed (a DNS lookup is long over by then; a chattier
// protocol keeps its flow alive).
const DefaultIdle = time.Minute

// Table holds the flows of one forward. Its zero value is ready to use;
// Close ends every flow.
type Table struct {
	Idle time.Duration // 0: DefaultIdle

	mu     sync.Mutex
	flows  map[string]*flow
	closed bool
	wg     sync.WaitGroup
}

type flow struct {
	c    net.Conn
	last atomic.Int64 // unix nanoseconds of the last datagram either way
}

// Send sends payload on the flow of key, dialing it first if there is
// none (dial returns a connection whose reads and writes are whole
// datagrams). Each datagram that comes back is given to reply, on the
// flow's own goroutine. A dial error is returned; a write error ends the
// flow.
func (t *Table) Send(key string, payload []byte, dial func() (net.Conn, error), reply func([]byte)) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return net.ErrClosed
	}
	f := t.flows[key]
	t.mu.Unlock()
	if f == nil {
		c, err := dial()
		if err != nil {
			return err
		}
		f = &flow{c: c}
		f.last.Store(time.Now().UnixNano())
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return net.ErrClosed
		}
		if t.flows == nil {
			t.flows = map[string]*flow{}
		}
		if old := t.flows[key]; old != nil { // dialed twice at once: keep one
			t.mu.Unlock()
			c.Close()
			f = old
		} else {
			t.flows[key] = f
			t.wg.Add(1)
			t.mu.Unlock()
			go t.read(key, f, reply)
		}
	}
	f.last.Store(time.Now().UnixNano())
	if _, err := f.c.Write(payload); err != nil {
		t.drop(key, f)
		return err
	}
	return nil
}

// read passes the flow's datagrams to reply until it fails or has been
// idle for the table's Idle.
func (t *Table) read(key string, f *flow, reply func([]byte)) {
	defer t.wg.Done()
	defer t.drop(key, f)
	idle := t.Idle
	if idle <= 0 {
		idle = DefaultIdle
	}
	b := make([]byte, 65535)
	for {
		f.c.SetReadDeadline(time.Unix(0, f.last.Load()).Add(idle))
		n, err := f.c.Read(b)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() && time.Since(time.Unix(0, f.last.Load())) < idle {
				continue // a datagram went out meanwhile: not idle yet
			}
			return
		}
		f.last.Store(time.Now().UnixNano())
		reply(b[:n])
	}
}

// drop removes and closes f, if it is still key's flow.
func (t *Table) drop(key string, f *flow) {
	t.mu.Lock()
	if t.flows[key] == f {
		delete(t.flows, key)
	}
	t.mu.Unlock()
	f.c.Close()
}

// Len returns the number of flows open.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.flows)
}

// Close ends every flow and waits for their goroutines.
func (t *Table) Close() {
	t.mu.Lock()
	t.closed = true
	flows := t.flows
	t.flows = nil
	t.mu.Unlock()
	for _, f := range flows {
		f.c.Close()
	}
	t.wg.Wait()
}
