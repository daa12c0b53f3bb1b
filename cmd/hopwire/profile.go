package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// startProfiles starts what HOPWIRE_TRACE and HOPWIRE_CPUPROFILE ask for
// (an execution trace for go tool trace, a CPU profile for go tool pprof,
// each written to the file the variable names) and returns the function
// that ends them: how the real processes of a chain are profiled where
// they run.
func startProfiles() (stop func()) {
	var stops []func()
	for _, p := range []struct {
		env   string
		start func(io.Writer) error
		stop  func()
	}{
		{"HOPWIRE_TRACE", trace.Start, trace.Stop},
		{"HOPWIRE_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile},
	} {
		path := os.Getenv(p.env)
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err == nil {
			if err = p.start(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "hopwire: %s: %v\n", p.env, err)
			continue
		}
		stops = append(stops, func() { p.stop(); f.Close() })
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
