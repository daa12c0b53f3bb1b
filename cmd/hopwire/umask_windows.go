package main

import "io/fs"

// umask returns 0: Windows has no file mode creation mask (and honours
// only the owner-write bit of a mode, as the read-only attribute).
func umask() fs.FileMode { return 0 }
