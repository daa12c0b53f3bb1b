package transporttest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// LargeSize is how many bytes the "Large" case sends in each direction.
const LargeSize = 16 << 20

// watchdog is how long a conformance case may run before its conns are
// closed to unblock it.
const watchdog = time.Minute

// MakePipe returns a connected pair of conns for one conformance case: what
// c1 writes c2 reads, and the other way round. It registers with t.Cleanup
// whatever else it created; the suite closes c1 and c2 itself.
type MakePipe func(t *testing.T) (c1, c2 net.Conn)

// halfCloser is a conn whose write side can be closed on its own.
type halfCloser interface {
	CloseWrite() error
}

// TestConn runs the conformance suite over pairs made by mp, one fresh pair
// per case. Each case is a subtest; the cases run one after another.
//
// The suite requires that every error from a timed-out Read or Write
// satisfies net.Error with Timeout() == true and wraps
// os.ErrDeadlineExceeded, that Read and Write on a closed conn return errors
// wrapping net.ErrClosed, and that a peer's Close reads as io.EOF. If c1
// has a CloseWrite method, the half-close case checks it too.
func TestConn(t *testing.T, mp MakePipe) {
	cases := []struct {
		name string
		fn   func(t *testing.T, c1, c2 net.Conn)
	}{
		{"Echo", testEcho},
		{"PingPong", testPingPong},
		{"Large", testLarge},
		{"ConcurrentMethods", testConcurrentMethods},
		{"HalfClose", testHalfClose},
		{"PeerClose", testPeerClose},
		{"PeerCloseReverse", func(t *testing.T, c1, c2 net.Conn) { testPeerClose(t, c2, c1) }},
		{"CloseUnblocksRead", testCloseUnblocksRead},
		{"CloseUnblocksWrite", testCloseUnblocksWrite},
		{"UseAfterClose", testUseAfterClose},
		{"PastDeadline", testPastDeadline},
		{"ReadDeadline", testReadDeadline},
		{"ReadDeadlineMoved", testReadDeadlineMoved},
		{"WriteDeadline", testWriteDeadline},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c1, c2 := mp(t)
			fired := make(chan struct{})
			timer := time.AfterFunc(watchdog, func() {
				defer close(fired)
				t.Errorf("%s did not finish within %v; closing the conns", tc.name, watchdog)
				c1.Close()
				c2.Close()
			})
			defer func() {
				if !timer.Stop() {
					<-fired // never report after the subtest has returned
				}
				c1.Close()
				c2.Close()
			}()
			tc.fn(t, c1, c2)
		})
	}
}

// echo copies everything c reads back to c until EOF or an error, then
// closes c's write side (or c) so the other end sees the end.
func echo(c net.Conn) error {
	_, err := io.Copy(c, c)
	if hc, ok := c.(halfCloser); ok {
		hc.CloseWrite()
	}
	return err
}

func testEcho(t *testing.T, c1, c2 net.Conn) {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c1.Close()
	wg.Go(func() { echo(c2) })

	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 2, 7, 100, 1 << 10, 4 << 10, 32 << 10, 100 << 10} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		errc := make(chan error, 1)
		go func() {
			_, err := c1.Write(msg)
			errc <- err
		}()
		got := make([]byte, size)
		if _, err := io.ReadFull(c1, got); err != nil {
			t.Fatalf("size %d: read echo: %v", size, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("size %d: write: %v", size, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("size %d: echo differs from what was sent", size)
		}
	}
}

