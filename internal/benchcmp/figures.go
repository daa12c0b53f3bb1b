package benchcmp

// Figures is hopwire's comparison table: every figure beside the reference
// its issue names, measured in the same run. A figure whose benchmark does
// not exist in the tree (yet) is reported as not available, so the table
// may name benchmarks before they land. Goals are the issues' (3: links,
// 4: chains, 7: RPyC); the RPC rows have none beyond being reported.
var Figures = []Figure{
	// RPC session, against Go's net/rpc (session/bench_test.go).
	{Group: "RPC (session)", Name: "null call, latency", Pkg: "session",
		Bench: "BenchmarkNullCall/hopwire", Ref: "BenchmarkNullCall/netrpc", RefName: "Go net/rpc", Unit: "ns/op"},
	{Group: "RPC (session)", Name: "1 KiB echo call, latency", Pkg: "session",
		Bench: "BenchmarkCall1KiB/hopwire", Ref: "BenchmarkCall1KiB/netrpc", RefName: "Go net/rpc", Unit: "ns/op"},
	{Group: "RPC (session)", Name: "64 concurrent callers, calls/s", Pkg: "session",
		Bench: "BenchmarkParallel64/hopwire", Ref: "BenchmarkParallel64/netrpc", RefName: "Go net/rpc", Unit: "calls/s"},
	{Group: "RPC (session)", Name: "call with a callback, latency", Pkg: "session",
		Bench: "BenchmarkCallback/hopwire", Ref: "BenchmarkCallback/null", RefName: "hopwire null call", Unit: "ns/op"},
	{Group: "RPC (session)", Name: "256 MiB through an io.Reader argument", Pkg: "session",
		Bench: "BenchmarkStream256MiB/hopwire", Ref: "BenchmarkStream256MiB/tcp", RefName: "plain TCP copy", Unit: "MB/s"},

	// One stream of a link, against the bare library (hop/bench_test.go).
	{Group: "Links (one stream)", Name: "TLS link", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/tls", Ref: "BenchmarkLinkThroughput/bare-tls", RefName: "bare crypto/tls", Unit: "MB/s", Goal: "≥0.85"},
	{Group: "Links (one stream)", Name: "QUIC link", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/quic", Ref: "BenchmarkLinkThroughput/bare-quic", RefName: "bare quic-go", Unit: "MB/s", Goal: "≥0.9"},
	{Group: "Links (one stream)", Name: "SSH link", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/ssh", Ref: "BenchmarkLinkThroughput/bare-ssh", RefName: "bare x/crypto/ssh", Unit: "MB/s", Goal: "≥0.8"},
	{Group: "Links (one stream)", Name: "DTLS link", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/dtls", Ref: "BenchmarkLinkThroughput/quic", RefName: "QUIC link", Unit: "MB/s", Goal: "≥0.4"},
	{Group: "Links (one stream)", Name: "stdio link (child process)", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/stdio", Ref: "BenchmarkLinkThroughput/tcp", RefName: "plain TCP", Unit: "MB/s", Goal: "≥0.5"},

	// Chains: client → r1 → r2 → target, a -L style forward
	// (relay/bench_test.go, relay/bench_openssh_test.go).
	{Group: "Chains", Name: "throughput, 2 relays (TLS)", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/hopwire", Ref: "BenchmarkChainThroughput/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "MB/s", Goal: "≥2"},
	{Group: "Chains", Name: "throughput, 2 relays (TLS)", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/hopwire", Ref: "BenchmarkChainThroughput/splice", RefName: "3 TCP splice proxies", Unit: "MB/s", Goal: "≥0.5"},
	{Group: "Chains", Name: "throughput, 1 relay", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/hopwire-1jump", Ref: "BenchmarkChainThroughput/openssh-1jump", RefName: "OpenSSH ssh -J, 1 jump", Unit: "MB/s"},
	{Group: "Chains", Name: "throughput, direct", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/hopwire-0jump", Ref: "BenchmarkChainThroughput/openssh-0jump", RefName: "OpenSSH ssh -L", Unit: "MB/s"},
	{Group: "Chains", Name: "throughput, QUIC hop behind a TLS hop", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/quic-behind-tls", Ref: "BenchmarkChainThroughput/hopwire", RefName: "all-TLS chain", Unit: "MB/s", Goal: "≥0.25"},
	{Group: "Chains", Name: "64-byte round trip, 2 relays", Pkg: "relay",
		Bench: "BenchmarkChainRTT/hopwire", Ref: "BenchmarkChainRTT/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "ns/op", Goal: "≤0.5"},
	{Group: "Chains", Name: "64-byte round trip, 2 relays", Pkg: "relay",
		Bench: "BenchmarkChainRTT/hopwire", Ref: "BenchmarkChainRTT/splice", RefName: "3 TCP splice proxies", Unit: "ns/op"},
	{Group: "Chains", Name: "64-byte round trip, 1 relay", Pkg: "relay",
		Bench: "BenchmarkChainRTT/hopwire-1jump", Ref: "BenchmarkChainRTT/openssh-1jump", RefName: "OpenSSH ssh -J, 1 jump", Unit: "ns/op"},
	{Group: "Chains", Name: "64-byte round trip, direct", Pkg: "relay",
		Bench: "BenchmarkChainRTT/hopwire-0jump", Ref: "BenchmarkChainRTT/openssh-0jump", RefName: "OpenSSH ssh -L", Unit: "ns/op"},
	{Group: "Chains", Name: "cold setup to first byte, 3 TLS hops", Pkg: "relay",
		Bench: "BenchmarkChainSetup/hopwire", Ref: "BenchmarkChainSetup/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "ns/op"},
	{Group: "Chains", Name: "cold setup to first byte, 3 TLS hops", Pkg: "relay",
		Bench: "BenchmarkChainSetup/hopwire", Bound: 20e6, RefName: "20 ms", Unit: "ns/op", Goal: "≤1"},
	{Group: "Chains", Name: "setup via 2 OpenSSH bastions to a hopwire node", Pkg: "relay",
		Bench: "BenchmarkChainSetup/hopwire-via-openssh", Ref: "BenchmarkChainSetup/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "ns/op", Goal: "≤1"},
	{Group: "Chains", Name: "cold setup to first byte, 1 relay", Pkg: "relay",
		Bench: "BenchmarkChainSetup/hopwire-1jump", Ref: "BenchmarkChainSetup/openssh-1jump", RefName: "OpenSSH ssh -J, 1 jump", Unit: "ns/op"},
	{Group: "Chains", Name: "cold setup to first byte, direct", Pkg: "relay",
		Bench: "BenchmarkChainSetup/hopwire-0jump", Ref: "BenchmarkChainSetup/openssh-0jump", RefName: "OpenSSH ssh", Unit: "ns/op"},
	{Group: "Chains", Name: "relay RSS, 10,000 concurrent forwards", Pkg: "relay",
		Bench: "BenchmarkForward10k", Bound: 400, RefName: "400 MiB", Unit: "relay-MiB", Goal: "≤1"},
	{Group: "Chains", Name: "file put through 2 relays (classic)", Pkg: "relay",
		Bench: "BenchmarkPutGet/put", Ref: "BenchmarkPutGet/stream", RefName: "raw stream, same chain", Unit: "MB/s"},

	// RPyC 5 (Debian's python3-rpyc), when installed (session/rpyc).
	{Group: "RPyC 5", Name: "null call: Go client vs Python client, Python server", Pkg: "session/rpyc",
		Bench: "BenchmarkInterop/go-client→py-server", Ref: "BenchmarkInterop/py-client→py-server", RefName: "RPyC's own client", Unit: "calls/s", Goal: "≥1"},
	{Group: "RPyC 5", Name: "null call: Python client, hopwire vs RPyC server", Pkg: "session/rpyc",
		Bench: "BenchmarkInterop/py-client→go-server", Ref: "BenchmarkInterop/py-client→py-server", RefName: "RPyC server", Unit: "calls/s", Goal: "≥1.5"},
	{Group: "RPyC 5", Name: "null call, latency", Pkg: "session/rpyc",
		Bench: "BenchmarkRPyCNullCall/hopwire", Ref: "BenchmarkRPyCNullCall/rpyc", RefName: "RPyC 5", Unit: "ns/op"},
	{Group: "RPyC 5", Name: "1 KiB echo, latency", Pkg: "session/rpyc",
		Bench: "BenchmarkRPyCCall1KiB/hopwire", Ref: "BenchmarkRPyCCall1KiB/rpyc", RefName: "RPyC 5", Unit: "ns/op"},
	{Group: "RPyC 5", Name: "call with a callback, latency", Pkg: "session/rpyc",
		Bench: "BenchmarkRPyCCallback/hopwire", Ref: "BenchmarkRPyCCallback/rpyc", RefName: "RPyC 5", Unit: "ns/op"},
	{Group: "RPyC 5", Name: "16 MiB transfer", Pkg: "session/rpyc",
		Bench: "BenchmarkRPyCTransfer16MiB/hopwire", Ref: "BenchmarkRPyCTransfer16MiB/rpyc", RefName: "RPyC 5", Unit: "MB/s"},
}
