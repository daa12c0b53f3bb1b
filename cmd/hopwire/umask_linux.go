package main

import (
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
)

// umask returns this process's file mode creation mask, read from
// /proc/self/status (syscall.Umask could only read it by changing it, which
// races with other goroutines creating files); 022 when that fails.
var umask = sync.OnceValue(func() fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o022
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return fs.FileMode(m) & fs.ModePerm
			}
		}
	}
	return 0o022
})
