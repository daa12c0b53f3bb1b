package rpyc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// countingDial is a DialContext that counts the connections it makes.
func countingDial(n *atomic.Int32) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

func cachedDialect(addr string) Dialect {
	d, _ := dialects.Load(dialectKey(addr, &Options{}))
	v, _ := d.(Dialect)
	return v
}

// TestDialAutoPython: with the default dialect, Dial reaches a real
// classic server of each RPyC line: Debian's 5.3 at the first try, a 6.x
// (testdata/rpyc6, or $HOPWIRE_RPYC6) at the second, after its refusal of
// the 5.x try; the next Dial uses the dialect remembered.
func TestDialAutoPython(t *testing.T) {
	for _, tc := range []struct {
		line  string
		want  Dialect
		dials int32
	}{{"5", Dialect5, 1}, {"6", Dialect6, 2}} {
		t.Run(tc.line, func(t *testing.T) {
			p := rpyctest.For(t, tc.line)
			addr := p.StartServer(t, "classic")
			forgetDialect(addr)
			ctx := testCtx(t)
			var dials atomic.Int32
			c, err := Dial(ctx, addr, &Options{DialContext: countingDial(&dials)})
			if err != nil {
				t.Fatalf("Dial (rpyc %s): %v", p.Version, err)
			}
			defer c.Close()
			if c.Dialect() != tc.want || dials.Load() != tc.dials || cachedDialect(addr) != tc.want {
				t.Fatalf("rpyc %s: dialect %v after %d connections (cached %v), want %v after %d",
					p.Version, c.Dialect(), dials.Load(), cachedDialect(addr), tc.want, tc.dials)
			}
			seedScenario(t, c)

			dials.Store(0)
			c2, err := Dial(ctx, addr, &Options{DialContext: countingDial(&dials)})
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			k, err := NewClassic(ctx, c2)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := k.Eval(ctx, "1 + 2"); err != nil || v != int64(3) {
				t.Fatalf("second Dial: eval = %v, %v", v, err)
			}
			if c2.Dialect() != tc.want || dials.Load() != 1 {
				t.Fatalf("second Dial: dialect %v after %d connections", c2.Dialect(), dials.Load())
			}
		})
	}
}

// serveLike serves root as a Python RPyC server of line d behaves on the
// wire (seen with 5.3.0 and 6.0.2): a first message in the other
// dialect gets the server's CLOSE request, in its own dialect, and the
// end of the connection (5.x drops it at once, 6.x waits for the client
// to hang up); a message in its own is served, in d only.
func serveLike(t *testing.T, d Dialect, root any) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	closeFrame := map[Dialect]string{Dialect5: "12 51 50 11 52 11 51 02", Dialect6: "01 11 50 11 52 11 51 02"}[d]
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				hdr, err := br.Peek(frameHeader + 1)
				if err != nil {
					return
				}
				if first := hdr[frameHeader]; (first == tagTuple1+2) != (d == Dialect5) {
					nc.Write(frame(t, closeFrame))
					if d == Dialect6 {
						nc.SetReadDeadline(time.Now().Add(30 * time.Second))
						io.Copy(io.Discard, nc)
					}
					return
				}
				c := NewConn(&replayConn{nc, br}, &Options{Root: root, Dialect: d})
				<-c.Done()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	forgetDialect(ln.Addr().String())
	return ln.Addr().String()
}

