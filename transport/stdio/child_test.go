package stdio_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/stdio"
)

// These Spawn tests use no shell and no Unix tools, only the test binary
// itself as the child, so that they mean the same on Linux, macOS and
// Windows. Only Linux runs them here; elsewhere they are compiled (make
// cross), ready for a machine that runs them.

func init() {
	helpers["echo"] = helperEcho
	helpers["hang"] = helperHang
}

// helperEcho copies stdin to stdout, says "bye" on stderr at the end of
// its input, and exits 7.
func helperEcho() int {
	if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
		return 2
	}
	fmt.Fprintln(os.Stderr, "bye")
	return 7
}

// helperHang says "ready" and then neither reads nor exits.
func helperHang() int {
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return 0
}

// lines collects stderr lines.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, s)
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

// spawnSelf runs the test binary as a child in helper mode mode.
func spawnSelf(t *testing.T, mode string, opts stdio.SpawnOptions) *stdio.ChildConn {
	t.Helper()
	opts.Env = helperEnvFor(mode)
	c, err := stdio.Spawn(t.Context(), []string{os.Args[0]}, &opts)
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSpawnSelfEcho(t *testing.T) {
	t.Parallel()
	var said lines
	c := spawnSelf(t, "echo", stdio.SpawnOptions{Stderr: said.add})
	payload := bytes.Repeat([]byte("hopwire "), 64<<10)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		errc <- errors.Join(err, c.CloseWrite())
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo of %d bytes came back as %d bytes", len(payload), len(got))
	}
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("child did not exit at the end of its input")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var ee *exec.ExitError
	if err := c.ExitErr(); !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("ExitErr: %v; want exit status 7", err)
	}
	if g := said.get(); len(g) != 1 || g[0] != "bye" {
		t.Errorf("stderr lines %q; want [bye]", g)
	}
}

// TestSpawnSelfCloseStops: Close ends a child that ignores the end of its
// input (SIGTERM on Unix, TerminateProcess on Windows), within Linger and
// Grace.
func TestSpawnSelfCloseStops(t *testing.T) {
	t.Parallel()
	c := spawnSelf(t, "hang", stdio.SpawnOptions{Linger: 50 * time.Millisecond, Grace: time.Second})
	buf := make([]byte, len("ready\n"))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case <-c.Exited():
	default:
		t.Error("Close returned before the child exited")
	}
	var ee *exec.ExitError
	if err := c.ExitErr(); !errors.As(err, &ee) {
		t.Errorf("ExitErr: %v; want an *exec.ExitError (the child was stopped)", err)
	}
}
