package dtls_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/dtls"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// send writes n pseudo-random bytes from seed to w in chunks of random
// sizes and returns their SHA-256.
func send(w io.Writer, seed uint64, n int) ([32]byte, error) {
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

// recv reads exactly n bytes from r and returns their SHA-256.
func recv(r io.Reader, n int) ([32]byte, error) {
	h := sha256.New()
	if _, err := io.CopyN(h, r, int64(n)); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

// exchange sends n bytes each way between c1 and c2 at once and checks
// that what arrives is what was sent.
func exchange(t *testing.T, c1, c2 net.Conn, n int) {
	t.Helper()
	type result struct {
		sum [32]byte
		err error
	}
	var sent1, sent2, got1, got2 result
	var wg sync.WaitGroup
	run := func(r *result, f func() ([32]byte, error)) {
		wg.Go(func() {
			if r.sum, r.err = f(); r.err != nil {
				c1.Close()
				c2.Close()
			}
		})
	}
	start := time.Now()
	run(&sent1, func() ([32]byte, error) { return send(c1, 1, n) })
	run(&sent2, func() ([32]byte, error) { return send(c2, 2, n) })
	run(&got2, func() ([32]byte, error) { return recv(c2, n) })
	run(&got1, func() ([32]byte, error) { return recv(c1, n) })
	wg.Wait()
	took := time.Since(start)
	for what, err := range map[string]error{"c1 write": sent1.err, "c2 write": sent2.err, "c2 read": got2.err, "c1 read": got1.err} {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	if t.Failed() {
		return
	}
	if got2.sum != sent1.sum || got1.sum != sent2.sum {
		t.Fatalf("data differs: c1→c2 %x/%x, c2→c1 %x/%x", sent1.sum, got2.sum, sent2.sum, got1.sum)
	}
	t.Logf("%d MiB each way in %v (%.1f MB/s each way)", n>>20, took.Round(time.Millisecond), float64(n)/took.Seconds()/1e6)
}

// TestLoss sends data both ways through a UDP proxy that drops, reorders
// and delays datagrams, handshake included.
func TestLoss(t *testing.T) {
	p := pairIDs(t)
	for _, tc := range []struct {
		name string
		drop float64
		size int
	}{
		{"1%", 0.01, 8 << 20},
		{"5%", 0.05, 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			opts := &dtls.Options{HandshakeTimeout: 20 * time.Second}
			ln := listen(t, p.server, opts)
			proxy := transporttest.NewUDPProxy(t, ln.Addr().String(), transporttest.Faults{
				Seed:    seed,
				Drop:    tc.drop,
				Reorder: 0.02,
				Delay:   time.Millisecond,
				Jitter:  200 * time.Microsecond,
			})
			c1, c2 := connPair(t, ln, proxy.Addr().String(), p.cli, opts)
			exchange(t, c1, c2, tc.size)
			t.Logf("c1: %s", c1.Stats())
			t.Logf("c2: %s", c2.Stats())
			st := proxy.Stats()
			t.Logf("proxy: %d forwarded, %d dropped, %d reordered", st.Forwarded, st.Dropped, st.Reordered)
			if st.Dropped == 0 || st.Reordered == 0 {
				t.Errorf("the proxy did no harm: %+v", st)
			}
		})
	}
}

// BenchmarkThroughput measures one-way bulk transfer over loopback.
func BenchmarkThroughput(b *testing.B) {
	for _, mtu := range []int{dtls.DefaultMTU, 8192} {
		b.Run(fmt.Sprintf("mtu=%d", mtu), func(b *testing.B) {
			benchThroughput(b, &dtls.Options{MTU: mtu, MaxMTU: mtu})
		})
	}
}

func benchThroughput(b *testing.B, opts *dtls.Options) {
	p := pairIDs(b)
	ln := listen(b, p.server, opts)
	c1, c2 := connPair(b, ln, "", p.cli, opts)
	const chunk = 1 << 20
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, c2, int64(b.N)*chunk)
		done <- err
	}()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	for range b.N {
		if _, err := c1.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.Logf("sender: %s", c1.Stats())
}

// lossyPair returns a pair of conns through a proxy dropping drop of the
// datagrams, with opts on both ends.
func lossyPair(t *testing.T, drop float64, opts *dtls.Options) (c1, c2 *dtls.Conn) {
	t.Helper()
	p := pairIDs(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	ln := listen(t, p.server, opts)
	proxy := transporttest.NewUDPProxy(t, ln.Addr().String(), transporttest.Faults{
		Seed: seed, Drop: drop, Reorder: 0.02, Delay: time.Millisecond,
	})
	return connPair(t, ln, proxy.Addr().String(), p.cli, opts)
}

// TestCloseDelivers: Close right after a large Write still delivers all of
// it, then io.EOF, over a lossy path.
func TestCloseDelivers(t *testing.T) {
	c1, c2 := lossyPair(t, 0.05, &dtls.Options{HandshakeTimeout: 20 * time.Second, Linger: 20 * time.Second})
	const n = 1 << 20
	errc := make(chan error, 1)
	var sum [32]byte
	go func() {
		var err error
		sum, err = send(c1, 3, n)
		if err == nil {
			err = c1.Close()
		}
		errc <- err
	}()
	got, err := recv(c2, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got != sum {
		t.Fatal("data differs")
	}
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c2.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the data: %d, %v; want io.EOF", n, err)
	}
}

// TestSlowReader: a reader that pauses long enough for the sender to fill
// the window (and its window updates to be lost now and then) still gets
// everything.
func TestSlowReader(t *testing.T) {
	c1, c2 := lossyPair(t, 0.05, &dtls.Options{HandshakeTimeout: 20 * time.Second, Window: 64 << 10})
	const n = 2 << 20
	errc := make(chan error, 1)
	var sum [32]byte
	go func() {
		var err error
		sum, err = send(c1, 4, n)
		errc <- err
	}()
	h := sha256.New()
	buf := make([]byte, 200<<10)
	for got := 0; got < n; {
		time.Sleep(20 * time.Millisecond) // the window fills meanwhile
		c2.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, err := io.ReadAtLeast(c2, buf[:min(len(buf), n-got)], 1)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
		for k < len(buf) && got+k < n {
			c2.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
			m, err := c2.Read(buf[k:min(len(buf), n-got)])
			k += m
			if err != nil {
				break
			}
		}
		h.Write(buf[:k])
		got += k
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != sum {
		t.Fatal("data differs")
	}
	t.Logf("c1: %s", c1.Stats())
}