// replayConn reads through a bufio.Reader that has peeked.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestDialAutoEmulated runs TestDialAutoPython's check against Go
// servers that refuse the other dialect as RPyC 5.x and 6.x do, so that
// the 6.x path is tested without a 6.x RPyC too.
func TestDialAutoEmulated(t *testing.T) {
	for _, tc := range []struct {
		line  Dialect
		dials int32
	}{{Dialect5, 1}, {Dialect6, 2}} {
		t.Run(tc.line.String(), func(t *testing.T) {
			addr := serveLike(t, tc.line, &goSvc{Name: "emu"})
			ctx := testCtx(t)
			for i, wantDials := range []int32{tc.dials, 1} {
				var dials atomic.Int32
				c, err := Dial(ctx, addr, &Options{DialContext: countingDial(&dials)})
				if err != nil {
					t.Fatalf("Dial %d: %v", i, err)
				}
				root, err := c.Root(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if v, err := root.CallAttr(ctx, "Add", 2, 3); err != nil || v != int64(5) {
					t.Fatalf("Dial %d: Add = %v, %v", i, v, err)
				}
				if c.Dialect() != tc.line || dials.Load() != wantDials {
					t.Fatalf("Dial %d: dialect %v after %d connections, want %v after %d", i, c.Dialect(), dials.Load(), tc.line, wantDials)
				}
				c.Close()
			}
		})
	}
}

// TestDialCachedWrong: when the server behind an address changes line,
// the dialect remembered for it fails the first call with ErrDialect
// (not a bare "connection closed"), and the next Dial uses the new one.
func TestDialCachedWrong(t *testing.T) {
	for _, line := range []Dialect{Dialect5, Dialect6} {
		t.Run(line.String(), func(t *testing.T) {
			addr := serveLike(t, line, &goSvc{Name: "emu"})
			dialects.Store(dialectKey(addr, &Options{}), other(line))
			ctx := testCtx(t)
			c, err := Dial(ctx, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Root(ctx)
			c.Close()
			if !errors.Is(err, ErrDialect) || !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "speaks RPyC "+line.String()) {
				t.Fatalf("Root with the wrong dialect: %v", err)
			}
			t.Log(err)
			if got := cachedDialect(addr); got != line {
				t.Fatalf("cached %v after the refusal", got)
			}
			c, err = Dial(ctx, addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Root(ctx); err != nil || c.Dialect() != line {
				t.Fatalf("Dial after the refusal: %v, dialect %v", err, c.Dialect())
			}
		})
	}
}

// TestNewConnWrongDialect: a Conn of NewConn that sends 5.x to a 6.x
// server (or the other way round) ends with ErrDialect, saying which one
// the peer speaks.
func TestNewConnWrongDialect(t *testing.T) {
	for _, tc := range []struct{ server, client Dialect }{{Dialect6, DialectAuto}, {Dialect5, Dialect6}} {
		t.Run(tc.server.String(), func(t *testing.T) {
			addr := serveLike(t, tc.server, &goSvc{Name: "emu"})
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c := NewConn(nc, &Options{Dialect: tc.client})
			defer c.Close()
			_, err = c.Root(testCtx(t))
			if !errors.Is(err, ErrDialect) || !strings.Contains(err.Error(), "the peer speaks RPyC "+tc.server.String()) {
				t.Fatalf("Root: %v", err)
			}
		})
	}
}

// TestDialUnknownDialect: a server that answers neither dialect fails
// Dial with ErrDialect, saying what each try got.
func TestDialUnknownDialect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	var silent atomic.Bool
	hold := make(chan struct{})
	defer close(hold)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				var hdr [4]byte
				io.ReadFull(nc, hdr[:]) // a request arrives; no answer
				if binary.BigEndian.Uint32(hdr[:]) > 0 && silent.Load() {
					<-hold
				}
			}()
		}
	}()
	addr := ln.Addr().String()
	forgetDialect(addr)

	_, err = Dial(testCtx(t), addr, nil)
	if !errors.Is(err, ErrDialect) || !strings.Contains(err.Error(), "as 5.x: rpyc: connection closed") ||
		!strings.Contains(err.Error(), "as 6.x: rpyc: connection closed") || !strings.Contains(err.Error(), "Options.Dialect") {
		t.Fatalf("Dial: %v", err)
	}
	t.Log(err)
	if d := cachedDialect(addr); d != DialectAuto {
		t.Fatalf("cached %v", d)
	}

	silent.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, addr, nil)
	if !errors.Is(err, ErrDialect) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "as 5.x: no answer") {
		t.Fatalf("Dial of a silent server: %v", err)
	}
	t.Log(err)
}
