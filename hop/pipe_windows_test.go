package hop

import (
	"errors"
	"fmt"
	"os"
)

// osPipe: Windows anonymous pipes are not pollable (no deadlines), which
// the conformance suite needs, so the stdio case is skipped there.
func osPipe() (*os.File, *os.File, error) {
	return nil, nil, fmt.Errorf("os.Pipe has no deadlines on Windows: %w", errors.ErrUnsupported)
}
