package dtls

import (
	"net"
	"os"
	"sync"
	"time"
)

// deadline is a settable point in time with a channel that is closed when
// it passes, so that blocked calls can select on it. The zero value has no
// deadline only after init.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline has passed
}

func (d *deadline) init() { d.cancel = make(chan struct{}) }

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until its func has closed cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel that is closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// opError wraps err as net does for the conn c and the operation op, so
// that a deadline reads as a net.Error with Timeout() and errors.Is finds
// os.ErrDeadlineExceeded, net.ErrClosed and our sentinels through it.
func opError(op string, local, remote net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "dtls", Source: local, Addr: remote, Err: err}
}

// errTimeout is what a Read or Write past its deadline returns inside the
// *net.OpError.
var errTimeout error = os.ErrDeadlineExceeded
