package rpyc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hopwire/hopwire/internal/lockedbuf"
	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/session/rpyc/rpyctest"
)

// The BenchmarkRPyC* pairs are hopwire's own RPC beside stock RPyC 5
// (Debian's python3-rpyc), the "RPyC 5" rows of `hopwire bench`:
//
//	hopwire   a session.Conn pair over loopback TCP, both ends in this
//	          process (as in session/bench_test.go), calling a Go service
//	rpyc      testdata/pyclient.py (loop) driving testdata/pyserver.py
//	          (service) over loopback TCP, two Python processes
//
// For rpyc the Python client runs the b.N operations when told to, after
// one untimed warm-up, and the benchmark's timer runs exactly while it
// does: ns/op (and MB/s) are the Python client's per-op cost, plus one
// pipe round trip per b.N operations. py-ns/op is the client's own timing
// of its loop, for reference. Both Python processes are started once per
// benchmark, in its first round, and kept for the rest. Without
// python3-rpyc the rpyc halves skip.
//
// Python calls the usual way, root.method(args): a GETATTR and a CALL
// round trip (and an asynchronous DEL of the bound method); hopwire calls
// session.Call(ctx, conn.Service("bench"), "Method", args), one round trip.

// hwBenchSvc is the Go service of the hopwire halves, the methods of
// pyserver.py's TestService that the rpyc halves call.
type hwBenchSvc struct{}

func (hwBenchSvc) Null(x int) int       { return x }
func (hwBenchSvc) Echo(b []byte) []byte { return b }
func (hwBenchSvc) Length(b []byte) int  { return len(b) }
func (hwBenchSvc) Apply(ctx context.Context, f func(context.Context, int) (int, error), x int) (int, error) {
	return f(ctx, x)
}

// hopwireBenchRef connects two session.Conns over loopback TCP, exposes
// hwBenchSvc on one as "bench" and returns the other's reference to it.
// Everything is closed at the end of the round.
func hopwireBenchRef(b *testing.B) *session.Ref {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   *session.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		c, err := newBenchConn(nc, session.Server)
		ch <- res{c, err}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		<-ch
		b.Fatal(err)
	}
	cc, err := newBenchConn(nc, session.Client)
	r := <-ch
	if err != nil || r.err != nil {
		for _, c := range []*session.Conn{cc, r.c} {
			if c != nil {
				c.Close()
			}
		}
		b.Fatal(err, r.err)
	}
	b.Cleanup(func() {
		cc.Close()
		r.c.Close()
	})
	if err := r.c.Expose("bench", hwBenchSvc{}); err != nil {
		b.Fatal(err)
	}
	return cc.Service("bench")
}

// newBenchConn runs a session (Link, then Conn) on nc; on failure nc is
// closed, which also ends the peer's attempt.
func newBenchConn(nc net.Conn, role session.Role) (*session.Conn, error) {
	l, err := session.NewLink(nc, role, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c, err := session.NewConn(context.Background(), l, nil)
	if err != nil {
		l.Close()
		nc.Close()
		return nil, err
	}
	return c, nil
}

// pyProc is a Python process whose stdin and stdout the benchmark holds.
type pyProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr lockedbuf.Buffer
}

func startPyProc(py string, args ...string) (*pyProc, error) {
	p := &pyProc{cmd: exec.Command(py, args...)}
	in, err := p.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.in, p.out = in, bufio.NewReader(out)
	return p, nil
}

// line reads a line of the process's output; at EOF the error carries
// its stderr.
func (p *pyProc) line() (string, error) {
	s, err := p.out.ReadString('\n')
	if err != nil {
		p.close()
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(p.cmd.Args[1:], " "), err, p.stderr.String())
	}
	return strings.TrimSpace(s), nil
}

// close closes the process's stdin, on which it ends, and waits for it
// (killing it after 10 s).
func (p *pyProc) close() {
	p.in.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// rpycPeers is a Python RPyC client connected to a Python RPyC server,
// started in the first round of a /rpyc sub-benchmark and closed by the
// parent benchmark's cleanup.
type rpycPeers struct {
	procs  []*pyProc // server, client
	client *pyProc
}

func (r *rpycPeers) start(b *testing.B) *pyProc {
	b.Helper()
	if r.client != nil {
		return r.client
	}
	py := rpyctest.Python(b)
	srv, err := startPyProc(py, "testdata/pyserver.py", "service")
	if err != nil {
		b.Fatal(err)
	}
	r.procs = append(r.procs, srv)
	port, err := srv.line()
	if err != nil {
		b.Fatal(err)
	}
	cli, err := startPyProc(py, "testdata/pyclient.py", port, "loop")
	if err != nil {
		b.Fatal(err)
	}
	r.procs = append(r.procs, cli)
	if s, err := cli.line(); err != nil || s != "ready" {
		b.Fatalf("pyclient loop: %q, %v", s, err)
	}
	r.client = cli
	return cli
}

func (r *rpycPeers) close() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].close()
	}
}

