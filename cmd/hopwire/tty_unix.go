//go:build unix

package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"
)

// notifyResize returns a channel that receives a value when the terminal
// is resized (SIGWINCH), and the function that stops it.
func notifyResize(int) (<-chan os.Signal, func()) {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	return winch, func() { signal.Stop(winch) }
}

// vtOutput does nothing: a Unix terminal understands the remote side's
// escape sequences as they are.
func vtOutput(io.Writer) (restore func()) { return func() {} }
