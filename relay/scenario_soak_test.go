//go:build soak

package relay

import "testing"

// The long variants of the scenarios in scenario_test.go (make soak).

func TestSoakScenario3_GCPressure(t *testing.T) { scenarioGCPressure(t, 100, 8, 4<<20) }

func TestSoakScenario6_HalfCloseThroughTwoRelays(t *testing.T) { scenarioHalfClose(t, 100<<20) }

func TestSoakScenario9_ConnectCycles(t *testing.T) { scenarioCycles(t, 1000) }

func TestSoakScenario13_ClientDiesInCallback(t *testing.T) { scenarioDiesInCallback(t, 50) }
