package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/session"
)

// runDemo runs hopwire's main job on an embedded default: a throwaway CA,
// a relay and a target node on loopback, and a client that reaches the
// target through the relay (two authenticated hops, TLS inside TLS) and
// drives it: remote ls, a callback, an async call, a remote error, and a
// streamed transfer checked by SHA-256. Everything is torn down at the end.
func runDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	flags := newFlags("demo", stderr)
	size := flags.Int("bytes", 64<<20, "bytes to stream through the chain")
	if err := parse(flags, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "hopwire-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	step := func(format string, a ...any) { fmt.Fprintf(stdout, "==> "+format+"\n", a...) }

	step("creating a throwaway CA and identities in %s", dir)
	ca, err := certs.InitCA(filepath.Join(dir, "ca"))
	if err != nil {
		return err
	}
	ids := map[string]*certs.Identity{}
	for _, name := range []string{"client", "relay", "target"} {
		certPEM, keyPEM, err := ca.Issue(name, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			return err
		}
		if ids[name], err = certs.ParseIdentity(certPEM, keyPEM); err != nil {
			return err
		}
	}
	trustAs := func(name string) certs.Trust { return certs.Trust{Pool: ca.Pool(), Name: name} }

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// The target node: a service over a directory of sample files.
	share := filepath.Join(dir, "share")
	if err := writeSamples(share); err != nil {
		return err
	}
	targetLn, err := demoListener(ids["target"], trustAs("client"))
	if err != nil {
		return err
	}
	defer targetLn.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		demoServe(ctx, targetLn, "target", func(c *session.Conn) { c.Expose("files", &demoFiles{root: share}) }, nil)
	}()
	step("target node listening on tls://%s (principal %q)", targetLn.Addr(), "target")

	// The relay: accepts the client and forwards one CONNECT stream to the
	// target's address, and nowhere else.
	relayLn, err := demoListener(ids["relay"], trustAs("client"))
	if err != nil {
		return err
	}
	defer relayLn.Close()
	allowed := targetLn.Addr().String()
	wg.Add(1)
	go func() {
		defer wg.Done()
		demoServe(ctx, relayLn, "relay", nil, func(s *session.Stream) { demoForward(ctx, s, allowed) })
	}()
	step("relay node listening on tls://%s, forwarding only to %s", relayLn.Addr(), allowed)

	// The client: hop 1 to the relay, hop 2 to the target through it.
	hop1, err := demoDial(ctx, nil, relayLn.Addr().String(), ids["client"], trustAs("relay"))
	if err != nil {
		return fmt.Errorf("hop 1 (tls://%s): %w", relayLn.Addr(), err)
	}
	defer hop1.Close()
	req, err := (&session.ConnectRequest{Network: session.ConnectTCP, Address: allowed}).Encode()
	if err != nil {
		return err
	}
	through, err := hop1.Link().OpenStream(ctx, session.KindConnect, req)
	if err != nil {
		return err
	}
	hop2, err := demoDial(ctx, through, allowed, ids["client"], trustAs("target"))
	if err != nil {
		return fmt.Errorf("hop 2 (tls://%s): %w", allowed, err)
	}
	defer hop2.Close()
	step("chain up: client -> relay -> target, each hop authenticated by the client")
	for i, c := range []*session.Conn{hop1, hop2} {
		rtt, err := c.Link().Ping(ctx)
		if err != nil {
			return err
		}
		p := c.Link().Peer()
		fmt.Fprintf(stdout, "    hop %d  %-7s tls  principal=%s  fingerprint=%s  rtt=%v\n", i+1, p.Name, p.Principal, p.Fingerprint, rtt.Round(time.Microsecond))
	}

	files := hop2.Service("files")
	step("remote ls %s (RPyC's remote_ls)", share)
	entries, err := session.Call[[]demoEntry](ctx, files, "List", ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		fmt.Fprintf(stdout, "    %-10s %6d  uid=%d  %s\n", e.Mode, e.Size, e.UID, e.Name)
	}

	step("catching a remote error with errors.Is")
	_, err = files.Call(ctx, "Read", "missing.txt")
	fmt.Fprintf(stdout, "    errors.Is(err, fs.ErrNotExist) = %v  (%v)\n", errors.Is(err, fs.ErrNotExist), err)

	step("a callback: the target calls back into the client for each line")
	var seen []string
	n, err := session.Call[int](ctx, files, "EachLine", "hello.txt", func(ctx context.Context, line string) error {
		seen = append(seen, line)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "    %d lines called back: %q\n", n, seen)

	step("an async call, waited on later")
	a := files.Go(ctx, "Checksum", "hello.txt")
	res, err := a.Wait(ctx)
	var sum string
	if err == nil {
		err = res.Decode(&sum)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "    sha256(hello.txt) = %s\n", sum)

	step("streaming %d MiB through the chain as an io.Reader argument", *size>>20)
	payload := io.LimitReader(demoPattern{}, int64(*size))
	h := sha256.New()
	start := time.Now()
	var got int64
	var remoteSum string
	res, err = files.Call(ctx, "Sink", io.TeeReader(payload, h))
	if err == nil {
		err = res.Decode(&got, &remoteSum)
	}
	if err != nil {
		return err
	}
	local := hex.EncodeToString(h.Sum(nil))
	el := time.Since(start)
	fmt.Fprintf(stdout, "    %d bytes in %v (%.0f MiB/s); sha256 local=%s… remote=%s… match=%v\n",
		got, el.Round(time.Millisecond), float64(got)/(1<<20)/el.Seconds(), local[:16], remoteSum[:16], local == remoteSum)
	if local != remoteSum || got != int64(*size) {
		return errors.New("demo: streamed data does not match")
	}
	step("tearing down")
	return nil
}

