package benchcmp

// Figures is hopwire's comparison table: every figure beside the reference
// its issue names, measured in the same run. A figure whose benchmark does
// not exist in the tree (yet) is reported as not available, so the table
// may name benchmarks before they land. Goals are the issues' (3: links,
// 4: chains, 7: RPyC, 20: fleets) and, for the RPC rows, the README's
// targets.
var Figures = []Figure{
	// RPC session, against Go's net/rpc (session/bench_test.go).
	{Group: "RPC (session)", Name: "null call, latency", Pkg: "session",
		Bench: "BenchmarkNullCall/hopwire", Ref: "BenchmarkNullCall/netrpc", RefName: "Go net/rpc", Unit: "ns/op", Goal: "≤1"},
	{Group: "RPC (session)", Name: "1 KiB echo call, latency", Pkg: "session",
		Bench: "BenchmarkCall1KiB/hopwire", Ref: "BenchmarkCall1KiB/netrpc", RefName: "Go net/rpc", Unit: "ns/op", Goal: "≤1"},
	{Group: "RPC (session)", Name: "64 concurrent callers, calls/s", Pkg: "session",
		Bench: "BenchmarkParallel64/hopwire", Ref: "BenchmarkParallel64/netrpc", RefName: "Go net/rpc", Unit: "calls/s", Goal: "≥1"},
	{Group: "RPC (session)", Name: "call with a callback, latency", Pkg: "session",
		Bench: "BenchmarkCallback/hopwire", Ref: "BenchmarkCallback/null", RefName: "hopwire null call", Unit: "ns/op", Goal: "≤2.5"},
	{Group: "RPC (session)", Name: "256 MiB through an io.Reader argument", Pkg: "session",
		Bench: "BenchmarkStream256MiB/hopwire", Ref: "BenchmarkStream256MiB/tcp", RefName: "plain TCP copy", Unit: "MB/s", Goal: "≥0.6"},
	{Group: "RPC (session)", Name: "10,000 calls in flight, peak heap", Pkg: "session",
		Bench: "BenchmarkInflight10k", Bound: 64, RefName: "64 MiB", Unit: "peakheapMiB", Goal: "≤1"},
	{Group: "RPC (session)", Name: "idle session, heap per side", Pkg: "session",
		Bench: "BenchmarkIdleSession", Bound: 64 << 10, RefName: "64 KiB", Unit: "heapB/session", Goal: "≤1"},
	{Group: "RPC (session)", Name: "idle stream, heap per side", Pkg: "session",
		Bench: "BenchmarkIdleStream", Bound: 2 << 10, RefName: "2 KiB", Unit: "heapB/stream-side", Goal: "≤1"},

	// One stream of a link, against the bare library (hop/bench_test.go).
	{Group: "Links (one stream)", Name: "TLS link", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/tls", Ref: "BenchmarkLinkThroughput/bare-tls", RefName: "bare crypto/tls", Unit: "MB/s", Goal: "≥0.85"},
	{Group: "Links (one stream)", Name: "QUIC link", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/quic", Ref: "BenchmarkLinkThroughput/bare-quic", RefName: "bare quic-go", Unit: "MB/s", Goal: "≥0.9"},
	{Group: "Links (one stream)", Name: "SSH link", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/ssh", Ref: "BenchmarkLinkThroughput/bare-ssh", RefName: "bare x/crypto/ssh", Unit: "MB/s", Goal: "≥0.8"},
	{Group: "Links (one stream)", Name: "SSH conn alone (no multiplexer)", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/ssh-conn", Ref: "BenchmarkLinkThroughput/bare-ssh", RefName: "bare x/crypto/ssh", Unit: "MB/s"},
	{Group: "Links (one stream)", Name: "SSH link through a node, -L style", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/hopwire-ssh-0jump", Ref: "BenchmarkChainThroughput/openssh-0jump-gcm", RefName: "OpenSSH ssh -L, same cipher", Unit: "MB/s", Goal: "≥1"},
	{Group: "Links (one stream)", Name: "DTLS link", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/dtls", Ref: "BenchmarkLinkThroughput/quic", RefName: "QUIC link", Unit: "MB/s", Goal: "≥0.4"},
	{Group: "Links (one stream)", Name: "stdio link (through a child relay: cat)", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/stdio", Ref: "BenchmarkLinkThroughput/tcp", RefName: "plain TCP", Unit: "MB/s", Goal: "≥0.5"},
	{Group: "Links (one stream)", Name: "stdio link (through a child relay: cat)", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/stdio", Ref: "BenchmarkLinkThroughput/bare-stdio", RefName: "its pipes and child alone", Unit: "MB/s"},
	{Group: "Links (one stream)", Name: "ceiling: bytes through the child alone (cat)", Pkg: "hop",
		Bench: "BenchmarkLinkThroughput/bare-stdio", Ref: "BenchmarkLinkThroughput/tcp", RefName: "plain TCP", Unit: "MB/s"},
	{Group: "Links (one stream)", Name: "TLS link setup, to first stream", Pkg: "hop",
		Bench: "BenchmarkLinkSetup/tls", Bound: 3e6, RefName: "3 ms", Unit: "ns/op", Goal: "≤1"},
	{Group: "Links (one stream)", Name: "QUIC link setup, to first stream", Pkg: "hop",
		Bench: "BenchmarkLinkSetup/quic", Bound: 3e6, RefName: "3 ms", Unit: "ns/op", Goal: "≤1"},
	{Group: "Links (one stream)", Name: "SSH link setup, to first stream", Pkg: "hop",
		Bench: "BenchmarkLinkSetup/ssh", Bound: 10e6, RefName: "10 ms", Unit: "ns/op", Goal: "≤1"},

	// Chains: client → r1 → r2 → target, a -L style forward
	// (relay/bench_test.go, relay/bench_openssh_test.go).
	{Group: "Chains", Name: "throughput, 2 relays (TLS)", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/hopwire", Ref: "BenchmarkChainThroughput/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "MB/s", Goal: "≥2"},
	{Group: "Chains", Name: "throughput, 2 relays (TLS)", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/hopwire", Ref: "BenchmarkChainThroughput/splice", RefName: "3 TCP splice proxies", Unit: "MB/s", Goal: "≥0.5"},
	{Group: "Chains", Name: "throughput, 2 relays (TLS)", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/hopwire", Ref: "BenchmarkChainThroughput/nested-tls", RefName: "its crypto alone", Unit: "MB/s"},
	{Group: "Chains", Name: "ceiling: the chain's crypto alone (3 nested TLS)", Pkg: "relay",
		Bench: "BenchmarkChainThroughput/nested-tls", Ref: "BenchmarkChainThroughput/splice", RefName: "3 TCP splice proxies", Unit: "MB/s"},
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
		Bench: "BenchmarkPutGet/put", Ref: "BenchmarkPutGet/stream", RefName: "raw stream, same chain", Unit: "MB/s", Goal: "≥0.6"},
	{Group: "Chains", Name: "file get through 2 relays (classic)", Pkg: "relay",
		Bench: "BenchmarkPutGet/get", Ref: "BenchmarkPutGet/stream", RefName: "raw stream, same chain", Unit: "MB/s", Goal: "≥0.6"},

	// A session's own calls beside its own bulk stream, on one route
	// client → r1 → r2 → target (relay/bench_test.go): null calls while a
	// stream of the same route moves data to a sink behind the target,
	// against the same calls on the idle session (issue 21).
	{Group: "RPC through relays", Name: "null call p99 beside a bulk stream, 2 relays", Pkg: "relay",
		Bench: "BenchmarkRPCUnderBulk/bulk", Ref: "BenchmarkRPCUnderBulk/idle", RefName: "the same calls, idle session", Unit: "p99-ns", Goal: "≤2"},
	{Group: "RPC through relays", Name: "null call median beside a bulk stream, 2 relays", Pkg: "relay",
		Bench: "BenchmarkRPCUnderBulk/bulk", Ref: "BenchmarkRPCUnderBulk/idle", RefName: "the same calls, idle session", Unit: "p50-ns"},
	{Group: "RPC through relays", Name: "null call p99 beside a bulk stream, direct", Pkg: "relay",
		Bench: "BenchmarkRPCUnderBulk/bulk-0jump", Ref: "BenchmarkRPCUnderBulk/idle-0jump", RefName: "the same calls, idle session", Unit: "p99-ns"},
	// What giving way costs the transfer, and what the calls get when it
	// does not (hop.Dialer.BulkFirst).
	{Group: "RPC through relays", Name: "the bulk stream beside the calls, 2 relays", Pkg: "relay",
		Bench: "BenchmarkRPCUnderBulk/bulk", Ref: "BenchmarkRPCUnderBulk/bulk-bulkfirst", RefName: "the same, bulk first (Dialer.BulkFirst)", Unit: "bulk-MB/s"},
	{Group: "RPC through relays", Name: "null call p99 beside a bulk stream, 2 relays, bulk first", Pkg: "relay",
		Bench: "BenchmarkRPCUnderBulk/bulk-bulkfirst", Ref: "BenchmarkRPCUnderBulk/idle-bulkfirst", RefName: "the same calls, idle session", Unit: "p99-ns"},

	{Group: "RPC through relays", Name: "real processes: call median beside a bulk stream, 2 relays", Pkg: "relay",
		Bench: "BenchmarkProcessRPCUnderBulk/bulk", Ref: "BenchmarkProcessRPCUnderBulk/idle", RefName: "the same calls, idle route", Unit: "p50-ns"},
	{Group: "RPC through relays", Name: "real processes: call p99 beside a bulk stream, 2 relays", Pkg: "relay",
		Bench: "BenchmarkProcessRPCUnderBulk/bulk", Ref: "BenchmarkProcessRPCUnderBulk/idle", RefName: "the same calls, idle route", Unit: "p99-ns", Goal: "≤2"},
	{Group: "RPC through relays", Name: "real processes: call p99 beside a bulk stream, direct", Pkg: "relay",
		Bench: "BenchmarkProcessRPCUnderBulk/bulk-0jump", Ref: "BenchmarkProcessRPCUnderBulk/idle-0jump", RefName: "the same calls, idle route", Unit: "p99-ns"},

	// What a node's observability costs (issue 17): access records and
	// logs as JSON to a file, an admin listener scraped every 100 ms,
	// against the same chain with both off (relay/bench_observe_test.go).
	{Group: "Observability", Name: "chain throughput, 2 relays, logs and metrics on", Pkg: "relay",
		Bench: "BenchmarkObservability/throughput-on", Ref: "BenchmarkObservability/throughput-off", RefName: "the same chain, logs and admin off", Unit: "MB/s", Goal: "≥0.97"},
	{Group: "Observability", Name: "null call through 2 relays, logs and metrics on", Pkg: "relay",
		Bench: "BenchmarkObservability/nullcall-on", Ref: "BenchmarkObservability/nullcall-off", RefName: "the same calls, logs and admin off", Unit: "ns/op", Goal: "≤1.05"},

	// Chains as users run them: every node a hopwire serve process, the
	// client a hopwire forward -L process, against ssh -L / ssh -J with
	// private sshds, aes128-gcm on every hop (relay/bench_process_test.go).
	{Group: "Chains (real processes)", Name: "throughput, 2 relays", Pkg: "relay",
		Bench: "BenchmarkProcessThroughput/hopwire", Ref: "BenchmarkProcessThroughput/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "MB/s", Goal: "≥2"},
	{Group: "Chains (real processes)", Name: "throughput, 1 relay", Pkg: "relay",
		Bench: "BenchmarkProcessThroughput/hopwire-1jump", Ref: "BenchmarkProcessThroughput/openssh-1jump", RefName: "OpenSSH ssh -J, 1 jump", Unit: "MB/s"},
	{Group: "Chains (real processes)", Name: "throughput, direct", Pkg: "relay",
		Bench: "BenchmarkProcessThroughput/hopwire-0jump", Ref: "BenchmarkProcessThroughput/openssh-0jump", RefName: "OpenSSH ssh -L", Unit: "MB/s", Goal: "≥1.5"},
	{Group: "Chains (real processes)", Name: "64-byte round trip median, 2 relays", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire", Ref: "BenchmarkProcessRTT/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "p50-ns", Goal: "≤0.5"},
	{Group: "Chains (real processes)", Name: "64-byte round trip p99, 2 relays", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire", Ref: "BenchmarkProcessRTT/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "p99-ns"},
	{Group: "Chains (real processes)", Name: "64-byte round trip median, 1 relay", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire-1jump", Ref: "BenchmarkProcessRTT/openssh-1jump", RefName: "OpenSSH ssh -J, 1 jump", Unit: "p50-ns"},
	{Group: "Chains (real processes)", Name: "64-byte round trip median, direct", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire-0jump", Ref: "BenchmarkProcessRTT/openssh-0jump", RefName: "OpenSSH ssh -L", Unit: "p50-ns", Goal: "≤0.7"},
	{Group: "Chains (real processes)", Name: "64-byte round trip p99, direct", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire-0jump", Ref: "BenchmarkProcessRTT/openssh-0jump", RefName: "OpenSSH ssh -L", Unit: "p99-ns"},
	{Group: "Chains (real processes)", Name: "64-byte round trip median, 2 relays: the floor", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/floor", Ref: "BenchmarkProcessRTT/openssh", RefName: "OpenSSH ssh -J, 2 jumps", Unit: "p50-ns"},
	{Group: "Chains (real processes)", Name: "64-byte round trip median, 2 relays, against the floor", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire", Ref: "BenchmarkProcessRTT/floor", RefName: "4 plain TCP relay processes (socat, no crypto)", Unit: "p50-ns"},
	{Group: "Chains (real processes)", Name: "64-byte round trip median, direct: the floor", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/floor-0jump", Ref: "BenchmarkProcessRTT/openssh-0jump", RefName: "OpenSSH ssh -L", Unit: "p50-ns"},
	{Group: "Chains (real processes)", Name: "64-byte round trip median, direct, against the floor", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire-0jump", Ref: "BenchmarkProcessRTT/floor-0jump", RefName: "2 plain TCP relay processes (socat, no crypto)", Unit: "p50-ns"},
	{Group: "Chains (real processes)", Name: "throughput, direct, against the ceiling", Pkg: "relay",
		Bench: "BenchmarkProcessThroughput/hopwire-0jump", Ref: "BenchmarkProcessThroughput/floor-0jump", RefName: "2 plain TCP relay processes (socat, no crypto)", Unit: "MB/s"},
	// The direct shape's crypto ceiling: two processes doing nothing but
	// TLS 1.3 between plain TCP (relay/bench_tlsfloor_test.go).
	{Group: "Chains (real processes)", Name: "throughput, direct, against its crypto ceiling", Pkg: "relay",
		Bench: "BenchmarkProcessThroughput/hopwire-0jump", Ref: "BenchmarkProcessThroughput/tlsfloor-0jump", RefName: "2 bare TLS relay processes (crypto/tls only)", Unit: "MB/s"},
	{Group: "Chains (real processes)", Name: "the crypto ceiling: 2 bare TLS relay processes", Pkg: "relay",
		Bench: "BenchmarkProcessThroughput/tlsfloor-0jump", Ref: "BenchmarkProcessThroughput/openssh-0jump", RefName: "OpenSSH ssh -L", Unit: "MB/s"},
	{Group: "Chains (real processes)", Name: "64-byte round trip median, direct, against 2 bare TLS relays", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire-0jump", Ref: "BenchmarkProcessRTT/tlsfloor-0jump", RefName: "2 bare TLS relay processes (crypto/tls only)", Unit: "p50-ns"},
	{Group: "Chains (real processes)", Name: "round trip, direct: real processes vs in-process", Pkg: "relay",
		Bench: "BenchmarkProcessRTT/hopwire-0jump", Ref: "BenchmarkChainRTT/hopwire-0jump", RefName: "the same chain in one process", Unit: "ns/op", Goal: "≤1.5"},
	{Group: "Chains (real processes)", Name: "node peak RSS, 2 relays, 256 MiB through", Pkg: "relay",
		Bench: "BenchmarkProcessThroughput/hopwire", Ref: "BenchmarkProcessThroughput/openssh", RefName: "sshd (per-connection process)", Unit: "peakRSS-MiB"},
	{Group: "Chains (real processes)", Name: "cold exec of true, 2 relays", Pkg: "relay",
		Bench: "BenchmarkProcessExec/hopwire", Ref: "BenchmarkProcessExec/openssh", RefName: "OpenSSH ssh -J j1,j2 target true", Unit: "ns/op"},
	{Group: "Chains (real processes)", Name: "exec of true, 2 relays, through a running hopwire mux", Pkg: "relay",
		Bench: "BenchmarkProcessExec/hopwire-mux", Ref: "BenchmarkProcessExec/hopwire", RefName: "the same exec, cold", Unit: "ns/op", Goal: "≤0.2"},
	{Group: "Chains (real processes)", Name: "the floor of that row: starting the hopwire process", Pkg: "relay",
		Bench: "BenchmarkProcessExec/hopwire-start", Ref: "BenchmarkProcessExec/hopwire", RefName: "the same exec, cold", Unit: "ns/op"},
	{Group: "Chains (real processes)", Name: "1 GiB put, 2 relays", Pkg: "relay",
		Bench: "BenchmarkProcessPut/hopwire", Ref: "BenchmarkProcessPut/openssh", RefName: "OpenSSH scp -J j1,j2", Unit: "MB/s"},

	// A fleet (issue 20): three hopwire serve processes sharing a
	// directory on a nats-server process, 10,000 agents registered across
	// them (relay/bench_fleet_test.go). A lookup is paid by every chain
	// that enters the fleet away from its agent's home relay, before the
	// mesh stream opens: its bounds are a third of a TLS link setup's
	// (BenchmarkLinkSetup's 3 ms) at the median and one link setup at
	// p99. The round-trip goal, cross-relay − same-relay ≤ one
	// relay hop, is read as cross-relay ≤ the same chain with one relay
	// more (the client dialing the home relay through another: -J).
	{Group: "Fleet", Name: "directory lookup median, 10,000 agents (NATS KV)", Pkg: "relay",
		Bench: "BenchmarkFleet/lookup", Bound: 1e6, RefName: "1 ms", Unit: "p50-ns", Goal: "≤1"},
	{Group: "Fleet", Name: "directory lookup p99, 10,000 agents (NATS KV)", Pkg: "relay",
		Bench: "BenchmarkFleet/lookup", Bound: 3e6, RefName: "3 ms", Unit: "p99-ns", Goal: "≤1"},
	{Group: "Fleet", Name: "call median, agent at another relay (mesh link)", Pkg: "relay",
		Bench: "BenchmarkFleet/rtt-cross-relay", Ref: "BenchmarkFleet/rtt-extra-relay", RefName: "home relay, one relay more in front (-J)", Unit: "p50-ns", Goal: "≤1"},
	{Group: "Fleet", Name: "call p99, agent at another relay (mesh link)", Pkg: "relay",
		Bench: "BenchmarkFleet/rtt-cross-relay", Ref: "BenchmarkFleet/rtt-extra-relay", RefName: "home relay, one relay more in front (-J)", Unit: "p99-ns"},
	{Group: "Fleet", Name: "call median, agent at another relay (mesh link)", Pkg: "relay",
		Bench: "BenchmarkFleet/rtt-cross-relay", Ref: "BenchmarkFleet/rtt-same-relay", RefName: "entering at its home relay", Unit: "p50-ns"},
	{Group: "Fleet", Name: "relay RSS per registered agent", Pkg: "relay",
		Bench: "BenchmarkFleet/rss", Bound: 64, RefName: "64 KiB", Unit: "KiB/agent", Goal: "≤1"},

	// RPyC 5 (Debian's python3-rpyc), when installed (session/rpyc).
	{Group: "RPyC 5", Name: "null call: Go client vs Python client, Python server", Pkg: "session/rpyc",
		Bench: "BenchmarkInterop/go-client→py-server", Ref: "BenchmarkInterop/py-client→py-server", RefName: "RPyC's own client", Unit: "calls/s", Goal: "≥1"},
	{Group: "RPyC 5", Name: "null call: Python client, hopwire vs RPyC server", Pkg: "session/rpyc",
		Bench: "BenchmarkInterop/py-client→go-server", Ref: "BenchmarkInterop/py-client→py-server", RefName: "RPyC server", Unit: "calls/s", Goal: "≥1.5"},
	{Group: "RPyC 5", Name: "null call: ceiling for any server (1 ÷ Python client CPU/call)", Pkg: "session/rpyc",
		Bench: "BenchmarkInterop/ratios", Bound: 1, RefName: "RPyC server", Unit: "bound-go-server/py-server"},
	{Group: "RPyC 5", Name: "null call, latency", Pkg: "session/rpyc",
		Bench: "BenchmarkRPyCNullCall/hopwire", Ref: "BenchmarkRPyCNullCall/rpyc", RefName: "RPyC 5", Unit: "ns/op"},
	{Group: "RPyC 5", Name: "1 KiB echo, latency", Pkg: "session/rpyc",
		Bench: "BenchmarkRPyCCall1KiB/hopwire", Ref: "BenchmarkRPyCCall1KiB/rpyc", RefName: "RPyC 5", Unit: "ns/op"},
	{Group: "RPyC 5", Name: "call with a callback, latency", Pkg: "session/rpyc",
		Bench: "BenchmarkRPyCCallback/hopwire", Ref: "BenchmarkRPyCCallback/rpyc", RefName: "RPyC 5", Unit: "ns/op"},
	{Group: "RPyC 5", Name: "16 MiB transfer", Pkg: "session/rpyc",
		Bench: "BenchmarkRPyCTransfer16MiB/hopwire", Ref: "BenchmarkRPyCTransfer16MiB/rpyc", RefName: "RPyC 5", Unit: "MB/s"},
}
