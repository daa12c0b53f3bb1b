package main

import (
	"os"
	"sync"
	"time"

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
