package stdio

import "syscall"

// waitNoReap blocks until process pid has exited, leaving it waitable.
// macOS has no waitid with WNOWAIT in package syscall, so it watches the
// process with kqueue (EVFILT_PROC, NOTE_EXIT), which reports the exit
// without reaping. Registering on a process that has already exited fails
// with ESRCH; as only Close reaps, pid is still the child's (a zombie),
// so that means it has exited.
func waitNoReap(pid int) error {
	kq, err := syscall.Kqueue()
	if err != nil {
		return err
	}
	defer syscall.Close(kq)
	var ev [1]syscall.Kevent_t
	syscall.SetKevent(&ev[0], pid, syscall.EVFILT_PROC, syscall.EV_ADD|syscall.EV_ONESHOT)
	ev[0].Fflags = syscall.NOTE_EXIT
	for {
		_, err := syscall.Kevent(kq, ev[:], nil, nil)
		if err == syscall.ESRCH {
			return nil
		}
		if err != syscall.EINTR {
			if err != nil {
				return err
			}
			break
		}
	}
	for {
		n, err := syscall.Kevent(kq, nil, ev[:], nil)
		switch {
		case err == syscall.EINTR:
		case err != nil:
			return err
		case n == 1 && ev[0].Fflags&syscall.NOTE_EXIT != 0:
			return nil
		}
	}
}
