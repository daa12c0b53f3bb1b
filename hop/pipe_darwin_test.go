package hop

import "os"

// osPipe: on macOS, too, os.Pipe's ends are pollable, as a spawned
// child's are.
func osPipe() (*os.File, *os.File, error) { return os.Pipe() }