func testPingPong(t *testing.T, c1, c2 net.Conn) {
	const rounds = 200
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 8)
		for range rounds {
			if _, err := io.ReadFull(c2, buf); err != nil {
				errc <- fmt.Errorf("c2 read: %w", err)
				return
			}
			buf[0]++
			if _, err := c2.Write(buf); err != nil {
				errc <- fmt.Errorf("c2 write: %w", err)
				return
			}
		}
		errc <- nil
	}()
	buf := []byte("ping....")
	for i := range rounds {
		want := buf[0] + 1
		if _, err := c1.Write(buf); err != nil {
			t.Fatalf("round %d: c1 write: %v", i, err)
		}
		if _, err := io.ReadFull(c1, buf); err != nil {
			t.Fatalf("round %d: c1 read: %v", i, err)
		}
		if buf[0] != want {
			t.Fatalf("round %d: got %q", i, buf)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// stream writes n pseudo-random bytes from seed to w in chunks of random
// sizes and returns their SHA-256.
func stream(w io.Writer, seed uint64, n int) ([32]byte, error) {
	var key [32]byte
	key[0] = byte(seed)
	src := rand.NewChaCha8(key)
	sizes := rand.New(rand.NewPCG(seed, 7))
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(1+sizes.IntN(len(buf)), n)
		src.Read(buf[:k])
		h.Write(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			return [32]byte{}, err
		}
		n -= k
	}
	return [32]byte(h.Sum(nil)), nil
}

// digest reads exactly n bytes from r and returns their SHA-256.
func digest(r io.Reader, n int) ([32]byte, error) {
	h := sha256.New()
	if _, err := io.CopyN(h, r, int64(n)); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

func testLarge(t *testing.T, c1, c2 net.Conn) {
	type result struct {
		sum [32]byte
		err error
	}
	var sent1, sent2, got1, got2 result
	var wg sync.WaitGroup
	// run runs f and, if it fails, closes both conns so that the other
	// goroutines stop too.
	run := func(r *result, f func() ([32]byte, error)) {
		wg.Go(func() {
			if r.sum, r.err = f(); r.err != nil {
				c1.Close()
				c2.Close()
			}
		})
	}
	run(&sent1, func() ([32]byte, error) { return stream(c1, 1, LargeSize) })
	run(&sent2, func() ([32]byte, error) { return stream(c2, 2, LargeSize) })
	run(&got2, func() ([32]byte, error) { return digest(c2, LargeSize) })
	run(&got1, func() ([32]byte, error) { return digest(c1, LargeSize) })
	wg.Wait()
	for _, r := range []struct {
		what string
		err  error
	}{{"c1 write", sent1.err}, {"c2 write", sent2.err}, {"c2 read", got2.err}, {"c1 read", got1.err}} {
		if r.err != nil {
			t.Errorf("%s: %v", r.what, r.err)
		}
	}
	if t.Failed() {
		return
	}
	if got2.sum != sent1.sum {
		t.Errorf("c1→c2: SHA-256 of received %x, sent %x", got2.sum, sent1.sum)
	}
	if got1.sum != sent2.sum {
		t.Errorf("c2→c1: SHA-256 of received %x, sent %x", got1.sum, sent2.sum)
	}
}

// testConcurrentMethods calls every method of both conns from several
// goroutines at once; under -race it finds unsynchronised state.
func testConcurrentMethods(t *testing.T, c1, c2 net.Conn) {
	const (
		writers = 4
		perW    = 64
		chunk   = 1000
	)
	total := writers * perW * chunk
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers+4)
	fail := func(err error) {
		errs <- err
		c1.Close() // unblock the others
		c2.Close()
	}
	for range writers {
		wg.Go(func() {
			buf := make([]byte, chunk)
			for range perW {
				if _, err := c1.Write(buf); err != nil {
					fail(fmt.Errorf("write: %w", err))
					return
				}
			}
		})
	}
	wg.Go(func() {
		n, err := io.CopyN(io.Discard, c2, int64(total))
		if err != nil {
			fail(fmt.Errorf("read %d of %d bytes: %w", n, total, err))
		}
	})
	for range 2 {
		wg.Go(func() {
			for range 50 {
				for _, c := range []net.Conn{c1, c2} {
					_ = c.LocalAddr().String() + c.RemoteAddr().Network()
					far := time.Now().Add(time.Hour)
					if err := c.SetDeadline(far); err != nil {
						fail(fmt.Errorf("SetDeadline: %w", err))
						return
					}
					if err := c.SetReadDeadline(far); err != nil {
						fail(fmt.Errorf("SetReadDeadline: %w", err))
						return
					}
					if err := c.SetWriteDeadline(far); err != nil {
						fail(fmt.Errorf("SetWriteDeadline: %w", err))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testHalfClose(t *testing.T, c1, c2 net.Conn) {
	hc, ok := c1.(halfCloser)
	if !ok {
		t.Skipf("%T has no CloseWrite", c1)
	}
	if _, err := c1.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := hc.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	got, err := io.ReadAll(c2)
	if err != nil || string(got) != "hello" {
		t.Fatalf("c2 read %q, %v; want \"hello\" then EOF", got, err)
	}
	// c2 → c1 still works after c1 closed its write side.
	if _, err := c2.Write([]byte("world")); err != nil {
		t.Fatalf("c2 write after c1 CloseWrite: %v", err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c1, buf); err != nil || string(buf) != "world" {
		t.Fatalf("c1 read %q, %v; want \"world\"", buf, err)
	}
}

func testPeerClose(t *testing.T, c1, c2 net.Conn) {
	if _, err := c2.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := c2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, err := io.ReadAll(c1)
	if err != nil || string(got) != "bye" {
		t.Fatalf("read %q, %v after the peer closed; want \"bye\" then io.EOF", got, err)
	}
	if n, err := c1.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("second read after EOF: %d, %v; want 0, io.EOF", n, err)
	}
}

// blocked waits until op has been blocked for a moment, then calls unblock
// and checks that op returns an error soon after.
func blocked(t *testing.T, what string, op func() error, unblock func()) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- op() }()
	select {
	case err := <-errc:
		t.Fatalf("%s returned before it was unblocked: %v", what, err)
	case <-time.After(50 * time.Millisecond):
	}
	unblock()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatalf("%s returned no error", what)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still blocked 10s after it should have been unblocked", what)
	}
	return nil
}

func testCloseUnblocksRead(t *testing.T, c1, c2 net.Conn) {
	blocked(t, "Read", func() error {
		_, err := c1.Read(make([]byte, 10))
		return err
	}, func() { c1.Close() })
}

// fillUntilError writes to c until a write fails.
func fillUntilError(c net.Conn) error {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

func testCloseUnblocksWrite(t *testing.T, c1, c2 net.Conn) {
	// Fill c1's send path until a write blocks, then close c1: the write
	// must return. Give the buffers a moment to fill first.
	errc := make(chan error, 1)
	go func() { errc <- fillUntilError(c1) }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("Write failed while the peer was alive: %v", err)
	default:
	}
	c1.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Write returned no error after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write still blocked 10s after Close")
	}
}

func testUseAfterClose(t *testing.T, c1, c2 net.Conn) {
	if err := c1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c1.Close() // a second Close must not panic; its error is not specified
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v; want an error wrapping net.ErrClosed", err)
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v; want an error wrapping net.ErrClosed", err)
	}
}

// isTimeout checks that err is a timeout as the suite requires.
func isTimeout(t *testing.T, what string, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%s: %v (%T); want a net.Error with Timeout() true", what, err, err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: %v; want an error wrapping os.ErrDeadlineExceeded", what, err)
	}
}

func testPastDeadline(t *testing.T, c1, c2 net.Conn) {
	if err := c1.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c1.Read(make([]byte, 1))
	isTimeout(t, "Read with a past deadline", err)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Read with a past deadline took %v", d)
	}
	// The timeout is not fatal: clear the deadline and read again.
	if err := c1.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go c2.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c1, buf); err != nil {
		t.Fatalf("Read after clearing the deadline: %v", err)
	}

	// Last, as a timed-out write may leave the conn unusable (TLS).
	if err := c1.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = c1.Write([]byte("x"))
	isTimeout(t, "Write with a past deadline", err)
}

