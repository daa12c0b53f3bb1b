package stdio

import "syscall"

// dupCloexec duplicates fd onto a new descriptor (above 2) with
// close-on-exec set, so that no child inherits it. macOS's libc-backed
// calls in package syscall offer no F_DUPFD_CLOEXEC, so this is dup and
// FD_CLOEXEC under syscall.ForkLock, which os/exec holds while it forks:
// no child can start in between. Should dup return 0, 1 or 2 (one of them
// was closed), that descriptor is kept aside and the dup repeated.
func dupCloexec(fd int) (int, error) {
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	var low []int
	defer func() {
		for _, l := range low {
			syscall.Close(l)
		}
	}()
	for {
		nfd, err := syscall.Dup(fd)
		if err != nil {
			return -1, err
		}
		if nfd > 2 {
			syscall.CloseOnExec(nfd)
			return nfd, nil
		}
		low = append(low, nfd)
	}
}

// getFlags returns fd's file status flags (F_GETFL). Package syscall has
// no libc-backed fcntl that returns them on macOS, so this is the system
// call itself (syscall.Syscall traps directly there; fcntl's number and
// F_GETFL are the long-stable BSD ones).
func getFlags(fd int) (int, error) {
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(flags), nil
}

// dupOnto makes newfd a duplicate of oldfd, closing what newfd was.
func dupOnto(oldfd, newfd int) error { return syscall.Dup2(oldfd, newfd) }
