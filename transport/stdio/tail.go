package stdio

import (
	"strings"
	"sync"
)

// Tail keeps the last few lines a child wrote to its standard error, for
// the error that explains its failure: pass its Add as
// SpawnOptions.Stderr. The zero value is ready to use; it is safe for
// concurrent use.
type Tail struct {
	mu    sync.Mutex
	lines []string
}

// tailLines and tailLineLen bound what a Tail keeps.
const (
	tailLines   = 4
	tailLineLen = 300
)

// Add records one line.
func (t *Tail) Add(line string) {
	if len(line) > tailLineLen {
		line = line[:tailLineLen] + "…"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lines = append(t.lines, line); len(t.lines) > tailLines {
		t.lines = t.lines[1:]
	}
}

// String returns the lines kept, joined with "; ".
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(strings.Join(t.lines, "; "))
}
