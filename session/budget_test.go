package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/internal/evilpeer"
	"github.com/hopwire/hopwire/session/internal/wire"
)

// frameSlack is what one frame may add past a bound: the link's reader
// checks bounds between frames.
const frameSlack = defaultFrameSize + frameOverhead

// openLooseData opens n data streams on l whose tokens no call names and
// writes size bytes on each, as the linkflood PoC does (security review
// F6). It returns the streams; their writers run until refused.
func openLooseData(t *testing.T, l *Link, n, size int) []*Stream {
	t.Helper()
	var ss []*Stream
	for range n {
		var tok [8]byte
		rand.Read(tok[:])
		s, err := l.OpenStream(t.Context(), KindData, tok[:])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		go s.Write(make([]byte, size))
		ss = append(ss, s)
	}
	return ss
}

// wantRefused checks that every stream reads a refusal from the peer
// well before StreamWait (30s), which is how long such streams were held.
func wantRefused(t *testing.T, ss []*Stream) {
	t.Helper()
	for i, s := range ss {
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := s.Read(make([]byte, 1))
		var se *StreamError
		if !errors.As(err, &se) || se.Code != AbortRefused || !se.Remote || !strings.Contains(se.Reason, "no call names") {
			t.Fatalf("stream %d of %d: read err = %v, want a refusal by the peer", i+1, len(ss), err)
		}
	}
}

func TestUnclaimedDataRefused(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			cc, sc := rpcPair(t, kind, nil, nil)
			sc.Expose("calc", &calc{})
			ss := openLooseData(t, cc.Link(), 200, 256<<10)
			wantRefused(t, ss)
			a := sc.acct
			if max := int64(1<<20) + frameSlack; a.unclaimedPeak.Load() > max {
				t.Errorf("unclaimed bytes peaked at %d, budget %d", a.unclaimedPeak.Load(), max)
			}
			// The link as a whole held no more than the budget either
			// (plus the RPC stream's few bytes).
			if max := int64(1<<20) + 2*frameSlack; a.peak.Load() > max {
				t.Errorf("link buffered %d at most, want ≤ %d", a.peak.Load(), max)
			}
			waitFor(t, func() bool { return sc.Link().Buffered() == 0 && a.unclaimed.Load() == 0 })
			// The session works on: a call with streamed data.
			data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
			var n int64
			var sum string
			res, err := cc.Service("calc").Call(t.Context(), "Sum", bytes.NewReader(data))
			if err == nil {
				err = res.Decode(&n, &sum)
			}
			if want := sha256.Sum256(data); err != nil || n != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
				t.Fatalf("Sum after the flood: %d %s %v", n, sum, err)
			}
		})
	}
}

