package classic_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair serves svc over an in-memory link and returns a client for it.
func pair(t *testing.T, svc *classic.Service) *classic.Client {
	t.Helper()
	c, _ := pairConn(t, svc)
	return c
}

func pairConn(t *testing.T, svc *classic.Service) (*classic.Client, *session.Conn) {
	t.Helper()
	a, b := net.Pipe()
	ch := make(chan *session.Conn, 1)
	go func() {
		l, err := session.NewLink(b, session.Server, nil)
		if err != nil {
			t.Error(err)
			ch <- nil
			return
		}
		c, err := session.NewConn(context.Background(), l, &session.Options{Services: map[string]any{classic.ServiceName: svc}})
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	l, err := session.NewLink(a, session.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := session.NewConn(t.Context(), l, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := <-ch
	t.Cleanup(func() {
		cc.Close()
		if sc != nil {
			sc.Close()
		}
	})
	return classic.New(cc), cc
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	c := pair(t, &classic.Service{})
	ctx := t.Context()
	p := filepath.Join(dir, "a", "b")
	if err := c.MkdirAll(ctx, p, 0o750); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("hopwire "), 100000)
	f := filepath.Join(p, "f.txt")
	if n, err := c.WriteFile(ctx, f, bytes.NewReader(data), 0o640); err != nil || n != int64(len(data)) {
		t.Fatalf("WriteFile: %d %v", n, err)
	}
	fi, err := c.Stat(ctx, f)
	if err != nil || fi.Size != int64(len(data)) || fi.FileMode().Perm() != 0o640 || fi.UID != os.Getuid() {
		t.Fatalf("Stat: %+v %v", fi, err)
	}
	r, err := c.ReadFile(ctx, f, 8)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data[8:]) {
		t.Fatalf("ReadFile from 8: %d bytes, %v", len(got), err)
	}
	sum, err := c.Checksum(ctx, f, -1)
	if err != nil || len(sum) != 64 {
		t.Fatalf("Checksum: %q %v", sum, err)
	}
	if _, err := c.AppendFile(ctx, f, strings.NewReader("!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Symlink(ctx, "f.txt", filepath.Join(p, "link")); err != nil {
		t.Fatal(err)
	}
	if target, err := c.Readlink(ctx, filepath.Join(p, "link")); err != nil || target != "f.txt" {
		t.Fatalf("Readlink: %q %v", target, err)
	}
	entries, err := c.ReadDir(ctx, p)
	if err != nil || len(entries) != 2 || entries[0].Name != "f.txt" || entries[1].Link != "f.txt" {
		t.Fatalf("ReadDir: %+v %v", entries, err)
	}
	if err := c.Chmod(ctx, f, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, f, f+".old"); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Glob(ctx, filepath.Join(p, "*.old")); err != nil || len(m) != 1 {
		t.Fatalf("Glob: %v %v", m, err)
	}
	if du, err := c.DiskUsage(ctx, dir); err != nil || du != int64(len(data))+1+int64(len("f.txt")) { // the file and the symlink
		t.Fatalf("DiskUsage: %d %v", du, err)
	}
	// Errors keep errors.Is across the wire.
	if _, err := c.Stat(ctx, filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat of a missing file: %v", err)
	}
	if err := c.Remove(ctx, filepath.Join(dir, "a")); err == nil {
		t.Fatal("removed a non-empty directory")
	}
	if err := c.RemoveAll(ctx, filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	h, err := c.Host(ctx)
	if err != nil || h.PID != os.Getpid() || h.OS == "" {
		t.Fatalf("Host: %+v %v", h, err)
	}
}

func TestRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
	os.Symlink(outside, filepath.Join(root, "escape"))
	os.WriteFile(filepath.Join(root, "ok"), []byte("fine"), 0o600)
	c := pair(t, &classic.Service{Root: root})
	ctx := t.Context()
	if fi, err := c.Stat(ctx, "/ok"); err != nil || fi.Size != 4 {
		t.Fatalf("inside the root: %+v %v", fi, err)
	}
	for _, p := range []string{"/escape/secret", "escape/secret", "../../" + outside + "/secret"} {
		if _, err := c.ReadFile(ctx, p, 0); err == nil {
			t.Errorf("%s: read outside the root", p)
		} else if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := c.Symlink(ctx, outside, "/new-escape"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("a symlink out of the root: %v", err)
	}
	if err := c.RemoveAll(ctx, "/"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("RemoveAll of the root: %v", err)
	}
}

func TestRun(t *testing.T) {
	c := pair(t, &classic.Service{})
	ctx := t.Context()
	var out, errb bytes.Buffer
	code, err := c.Run(ctx, classic.RunRequest{Argv: []string{"sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"}}, strings.NewReader("hello"), &out, &errb)
	if err != nil || code != 3 || out.String() != "HELLO" || errb.String() != "oops\n" {
		t.Fatalf("Run: code %d err %v out %q err %q", code, err, out.String(), errb.String())
	}
	// Cancelling kills the whole process group.
	pidFile := filepath.Join(t.TempDir(), "pid")
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.Run(cctx, classic.RunRequest{Argv: []string{"sh", "-c", "sleep 300 & echo $! > " + pidFile + "; wait"}}, nil, io.Discard, io.Discard)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled Run: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(pidFile)
		pid := strings.TrimSpace(string(b))
		if pid != "" {
			if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
				break
			}
			if st, _ := os.ReadFile("/proc/" + pid + "/stat"); strings.Contains(string(st), ") Z ") {
				break // dead, waiting for its reaper
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the grandchild %s survives its cancelled Run", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRemoteFileHandle(t *testing.T) {
	dir := t.TempDir()
	svc := &classic.Service{}
	c, conn := pairConn(t, svc)
	_ = c
	ctx := t.Context()
	name := filepath.Join(dir, "h.txt")
	f, err := classic.OpenFile(ctx, conn, name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, "hello, remote file"); err != nil {
		t.Fatal(err)
	}
	if off, err := f.Seek(7, io.SeekStart); err != nil || off != 7 {
		t.Fatalf("Seek: %d %v", off, err)
	}
	got, err := io.ReadAll(f)
	if err != nil || string(got) != "remote file" {
		t.Fatalf("ReadAll after Seek: %q %v", got, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := classic.OpenFile(ctx, conn, filepath.Join(dir, "missing"), os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a missing file: %v", err)
	}
}

func TestRunTTY(t *testing.T) {
	c := pair(t, &classic.Service{})
	ctx := t.Context()
	out := &watchWriter{want: "24 80", seen: make(chan struct{})}
	events := func(ctx context.Context) (classic.TTYEvent, error) {
		// Resize once the first size has been printed.
		select {
		case <-out.seen:
			return classic.TTYEvent{Rows: 40, Cols: 100}, nil
		case <-ctx.Done():
			return classic.TTYEvent{}, ctx.Err()
		}
	}
	code, err := c.RunTTY(ctx, classic.RunRequest{Argv: []string{"sh", "-c", "stty size; tty; sleep 1; stty size; exit 4"}},
		24, 80, strings.NewReader(""), out, events)
	got := out.String()
	if err != nil || code != 4 {
		t.Fatalf("RunTTY: %d %v\n%s", code, err, got)
	}
	if !strings.Contains(got, "24 80") || !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "40 100") {
		t.Fatalf("terminal output:\n%s", got)
	}
}

// watchWriter collects output and closes seen once want appears.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A client that vanishes mid-command takes the remote process tree with it.
func TestDisconnectKillsProcessTree(t *testing.T) {
	c, conn := pairConn(t, &classic.Service{})
	pidFile := filepath.Join(t.TempDir(), "pid")
	go c.Run(context.Background(), classic.RunRequest{Argv: []string{"sh", "-c", "sleep 300 & echo $! > " + pidFile + "; wait"}}, nil, io.Discard, io.Discard)
	var pid string
	for deadline := time.Now().Add(5 * time.Second); pid == ""; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		pid = strings.TrimSpace(string(b))
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
	}
	conn.Close() // abrupt: the link goes down under the running call
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return // gone (or a zombie awaiting its reaper)
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %s survives its client's disconnect", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEval(t *testing.T) {
	a, b := net.Pipe()
	ch := make(chan *session.Conn, 1)
	go func() {
		l, _ := session.NewLink(b, session.Server, nil)
		c, _ := session.NewConn(context.Background(), l, &session.Options{Services: map[string]any{classic.EvalServiceName: &classic.Evaluator{}}})
		ch <- c
	}()
	l, err := session.NewLink(a, session.Client, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := session.NewConn(t.Context(), l, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := <-ch
	defer sc.Close()
	defer cc.Close()
	ctx := t.Context()
	ev := cc.Service(classic.EvalServiceName)
	if _, err := ev.Call(ctx, "Eval", `import "strings"`); err != nil {
		t.Fatal(err)
	}
	if v, err := session.Call[int](ctx, ev, "Eval", `len(strings.Repeat("ab", 21))`); err != nil || v != 42 {
		t.Fatalf("Eval = %v, %v", v, err)
	}
	// State persists, and a func comes back by reference.
	if _, err := ev.Call(ctx, "Eval", `func square(x int) int { return x * x }`); err != nil {
		t.Fatal(err)
	}
	var square func(int) int
	res, err := ev.Call(ctx, "Eval", `square`)
	if err == nil {
		err = res.Decode(&square)
	}
	if err != nil || square(9) != 81 {
		t.Fatalf("remote func: %v", err)
	}
	if _, err := ev.Call(ctx, "Eval", `this is not Go`); err == nil {
		t.Fatal("a syntax error was accepted")
	}
}

func TestStartDetachedAndSignal(t *testing.T) {
	c, conn := pairConn(t, &classic.Service{})
	ctx := t.Context()
	pid, err := c.Start(ctx, classic.RunRequest{Argv: []string{"sleep", "300"}})
	if err != nil || pid <= 0 {
		t.Fatalf("Start: %d %v", pid, err)
	}
	alive := func() bool {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return err == nil && !strings.Contains(string(st), ") Z ")
	}
	// Detached: the session ending does not kill it.
	conn.Close()
	time.Sleep(200 * time.Millisecond)
	if !alive() {
		t.Fatal("a detached process died with the session")
	}
	c2 := pair(t, &classic.Service{})
	if err := c2.Signal(ctx, pid, "TERM"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); alive(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("TERM did not end it")
		}
	}
	if err := c2.Signal(ctx, 1, "KILL"); err == nil {
		t.Fatal("signalling pid 1 was allowed")
	}
}
