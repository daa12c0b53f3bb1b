//go:build race

package session

// raceEnabled relaxes latency bounds that the race detector, on a loaded
// machine, makes unreliable.
const raceEnabled = true
