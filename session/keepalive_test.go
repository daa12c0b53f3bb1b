package session

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/transporttest"
)

// A peer that goes silent (a blackholed path: our writes succeed, nothing
// comes back) is declared dead within the keepalive timeout plus a tenth
// of it, whatever smux's coarser check would say; a pending read returns
// an error, not EOF.
func TestBlackholedPeerDetected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := transporttest.NewTCPProxy(t, ln.Addr().String(), transporttest.TCPFaults{})
	srvc := make(chan *Link, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvc <- nil
			return
		}
		l, err := NewLink(c, Server, &LinkConfig{KeepAlive: 100 * time.Millisecond, KeepAliveTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		srvc <- l
	}()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 400 * time.Millisecond
	cl, err := NewLink(c, Client, &LinkConfig{KeepAlive: 100 * time.Millisecond, KeepAliveTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sl := <-srvc
	if sl == nil {
		t.Fatal("no server link")
	}
	defer sl.Close()
	// Alive: keepalives flow, nothing is declared dead for a while.
	time.Sleep(3 * timeout)
	if cl.Err() != nil || sl.Err() != nil {
		t.Fatalf("a live link died: %v / %v", cl.Err(), sl.Err())
	}
	s, err := cl.OpenStream(t.Context(), KindConnect, nil)
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		readErr <- err
	}()
	p.SetMode(transporttest.Blackhole)
	start := time.Now()
	select {
	case <-cl.Done():
	case <-time.After(10 * timeout):
		t.Fatal("a silent peer was never noticed")
	}
	took := time.Since(start)
	if !errors.Is(cl.Err(), ErrPeerSilent) {
		t.Fatalf("link error %v, want ErrPeerSilent", cl.Err())
	}
	// The silence counts from the last frame received, which arrived up
	// to a keepalive interval (and some scheduling) before the blackhole
	// began: the earliest honest verdict is about timeout-interval after
	// start, so the floor leaves a second interval of slack (299.6 ms was
	// seen under load with a floor of 300).
	if limit, floor := timeout+timeout/10+100*time.Millisecond, timeout-2*100*time.Millisecond; took > limit || took < floor {
		t.Fatalf("noticed after %v; want between %v and %v", took, floor, limit)
	}
	select {
	case err := <-readErr:
		var se *StreamError
		if !errors.As(err, &se) {
			t.Fatalf("pending read: %v, want a *StreamError", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the pending read did not return")
	}
}
