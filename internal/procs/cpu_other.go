//go:build !unix

package procs

import "time"

// cpuTime is not measured here: Adapt leaves the runtime's default.
func cpuTime() (time.Duration, bool) { return 0, false }
