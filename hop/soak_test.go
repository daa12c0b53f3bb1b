//go:build soak

package hop

import "testing"

// Issue 6's scenario 5 at full size, with its goodput ratios asserted:
// make soak.
func TestSoakScenario5_Loss(t *testing.T) {
	if raceEnabled {
		t.Skip("goodput ratios are measured without the race detector")
	}
	lossScenario(t, 100<<20, true)
}
