//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifyListener is the service manager's end of $NOTIFY_SOCKET.
type notifyListener struct {
	t *testing.T
	c *net.UnixConn
}

func listenNotify(t *testing.T, name string) *notifyListener {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return &notifyListener{t: t, c: c}
}

// next returns the next notification, failing after wait.
func (l *notifyListener) next(wait time.Duration) map[string]string {
	l.t.Helper()
	m, err := l.read(wait)
	if err != nil {
		l.t.Fatalf("no notification within %v: %v", wait, err)
	}
	return m
}

func (l *notifyListener) read(wait time.Duration) (map[string]string, error) {
	buf := make([]byte, 4096)
	l.c.SetReadDeadline(time.Now().Add(wait))
	n, err := l.c.Read(buf)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m, nil
}

// TestServeNotifiesSystemd: under a fake service manager (a unixgram
// socket named by $NOTIFY_SOCKET, as a path and as an abstract name),
// serve reports READY=1 only once its listener accepts connections,
// RELOADING=1 then READY=1 around a SIGHUP, and STOPPING=1 on its way
// out; the processes it spawns do not inherit the socket.
func TestServeNotifiesSystemd(t *testing.T) {
	for _, tc := range []struct{ name, socket string }{
		{"path", filepath.Join(t.TempDir(), "notify")},
		{"abstract", fmt.Sprintf("@hopwire-test-notify-%d-%d", os.Getpid(), time.Now().UnixNano())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nl := listenNotify(t, tc.socket)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--home", t.TempDir(), "--name", "n1", "--listen", "tls://127.0.0.1:0", "--log-level", "error"},
					strings.NewReader(""), io.Discard, io.Discard)
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			m := nl.next(30 * time.Second)
			if m["READY"] != "1" {
				t.Fatalf("first notification %q, want READY=1", m)
			}
			addr, ok := strings.CutPrefix(m["STATUS"], "listening tls://")
			if !ok {
				t.Fatalf("READY=1 with STATUS=%q, want the listener", m["STATUS"])
			}
			// The listener was up when READY=1 left: it accepts at once.
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				t.Fatalf("READY=1 sent, but %s refuses: %v", addr, err)
			}
			c.Close()
			if v, set := os.LookupEnv("NOTIFY_SOCKET"); set {
				t.Errorf("serve left NOTIFY_SOCKET=%s for its children", v)
			}
			// SIGHUP: serve listens for it since before READY=1.
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			m = nl.next(10 * time.Second)
			if m["RELOADING"] != "1" || m["MONOTONIC_USEC"] == "" {
				t.Fatalf("after SIGHUP: %q, want RELOADING=1 with MONOTONIC_USEC", m)
			}
			if m = nl.next(10 * time.Second); m["READY"] != "1" {
				t.Fatalf("after RELOADING=1: %q, want READY=1", m)
			}
			cancel()
			if m = nl.next(10 * time.Second); m["STOPPING"] != "1" {
				t.Fatalf("on shutdown: %q, want STOPPING=1", m)
			}
		})
	}
}

// TestServeNotReadyWhenListenFails: a serve whose listener cannot bind
// never reports READY=1.
func TestServeNotReadyWhenListenFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	nl := listenNotify(t, filepath.Join(t.TempDir(), "notify"))
	err = run(t.Context(), []string{"serve", "--home", t.TempDir(), "--listen", "tls://" + busy.Addr().String(), "--log-level", "error"},
		strings.NewReader(""), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve on a busy port returned no error")
	}
	if m, err := nl.read(100 * time.Millisecond); err == nil {
		t.Fatalf("serve that failed to listen (%v) notified %q", err, m)
	}
}

func TestSdNotifyRefusesOddSockets(t *testing.T) {
	for _, s := range []string{"relative/path", "vsock:2:1234"} {
		if err := sdNotify(s, "READY=1"); err == nil || !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
			t.Errorf("sdNotify(%q) = %v, want an error naming NOTIFY_SOCKET", s, err)
		}
	}
	if err := sdNotify(filepath.Join(t.TempDir(), "absent"), "READY=1"); err == nil {
		t.Error("sdNotify to a missing socket succeeded")
	}
}
