//go:build race

package session

// raceEnabled relaxes latency bounds that the race detector, on a loaded
// machine, makes unreliable, and the allocation bounds of floods: under
// the race detector sync.Pool drops items on purpose, so pooled buffers
// are allocated again and again (never those of declared sizes).
const raceEnabled = true
