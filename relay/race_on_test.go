//go:build race

package relay

// raceEnabled shrinks bulk transfers under the race detector, which slows
// them tenfold.
const raceEnabled = true
