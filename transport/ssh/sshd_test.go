package ssh_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hopwire/hopwire/internal/shell"
	hssh "github.com/hopwire/hopwire/transport/ssh"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// sshd is a private OpenSSH server on loopback.
type sshd struct {
	addr     string
	hostKeys []ssh.PublicKey // ECDSA, then Ed25519
	client   ssh.Signer      // the authorized client key
}

// startSSHD starts sshd (transporttest.StartSSHD) with two host keys,
// ECDSA and Ed25519, and one authorized client key, on a free loopback
// port. It skips the test when sshd is not installed.
func startSSHD(t *testing.T) *sshd {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client := newEd25519(t)
	d := transporttest.StartSSHD(t, &transporttest.SSHDOptions{
		HostKeys:       []crypto.Signer{ec, ed},
		AuthorizedKeys: authorizedLines(client.PublicKey()),
		Config:         []string{"LogLevel VERBOSE"},
	})
	return &sshd{addr: d.Addr, hostKeys: d.HostKeys, client: client}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// config resolves the sshd for the current user, trusting the host keys
// given.
func (s *sshd) config(t *testing.T, known ...ssh.PublicKey) *hssh.ClientConfig {
	t.Helper()
	home := t.TempDir()
	kh := filepath.Join(home, ".ssh", "known_hosts")
	writeFile(t, kh, knownHostsLines(s.addr, known...))
	_, port, _ := net.SplitHostPort(s.addr)
	p, _ := strconv.Atoi(port)
	cfg, err := hssh.LoadClientConfig("127.0.0.1", &hssh.ClientOptions{
		Home:            home,
		ConfigFile:      "none",
		Port:            p,
		Signers:         []ssh.Signer{s.client},
		KnownHostsFiles: []string{kh},
		AgentSocket:     "none",
		Stderr:          func(line string) { t.Logf("remote stderr: %s", line) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSSHD runs the client against a real OpenSSH server.
func TestSSHD(t *testing.T) {
	s := startSSHD(t)
	// known_hosts has the Ed25519 key only, while the server also has an
	// ECDSA one that x/crypto would prefer (golang/go#49631).
	c := dial(t, s.config(t, s.hostKeys[1]))
	if got := c.HostKey().Type(); got != ssh.KeyAlgoED25519 {
		t.Errorf("host key type %s, want %s", got, ssh.KeyAlgoED25519)
	}

	t.Run("DirectTCPIP", func(t *testing.T) { testDirectTCPIP(t, c) })
	t.Run("ExecCat", func(t *testing.T) { testExecCat(t, c) })
	t.Run("ExitStatus", func(t *testing.T) { testExitStatus(t, s) })
	t.Run("Run", func(t *testing.T) { testRun(t, c) })
	t.Run("Upload", func(t *testing.T) { testUpload(t, c) })
	t.Run("UploadCancelled", func(t *testing.T) { testUploadCancelled(t, c) })
	t.Run("UploadRefused", func(t *testing.T) { testUploadRefused(t, c) })
	t.Run("HopwireChannelRefused", func(t *testing.T) {
		if _, err := c.OpenHopwire(ctx(t)); err == nil {
			t.Fatal("OpenSSH accepted a hopwire channel")
		}
	})
	t.Run("Conformance", func(t *testing.T) {
		transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type accepted struct {
				c   net.Conn
				err error
			}
			ch := make(chan accepted, 1)
			go func() {
				c, err := ln.Accept()
				ch <- accepted{c, err}
			}()
			c1, err := c.DialContext(ctx(t), "tcp", ln.Addr().String())
			if err != nil {
				ln.Close()
				<-ch
				t.Fatal(err)
			}
			a := <-ch
			if a.err != nil {
				t.Fatal(a.err)
			}
			t.Cleanup(func() { a.c.Close() })
			return c1, a.c
		})
	})
}

func testDirectTCPIP(t *testing.T, c *hssh.Client) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(conn, conn) // echo until EOF, then close
		conn.Close()
	})
	conn, err := c.DialContext(ctx(t), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if ra := conn.RemoteAddr().String(); ra != ln.Addr().String() {
		t.Errorf("RemoteAddr %s, want %s", ra, ln.Addr())
	}
	roundTrip(t, conn, "through OpenSSH")
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, err := io.ReadAll(conn); err != nil || len(rest) != 0 {
		t.Fatalf("after CloseWrite: read %q, %v; want EOF", rest, err)
	}

	// A port nobody listens on: the server reports connect failed.
	dead := freePort(t)
	if _, err := c.DialContext(ctx(t), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(dead))); err == nil {
		t.Error("direct-tcpip to a closed port succeeded")
	}
}

func testExecCat(t *testing.T, c *hssh.Client) {
	x, err := c.Exec(ctx(t), "cat")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, ok := x.ExitStatus(); ok {
		t.Error("ExitStatus known while cat runs")
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := x.Write(data)
		if err == nil {
			err = x.CloseWrite() // cat sees EOF and exits
		}
		errc <- err
	}()
	x.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(x)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("cat returned %d bytes, different from the %d sent", len(got), len(data))
	}
	if err := x.Wait(ctx(t)); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if st, ok := x.ExitStatus(); !ok || st != 0 {
		t.Errorf("ExitStatus %d, %v; want 0, true", st, ok)
	}
}

