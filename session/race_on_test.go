//go:build race

package session

// raceEnabled: under the race detector sync.Pool drops items on purpose,
// so pooled buffers are allocated again and again; allocation bounds of
// floods are loosened (never those of declared sizes).
const raceEnabled = true
