package rpyc

// For the external tests (chain_test.go).
var (
	SeedScenario = seedScenario
)
