package quic

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/certs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tlsPair returns mutually pinned client and server configs.
func tlsPair(t testing.TB) (client, server *tls.Config, serverID *certs.Identity) {
	t.Helper()
	cid, err := certs.LoadOrCreate(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := certs.LoadOrCreate(t.TempDir(), "server")
	if err != nil {
		t.Fatal(err)
	}
	client, err = certs.ClientConfig(cid, certs.Trust{Pinned: []string{sid.Fingerprint()}}, "")
	if err != nil {
		t.Fatal(err)
	}
	server, err = certs.ServerConfig(sid, certs.Trust{Pinned: []string{cid.Fingerprint()}})
	if err != nil {
		t.Fatal(err)
	}
	return client, server, sid
}

func pair(t testing.TB, overPacketConn bool) (*Conn, *Conn) {
	t.Helper()
	ccfg, scfg, _ := tlsPair(t)
	var ln *Listener
	var err error
	if overPacketConn {
		pc, err2 := net.ListenPacket("udp", "127.0.0.1:0")
		if err2 != nil {
			t.Fatal(err2)
		}
		ln, err = ListenPacket(pc, scfg, nil)
	} else {
		ln, err = Listen("127.0.0.1:0", scfg, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *Conn, 1)
	go func() {
		c, err := ln.Accept(context.Background())
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	var c *Conn
	if overPacketConn {
		pc, perr := net.ListenPacket("udp", "127.0.0.1:0")
		if perr != nil {
			t.Fatal(perr)
		}
		c, err = DialPacket(t.Context(), pc, ln.Addr(), ccfg, nil)
	} else {
		c, err = Dial(t.Context(), ln.Addr().String(), ccfg, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return c, s
}

func TestStreams(t *testing.T) {
	for _, name := range []string{"udp", "packetconn"} {
		t.Run(name, func(t *testing.T) {
			c, s := pair(t, name == "packetconn")
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					st, err := s.AcceptStream(context.Background())
					if err != nil {
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer st.Close()
						io.Copy(st, st)
						st.(*Stream).CloseWrite()
					}()
				}
			}()
			defer func() {
				s.Close()
				wg.Wait()
			}()
			var cw sync.WaitGroup
			for i := range 8 {
				cw.Add(1)
				go func() {
					defer cw.Done()
					st, err := c.OpenStream(t.Context())
					if err != nil {
						t.Error(err)
						return
					}
					defer st.Close()
					data := make([]byte, 1<<20+i)
					rand.Read(data)
					go func() {
						st.Write(data)
						st.(*Stream).CloseWrite()
					}()
					got, err := io.ReadAll(st)
					if err != nil || !bytes.Equal(got, data) {
						t.Errorf("stream %d: %d bytes, %v", i, len(got), err)
					}
				}()
			}
			cw.Wait()
		})
	}
}

func TestPeerIdentity(t *testing.T) {
	c, _ := pair(t, false)
	name, fp := certs.PeerFromState(c.ConnectionState())
	if name != "server" || fp == "" {
		t.Fatalf("peer %q %q", name, fp)
	}
}

func TestWrongPeerRefused(t *testing.T) {
	ccfg, _, _ := tlsPair(t)
	_, otherServer, _ := tlsPair(t) // a server the client does not trust
	ln, err := Listen("127.0.0.1:0", otherServer, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	go ln.Accept(ctx)
	_, err = Dial(ctx, ln.Addr().String(), ccfg, nil)
	var mm *certs.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("err = %v, want a fingerprint mismatch", err)
	}
}
