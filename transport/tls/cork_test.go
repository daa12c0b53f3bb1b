package tls

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// writeLog records each Write it is given.
type writeLog struct {
	net.Conn
	writes [][]byte
	err    error
}

func (w *writeLog) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func TestCorkGathersInOrder(t *testing.T) {
	w := &writeLog{}
	c := &corkConn{Conn: w}
	c.Write([]byte("a"))
	c.Cork()
	c.Write([]byte("b"))
	c.Write([]byte("cd"))
	if len(w.writes) != 1 {
		t.Fatalf("%d writes reached the conn while corked, want only the one before", len(w.writes))
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("e"))
	want := [][]byte{[]byte("a"), []byte("bcd"), []byte("e")}
	if len(w.writes) != len(want) {
		t.Fatalf("writes %q, want %q", w.writes, want)
	}
	for i := range want {
		if !bytes.Equal(w.writes[i], want[i]) {
			t.Fatalf("writes %q, want %q", w.writes, want)
		}
	}
	if err := c.Flush(); err != nil { // not corked: nothing to do
		t.Fatal(err)
	}
}

// A corked batch larger than corkMax goes out in pieces of at most that,
// in order.
func TestCorkOverflow(t *testing.T) {
	w := &writeLog{}
	c := &corkConn{Conn: w}
	c.Cork()
	var sent []byte
	for i := range 20 {
		p := bytes.Repeat([]byte{byte(i)}, 30<<10)
		sent = append(sent, p...)
		c.Write(p)
	}
	c.Flush()
	var got []byte
	for _, p := range w.writes {
		if len(p) > corkMax {
			t.Errorf("a write of %d bytes, above corkMax", len(p))
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, sent) || len(w.writes) < 2 {
		t.Fatalf("%d writes, %d bytes, equal=%v", len(w.writes), len(got), bytes.Equal(got, sent))
	}
}

// A failed flush fails that Flush and every write after it.
func TestCorkError(t *testing.T) {
	boom := errors.New("boom")
	w := &writeLog{err: boom}
	c := &corkConn{Conn: w}
	c.Cork()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("a corked write failed at once: %v", err)
	}
	if err := c.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush: %v, want %v", err, boom)
	}
	c.Cork()
	if _, err := c.Write([]byte("y")); !errors.Is(err, boom) {
		t.Fatalf("write after a failed flush: %v", err)
	}
	if err := c.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush after a failed flush: %v", err)
	}
}

// Through crypto/tls: a 64 KiB write between Cork and Flush reaches the
// socket as one write of whole records, and the peer reads it intact.
func TestCorkUnderTLS(t *testing.T) {
	cert := selfSigned(t)
	a, b := net.Pipe()
	w := &countConn{Conn: a}
	cc := &corkConn{Conn: w}
	ccfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true} // test only: the pipe has no one else on it
	scfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	client, server := tls.Client(cc, ccfg), tls.Server(b, scfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- server.HandshakeContext(ctx) }()
	if err := client.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 64<<10)
	rand.Read(msg)
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(msg))
		n, _ := io.ReadFull(server, buf)
		got <- buf[:n]
	}()
	before := w.n
	cc.Cork()
	if _, err := client.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := cc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := w.n - before; n != 1 {
		t.Errorf("64 KiB of records took %d writes below TLS, want 1", n)
	}
	if !bytes.Equal(<-got, msg) {
		t.Fatal("the peer read something else")
	}
	a.Close()
	b.Close()
}

type countConn struct {
	net.Conn
	n int
}

func (c *countConn) Write(p []byte) (int, error) {
	c.n++
	return c.Conn.Write(p)
}

func selfSigned(t *testing.T) tls.Certificate {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
