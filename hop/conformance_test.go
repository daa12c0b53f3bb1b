package hop

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/transport/dtls"
	"github.com/hopwire/hopwire/transport/quic"
	"github.com/hopwire/hopwire/transport/stdio"
	htls "github.com/hopwire/hopwire/transport/tls"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// linkPair builds a client and a server Link over one transport.
type linkPair func(t testing.TB) (client, server *session.Link)

// identities returns client and server configs that pin each other; the
// identities are made once per test binary.
func identities(t testing.TB) (clientTLS, serverTLS *tls.Config) {
	t.Helper()
	idOnce.Do(func() { idClient, idServer, idErr = makeIdentities() })
	if idErr != nil {
		t.Fatal(idErr)
	}
	return idClient, idServer
}

var (
	idOnce             sync.Once
	idClient, idServer *tls.Config
	idErr              error
)

func makeIdentities() (*tls.Config, *tls.Config, error) {
	dir, err := os.MkdirTemp("", "hop-test-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	cid, err := certs.LoadOrCreate(filepath.Join(dir, "c"), "client")
	if err != nil {
		return nil, nil, err
	}
	sid, err := certs.LoadOrCreate(filepath.Join(dir, "s"), "server")
	if err != nil {
		return nil, nil, err
	}
	c, err := certs.ClientConfig(cid, certs.Trust{Pinned: []string{sid.Fingerprint()}}, "")
	if err != nil {
		return nil, nil, err
	}
	s, err := certs.ServerConfig(sid, certs.Trust{Pinned: []string{cid.Fingerprint()}})
	return c, s, err
}

// overConns builds links over a pair of net.Conns.
func overConns(t testing.TB, a, b net.Conn) (*session.Link, *session.Link) {
	t.Helper()
	ch := make(chan *session.Link, 1)
	go func() {
		l, err := session.NewLink(b, session.Server, nil)
		if err != nil {
			t.Error(err)
		}
		ch <- l
	}()
	cl, err := session.NewLink(a, session.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	sl := <-ch
	if sl == nil {
		t.FailNow()
	}
	t.Cleanup(func() {
		cl.Close()
		sl.Close()
	})
	return cl, sl
}

var transports = map[string]linkPair{
	"pipe": func(t testing.TB) (*session.Link, *session.Link) {
		a, b := net.Pipe()
		return overConns(t, a, b)
	},
	"tcp": func(t testing.TB) (*session.Link, *session.Link) {
		a, b := transporttest.TCPPair(t)
		return overConns(t, a, b)
	},
	"tls": func(t testing.TB) (*session.Link, *session.Link) {
		ccfg, scfg := identities(t)
		ln, err := htls.Listen(t.Context(), "127.0.0.1:0", scfg)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ch := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			ch <- c
		}()
		a, err := htls.Dial(t.Context(), ln.Addr().String(), ccfg)
		if err != nil {
			t.Fatal(err)
		}
		return overConns(t, a, <-ch)
	},
	"quic": func(t testing.TB) (*session.Link, *session.Link) {
		ccfg, scfg := identities(t)
		ln, err := quic.Listen("127.0.0.1:0", scfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		ch := make(chan *session.Link, 1)
		go func() {
			qc, err := ln.Accept(context.Background())
			if err != nil {
				t.Error(err)
				ch <- nil
				return
			}
			l, err := session.NewMuxedLink(qc, session.Server, nil)
			if err != nil {
				t.Error(err)
			}
			ch <- l
		}()
		qc, err := quic.Dial(t.Context(), ln.Addr().String(), ccfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := session.NewMuxedLink(qc, session.Client, nil)
		if err != nil {
			t.Fatal(err)
		}
		sl := <-ch
		if sl == nil {
			t.FailNow()
		}
		t.Cleanup(func() {
			cl.Close()
			sl.Close()
		})
		return cl, sl
	},
	"dtls": func(t testing.TB) (*session.Link, *session.Link) {
		ccfg, scfg := identities(t)
		ln, err := dtls.Listen("127.0.0.1:0", scfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		ch := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			ch <- c
		}()
		a, err := dtls.Dial(t.Context(), ln.Addr().String(), ccfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := <-ch
		if b == nil {
			t.FailNow()
		}
		return overConns(t, a, b)
	},
	// ssh: the embedded SSH listener's hopwire channel.
	"ssh": func(t testing.TB) (*session.Link, *session.Link) {
		a, b := sshPair(t)
		return overConns(t, a, b)
	},
	// stdio: the link runs over the pipes of a child process (cat, as
	// the simplest relay of bytes) — here a pair of os.Pipes through a
	// spawned `cat` each way would need two children; a single Stdio
	// pair over os.Pipe is what a spawned child's end looks like.
	"stdio": func(t testing.TB) (*session.Link, *session.Link) {
		r1, w1, err := osPipe()
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		r2, w2, err := osPipe()
		if err != nil {
			t.Fatal(err)
		}
		return overConns(t, stdio.Stdio(r1, w2), stdio.Stdio(r2, w1))
	},
}

// slow lists transports whose bulk case moves less data.
var slow = map[string]bool{"TestConformance/dtls/many-streams": true}

// streamPipe makes the conformance suite's conn pairs from streams of one
// link per case.
func streamPipe(lp linkPair) transporttest.MakePipe {
	return func(t *testing.T) (net.Conn, net.Conn) {
		cl, sl := lp(t)
		s, err := cl.OpenStream(t.Context(), session.KindData, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := sl.AcceptStream(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return s, r
	}
}

func TestConformance(t *testing.T) {
	for _, name := range []string{"pipe", "tcp", "tls", "quic", "dtls", "ssh", "stdio"} {
		lp := transports[name]
		t.Run(name, func(t *testing.T) {
			t.Run("stream", func(t *testing.T) { transporttest.TestConn(t, streamPipe(lp)) })
			t.Run("many-streams", func(t *testing.T) { testManyStreams(t, lp) })
			t.Run("short-lived-streams", func(t *testing.T) { testShortLived(t, lp) })
			t.Run("abort-is-error", func(t *testing.T) { testAbort(t, lp) })
			t.Run("rpc", func(t *testing.T) { testRPC(t, lp) })
		})
	}
}

// testManyStreams sends 256 MiB in each direction spread over 16
// concurrent streams and checks every byte by SHA-256.
func testManyStreams(t *testing.T, lp linkPair) {
	const streams = 16
	per := 16 << 20 // 256 MiB each way in all
	if raceEnabled {
		per = 1 << 20
	}
	if slow[t.Name()] {
		per = 2 << 20 // DTLS over our ARQ moves tens of MB/s, not GB/s
	}
	cl, sl := lp(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < streams; i++ {
			s, err := sl.AcceptStream(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.Close()
				// Echo back the SHA-256 of what arrives, then as many bytes.
				h := sha256.New()
				n, err := io.Copy(h, s)
				if err != nil {
					t.Error(err)
					return
				}
				s.Write(h.Sum(nil))
				io.CopyN(s, rand.Reader, n)
			}()
		}
	}()
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := cl.OpenStream(t.Context(), session.KindData, nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			data := make([]byte, per)
			rand.Read(data)
			want := sha256.Sum256(data)
			s.Write(data)
			s.CloseWrite()
			got := make([]byte, 32)
			if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, want[:]) {
				t.Errorf("stream %d: digest %x, want %x (%v)", i, got, want, err)
				return
			}
			n, err := io.Copy(io.Discard, s)
			if err != nil || n != int64(per) {
				t.Errorf("stream %d: %d bytes back, %v", i, n, err)
			}
		}()
	}
	wg.Wait()
}

func testShortLived(t *testing.T, lp linkPair) {
	cl, sl := lp(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			s, err := sl.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go func() {
				defer s.Close()
				io.Copy(s, s)
			}()
		}
	}()
	for i := 0; i < 1000; i++ {
		s, err := cl.OpenStream(t.Context(), session.KindData, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Write([]byte{byte(i)})
		s.CloseWrite()
		b, err := io.ReadAll(s)
		s.Close()
		if err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Fatalf("stream %d: %v %v", i, b, err)
		}
	}
	cl.Close()
	sl.Close()
	<-done
	if n := sl.NumStreams(); n != 0 {
		t.Fatalf("%d streams left open", n)
	}
}

func testAbort(t *testing.T, lp linkPair) {
	cl, sl := lp(t)
	s, err := cl.OpenStream(t.Context(), session.KindData, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sl.AcceptStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s.Write([]byte("part"))
	s.Abort(session.AbortUpstream, "gone")
	b, err := io.ReadAll(r)
	if string(b) != "part" || !errors.Is(err, session.ErrStreamAborted) {
		t.Fatalf("read %q, %v", b, err)
	}
}

type svc struct{}

func (svc) Apply(ctx context.Context, f func(context.Context, int) (int, error), x int) (int, error) {
	return f(ctx, x)
}

func (svc) Missing(string) error { return &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist} }

func testRPC(t *testing.T, lp linkPair) {
	cl, sl := lp(t)
	ch := make(chan *session.Conn, 1)
	go func() {
		c, err := session.NewConn(context.Background(), sl, &session.Options{Services: map[string]any{"svc": svc{}}})
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	cc, err := session.NewConn(t.Context(), cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc := <-ch
	if sc == nil {
		t.FailNow()
	}
	defer sc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n, err := session.Call[int](ctx, cc.Service("svc"), "Apply", func(ctx context.Context, x int) (int, error) { return x + 1, nil }, 41)
	if err != nil || n != 42 {
		t.Fatalf("callback: %d %v", n, err)
	}
	if _, err := cc.Service("svc").Call(ctx, "Missing", "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("remote error: %v", err)
	}
}
