package main

import (
	"fmt"
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
	if path := os.Getenv("HOPWIRE_TRACE"); path != "" {
		if f, err := os.Create(path); err != nil {
			fmt.Fprintf(os.Stderr, "hopwire: HOPWIRE_TRACE: %v\n", err)
		} else if err := trace.Start(f); err != nil {
			fmt.Fprintf(os.Stderr, "hopwire: HOPWIRE_TRACE: %v\n", err)
			f.Close()
		} else {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		}
	}
	if path := os.Getenv("HOPWIRE_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err != nil {
			fmt.Fprintf(os.Stderr, "hopwire: HOPWIRE_CPUPROFILE: %v\n", err)
		} else if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "hopwire: HOPWIRE_CPUPROFILE: %v\n", err)
			f.Close()
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
