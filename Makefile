# hopwire — see README.md. Every target works on a fresh machine after .ci/run's installs.
GO ?= go
FUZZTIME ?= 20s
PKGS := ./...

.PHONY: all build test integration bench fuzz fuzz-long lint demo ci

all: lint test

build:
	CGO_ENABLED=0 $(GO) build -o bin/hopwire ./cmd/hopwire

# The README's test command: unit tests with -race, then the end-to-end
# tests (real binary, network namespaces; they skip without root).
test:
	$(GO) test -race -count=1 $(PKGS)
	$(GO) test -tags integration -count=1 -v ./integration/

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
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	  done; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZTIME=10m

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

demo:
	$(GO) run ./cmd/hopwire demo
