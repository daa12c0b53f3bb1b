//go:build unix

package classic

import (
	"io/fs"
	"syscall"
)

// owner returns the user and group IDs that own a file.
func owner(fi fs.FileInfo) (uid, gid int, ok bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid), true
	}
	return -1, -1, false
}
