//go:build integration && soak && linux

package integration

import "testing"

// The long variants of issue 6's scenarios: make soak.

func TestSoakScenario3_GCPressure(t *testing.T) { gcPressure(t, 100, 8, 16<<20) }

func TestSoakScenario9_ClientDeaths(t *testing.T) { clientDeaths(t, 1000) }