func demoListener(id *certs.Identity, trust certs.Trust) (net.Listener, error) {
	cfg, err := certs.ServerConfig(id, trust)
	if err != nil {
		return nil, err
	}
	return tls.Listen("tcp", "127.0.0.1:0", cfg)
}

// demoServe accepts links until ctx ends; each gets an RPC session.
func demoServe(ctx context.Context, ln net.Listener, name string, expose func(*session.Conn), accept func(*session.Stream)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := c.(*tls.Conn)
			if err := tc.HandshakeContext(ctx); err != nil {
				tc.Close()
				return
			}
			principal, fp := certs.PeerFromState(tc.ConnectionState())
			l, err := session.NewLink(tc, session.Server, &session.LinkConfig{Name: name, Peer: session.Peer{Principal: principal, Fingerprint: fp}})
			if err != nil {
				return
			}
			conn, err := session.NewConn(ctx, l, &session.Options{Accept: accept})
			if err != nil {
				return
			}
			if expose != nil {
				expose(conn)
			}
			select {
			case <-ctx.Done():
			case <-conn.Done():
			}
			conn.Close()
		}()
	}
}

// demoDial runs a TLS client handshake over under (or a fresh TCP
// connection to addr) and starts a session on it.
func demoDial(ctx context.Context, under net.Conn, addr string, id *certs.Identity, trust certs.Trust) (*session.Conn, error) {
	cfg, err := certs.ClientConfig(id, trust, "")
	if err != nil {
		return nil, err
	}
	if under == nil {
		var d net.Dialer
		if under, err = d.DialContext(ctx, "tcp", addr); err != nil {
			return nil, err
		}
	}
	tc := tls.Client(under, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		under.Close()
		return nil, err
	}
	principal, fp := certs.PeerFromState(tc.ConnectionState())
	l, err := session.NewLink(tc, session.Client, &session.LinkConfig{Name: "client", Peer: session.Peer{Principal: principal, Fingerprint: fp}})
	if err != nil {
		return nil, err
	}
	return session.NewConn(ctx, l, nil)
}

// demoForward serves one CONNECT stream, allowed only to the one TCP
// address. Failures on either side reach the other as errors.
func demoForward(ctx context.Context, s *session.Stream, allowed string) {
	req, err := session.ParseConnectRequest(s.Header())
	if err != nil {
		s.Abort(session.AbortProtocol, err.Error())
		return
	}
	if req.Network != session.ConnectTCP || req.Address != allowed {
		s.Abort(session.AbortPolicy, "destination not allowed: "+req.Network.String()+" "+req.Address)
		return
	}
	dest := req.Address
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", dest)
	if err != nil {
		s.Abort(session.AbortUpstream, err.Error())
		return
	}
	go func() {
		defer c.Close()
		defer s.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := io.Copy(c, s); err != nil {
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				return
			}
			c.(*net.TCPConn).CloseWrite()
		}()
		if _, err := io.Copy(s, c); err != nil {
			s.Abort(session.AbortUpstream, err.Error())
		} else {
			s.CloseWrite()
		}
		<-done
	}()
}

// demoEntry is one directory entry, as RPyC's remote_ls prints them.
type demoEntry struct {
	Name string
	Size int64
	Mode string
	UID  int
}

// demoFiles is the target's service.
type demoFiles struct{ root string }

func (d *demoFiles) path(name string) (string, error) {
	p := filepath.Join(d.root, filepath.Clean("/"+name))
	if !strings.HasPrefix(p, d.root) {
		return "", fs.ErrPermission
	}
	return p, nil
}

// List returns the entries of a directory.
func (d *demoFiles) List(dir string) ([]demoEntry, error) {
	p, err := d.path(dir)
	if err != nil {
		return nil, err
	}
	des, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []demoEntry
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			continue
		}
		out = append(out, demoEntry{Name: de.Name(), Size: fi.Size(), Mode: fi.Mode().String(), UID: fileUID(fi)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Read returns a file's contents.
func (d *demoFiles) Read(name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// EachLine calls f for each line of a file and returns the count.
func (d *demoFiles) EachLine(ctx context.Context, name string, f func(context.Context, string) error) (int, error) {
	b, err := d.Read(name)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines {
		if err := f(ctx, l); err != nil {
			return 0, err
		}
	}
	return len(lines), nil
}

// Checksum returns a file's SHA-256.
func (d *demoFiles) Checksum(name string) (string, error) {
	b, err := d.Read(name)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// Sink consumes a stream and returns its length and SHA-256.
func (d *demoFiles) Sink(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func writeSamples(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		"hello.txt":    []byte("hello from the target\nthrough one relay\nand back\n"),
		"data.bin":     bytes.Repeat([]byte{0xAB}, 4096),
		"logs/app.log": []byte("started\n"),
		"notes.md":     []byte("# notes\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// demoPattern is an endless, cheap, non-constant byte source.
type demoPattern struct{}

func (demoPattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return len(p), nil
}
