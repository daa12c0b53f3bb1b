//go:build linux

package classic_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hopwire/hopwire/classic"
	"github.com/hopwire/hopwire/session"
)

// F5 (a): under a root, processes are refused unless the service was
// built with AllowProcesses; they would not be confined.
func TestRootProcesses(t *testing.T) {
	t.Run("refused by default", func(t *testing.T) {
		svc, _, root := jail(t, nil)
		c := pair(t, svc)
		ctx := t.Context()
		marker := filepath.Join(root, "ran")
		req := classic.RunRequest{Argv: []string{"touch", marker}}
		_, err := c.Run(ctx, req, strings.NewReader(""), io.Discard, io.Discard)
		if !errors.Is(err, session.ErrDenied) {
			t.Errorf("Run: %v; want session.ErrDenied", err)
		}
		if _, err := c.Start(ctx, req); !errors.Is(err, session.ErrDenied) {
			t.Errorf("Start: %v; want session.ErrDenied", err)
		}
		if _, err := c.RunTTY(ctx, req, 24, 80, strings.NewReader(""), io.Discard, nil); !errors.Is(err, session.ErrDenied) {
			t.Errorf("RunTTY: %v; want session.ErrDenied", err)
		}
		if err := c.Signal(ctx, os.Getpid(), "WINCH"); !errors.Is(err, session.ErrDenied) {
			t.Errorf("Signal: %v; want session.ErrDenied", err)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("a refused command ran")
		}
		if _, err := svc.Run(ctx, req, nil, io.Discard, io.Discard); !errors.Is(err, classic.ErrProcessDenied) || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Run, called directly: %v", err)
		}
		// The old way to set a root refuses processes too.
		old := &classic.Service{Root: root}
		defer old.Close()
		if _, err := old.Run(ctx, req, nil, io.Discard, io.Discard); !errors.Is(err, classic.ErrProcessDenied) {
			t.Errorf("Run on a Service{Root: …} literal: %v", err)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		svc, _, root := jail(t, &classic.Options{AllowProcesses: true})
		c := pair(t, svc)
		ctx := t.Context()
		var out bytes.Buffer
		code, err := c.Run(ctx, classic.RunRequest{Argv: []string{"pwd"}, Dir: "/race"}, strings.NewReader(""), &out, io.Discard)
		if err != nil || code != 0 || strings.TrimSpace(out.String()) != filepath.Join(root, "race") {
			t.Fatalf("Run in /race: %d %v %q", code, err, out.String())
		}
		if _, err := c.Run(ctx, classic.RunRequest{Argv: []string{"pwd"}, Dir: "/nope"}, strings.NewReader(""), io.Discard, io.Discard); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Run in a missing Dir: %v", err)
		}
		pid, err := c.Start(ctx, classic.RunRequest{Argv: []string{"sleep", "300"}})
		if err != nil {
			t.Fatal(err)
		}
		// Under a root, only the processes this service started.
		stranger := exec.Command("sleep", "300")
		if err := stranger.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stranger.Process.Kill(); stranger.Wait() })
		for _, p := range []int{stranger.Process.Pid, -stranger.Process.Pid, os.Getpid(), 1} {
			if err := c.Signal(ctx, p, "TERM"); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("Signal(%d): %v; want fs.ErrPermission", p, err)
			}
		}
		if err := c.Signal(ctx, pid, "TERM"); err != nil {
			t.Fatalf("Signal of a started process: %v", err)
		}
		waitGone(t, pid)
		// Until the service has reaped it (a moment after it became a
		// zombie), the pid is still that process's and a signal is
		// harmless; once reaped, the pid may be reused and the service
		// must refuse.
		for deadline := time.Now().Add(5 * time.Second); c.Signal(ctx, pid, "TERM") == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("Signal of a process that has ended (its pid may be reused) was allowed")
			}
		}
	})
}

// The node never signals itself, with or without a root.
func TestSignalSelf(t *testing.T) {
	c := pair(t, &classic.Service{})
	ctx := t.Context()
	for _, p := range []int{os.Getpid(), -os.Getpid(), -syscall.Getpgrp(), 0, 1, -1} {
		if err := c.Signal(ctx, p, "WINCH"); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Signal(%d): %v; want fs.ErrPermission", p, err)
		}
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not end", pid)
		}
	}
}

// alive reports whether pid runs (a zombie awaiting its reaper does not).
func alive(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(st), ") Z ")
}
