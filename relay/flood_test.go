//go:build unix

package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/hop"
)

// raiseOpenFiles raises the soft limit on open files to at least n.
func raiseOpenFiles(t *testing.T, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("getrlimit:", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("RLIMIT_NOFILE hard limit %d < %d", lim.Max, n)
	}
	old := lim
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("setrlimit:", err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// floodConn dials addr with d, optionally sends junk, and waits until the
// server closes the conn (or giveUp). It reports how long the server
// took from the connection, or -1 if it never closed it.
func floodConn(d *net.Dialer, addr string, junk []byte, giveUp time.Duration, dialed func()) (time.Duration, error) {
	c, err := d.Dial("tcp", addr)
	dialed()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if junk != nil {
		if _, err := c.Write(junk); err != nil {
			return time.Since(start), nil // already reset
		}
	}
	c.SetReadDeadline(start.Add(giveUp))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return -1, nil
			}
			return time.Since(start), nil
		}
	}
}

// dtlsHello is a datagram the DTLS listener takes for a ClientHello: a
// handshake record of DTLS 1.2, epoch 0, message type client_hello, and
// random bytes after.
func dtlsHello() []byte {
	b := make([]byte, 120)
	rand.Read(b)
	b[0], b[1], b[2], b[3], b[4] = 22, 0xfe, 0xfd, 0, 0
	b[13] = 1
	return b
}

