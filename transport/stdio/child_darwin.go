package stdio

import (
	"errors"

	"golang.org/x/sys/unix"
)

// waitNoReap blocks until process pid has exited, leaving it waitable.
// macOS has no waitid with WNOWAIT that Go can call, so it watches the
// process with kqueue (EVFILT_PROC, NOTE_EXIT), which reports the exit
// without reaping. Registering on a process that has already exited fails
// with ESRCH; as only Close reaps, pid is still the child's (a zombie),
// so that means it has exited.
func waitNoReap(pid int) error {
	kq, err := unix.Kqueue()
	if err != nil {
		return err
	}
	defer unix.Close(kq)
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], pid, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev[0].Fflags = unix.NOTE_EXIT
	for {
		_, err := unix.Kevent(kq, ev[:], nil, nil)
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		if err != unix.EINTR {
			if err != nil {
				return err
			}
			break
		}
	}
	for {
		n, err := unix.Kevent(kq, nil, ev[:], nil)
		switch {
		case err == unix.EINTR:
		case err != nil:
			return err
		case n == 1 && ev[0].Fflags&unix.NOTE_EXIT != 0:
			return nil
		}
	}
}
