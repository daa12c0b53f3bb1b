package stdio

import (
	"strings"
	"testing"
)

func TestTailKeepsTheLastLines(t *testing.T) {
	var tl Tail
	if tl.String() != "" {
		t.Fatal("a new Tail is not empty")
	}
	for _, l := range []string{"one", "two", "three", "four", "five", strings.Repeat("x", 1000)} {
		tl.Add(l)
	}
	got := tl.String()
	if strings.Contains(got, "one") || strings.Contains(got, "two") || !strings.HasPrefix(got, "three; four; five; xxx") || len(got) > 400 {
		t.Errorf("Tail = %q", got)
	}
}
