package classic

import "io/fs"

// owner reports no owner: Windows files are owned by SIDs, not numeric
// user and group IDs.
func owner(fs.FileInfo) (uid, gid int, ok bool) { return -1, -1, false }