// run has the client do n operations of kind and returns the time its
// loop took.
func (r *rpycPeers) run(b *testing.B, kind string, n int) time.Duration {
	b.Helper()
	if _, err := fmt.Fprintf(r.client.in, "%s %d\n", kind, n); err != nil {
		b.Fatal(err)
	}
	s, err := r.client.line()
	if err != nil {
		b.Fatal(err)
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil {
		b.Fatalf("pyclient said %q", s)
	}
	return time.Duration(secs * 1e9)
}

// benchRPyC runs the pair: hop is the hopwire side (setup, then b.N
// operations under the timer), kind the Python client's operation.
func benchRPyC(b *testing.B, kind string, bytesPerOp int64, hop func(b *testing.B, ctx context.Context, svc *session.Ref)) {
	b.Run("hopwire", func(b *testing.B) {
		svc := hopwireBenchRef(b)
		b.SetBytes(bytesPerOp)
		b.ReportAllocs()
		hop(b, context.Background(), svc)
	})
	peers := &rpycPeers{}
	b.Cleanup(peers.close)
	b.Run("rpyc", func(b *testing.B) {
		peers.start(b)
		peers.run(b, kind, 1) // warm-up
		b.SetBytes(bytesPerOp)
		b.ResetTimer()
		d := peers.run(b, kind, b.N)
		b.StopTimer()
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "py-ns/op")
	})
}

// BenchmarkRPyCNullCall: an int echoed (hopwire Null(i), RPyC
// root.echo(i)).
func BenchmarkRPyCNullCall(b *testing.B) {
	benchRPyC(b, "null", 0, func(b *testing.B, ctx context.Context, svc *session.Ref) {
		if _, err := session.Call[int](ctx, svc, "Null", 1); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := range b.N {
			if n, err := session.Call[int](ctx, svc, "Null", i); err != nil || n != i {
				b.Fatalf("Null(%d) = %d, %v", i, n, err)
			}
		}
	})
}

// BenchmarkRPyCCall1KiB: 1 KiB of bytes echoed (hopwire Echo(p), RPyC
// root.echo(p)).
func BenchmarkRPyCCall1KiB(b *testing.B) {
	payload := bytes.Repeat([]byte{0xa5}, 1024)
	benchRPyC(b, "echo1k", int64(len(payload)), func(b *testing.B, ctx context.Context, svc *session.Ref) {
		if _, err := session.Call[[]byte](ctx, svc, "Echo", payload); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if got, err := session.Call[[]byte](ctx, svc, "Echo", payload); err != nil || len(got) != len(payload) {
				b.Fatalf("Echo = %d bytes, %v", len(got), err)
			}
		}
	})
}

// BenchmarkRPyCCallback: a call whose handler calls a function the caller
// passed, once (hopwire Apply(inc, i), RPyC root.apply(inc, i)).
func BenchmarkRPyCCallback(b *testing.B) {
	inc := func(ctx context.Context, x int) (int, error) { return x + 1, nil }
	benchRPyC(b, "callback", 0, func(b *testing.B, ctx context.Context, svc *session.Ref) {
		if _, err := session.Call[int](ctx, svc, "Apply", inc, 1); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := range b.N {
			if n, err := session.Call[int](ctx, svc, "Apply", inc, i); err != nil || n != i+1 {
				b.Fatalf("Apply(inc, %d) = %d, %v", i, n, err)
			}
		}
	})
}

const transferSize = 16 << 20

// BenchmarkRPyCTransfer16MiB: 16 MiB of random bytes, held in memory, sent
// as the argument of a call that returns its length (hopwire Length(p) with
// a []byte, one message; RPyC root.length(p) with a bytes value). Random,
// so that RPyC's default zlib compression of large messages gains nothing.
// (Streaming through an io.Reader argument is BenchmarkStream256MiB in
// session.)
func BenchmarkRPyCTransfer16MiB(b *testing.B) {
	payload := make([]byte, transferSize)
	rand.Read(payload)
	benchRPyC(b, "transfer16m", transferSize, func(b *testing.B, ctx context.Context, svc *session.Ref) {
		if _, err := session.Call[int](ctx, svc, "Length", payload); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if n, err := session.Call[int](ctx, svc, "Length", payload); err != nil || n != len(payload) {
				b.Fatalf("Length = %d, %v", n, err)
			}
		}
	})
}