func testReadDeadline(t *testing.T, c1, c2 net.Conn) {
	const d = 100 * time.Millisecond
	if err := c1.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c1.Read(make([]byte, 1))
	took := time.Since(start)
	isTimeout(t, "Read past its deadline", err)
	if took < d/2 || took > 10*time.Second {
		t.Errorf("Read with a %v deadline returned after %v", d, took)
	}
	// Data that arrives later is still read once the deadline is cleared.
	if err := c1.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go c2.Write([]byte("late"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c1, buf); err != nil || string(buf) != "late" {
		t.Fatalf("read %q, %v after clearing the deadline", buf, err)
	}
}

// testReadDeadlineMoved extends a deadline while a Read is blocked on it.
func testReadDeadlineMoved(t *testing.T, c1, c2 net.Conn) {
	if err := c1.SetReadDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	type res struct {
		n   int
		err error
	}
	resc := make(chan res, 1)
	go func() {
		buf := make([]byte, 4)
		n, err := io.ReadFull(c1, buf)
		resc <- res{n, err}
	}()
	if err := c1.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := c2.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	r := <-resc
	if r.err != nil {
		t.Fatalf("Read after its deadline was extended: %d bytes, %v", r.n, r.err)
	}
}

func testWriteDeadline(t *testing.T, c1, c2 net.Conn) {
	// c2 never reads, so c1's writes block once the buffers between them
	// are full; the deadline must end the blocked write.
	if err := c1.SetWriteDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fillUntilError(c1) }()
	select {
	case err := <-errc:
		isTimeout(t, "Write past its deadline", err)
	case <-time.After(20 * time.Second):
		t.Fatal("Write still blocked 20s after its deadline")
	}
}
