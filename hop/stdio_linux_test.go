package hop

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A stdio: hop whose command fails says why in the dial error: sudo's or
// docker's own message, not only "read hello: EOF" (issue 15).
func TestStdioHopKeepsStderr(t *testing.T) {
	a, err := Parse(`stdio:sh -c "echo 'sudo: a password is required' >&2; exit 1"`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = (&Dialer{}).Dial(ctx, nil, a)
	if err == nil || !strings.Contains(err.Error(), "sudo: a password is required") {
		t.Fatalf("dial error %v does not carry the command's stderr", err)
	}
}