// TestPreAuthFlood is scenario 10: 2,000 silent TCP connections, 2,000
// sending random bytes and 500 that begin a TLS record and stall
// (slowloris) to a TLS listener, and a flood of DTLS
// ClientHellos from 500 sources to a DTLS listener. The node holds at
// most MaxHandshakes unauthenticated peers per listener, closes every
// flood connection by the handshake deadline, its heap stays bounded, and
// a legitimate client still connects within a second during the flood.
// Then a slowloris flood from 64 addresses in 8 networks that renews its
// handshakes a few hundred times a second (review F7): the client still
// connects within a second.
func TestPreAuthFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a flood of 4,500 connections")
	}
	const (
		silent   = 2000
		noisy    = 2000
		loris    = 500
		udpPeers = 500
		deadline = 3 * time.Second
		maxHS    = 64
	)
	raiseOpenFiles(t, 16384)
	client := newIdentity(t, "client")
	id := newIdentity(t, "flooded")
	srv, err := New(&Options{Name: "flooded", Identity: id, Trust: certs.Trust{Store: certs.StoreOf(client)},
		Listen:           []string{"tls://127.0.0.1:0", "dtls://127.0.0.1:0"},
		HandshakeTimeout: deadline, MaxHandshakes: maxHS})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	node := &testNode{id: id, srv: srv, url: srv.Addrs()[0]}
	tlsAddr := hostPort(t, srv.Addrs()[0])
	dtlsAddr := hostPort(t, srv.Addrs()[1])
	d := &hop.Dialer{Identity: client, Trust: func(hop.Addr) certs.Trust { return certs.Trust{Pinned: []string{id.Fingerprint()}} }}
	tlsTarget, dtlsTarget := mustAddr(t, node.url), mustAddr(t, srv.Addrs()[1])

	connect := func(target hop.Addr, timeout time.Duration) (time.Duration, error) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		route, err := d.Dial(ctx, nil, target)
		if err != nil {
			return 0, err
		}
		defer route.Close()
		if _, err := route.Target().Service("node").Call(ctx, "Info"); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	for _, target := range []hop.Addr{tlsTarget, dtlsTarget} {
		if _, err := connect(target, 5*time.Second); err != nil {
			t.Fatalf("before the flood: %v", err)
		}
	}

	// Watch the pre-auth count and the heap throughout.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	var peakPreAuth, peakHeap atomic.Uint64
	stopWatch := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
			if n := uint64(srv.PreAuth()); n > peakPreAuth.Load() {
				peakPreAuth.Store(n)
			}
			if i%20 == 0 {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peakHeap.Load() {
					peakHeap.Store(ms.HeapAlloc)
				}
			}
		}
	})

	// The flood. A conn may wait in the listen backlog for a while on a
	// loaded machine: the handshake deadline counts from the accept, so
	// the conns wait for their end much longer, and the check is against
	// the time the backlog drained.
	giveUp := 60 * time.Second
	var (
		flood     sync.WaitGroup
		mu        sync.Mutex
		lastClose time.Time
		unclosed  int
		dialErrs  int
		closedN   atomic.Int64
	)
	record := func(took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			dialErrs++
		case took < 0:
			unclosed++
		default:
			lastClose = time.Now()
			closedN.Add(1)
		}
	}
	floodStart := time.Now()
	var dialed sync.WaitGroup
	dialed.Add(silent + noisy)
	for i := range silent + noisy {
		var junk []byte
		if i%2 == 1 { // interleaved, so both kinds hold slots
			junk = make([]byte, 1024)
			rand.Read(junk)
		}
		flood.Go(func() { record(floodConn(&net.Dialer{Timeout: 5 * time.Second}, tlsAddr, junk, giveUp, dialed.Done)) })
	}
	raddr, err := net.ResolveUDPAddr("udp", dtlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	for range udpPeers {
		flood.Go(func() {
			uc, err := net.DialUDP("udp", nil, raddr)
			if err != nil {
				record(0, err)
				return
			}
			defer uc.Close()
			for range 4 {
				uc.Write(dtlsHello())
				time.Sleep(50 * time.Millisecond)
			}
		})
	}

	// Once all but the slot holders are closed, the listen backlog has
	// drained: every flood conn was accepted.
	waitDrained := func(n int) {
		dialed.Wait()
		for closedN.Load() < int64(n-maxHS) {
			if time.Since(floodStart) > 30*time.Second {
				t.Fatalf("only %d flood conns closed after 30s", closedN.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitDrained(silent + noisy)
	// Then the lorises: once the silent holders are past their grace
	// (250ms), each loris takes the slot of one, until they hold every
	// slot and the rest are refused.
	time.Sleep(300 * time.Millisecond)
	dialed.Add(loris)
	for range loris {
		// A handshake record header announcing 512 bytes, and 3 of them.
		junk := []byte{22, 3, 1, 2, 0, 1, 0, 1}
		flood.Go(func() { record(floodConn(&net.Dialer{Timeout: 5 * time.Second}, tlsAddr, junk, giveUp, dialed.Done)) })
	}
	waitDrained(silent + noisy + loris)
	drained := time.Now()
	// A legitimate client, once the lorises holding every slot are past
	// the slow grace (a quarter of the handshake deadline: 750ms).
	time.Sleep(time.Second)
	t.Logf("flood conns accepted after %v; %d unauthenticated peers held", drained.Sub(floodStart), srv.PreAuth())
	for _, target := range []hop.Addr{tlsTarget, dtlsTarget} {
		took, err := connect(target, time.Second)
		if err != nil {
			t.Errorf("a legitimate %s client during the flood: %v (pre-auth now %d)", target.Scheme, err, srv.PreAuth())
		} else {
			t.Logf("a legitimate %s client connected in %v during the flood", target.Scheme, took)
		}
	}

	flood.Wait()
	t.Logf("flood of %d tcp conns and %d dtls sources over in %v; last closed %v after the last accept",
		silent+noisy+loris, udpPeers, time.Since(floodStart), lastClose.Sub(drained))
	if dialErrs > 0 {
		t.Errorf("%d flood dials failed", dialErrs)
	}
	if unclosed > 0 {
		t.Errorf("%d flood conns were still open %v after they connected (handshake deadline %v)", unclosed, giveUp, deadline)
	}
	if late := lastClose.Sub(drained); late > deadline+time.Second {
		t.Errorf("a flood conn was closed %v after the last accept, handshake deadline %v", late, deadline)
	}
	// Spoofed or silent DTLS peers are dropped by the deadline too.
	for end := time.Now().Add(deadline + 2*time.Second); srv.PreAuth() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d unauthenticated peers still held after the flood", srv.PreAuth())
		}
	}
	multiSourceLoris(t, tlsAddr, deadline, maxHS, srv.PreAuth, func() (time.Duration, error) { return connect(tlsTarget, time.Second) })

	close(stopWatch)
	watch.Wait()
	if p := peakPreAuth.Load(); p > 2*maxHS {
		t.Errorf("%d unauthenticated peers held at once, cap %d per listener", p, maxHS)
	} else {
		t.Logf("peak of %d unauthenticated peers (cap %d per listener)", p, maxHS)
	}
	// The flood's own 4,500 sockets and goroutines share this heap; the
	// node's share is bounded by its caps.
	if grow := int64(peakHeap.Load()) - int64(baseHeap); grow > 64<<20 {
		t.Errorf("heap grew by %d MiB during the flood", grow>>20)
	} else {
		t.Logf("heap grew by %.1f MiB during the flood", float64(grow)/(1<<20))
	}
	for _, target := range []hop.Addr{tlsTarget, dtlsTarget} {
		if _, err := connect(target, 5*time.Second); err != nil {
			t.Fatalf("after the flood: %v", err)
		}
	}
	// The state endpoint saw it all: silent and noisy TLS conns, stalled
	// DTLS handshakes; and no flood conn became a session.
	st := srv.State()
	t.Logf("drops: %v", st.Drops)
	for _, why := range []string{"tls:silent", "tls:refused", "dtls:silent"} {
		if st.Drops[why] == 0 {
			t.Errorf("no %s drops counted", why)
		}
	}
	for end := time.Now().Add(3 * time.Second); st.Sessions != 0 || st.PreAuth != 0; st = srv.State() {
		if time.Now().After(end) {
			t.Errorf("after the flood: %d sessions, %d unauthenticated peers", st.Sessions, st.PreAuth)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// multiSourceLoris floods the TLS listener at addr with handshakes begun
// and left hanging, from 64 addresses in 8 /24s (127.0.1-8.x: each network
// stays within its share of the cap), about 300 a second, as review F7's
// poc/slowflood.py does. Once the flood holds every slot and renews them
// (past the slow grace), a client from another network must connect
// within a second, three times out of three; it used to lose the race for
// each slot as it expired to the flood's next connection (2 in 10 got
// in). Every flood connection is closed by the handshake deadline.
func multiSourceLoris(t *testing.T, addr string, deadline time.Duration, maxHS int, preAuth func() int, connect func() (time.Duration, error)) {
	t.Helper()
	stop := make(chan struct{})
	var flood sync.WaitGroup
	var unclosed atomic.Int64
	flood.Go(func() {
		tick := time.NewTicker(time.Second / 300)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i%8), byte(2+i/8%8))}, Timeout: time.Second}
			flood.Go(func() {
				// A handshake record header announcing 512 bytes, and 3 of them.
				took, err := floodConn(d, addr, []byte{22, 3, 1, 2, 0, 1, 0, 1}, deadline+5*time.Second, func() {})
				if err == nil && took < 0 {
					unclosed.Add(1)
				}
			})
		}
	})
	defer func() {
		close(stop)
		flood.Wait()
		if n := unclosed.Load(); n > 0 {
			t.Errorf("%d connections of the multi-source flood still open %v after they connected", n, deadline+5*time.Second)
		}
	}()
	for end := time.Now().Add(10 * time.Second); preAuth() < maxHS; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the multi-source flood holds %d slots after 10s, want %d", preAuth(), maxHS)
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the slow grace: the flood renews its slots
	for i := range 3 {
		// A client refused fast retries once, 100 ms later (each attempt
		// has a second). The flood renews its slots in generations: right
		// after one, for a few tens of milliseconds (longer on a loaded
		// machine), every slot is younger than the quiet grace that lets a
		// newcomer from another network take one, and a newcomer then is
		// refused; a moment later it gets in. Before the fix the flood
		// took each slot for good (2 tries in 10 got in; one retry each
		// leaves that a 5% chance of passing).
		start := time.Now()
		took, err := connect()
		if err != nil && time.Since(start) < 500*time.Millisecond {
			t.Logf("a legitimate client refused once (try %d): %v; retrying", i+1, err)
			time.Sleep(100 * time.Millisecond)
			_, err = connect()
			took = time.Since(start)
		}
		if err != nil {
			t.Errorf("a legitimate client during a slowloris flood from 8 networks (try %d): %v (pre-auth now %d)", i+1, err, preAuth())
		} else {
			t.Logf("a legitimate client connected in %v during a slowloris flood from 8 networks", took)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
