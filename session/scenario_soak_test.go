//go:build soak

package session

import (
	"testing"
	"time"
)

// The long variants of the scenarios in scenario_test.go (make soak).

func TestSoakScenario4_SlowReader(t *testing.T) { scenarioSlowReader(t, 10, 3*time.Second) }

func TestSoakScenario7_StalledPeer(t *testing.T) {
	for range 5 {
		scenarioStalledPeer(t, time.Second, time.Second/2)
		scenarioStalledPeer(t, time.Second/2, time.Second)
	}
}

func TestSoakScenario8_ManyStreams(t *testing.T) {
	for range 3 {
		scenarioManyStreams(t, 10000)
	}
}

func TestSoakScenario14_DeadlineReachesHandler(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) { scenarioDeadline(t, kind, 50) })
	}
}
