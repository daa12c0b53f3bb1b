package stdio

import "golang.org/x/sys/unix"

// dupCloexec duplicates fd onto a new descriptor (above 2) with
// close-on-exec set, atomically, so that no child inherits it.
func dupCloexec(fd int) (int, error) {
	for {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
		if err != unix.EINTR {
			return nfd, err
		}
	}
}

// getFlags returns fd's file status flags (F_GETFL).
func getFlags(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0) }

// dupOnto makes newfd a duplicate of oldfd, closing what newfd was.
func dupOnto(oldfd, newfd int) error { return unix.Dup2(oldfd, newfd) }