// A peer that ignores the multiplexer's windows pushes a lot on one data
// stream no call names: the stream is refused and the link held no more
// than the unclaimed budget.
func TestUnclaimedDataIgnoringWindows(t *testing.T) {
	p, srv := startEvil(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := p.Handshake(time.Second); err != nil {
		t.Fatal(err)
	}
	p.Start()
	if _, err := p.OpenRPC(ctx); err != nil {
		t.Fatal(err)
	}
	var tok [8]byte
	rand.Read(tok[:])
	s, err := p.Open(uint8(KindData), tok[:])
	if err != nil {
		t.Fatal(err)
	}
	go s.Send(evilpeer.RecordBytes(wire.RecordData, -1, make([]byte, 8<<20)))
	code, reason, err := s.WaitAbort(ctx)
	if err != nil || code != wire.AbortRefused {
		t.Fatalf("abort = %v %q %v, want refused", code, reason, err)
	}
	<-srvReady(t, srv)
	if max := int64(1<<20) + frameSlack; srv.conn.acct.unclaimedPeak.Load() > max {
		t.Errorf("unclaimed bytes peaked at %d, budget %d", srv.conn.acct.unclaimedPeak.Load(), max)
	}
}

func srvReady(t *testing.T, srv *evilServer) <-chan struct{} {
	t.Helper()
	select {
	case <-srv.done:
	case <-time.After(10 * time.Second):
		t.Fatal("server session not up")
	}
	if srv.conn == nil {
		t.Fatalf("server session: %v", srv.err())
	}
	return srv.done
}

// Many calls at once, each with streamed data, against a small unclaimed
// budget: their data may arrive before their calls are read, but never
// before the calls were sent, so none is refused.
func TestStreamedArgsBurst(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			opts := &Options{UnclaimedBuffer: 64 << 10}
			cc, sc := rpcPair(t, kind, opts, opts)
			sc.Expose("calc", &calc{})
			data := bytes.Repeat([]byte("x"), 512<<10)
			want := sha256.Sum256(data)
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for range 48 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var n int64
					var sum string
					res, err := cc.Service("calc").Call(t.Context(), "Sum", bytes.NewReader(data))
					if err == nil {
						err = res.Decode(&n, &sum)
					}
					if err == nil && (n != int64(len(data)) || sum != hex.EncodeToString(want[:])) {
						err = errors.New("wrong sum")
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var r io.ReadCloser
					res, err := cc.Service("calc").Call(t.Context(), "Download", 1<<20)
					if err == nil {
						err = res.Decode(&r)
					}
					if err == nil {
						var n int64
						n, err = io.Copy(io.Discard, r)
						r.Close()
						if err == nil && n != 1<<20 {
							err = errors.New("short download")
						}
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// A result's data stream waits for the caller to decode the result: it
// is named by the reply, so it is not loose.
func TestResultStreamWaitsForDecode(t *testing.T) {
	cc, sc := rpcPair(t, "tcp", nil, nil)
	sc.Expose("calc", &calc{})
	res, err := cc.Service("calc").Call(t.Context(), "Download", 128<<10)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*dataGrace + 100*time.Millisecond)
	var r io.ReadCloser
	if err := res.Decode(&r); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := io.Copy(io.Discard, r); err != nil || n != 128<<10 {
		t.Fatalf("download after a wait: %d %v", n, err)
	}
}

// A node-wide budget: while it is spent, new streams are refused (pings
// are not); once readers take what they were sent, streams are accepted
// again.
func TestBudgetRefusesStreams(t *testing.T) {
	b := NewBudget(128 << 10)
	cl, sl := linkPair(t, "tcp", nil, &LinkConfig{Budget: b})
	s, err := cl.OpenStream(t.Context(), KindConnect, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held, err := sl.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	go s.Write(make([]byte, 200<<10)) // after the accept: its data would refuse it
	waitFor(t, b.Exhausted)
	if b.Used() != sl.Buffered() {
		t.Errorf("budget counts %d, the link holds %d", b.Used(), sl.Buffered())
	}
	s2, err := cl.OpenStream(t.Context(), KindConnect, []byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.Read(make([]byte, 1))
	var se *StreamError
	if !errors.As(err, &se) || se.Code != AbortRefused || !strings.Contains(se.Reason, "budget exhausted") {
		t.Fatalf("stream opened past the budget: %v", err)
	}
	if _, err := cl.Ping(t.Context()); err != nil {
		t.Fatalf("ping past the budget: %v", err)
	}
	if _, err := io.CopyN(io.Discard, held, 200<<10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !b.Exhausted() })
	s3, err := cl.OpenStream(t.Context(), KindConnect, []byte("z"))
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := sl.AcceptStream(t.Context()); err != nil {
		t.Fatal(err)
	}
	held.Close()
	waitFor(t, func() bool { return b.Used() == 0 })
}

// Frames are counted at what they cost smux, not at their payload alone.
func TestTinyFramesCounted(t *testing.T) {
	cl, sl := linkPair(t, "tcp", nil, nil)
	s, err := cl.OpenStream(t.Context(), KindConnect, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held, err := sl.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for range 1000 {
		if _, err := s.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	// 1000 records of one byte: 5 bytes each on the wire, and a frame.
	waitFor(t, func() bool { return sl.Buffered() >= 1000*(5+frameOverhead) })
	if _, err := io.ReadFull(held, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sl.Buffered() == 0 })
}

// Admit refuses a link with a reason the client reads, and hears when an
// admitted link ends.
func TestLinkAdmit(t *testing.T) {
	var mu sync.Mutex
	links := 0
	admit := func(p Peer) (func(), error) {
		mu.Lock()
		defer mu.Unlock()
		if links >= 1 {
			return nil, errors.New("too many links from " + p.Principal)
		}
		links++
		return func() {
			mu.Lock()
			links--
			mu.Unlock()
		}, nil
	}
	scfg := &LinkConfig{Peer: Peer{Principal: "alice"}, Admit: admit}
	cl, sl := linkPair(t, "tcp", nil, scfg)
	if _, err := cl.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	a, b := connPair(t, "tcp")
	go func() {
		if l, err := NewLink(b, Server, scfg); err == nil {
			l.Close()
		}
	}()
	_, err := NewLink(a, Client, nil)
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "refused by peer: too many links from alice") {
		t.Fatalf("second link: %v", err)
	}
	sl.Close()
	cl.Close()
	mu.Lock()
	n := links
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d links still counted after close", n)
	}
}

func TestDataTokens(t *testing.T) {
	ref := func(kind refKind, id uint64) []byte {
		b, err := appendRef(nil, kind, id)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	body := appendArrayHeader(nil, 5)
	body = append(body, ref(refReader, 7)...)
	body = appendInt(body, 3)
	body = append(body, ref(refFunc, 9)...)
	body = append(body, ref(refHome, 13)...)
	body = append(body, ref(refBoth, 11)...)
	got, home := scanRefs(body)
	if len(got) != 2 || got[0] != 7 || got[1] != 11 {
		t.Fatalf("scanRefs tokens = %v, want [7 11]", got)
	}
	if len(home) != 1 || home[0] != 13 {
		t.Fatalf("scanRefs home = %v, want [13]", home)
	}
	if toks, home := scanRefs(appendArrayHeader(nil, 0)); toks != nil || home != nil {
		t.Fatal("references in an empty body")
	}
}
