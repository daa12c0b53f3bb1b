//go:build race

package hop

// raceEnabled shrinks bulk transfers under the race detector, which slows
// them tenfold; the default run (make test uses -race) stays fast, and
// `go test` without -race moves the full 256 MiB.
const raceEnabled = true
