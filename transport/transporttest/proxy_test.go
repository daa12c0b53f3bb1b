package transporttest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoTCP serves a TCP echo on loopback until the test ends.
func echoTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	return ln.Addr().String()
}

func TestTCPProxyForwardsWithLatency(t *testing.T) {
	p := NewTCPProxy(t, echoTCP(t), TCPFaults{Seed: 1, Latency: 30 * time.Millisecond, Jitter: 5 * time.Millisecond})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	start := time.Now()
	go func() {
		c.Write(msg)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo through the proxy: %d bytes, want %d, equal=false", len(got), len(msg))
	}
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Fatalf("round trip %v, want ≥ 2×30ms of added latency", took)
	}
}

func TestTCPProxyRate(t *testing.T) {
	p := NewTCPProxy(t, echoTCP(t), TCPFaults{Rate: 256 << 10})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	go func() {
		c.Write(make([]byte, 128<<10))
		c.(*net.TCPConn).CloseWrite()
	}()
	n, _ := io.Copy(io.Discard, c)
	if n != 128<<10 {
		t.Fatalf("got %d bytes", n)
	}
	// 128 KiB at 256 KiB/s, paced after each 32 KiB chunk: ≥ 0.375 s.
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("128 KiB through a 256 KiB/s proxy took %v", took)
	}
}

// A stall keeps the socket and stops reading: the sender fills its window
// and blocks; on resume everything arrives in order.
func TestTCPProxyStallAndResume(t *testing.T) {
	p := NewTCPProxy(t, echoTCP(t), TCPFaults{})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	p.SetMode(Stall)
	time.Sleep(20 * time.Millisecond) // let the pumps park
	before := p.Stats()
	c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	msg := bytes.Repeat([]byte{7}, 64<<20)
	n, err := c.Write(msg)
	if !errors.Is(err, syscall.ETIMEDOUT) && !timedOut(err) {
		t.Fatalf("a 64 MiB write into a stalled proxy: %d, %v", n, err)
	}
	if s := p.Stats(); s.Up != before.Up {
		t.Fatalf("bytes moved while stalled: %+v → %+v", before, s)
	}
	c.SetWriteDeadline(time.Time{})
	p.SetMode(Forward)
	go func() {
		c.Write(msg[n:])
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil || len(got) != len(msg) || !bytes.Equal(got, msg) {
		t.Fatalf("after resume: %d bytes, %v", len(got), err)
	}
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestTCPProxyBlackhole(t *testing.T) {
	p := NewTCPProxy(t, echoTCP(t), TCPFaults{})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p.SetMode(Blackhole)
	if _, err := c.Write(make([]byte, 1<<20)); err != nil {
		t.Fatalf("writes into a blackhole succeed: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 10)); !timedOut(err) {
		t.Fatalf("read from a blackhole: %d, %v", n, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for p.Stats().Discarded != 1<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("discarded %d", p.Stats().Discarded)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTCPProxyResetAndFin(t *testing.T) {
	p := NewTCPProxy(t, echoTCP(t), TCPFaults{})
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := dial()
	p.Reset()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after Reset: %v, want ECONNRESET", err)
	}
	c = dial()
	p.Fin()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after Fin: %v, want EOF", err)
	}
	if s := p.Stats(); s.Resets != 1 || s.Closes != 1 || s.Conns != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// udpEcho serves a UDP echo on loopback until the test ends.
func udpEcho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], a)
		}
	})
	return pc.LocalAddr().String()
}

// Duplicates, corruption and a blackhole switched on mid-stream, and the
// same seed gives the same fates.
func TestUDPProxyFaults(t *testing.T) {
	run := func(seed uint64) (UDPStats, [][]byte) {
		p := NewUDPProxy(t, udpEcho(t), Faults{Seed: seed, Duplicate: 0.2, Corrupt: 0.2})
		c, err := net.Dial("udp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var got [][]byte
		buf := make([]byte, 64)
		for i := range 50 {
			c.Write([]byte{byte(i), 0, 0, 0})
			// Every datagram comes back at least once; drain duplicates.
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			for {
				n, err := c.Read(buf)
				if err != nil {
					break
				}
				got = append(got, append([]byte(nil), buf[:n]...))
			}
		}
		p.SetFaults(Faults{Blackhole: true})
		c.Write([]byte("lost"))
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			t.Fatalf("a datagram crossed a blackhole: %q", buf[:n])
		}
		p.Close()
		return p.Stats(), got
	}
	s1, got1 := run(42)
	s2, got2 := run(42)
	if s1.Duplicated == 0 || s1.Corrupted == 0 || s1.Dropped != 1 {
		t.Fatalf("stats %+v", s1)
	}
	if len(got1) <= 50 {
		t.Fatalf("%d datagrams back for 50 sent with 20%% duplicates", len(got1))
	}
	if s1 != s2 || len(got1) != len(got2) {
		t.Fatalf("seed 42 twice: %+v vs %+v", s1, s2)
	}
	for i := range got1 {
		if !bytes.Equal(got1[i], got2[i]) {
			t.Fatalf("datagram %d differs between runs with one seed", i)
		}
	}
}
