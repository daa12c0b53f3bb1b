package quic

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/transporttest"
)

// TestLoss moves data through a UDP proxy that drops 1% or 5% of the
// datagrams, reorders 2% and delays all: QUIC's own recovery delivers it
// intact.
func TestLoss(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop float64
	}{{"1pct", 0.01}, {"5pct", 0.05}} {
		t.Run(tc.name, func(t *testing.T) {
			seed := mrand.Uint64()
			t.Logf("seed %d", seed)
			ccfg, scfg, _ := tlsPair(t)
			ln, err := Listen("127.0.0.1:0", scfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			proxy := transporttest.NewUDPProxy(t, ln.Addr().String(), transporttest.Faults{
				Seed: seed, Drop: tc.drop, Reorder: 0.02, Delay: time.Millisecond,
			})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			done := make(chan []byte, 1)
			go func() {
				c, err := ln.Accept(ctx)
				if err != nil {
					done <- nil
					return
				}
				s, err := c.AcceptStream(ctx)
				if err != nil {
					done <- nil
					return
				}
				b, _ := io.ReadAll(s)
				done <- b
			}()
			c, err := Dial(ctx, proxy.Addr().String(), ccfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := c.OpenStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, 4<<20)
			rand.Read(data)
			s.Write(data)
			s.(*Stream).CloseWrite()
			got := <-done
			if !bytes.Equal(got, data) {
				t.Fatalf("got %d of %d bytes intact", len(got), len(data))
			}
			st := proxy.Stats()
			t.Logf("proxy: %+v", st)
			if st.Dropped == 0 {
				t.Fatal("the proxy dropped nothing: the test tested nothing")
			}
		})
	}
}
