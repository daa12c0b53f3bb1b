package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hopwire/hopwire/certs"
	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/hop"
	"github.com/hopwire/hopwire/relay"
	"github.com/hopwire/hopwire/session"
)

// runDemo runs hopwire's main job on an embedded default: a throwaway CA,
// two relays and a target node on loopback over three transports (TLS,
// QUIC, DTLS), and a client that reaches the target through both relays,
// authenticating every hop, and drives it: a refused destination, remote
// ls, a remote error caught with errors.Is, a callback, an async call, and
// a streamed transfer checked by SHA-256. Everything is torn down at the
// end.
func runDemo(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	flags := newFlags("demo", stderr)
	size := flags.Int("bytes", 16<<20, "bytes to stream through the chain")
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
	for _, name := range []string{"client", "r1", "r2", "target"} {
		certPEM, keyPEM, err := ca.Issue(name, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			return err
		}
		if ids[name], err = certs.ParseIdentity(certPEM, keyPEM); err != nil {
			return err
		}
	}

	// Three nodes on loopback: r1 (TLS), r2 (QUIC) and the target (DTLS),
	// each trusting the CA, each allowed to forward only to the next.
	share := filepath.Join(dir, "share")
	if err := writeSamples(share); err != nil {
		return err
	}
	node := func(name, listen string, grants []string, services map[string]any) (*relay.Server, error) {
		var gs []*relay.Grant
		for _, g := range grants {
			pg, err := relay.ParseGrant(g)
			if err != nil {
				return nil, err
			}
			gs = append(gs, pg)
		}
		srv, err := relay.New(&relay.Options{Name: name, Identity: ids[name], Trust: certs.Trust{Pool: ca.Pool()},
			Policy: relay.NewPolicy(gs), Listen: []string{listen}, Version: version,
			Services: func(session.Peer) map[string]any { return services }})
		if err != nil {
			return nil, err
		}
		return srv, srv.Start(ctx)
	}
	// A web server only the target may reach, for the forward.
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from a web server behind the target")
	}))
	defer web.Close()
	target, err := node("target", "dtls://127.0.0.1:0", []string{"client:classic", "client:connect=" + web.Listener.Addr().String()},
		map[string]any{"files": &demoFiles{root: share}})
	if err != nil {
		return err
	}
	defer target.Close()
	targetAddr, _ := hop.Parse(target.Addrs()[0])
	r2, err := node("r2", "quic://127.0.0.1:0", []string{"client:connect=" + targetAddr.HostPort()}, nil)
	if err != nil {
		return err
	}
	defer r2.Close()
	r2Addr, _ := hop.Parse(r2.Addrs()[0])
	r1, err := node("r1", "tls://127.0.0.1:0", []string{"client:connect=" + r2Addr.HostPort()}, nil)
	if err != nil {
		return err
	}
	defer r1.Close()
	r1Addr, _ := hop.Parse(r1.Addrs()[0])
	step("nodes up: r1 %s, r2 %s (grants: connect to the next hop only)", r1.Addrs()[0], r2.Addrs()[0])
	step("target %s", target.Addrs()[0])

	d := &hop.Dialer{Identity: ids["client"], Trust: func(a hop.Addr) certs.Trust { return certs.Trust{Pool: ca.Pool()} },
		Link: &session.LinkConfig{Name: "client"}}
	route, err := d.Dial(ctx, []hop.Addr{r1Addr, r2Addr}, targetAddr)
	if err != nil {
		return err
	}
	defer route.Close()
	step("chain up: client -> r1 (tls) -> r2 (quic over CONNECT udp) -> target (dtls over CONNECT udp), each hop authenticated by the client")
	for i, h := range route.Hops {
		rtt, err := h.Conn.Ping(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "    hop %d  %-7s %-5s principal=%s  fingerprint=%s  rtt=%v\n", i+1, h.Peer.Name, h.Transport, h.Peer.Principal, h.Peer.Fingerprint, rtt.Round(time.Microsecond))
	}
	hop2 := route.Target()

	step("policy: r1 refuses a destination it was not granted")
	if _, err := d.Dial(ctx, []hop.Addr{r1Addr}, targetAddr); err != nil {
		fmt.Fprintf(stdout, "    %v\n", err)
	} else {
		return errors.New("demo: r1 forwarded where it was not allowed")
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
	step("classic administration: exec, put and get")
	c := classic.New(route.Target())
	var out strings.Builder
	code, err := c.Run(ctx, classic.RunRequest{Argv: []string{"sh", "-c", "echo \"$(uname -sm) on the target\"; exit 3"}}, strings.NewReader(""), &out, io.Discard)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "    exec: %s (exit status %d)\n", strings.TrimSpace(out.String()), code)
	putData := bytes.Repeat([]byte("hopwire put/get "), 4096)
	remote := filepath.Join(dir, "put.bin")
	if _, err := c.WriteFile(ctx, remote, bytes.NewReader(putData), 0o640); err != nil {
		return err
	}
	remoteSum2, err := c.Checksum(ctx, remote, -1)
	if err != nil {
		return err
	}
	r, err := c.ReadFile(ctx, remote, 0)
	if err != nil {
		return err
	}
	back, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return err
	}
	wantSum := sha256.Sum256(putData)
	gotSum := sha256.Sum256(back)
	fmt.Fprintf(stdout, "    put %d bytes, got %d back; sha256 remote=%s… match=%v\n", len(putData), len(back), remoteSum2[:16],
		hex.EncodeToString(wantSum[:]) == remoteSum2 && gotSum == wantSum)
	if gotSum != wantSum {
		return errors.New("demo: put/get round trip differs")
	}

	step("a forward: an HTTP request through the chain to a server only the target reaches")
	tr := &http.Transport{DialContext: route.DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(web.URL)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintf(stdout, "    GET %s -> %s %q\n", web.URL, resp.Status, body)

	step("tearing down")
	return nil
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
		"hello.txt":    []byte("hello from the target\nthrough two relays\nand back\n"),
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