func testExitStatus(t *testing.T, s *sshd) {
	var (
		mu    sync.Mutex
		lines []string
	)
	cfg := s.config(t, s.hostKeys[1])
	cfg.Stderr = func(line string) {
		mu.Lock()
		lines = append(lines, line)
		mu.Unlock()
	}
	c := dial(t, cfg)
	x, err := c.Exec(ctx(t), "echo line1 >&2; echo line2 >&2; echo out; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	io.Copy(io.Discard, x)
	err = x.Wait(ctx(t))
	var xe *hssh.ExitError
	if !errors.As(err, &xe) || xe.Status != 3 {
		t.Fatalf("Wait: %v; want an ExitError with status 3", err)
	}
	if st, ok := x.ExitStatus(); !ok || st != 3 {
		t.Errorf("ExitStatus %d, %v; want 3, true", st, ok)
	}
	mu.Lock()
	if strings.Join(lines, ",") != "line1,line2" {
		t.Errorf("stderr lines %q, want line1, line2", lines)
	}
	mu.Unlock()

	x, err = c.Exec(ctx(t), "kill -TERM $$")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	io.Copy(io.Discard, x)
	if err := x.Wait(ctx(t)); !errors.As(err, &xe) || xe.Signal != "TERM" {
		t.Errorf("Wait after kill -TERM: %v; want an ExitError with Signal TERM", err)
	}
}

func testRun(t *testing.T, c *hssh.Client) {
	out, err := c.Run(ctx(t), "uname -s")
	if err != nil {
		t.Fatal(err)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		t.Error("uname -s printed nothing")
	}
	_, err = c.Run(ctx(t), "echo boom >&2; exit 7")
	var xe *hssh.ExitError
	if !errors.As(err, &xe) || xe.Status != 7 || !strings.Contains(xe.Stderr, "boom") {
		t.Errorf("Run of a failing command: %v; want status 7 and stderr boom", err)
	}
}

func testUpload(t *testing.T, c *hssh.Client) {
	// sshd runs on this machine as this user, so the remote files are
	// local files too.
	base := t.TempDir()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	sum := sha256.Sum256(data)
	for _, name := range []string{"sub/dir/hopwire", "it's a \"file\" with $pace`s"} {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(base, name)
			if err := c.Upload(ctx(t), bytes.NewReader(data), dst, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := c.Run(ctx(t), "sha256sum "+shell.Quote(dst))
			if err != nil {
				t.Fatal(err)
			}
			if got, _, _ := strings.Cut(string(out), " "); got != hex.EncodeToString(sum[:]) {
				t.Errorf("sha256sum %s, want %x", got, sum)
			}
			fi, err := os.Stat(dst)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("mode %v, want 0755", fi.Mode().Perm())
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".*hopwire-*"))
			if len(left) > 0 {
				t.Errorf("temporary files left: %q", left)
			}
		})
	}
	if fi, err := os.Stat(filepath.Join(base, "sub")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("created directory: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	// Replacing an existing file.
	dst := filepath.Join(base, "sub/dir/hopwire")
	if err := c.Upload(ctx(t), strings.NewReader("v2"), dst, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "v2" {
		t.Errorf("after replacing: %q, %v", b, err)
	}
}

// testUploadRefused: when the remote side cannot create the file, the
// error carries the remote reason.
func testUploadRefused(t *testing.T, c *hssh.Client) {
	file := filepath.Join(t.TempDir(), "a-file")
	writeFile(t, file, "x")
	for _, size := range []int{10, 8 << 20} {
		err := c.Upload(ctx(t), bytes.NewReader(make([]byte, size)), filepath.Join(file, "sub", "x"), 0o644)
		var xe *hssh.ExitError
		if !errors.As(err, &xe) || !strings.Contains(xe.Stderr, "mkdir") {
			t.Errorf("upload of %d bytes below a file: %v; want an ExitError with mkdir's complaint", size, err)
		}
	}
}

// stallingReader yields some data, then blocks until its context ends.
type stallingReader struct {
	ctx  context.Context
	sent bool
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, bytes.Repeat([]byte("partial "), 1000)), nil
	}
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

// testUploadCancelled: an upload cut short leaves no file, not even a
// truncated one.
func testUploadCancelled(t *testing.T, c *hssh.Client) {
	dst := filepath.Join(t.TempDir(), "never")
	cctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err := c.Upload(cctx, &stallingReader{ctx: cctx}, dst, 0o644)
	if err == nil {
		t.Fatal("cancelled upload succeeded")
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destination after a cancelled upload: %v; want none", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".*hopwire-*"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("temporary file left after a cancelled upload: %q", left)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSSHDWrongHostKey: known_hosts holds another key for the server.
func TestSSHDWrongHostKey(t *testing.T) {
	s := startSSHD(t)
	wrong := newEd25519(t)
	cfg := s.config(t, wrong.PublicKey())
	_, err := hssh.Dial(ctx(t), cfg)
	var he *hssh.HostKeyError
	if !errors.As(err, &he) || he.Unknown() {
		t.Fatalf("Dial: %v; want a changed-key HostKeyError", err)
	}
	if !strings.Contains(err.Error(), cfg.KnownHostsFiles[0]+":1") {
		t.Errorf("error %q does not name %s:1", err, cfg.KnownHostsFiles[0])
	}

	// And with no entry at all: the fingerprint hint.
	cfg = s.config(t)
	_, err = hssh.Dial(ctx(t), cfg)
	if !errors.As(err, &he) || !he.Unknown() || !strings.Contains(err.Error(), ssh.FingerprintSHA256(he.Key)) {
		t.Fatalf("Dial: %v; want an unknown-host HostKeyError with the fingerprint", err)
	}
}
