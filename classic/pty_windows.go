package classic

import (
	"context"
	"errors"
	"io"
)

// errNoTTY is RunTTY's answer on Windows.
var errNoTTY = errors.New("classic: a terminal (shell) on a Windows node is not supported; use exec")

// runTTY refuses: a Windows node offers no pseudo-terminal.
func (s *Service) runTTY(ctx context.Context, req RunRequest, dir string, rows, cols int, stdin io.Reader, stdout io.Writer,
	events func(context.Context) (TTYEvent, error)) (int, error) {
	return -1, errNoTTY
}
