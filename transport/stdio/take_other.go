//go:build !linux && !darwin

package stdio

import (
	"errors"
	"fmt"
	"runtime"
)

// TakeStdio takes the process's standard input and output for a Conn, for
// `hopwire serve --stdio`. It is implemented on Linux and macOS only;
// here it returns an error wrapping errors.ErrUnsupported.
func TakeStdio() (conn *Conn, restore func(), err error) {
	return nil, nil, fmt.Errorf("stdio: serving over stdin and stdout is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
