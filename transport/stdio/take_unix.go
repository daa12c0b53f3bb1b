//go:build linux || darwin

package stdio

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// TakeStdio takes the process's standard input and output for a Conn, for
// `hopwire serve --stdio`, and makes sure nothing else in the program can
// touch them:
//
//   - the Conn reads from and writes to duplicates of file descriptors 0
//     and 1;
//   - descriptor 1 (and so os.Stdout, fmt.Println and anything else that
//     writes to it, child processes included) then points at standard
//     error, so stray output cannot corrupt the stream;
//   - descriptor 0 (and so os.Stdin) then reads from /dev/null, so stray
//     reads cannot steal bytes from it.
//
// If standard input or output is a pipe or a socket, its duplicate is put
// in non-blocking mode so that deadlines and Close work on the Conn; this
// flag is shared with the file description, so restore clears it again if
// it was clear before. On a terminal or a regular file the Conn works, but
// without deadlines, and Close does not interrupt a blocked Read.
//
// Call TakeStdio early, before anything has used os.Stdin or os.Stdout.
// restore puts descriptors 0 and 1 back as they were; call it after
// closing the Conn, for instance to print a final result. It is safe to call
// more than once. If TakeStdio fails, descriptors 0 and 1 are unchanged.
func TakeStdio() (conn *Conn, restore func(), err error) {
	var fds []int // to close on error
	defer func() {
		if err != nil {
			for _, fd := range fds {
				syscall.Close(fd)
			}
		}
	}()
	dup := func(fd int) (int, error) {
		nfd, err := dupCloexec(fd)
		if err == nil {
			fds = append(fds, nfd)
		}
		return nfd, err
	}
	inFd, err := dup(0)
	if err != nil {
		return nil, nil, fmt.Errorf("stdio: take stdin: %w", err)
	}
	outFd, err := dup(1)
	if err != nil {
		return nil, nil, fmt.Errorf("stdio: take stdout: %w", err)
	}
	savedIn, err := dup(0)
	if err != nil {
		return nil, nil, fmt.Errorf("stdio: take stdin: %w", err)
	}
	savedOut, err := dup(1)
	if err != nil {
		return nil, nil, fmt.Errorf("stdio: take stdout: %w", err)
	}
	null, err := syscall.Open(os.DevNull, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("stdio: open %s: %w", os.DevNull, err)
	}
	fds = append(fds, null)

	inBlocking, err := makePollable(inFd)
	if err != nil {
		return nil, nil, fmt.Errorf("stdio: take stdin: %w", err)
	}
	outBlocking, err := makePollable(outFd)
	if err != nil {
		if inBlocking {
			syscall.SetNonblock(inFd, false)
		}
		return nil, nil, fmt.Errorf("stdio: take stdout: %w", err)
	}

	// From here on nothing fails: point 0 at /dev/null and 1 at stderr
	// (or /dev/null if there is no stderr).
	dupOnto(null, 0)
	if dupOnto(2, 1) != nil {
		dupOnto(null, 1)
	}
	syscall.Close(null)

	conn = newConn(os.NewFile(uintptr(inFd), "stdin"), os.NewFile(uintptr(outFd), "stdout"), Scheme, Scheme)
	restore = sync.OnceFunc(func() {
		// savedIn and savedOut share the file descriptions (and so their
		// flags) with the conn's descriptors.
		if inBlocking {
			syscall.SetNonblock(savedIn, false)
		}
		if outBlocking {
			syscall.SetNonblock(savedOut, false)
		}
		dupOnto(savedIn, 0)
		dupOnto(savedOut, 1)
		syscall.Close(savedIn)
		syscall.Close(savedOut)
	})
	return conn, restore, nil
}

// makePollable puts fd in non-blocking mode if it is a pipe or a socket,
// so that os.NewFile registers it with the poller. It reports whether it
// changed the mode (which restore then undoes).
func makePollable(fd int) (changed bool, err error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return false, err
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFIFO, syscall.S_IFSOCK:
	default:
		// Terminals are left alone: their mode is shared with the shell.
		// Regular files cannot be polled at all.
		return false, nil
	}
	flags, err := getFlags(fd)
	if err != nil {
		return false, err
	}
	if flags&syscall.O_NONBLOCK != 0 {
		return false, nil
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		return false, err
	}
	return true, nil
}
