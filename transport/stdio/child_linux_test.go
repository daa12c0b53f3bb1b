package stdio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/transport/stdio"
	"github.com/hopwire/hopwire/transport/transporttest"
)

// relayAddr is the environment variable that gives helperRelay its address.
const relayAddr = "HOPWIRE_STDIO_TEST_ADDR"

func init() { helpers["relay"] = helperRelay }

// helperRelay connects to the TCP address in relayAddr and relays between
// it and stdin/stdout, passing on half-closes: a ChildConn to it behaves
// as a conn to the far end of that TCP connection.
func helperRelay() int {
	sock, err := net.Dial("tcp", os.Getenv(relayAddr))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	done := make(chan struct{})
	go func() {
		io.Copy(os.Stdout, sock)
		os.Stdout.Close()
		close(done)
	}()
	io.Copy(sock, os.Stdin)
	sock.(*net.TCPConn).CloseWrite()
	<-done
	return 0
}

// spawn starts argv with opts; t.Cleanup closes it.
func spawn(t *testing.T, argv []string, opts *stdio.SpawnOptions) *stdio.ChildConn {
	t.Helper()
	c, err := stdio.Spawn(t.Context(), argv, opts)
	if err != nil {
		t.Fatalf("Spawn(%q): %v", argv, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitExited waits for c's child to exit.
func waitExited(t *testing.T, c *stdio.ChildConn) {
	t.Helper()
	select {
	case <-c.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("child did not exit")
	}
}

func TestSpawnEcho(t *testing.T) {
	t.Parallel()
	c := spawn(t, []string{"cat"}, nil)
	if got := c.RemoteAddr(); got.Network() != "stdio" || got.String() != "cat" {
		t.Errorf("RemoteAddr %s %q", got.Network(), got)
	}
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(rand.Uint32())
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo of %d bytes differs (got %d bytes)", len(payload), len(got))
	}
	waitExited(t, c)
	if err := c.ExitErr(); !errors.Is(err, stdio.ErrRunning) {
		t.Errorf("ExitErr before Close: %v; want ErrRunning", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.ExitErr(); err != nil {
		t.Errorf("ExitErr: %v; want nil (cat exits 0 on EOF)", err)
	}
}

func TestSpawnDeadlines(t *testing.T) {
	t.Parallel()
	t.Run("read", func(t *testing.T) {
		t.Parallel()
		c := spawn(t, []string{"cat"}, nil)
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read past its deadline: %v; want a timeout", err)
		}
		c.SetReadDeadline(time.Time{})
		c.Write([]byte("x"))
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err != nil || buf[0] != 'x' {
			t.Fatalf("Read after clearing the deadline: %q %v", buf, err)
		}
	})
	t.Run("write", func(t *testing.T) {
		t.Parallel()
		c := spawn(t, []string{"sleep", "300"}, &stdio.SpawnOptions{Linger: -1})
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		buf := make([]byte, 64<<10)
		var err error
		for err == nil {
			_, err = c.Write(buf) // sleep never reads: the pipe fills up
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write past its deadline: %v", err)
		}
	})
}

func TestSpawnStderr(t *testing.T) {
	t.Parallel()
	var got lines
	long := strings.Repeat("x", 5000)
	c := spawn(t, []string{"sh", "-c", "echo one >&2; printf 'two\\r\\n' >&2; echo out; echo " + long + " >&2; printf partial >&2"},
		&stdio.SpawnOptions{Stderr: got.add})
	out, err := io.ReadAll(c)
	if err != nil || string(out) != "out\n" {
		t.Errorf("stdout %q, %v", out, err)
	}
	waitExited(t, c)
	c.Close()
	want := []string{"one", "two", long[:4096], long[4096:], "partial"}
	if g := got.get(); strings.Join(g, "|") != strings.Join(want, "|") {
		t.Errorf("stderr lines %q, want %q", g, want)
	}
}

// TestSpawnStderrDiscarded: with no callback, a child writing lots to
// stderr must not block.
func TestSpawnStderrDiscarded(t *testing.T) {
	t.Parallel()
	c := spawn(t, []string{"sh", "-c", "head -c 1000000 /dev/zero >&2; echo done"}, nil)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil || string(out) != "done\n" {
		t.Fatalf("stdout %q, %v", out, err)
	}
}

func TestSpawnExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		argv   []string
		opts   *stdio.SpawnOptions
		code   int            // exit code, if signal is 0
		signal syscall.Signal // signal that ended the child
		minDur time.Duration  // Close must take at least this long
	}{
		{name: "exit 3", argv: []string{"sh", "-c", "exit 3"}, code: 3},
		{name: "killed by SIGTERM", argv: []string{"sleep", "300"}, opts: &stdio.SpawnOptions{Linger: -1}, signal: syscall.SIGTERM},
		{
			name:   "ignores SIGTERM",
			argv:   []string{"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"},
			opts:   &stdio.SpawnOptions{Linger: -1, Grace: 300 * time.Millisecond},
			signal: syscall.SIGKILL,
			minDur: 300 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := spawn(t, tt.argv, tt.opts)
			if tt.signal == 0 {
				waitExited(t, c)
			} else {
				// Wait until the child is running its script.
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if tt.minDur > 0 {
					io.ReadFull(c, make([]byte, len("ready\n")))
				}
			}
			start := time.Now()
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if d := time.Since(start); d < tt.minDur || d > 10*time.Second {
				t.Errorf("Close took %v", d)
			}
			var ee *exec.ExitError
			if err := c.ExitErr(); !errors.As(err, &ee) {
				t.Fatalf("ExitErr: %v; want an *exec.ExitError", err)
			}
			ws := ee.Sys().(syscall.WaitStatus)
			switch {
			case tt.signal != 0 && (!ws.Signaled() || ws.Signal() != tt.signal):
				t.Errorf("ExitErr %v; want killed by %v", ee, tt.signal)
			case tt.signal == 0 && ws.ExitStatus() != tt.code:
				t.Errorf("ExitErr %v; want exit status %d", ee, tt.code)
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// proc is a process as /proc shows it.
type proc struct {
	pid   int
	comm  string
	state string
	pgid  int
}

// readProc reads /proc/pid/stat; ok is false if the process is gone.
func readProc(pid int) (p proc, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	s := string(b)
	lp, rp := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if lp < 0 || rp < lp {
		return proc{}, false
	}
	f := strings.Fields(s[rp+1:]) // state ppid pgrp ...
	if len(f) < 3 {
		return proc{}, false
	}
	pgid, _ := strconv.Atoi(f[2])
	return proc{pid: pid, comm: s[lp+1 : rp], state: f[0], pgid: pgid}, true
}

// group lists the live processes in process group pgid.
func group(pgid int) []proc {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var ps []proc
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok && p.pgid == pgid && p.state != "Z" {
			ps = append(ps, p)
		}
	}
	return ps
}

func TestCloseKillsGroup(t *testing.T) {
	t.Parallel()
	c := spawn(t, []string{"sh", "-c", "sleep 300 & sleep 300"}, nil)
	var members []proc
	deadline := time.Now().Add(10 * time.Second)
	for {
		members = group(c.Pid())
		sleeps := 0
		for _, p := range members {
			if p.comm == "sleep" {
				sleeps++
			}
		}
		if sleeps == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %d is %+v; want two sleeps", c.Pid(), members)
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(start))
	// The leader was our child: Close reaped it, so it is gone entirely.
	if p, ok := readProc(c.Pid()); ok {
		t.Errorf("leader %d still exists after Close: %+v", c.Pid(), p)
	}
	// The others were orphaned and are reaped by init (or a subreaper),
	// not by us; they must be dead, at least.
	for _, m := range members {
		if m.pid == c.Pid() {
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, ok := readProc(m.pid)
			if !ok || p.pgid != m.pgid {
				break // gone (or the pid was reused)
			}
			if time.Now().After(deadline) {
				if p.state != "Z" {
					t.Errorf("group member %+v still alive after Close", p)
				} else {
					t.Logf("group member %d is dead but not yet reaped by its new parent", p.pid)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if left := group(c.Pid()); len(left) > 0 {
		t.Errorf("process group %d still has live members: %+v", c.Pid(), left)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestNoLeaks checks that Spawn and Close, and a failed Spawn, leave no
// file descriptors open. Not parallel: it counts descriptors.
func TestNoLeaks(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		opts *stdio.SpawnOptions
		err  string
	}{
		{name: "closed", argv: []string{"cat"}, opts: &stdio.SpawnOptions{Stderr: func(string) {}}},
		{name: "no such command", argv: []string{"hopwire-no-such-command"}, opts: &stdio.SpawnOptions{Stderr: func(string) {}}, err: "executable file not found"},
		{name: "empty argv", argv: nil, err: "empty command"},
		{name: "bad dir", argv: []string{"cat"}, opts: &stdio.SpawnOptions{Dir: "/nonexistent/dir"}, err: "no such file"},
	}
	// Warm up: the runtime opens descriptors of its own (the poller's) on
	// first use.
	if c, err := stdio.Spawn(t.Context(), []string{"true"}, nil); err == nil {
		c.Close()
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := openFDs(t)
			c, err := stdio.Spawn(t.Context(), tt.argv, tt.opts)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Spawn: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				if c != nil {
					c.Close()
				}
				t.Fatalf("Spawn: %v; want an error containing %q", err, tt.err)
			}
			if c != nil {
				c.Write([]byte("x"))
				c.Close()
			}
			if after := openFDs(t); after != before {
				t.Errorf("%d open descriptors before, %d after", before, after)
			}
		})
	}
}

func TestSpawnCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if c, err := stdio.Spawn(ctx, []string{"cat"}, nil); !errors.Is(err, context.Canceled) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Spawn with a cancelled context: %v", err)
	}
}

// TestSpawnConformance runs the suite with c1 a ChildConn to the test
// binary as helperRelay, which relays to a TCP conn whose other end is c2.
func TestSpawnConformance(t *testing.T) {
	transporttest.TestConn(t, func(t *testing.T) (net.Conn, net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c1 := spawn(t, []string{os.Args[0]}, &stdio.SpawnOptions{
			Env:    helperEnvFor("relay", relayAddr+"="+ln.Addr().String()),
			Stderr: func(line string) { t.Logf("relay: %s", line) },
		})
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		c2, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c2.Close() })
		return c1, c2
	})
}
