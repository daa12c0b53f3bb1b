package hop

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/hopwire/hopwire/session"
	"github.com/hopwire/hopwire/transport/dtls"
	"github.com/hopwire/hopwire/transport/quic"
	hssh "github.com/hopwire/hopwire/transport/ssh"
	"github.com/hopwire/hopwire/transport/stdio"
	htls "github.com/hopwire/hopwire/transport/tls"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// benchBytes is what one op of BenchmarkLinkThroughput moves.
const benchBytes = 64 << 20

// connPairFunc returns two connected net.Conns (a bare transport, or a
// stream of a link).
type connPairFunc func(b *testing.B) (net.Conn, net.Conn)

// throughput moves benchBytes from one end to the other per op.
func throughput(b *testing.B, pair connPairFunc) {
	c1, c2 := pair(b)
	defer c1.Close()
	defer c2.Close()
	buf := make([]byte, 64<<10)
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyBuffer(io.Discard, readerOnly{c2}, make([]byte, 64<<10))
		done <- err
	}()
	b.SetBytes(benchBytes)
	b.ResetTimer()
	for range b.N {
		for sent := 0; sent < benchBytes; sent += len(buf) {
			if _, err := c1.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	c1.Close()
	<-done
}

type readerOnly struct{ io.Reader }

// streamOfB opens one stream on a fresh link pair.
func streamOfB(lp linkPair) connPairFunc {
	return func(b *testing.B) (net.Conn, net.Conn) {
		cl, sl := lp(b)
		s, err := cl.OpenStream(context.Background(), session.KindData, nil)
		if err != nil {
			b.Fatal(err)
		}
		r, err := sl.AcceptStream(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		return s, r
	}
}

func bareTLS(b *testing.B) (net.Conn, net.Conn) {
	ccfg, scfg := identities(b)
	ln, err := htls.Listen(context.Background(), "127.0.0.1:0", scfg)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	c, err := htls.Dial(context.Background(), ln.Addr().String(), ccfg)
	if err != nil {
		b.Fatal(err)
	}
	return c, <-ch
}

func bareQUIC(b *testing.B) (net.Conn, net.Conn) {
	ccfg, scfg := identities(b)
	ln, err := quic.Listen("127.0.0.1:0", scfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		qc, err := ln.Accept(context.Background())
		if err != nil {
			ch <- nil
			return
		}
		s, _ := qc.AcceptStream(context.Background())
		ch <- s
	}()
	qc, err := quic.Dial(context.Background(), ln.Addr().String(), ccfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { qc.Close() })
	s, err := qc.OpenStream(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	s.Write([]byte{0}) // QUIC announces a stream with its first byte
	r := <-ch
	if r == nil {
		b.Fatal("accept failed")
	}
	r.Read(make([]byte, 1))
	return s, r
}

// sshPair dials the embedded SSH listener and returns both ends of the
// hopwire channel.
func sshPair(b testing.TB) (net.Conn, net.Conn) {
	dir := b.TempDir()
	_, hostKey, _ := ed25519.GenerateKey(rand.Reader)
	_, clientKey, _ := ed25519.GenerateKey(rand.Reader)
	host, _ := gossh.NewSignerFromSigner(hostKey)
	client, _ := gossh.NewSignerFromSigner(clientKey)
	auth := filepath.Join(dir, "authorized_keys")
	os.WriteFile(auth, gossh.MarshalAuthorizedKey(client.PublicKey()), 0o600)
	ln, err := hssh.Listen(context.Background(), "127.0.0.1:0", &hssh.ServerConfig{HostKeys: []gossh.Signer{host}, AuthorizedKeysFile: auth})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	hostport := ln.Addr().(*net.TCPAddr)
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte("[127.0.0.1]:"+itoa(hostport.Port)+" "+string(gossh.MarshalAuthorizedKey(host.PublicKey()))), 0o600)
	cfg, err := hssh.LoadClientConfig("127.0.0.1", &hssh.ClientOptions{ConfigFile: "none", AgentSocket: "none", Home: dir,
		User: "bench", Port: hostport.Port, Signers: []gossh.Signer{client}, KnownHostsFiles: []string{known}})
	if err != nil {
		b.Fatal(err)
	}
	c, err := hssh.Dial(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ch1, err := c.OpenHopwire(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ch2 := <-ch
	if ch2 == nil {
		b.Fatal("accept failed")
	}
	return ch1, ch2
}

// bareSSH is issue 3's reference for the SSH link: a channel of
// x/crypto/ssh itself, written and read by the benchmark with nothing of
// hopwire's in between (the same library defaults for key exchange and
// cipher as the link's, an Ed25519 host key and public-key auth). The
// "ssh-conn" row is hopwire's net.Conn over such a channel
// (transport/ssh.Conn, without the multiplexer).
func bareSSH(b *testing.B) (net.Conn, net.Conn) {
	_, hostKey, _ := ed25519.GenerateKey(rand.Reader)
	_, clientKey, _ := ed25519.GenerateKey(rand.Reader)
	host, _ := gossh.NewSignerFromSigner(hostKey)
	client, _ := gossh.NewSignerFromSigner(clientKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	type accepted struct {
		ch  gossh.Channel
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- accepted{err: err}
			return
		}
		cfg := &gossh.ServerConfig{PublicKeyCallback: func(_ gossh.ConnMetadata, k gossh.PublicKey) (*gossh.Permissions, error) {
			if !bytes.Equal(k.Marshal(), client.PublicKey().Marshal()) {
				return nil, errors.New("unknown key")
			}
			return nil, nil
		}}
		cfg.AddHostKey(host)
		sc, chans, reqs, err := gossh.NewServerConn(c, cfg)
		if err != nil {
			c.Close()
			acc <- accepted{err: err}
			return
		}
		b.Cleanup(func() { sc.Close() })
		go gossh.DiscardRequests(reqs)
		nc := <-chans
		ch, creqs, err := nc.Accept()
		if err == nil {
			go gossh.DiscardRequests(creqs)
		}
		acc <- accepted{ch, err}
	}()
	cl, err := gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{User: "bench",
		Auth: []gossh.AuthMethod{gossh.PublicKeys(client)}, HostKeyCallback: gossh.FixedHostKey(host.PublicKey())})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	ch1, reqs, err := cl.OpenChannel("bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	go gossh.DiscardRequests(reqs)
	a := <-acc
	if a.err != nil {
		b.Fatal(a.err)
	}
	return channelConn{ch1}, channelConn{a.ch}
}

// channelConn lets throughput drive a bare ssh.Channel: Read, Write and
// Close are the channel's own; a channel has no addresses or deadlines.
type channelConn struct{ gossh.Channel }

func (channelConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (channelConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (channelConn) SetDeadline(t time.Time) error      { return os.ErrNoDeadline }
func (channelConn) SetReadDeadline(t time.Time) error  { return os.ErrNoDeadline }
func (channelConn) SetWriteDeadline(t time.Time) error { return os.ErrNoDeadline }

func sshLinkStream(b *testing.B) (net.Conn, net.Conn) {
	a, c := sshPair(b)
	return streamOfB(func(t testing.TB) (*session.Link, *session.Link) { return overConns(t, a, c) })(b)
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}

func BenchmarkLinkThroughput(b *testing.B) {
	b.Run("tcp", func(b *testing.B) {
		throughput(b, func(b *testing.B) (net.Conn, net.Conn) { return transporttest.TCPPair(b) })
	})
	b.Run("tls", func(b *testing.B) { throughput(b, streamOfB(transports["tls"])) })
	b.Run("bare-tls", func(b *testing.B) { throughput(b, bareTLS) })
	b.Run("quic", func(b *testing.B) { throughput(b, streamOfB(transports["quic"])) })
	b.Run("bare-quic", func(b *testing.B) { throughput(b, bareQUIC) })
	b.Run("ssh", func(b *testing.B) { throughput(b, sshLinkStream) })
	b.Run("bare-ssh", func(b *testing.B) { throughput(b, bareSSH) })
	b.Run("ssh-conn", func(b *testing.B) { throughput(b, func(b *testing.B) (net.Conn, net.Conn) { return sshPair(b) }) })
	b.Run("dtls", func(b *testing.B) { throughput(b, streamOfB(transports["dtls"])) })
	b.Run("stdio", func(b *testing.B) { throughput(b, streamOfB(stdioThroughChild)) })
	b.Run("bare-stdio", func(b *testing.B) { throughput(b, bareStdio) })
}

// BenchmarkLinkSetup measures a link's setup as a client meets it: a node
// is listening already; each op dials it (a fresh socket, the transport
// handshake with mutual authentication, the hello), runs the first
// stream's round trip (a ping) and closes the link.
func BenchmarkLinkSetup(b *testing.B) {
	for _, name := range []string{"tls", "quic", "dtls"} {
		b.Run(name, func(b *testing.B) {
			dial := setupServer(b, name)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				cl, err := dial(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := cl.Ping(ctx); err != nil {
					b.Fatal(err)
				}
				cl.Close()
			}
		})
	}
	b.Run("ssh", func(b *testing.B) {
		for range b.N {
			c1, c2 := sshLinkStream(b)
			c1.Close()
			c2.Close()
		}
	})
}

// setupServer starts a node listening on scheme for BenchmarkLinkSetup,
// serving every link until the benchmark ends, and returns how to dial it.
func setupServer(b *testing.B, scheme string) func(context.Context) (*session.Link, error) {
	ccfg, scfg := identities(b)
	var (
		accept func() (*session.Link, error)
		dial   func(ctx context.Context, addr string) (*session.Link, error)
		addr   string
		stop   func() error
	)
	// tls and dtls give conns for smux links; quic gives its own streams.
	var (
		ln       interface{ Accept() (net.Conn, error) }
		dialConn func(ctx context.Context, addr string) (net.Conn, error)
	)
	switch scheme {
	case "tls":
		l, err := htls.Listen(context.Background(), "127.0.0.1:0", scfg)
		if err != nil {
			b.Fatal(err)
		}
		ln, addr, stop = l, l.Addr().String(), l.Close
		dialConn = func(ctx context.Context, addr string) (net.Conn, error) { return htls.Dial(ctx, addr, ccfg) }
	case "dtls":
		l, err := dtls.Listen("127.0.0.1:0", scfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		ln, addr, stop = l, l.Addr().String(), l.Close
		dialConn = func(ctx context.Context, addr string) (net.Conn, error) { return dtls.Dial(ctx, addr, ccfg, nil) }
	case "quic":
		l, err := quic.Listen("127.0.0.1:0", scfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		addr, stop = l.Addr().String(), l.Close
		accept = func() (*session.Link, error) {
			qc, err := l.Accept(context.Background())
			if err != nil {
				return nil, err
			}
			return session.NewMuxedLink(qc, session.Server, nil)
		}
		dial = func(ctx context.Context, addr string) (*session.Link, error) {
			qc, err := quic.Dial(ctx, addr, ccfg, nil)
			if err != nil {
				return nil, err
			}
			return session.NewMuxedLink(qc, session.Client, nil)
		}
	default:
		b.Fatalf("no setup benchmark for %s", scheme)
	}
	if ln != nil {
		accept = func() (*session.Link, error) {
			c, err := ln.Accept()
			if err != nil {
				return nil, err
			}
			return session.NewLink(c, session.Server, nil)
		}
		dial = func(ctx context.Context, addr string) (*session.Link, error) {
			c, err := dialConn(ctx, addr)
			if err != nil {
				return nil, err
			}
			return session.NewLink(c, session.Client, nil)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			l, err := accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // a failed handshake: the client reports it
			}
			wg.Go(func() {
				<-l.Done() // the client closed it
				l.Close()
			})
		}
	})
	b.Cleanup(func() {
		stop()
		wg.Wait()
	})
	return func(ctx context.Context) (*session.Link, error) { return dial(ctx, addr) }
}

// stdioThroughChild is the stdio figure's link pair: the data direction
// runs through a child process relaying bytes from its stdin to its
// stdout (cat, as `docker exec -i` or `sudo` relay a hop's stdio), the
// other direction (acknowledgements and window updates) through a plain
// pipe. Both link ends are in the benchmark's process.
func stdioThroughChild(t testing.TB) (*session.Link, *session.Link) {
	a, b := catConns(t)
	return overConns(t, a, b)
}

// bareStdio is the ceiling of the stdio figure: the same pipes and cat
// child as stdioThroughChild, with the benchmark's bytes written to and
// read from the pipes directly, no link between.
func bareStdio(b *testing.B) (net.Conn, net.Conn) { return catConns(b) }

// catConns returns two stdio conns joined through a cat child (a to b)
// and a plain pipe (b to a).
func catConns(t testing.TB) (*stdio.Conn, *stdio.Conn) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat to relay through")
	}
	toChild, aOut, err := os.Pipe() // a writes, the child reads
	if err != nil {
		t.Fatal(err)
	}
	bIn, fromChild, err := os.Pipe() // the child writes, b reads
	if err != nil {
		t.Fatal(err)
	}
	aIn, bOut, err := os.Pipe() // b writes, a reads
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cat)
	cmd.Stdin, cmd.Stdout = toChild, fromChild
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toChild.Close()
	fromChild.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return stdio.Stdio(aIn, aOut), stdio.Stdio(bIn, bOut)
}
