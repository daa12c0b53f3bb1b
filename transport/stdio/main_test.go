package stdio_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// helperEnv selects a helper mode when the test binary runs as a child of
// its own tests (as os/exec's tests do); helpers maps each mode to the
// function that runs it, whose result is the exit code.
const helperEnv = "HOPWIRE_STDIO_TEST_HELPER"

var helpers = map[string]func() int{}

func TestMain(m *testing.M) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		goleak.VerifyTestMain(m)
		return
	}
	run, ok := helpers[mode]
	if !ok {
		os.Exit(100)
	}
	os.Exit(run())
}

// helperEnvFor returns this process's environment plus helper mode mode.
func helperEnvFor(mode string, extra ...string) []string {
	return append(append(os.Environ(), helperEnv+"="+mode), extra...)
}
