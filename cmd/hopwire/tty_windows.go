package main

import (
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/term"
)

// resizePoll is how often the console size is polled.
const resizePoll = 250 * time.Millisecond

// resized is what notifyResize's channel receives.
type resized struct{}

func (resized) String() string { return "console resized" }
func (resized) Signal()        {}

// notifyResize returns a channel that receives a value when the console
// of fd is resized, and the function that stops it. Windows has no
// SIGWINCH, so a goroutine polls the size; with no console (fd < 0)
// nothing is ever sent.
func notifyResize(fd int) (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	if fd < 0 {
		return c, func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w0, h0, _ := term.GetSize(fd)
		t := time.NewTicker(resizePoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				w, h, err := term.GetSize(fd)
				if err != nil || (w == w0 && h == h0) {
					continue
				}
				w0, h0 = w, h
				select {
				case c <- resized{}:
				default:
				}
			}
		}
	}()
	return c, func() {
		close(done)
		wg.Wait()
	}
}

// vtOutput turns on VT processing on stdout's console, so that the remote
// side's escape sequences (colours, cursor moves) are interpreted rather
// than printed, and returns the function that puts the mode back. Without
// a console, or on one too old for VT sequences, it does nothing.
func vtOutput(stdout io.Writer) (restore func()) {
	f, ok := stdout.(*os.File)
	if !ok {
		return func() {}
	}
	h := windows.Handle(f.Fd())
	var mode uint32
	if windows.GetConsoleMode(h, &mode) != nil {
		return func() {}
	}
	if windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) != nil {
		return func() {}
	}
	return func() { windows.SetConsoleMode(h, mode) }
}
