# hopwire — see README.md. Every target works on a fresh machine after .ci/run's installs.
GO ?= go
FUZZTIME ?= 60s
PKGS := ./...

.PHONY: all build test integration bench fuzz fuzz-long lint soak demo ci

all: lint test

build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o bin/hopwire ./cmd/hopwire

# The README's test command: unit tests with -race, then the end-to-end
# tests (real binary, network namespaces; they skip without root).
# Both stages always run (a unit failure does not hide the integration
# stage); the last line says how each went, and the target fails if either did.
test:
	@u=0; i=0; \
	$(GO) test -race -count=1 $(PKGS) || u=$$?; \
	$(GO) test -tags integration -count=1 -v ./integration/ || i=$$?; \
	echo "make test: unit tests $$(test $$u = 0 && echo passed || echo FAILED), integration tests $$(test $$i = 0 && echo passed || echo FAILED)"; \
	test $$u = 0 && test $$i = 0

integration:
	$(GO) test -tags integration -count=1 -v ./integration/

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=1s ./session/

# Every figure beside its reference (net/rpc, TCP, splice proxies, bare
# libraries, OpenSSH ssh -J, RPyC), COUNT runs each: one table of ratios
# (hopwire bench; -only REGEXP narrows it, e.g. COMPARE_FLAGS='-only chains').
COUNT ?= 5
BENCHTIME ?= 1s
COMPARE_FLAGS ?=
.PHONY: compare
compare:
	$(GO) run ./cmd/hopwire bench -count $(COUNT) -benchtime $(BENCHTIME) $(COMPARE_FLAGS)

# Each fuzz target runs FUZZTIME (go test allows one -fuzz target per run).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

fuzz-long:
	$(MAKE) fuzz FUZZTIME=10m

STATICCHECK ?= $(shell command -v staticcheck || echo $$($(GO) env GOPATH)/bin/staticcheck)

lint:
	$(GO) vet ./...
	$(GO) vet -tags 'integration soak' ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@test -x "$(STATICCHECK)" || { echo "staticcheck is missing: go install honnef.co/go/tools/cmd/staticcheck@v0.8.2"; exit 1; }
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags 'integration soak' ./integration/ ./hop/

# The long variants of issue 6's scenarios (GC pressure ×100, 100 MiB
# through lossy QUIC and DTLS hops, 1,000 connect/disconnect cycles, …).
soak:
	$(GO) test -tags 'soak integration' -count=1 -run Soak -timeout 60m -v ./...

demo:
	$(GO) run ./cmd/hopwire demo
