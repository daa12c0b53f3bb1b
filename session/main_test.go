package session

import (
	"net"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connPair returns two connected net.Conns of the named kind: "pipe"
// (net.Pipe) or "tcp" (loopback).
func connPair(t testing.TB, kind string) (net.Conn, net.Conn) {
	t.Helper()
	switch kind {
	case "pipe":
		a, b := net.Pipe()
		return a, b
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ch := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				ch <- nil
				return
			}
			ch <- c
		}()
		a, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b := <-ch
		if b == nil {
			t.Fatal("accept failed")
		}
		return a, b
	}
	t.Fatalf("unknown conn kind %q", kind)
	return nil, nil
}

var connKinds = []string{"pipe", "tcp"}

// linkPair builds a client and a server Link over a fresh conn pair.
func linkPair(t testing.TB, kind string, ccfg, scfg *LinkConfig) (*Link, *Link) {
	t.Helper()
	a, b := connPair(t, kind)
	type res struct {
		l   *Link
		err error
	}
	ch := make(chan res, 1)
	go func() {
		l, err := NewLink(b, Server, scfg)
		ch <- res{l, err}
	}()
	cl, err := NewLink(a, Client, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		cl.Close()
		r.l.Close()
	})
	return cl, r.l
}
