//go:build unix

package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// notifyResize passes SIGWINCH on, and stops when told to.
func TestNotifyResize(t *testing.T) {
	winch, stop := notifyResize(-1)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	select {
	case <-winch:
	case <-time.After(5 * time.Second):
		t.Fatal("no resize notice after SIGWINCH")
	}
	vtOutput(os.Stdout)() // nothing to do on Unix, and nothing breaks
}
