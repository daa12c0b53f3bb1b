package hop

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/transport/dtls"
	"github.com/hopwire/hopwire/transport/quic"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// lossyLinks returns a link pair of scheme ("quic" or "dtls") whose
// datagrams cross a fault proxy, and the proxy.
func lossyLinks(t *testing.T, scheme string, f transporttest.Faults) (cl, sl *session.Link, p *transporttest.UDPProxy) {
	t.Helper()
	ccfg, scfg := identities(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ch := make(chan *session.Link, 1)
	switch scheme {
	case "quic":
		ln, err := quic.Listen("127.0.0.1:0", scfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		p = transporttest.NewUDPProxy(t, ln.Addr().String(), f)
		go func() {
			qc, err := ln.Accept(ctx)
			if err != nil {
				ch <- nil
				return
			}
			l, _ := session.NewMuxedLink(qc, session.Server, nil)
			ch <- l
		}()
		qc, err := quic.Dial(ctx, p.Addr().String(), ccfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cl, err = session.NewMuxedLink(qc, session.Client, nil); err != nil {
			t.Fatal(err)
		}
	case "dtls":
		ln, err := dtls.Listen("127.0.0.1:0", scfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		p = transporttest.NewUDPProxy(t, ln.Addr().String(), f)
		go func() {
			c, err := ln.AcceptContext(ctx)
			if err != nil {
				ch <- nil
				return
			}
			l, _ := session.NewLink(c, session.Server, nil)
			ch <- l
		}()
		c, err := dtls.Dial(ctx, p.Addr().String(), ccfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cl, err = session.NewLink(c, session.Client, nil); err != nil {
			t.Fatal(err)
		}
	}
	if sl = <-ch; sl == nil {
		cl.Close()
		t.Fatal("no server link")
	}
	t.Cleanup(func() { cl.Close(); sl.Close() })
	return cl, sl, p
}

// lossyRun sends n bytes over one stream of a link whose datagrams meet
// f; it checks the bytes, fails on a stall of more than 5 s and returns
// the goodput in bytes per second.
func lossyRun(t *testing.T, scheme string, f transporttest.Faults, n int64) float64 {
	t.Helper()
	cl, sl, p := lossyLinks(t, scheme, f)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	type result struct {
		sum      [32]byte
		n        int64
		maxStall time.Duration
		err      error
	}
	got := make(chan result, 1)
	go func() {
		s, err := sl.AcceptStream(ctx)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer s.Close()
		h := sha256.New()
		buf := make([]byte, 64<<10)
		var r result
		last := time.Now()
		for {
			k, err := s.Read(buf)
			if k > 0 {
				h.Write(buf[:k])
				r.n += int64(k)
				now := time.Now()
				r.maxStall = max(r.maxStall, now.Sub(last))
				last = now
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				r.err = err
				break
			}
		}
		r.sum = [32]byte(h.Sum(nil))
		got <- r
	}()
	s, err := cl.OpenStream(ctx, session.KindConnect, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var key [32]byte
	key[0] = byte(f.Seed)
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(s, h), io.LimitReader(rand.NewChaCha8(key), n)); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	r := <-got
	took := time.Since(start)
	s.Close()
	if r.err != nil || r.n != n || r.sum != [32]byte(h.Sum(nil)) {
		t.Fatalf("%s: %d of %d bytes, equal=%v, err=%v", scheme, r.n, n, r.sum == [32]byte(h.Sum(nil)), r.err)
	}
	if r.maxStall > 5*time.Second {
		t.Errorf("%s: the stream stalled for %v", scheme, r.maxStall)
	}
	st := p.Stats()
	gp := float64(n) / took.Seconds()
	t.Logf("%s drop %.0f%%: %.1f MB/s, longest gap %v (proxy: %+v)", scheme, f.Drop*100, gp/1e6, r.maxStall.Round(time.Millisecond), st)
	return gp
}

// lossScenario is issue 6's scenario 5: 1% and 5% loss with 20 ms ± 5 ms
// delay and 1% reordering on a QUIC hop and a DTLS hop: the bytes arrive
// intact, no stall over 5 s, and goodput ≥ 40% (1%) and ≥ 15% (5%) of the
// same path without loss. The goodput ratios are asserted only when
// ratios is set (make soak: 100 MiB, no race detector); short runs are
// dominated by slow start and only log them.
func lossScenario(t *testing.T, n int64, ratios bool) {
	for _, scheme := range []string{"quic", "dtls"} {
		t.Run(scheme, func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			f := transporttest.Faults{Seed: seed, Delay: 15 * time.Millisecond, Jitter: 10 * time.Millisecond, Reorder: 0.01, MTU: 1500}
			clean := lossyRun(t, scheme, f, n)
			for _, c := range []struct {
				drop, min float64
			}{{0.01, 0.40}, {0.05, 0.15}} {
				f.Drop = c.drop
				gp := lossyRun(t, scheme, f, n)
				ratio := gp / clean
				t.Logf("%s at %.0f%% loss: goodput %.0f%% of the loss-free run (target ≥ %.0f%%)", scheme, c.drop*100, ratio*100, c.min*100)
				if ratios && ratio < c.min {
					t.Errorf("%s at %.0f%% loss: goodput %.0f%% of the loss-free run, want ≥ %.0f%%", scheme, c.drop*100, ratio*100, c.min*100)
				}
			}
		})
	}
}

func TestScenario5_Loss(t *testing.T) {
	n := int64(1 << 20)
	if raceEnabled {
		n = 256 << 10
	}
	lossScenario(t, n, false)
}
