//go:build unix && !linux

package main

import (
	"io/fs"
	"syscall"
)

// startUmask is the file mode creation mask this process started with.
// There is no /proc/self/status to read it from here, and syscall.Umask
// reads it only by changing it, so it is read once, during package
// initialisation, before main has started any goroutine that could
// create a file in between.
var startUmask = func() fs.FileMode {
	m := syscall.Umask(0o022)
	syscall.Umask(m)
	return fs.FileMode(m) & fs.ModePerm
}()

// umask returns this process's file mode creation mask (as it was at
// start-up).
func umask() fs.FileMode { return startUmask }
