# hopwire — see README.md. Every target works on a fresh machine after .ci/run's installs.
GO ?= go
FUZZTIME ?= 60s
PKGS := ./...

.PHONY: all build test integration bench fuzz fuzz-long lint cross soak demo ci static release install uninstall

all: lint test

build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o bin/hopwire ./cmd/hopwire

# Shipped binaries (make release, make install, packaging/Containerfile)
# all come from `make static`: static (CGO_ENABLED=0), -trimpath, and
# VERSION stamped into main.stampedVersion (hopwire version prints it).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOOS ?= $(shell $(GO) env GOOS)
GOARCH ?= $(shell $(GO) env GOARCH)
OUT ?= bin/hopwire-static
RELEASE_LDFLAGS = -s -w -X main.stampedVersion=$(VERSION)

static:
	CGO_ENABLED=0 GOOS=$(GOOS) GOARCH=$(GOARCH) $(GO) build -trimpath -ldflags '$(RELEASE_LDFLAGS)' -o $(OUT) ./cmd/hopwire

# dist/hopwire-VERSION-linux-ARCH for each of RELEASE_ARCHES, and their
# SHA256SUMS (check with: cd dist && sha256sum -c SHA256SUMS).
DIST ?= dist
RELEASE_ARCHES ?= amd64 arm64
release:
	mkdir -p $(DIST)
	for a in $(RELEASE_ARCHES); do \
	  $(MAKE) --no-print-directory static GOOS=linux GOARCH=$$a VERSION='$(VERSION)' OUT='$(DIST)/hopwire-$(VERSION)-linux-'$$a || exit 1; \
	done
	cd $(DIST) && sha256sum $(foreach a,$(RELEASE_ARCHES),hopwire-$(VERSION)-linux-$(a)) > SHA256SUMS

# make install [PREFIX=/usr/local] [DESTDIR=staging]: the binary, its man
# pages (written by the installed binary from its own help: hopwire man),
# bash, zsh and fish completions, the systemd unit (pointed at BINDIR and
# SYSCONFDIR) with its sysusers.d entry, and the relay's config file
# unless one is there already.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

install:
	$(MAKE) --no-print-directory static GOOS= GOARCH= OUT=bin/hopwire-install
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(MANDIR)/man1' '$(DESTDIR)$(BASHCOMPDIR)' '$(DESTDIR)$(ZSHCOMPDIR)' \
	  '$(DESTDIR)$(FISHCOMPDIR)' '$(DESTDIR)$(SYSTEMDUNITDIR)' '$(DESTDIR)$(SYSUSERSDIR)'
	install -m 0755 bin/hopwire-install '$(DESTDIR)$(BINDIR)/hopwire'
	'$(DESTDIR)$(BINDIR)/hopwire' man '$(DESTDIR)$(MANDIR)/man1' >/dev/null
	'$(DESTDIR)$(BINDIR)/hopwire' completion bash > '$(DESTDIR)$(BASHCOMPDIR)/hopwire'
	'$(DESTDIR)$(BINDIR)/hopwire' completion zsh > '$(DESTDIR)$(ZSHCOMPDIR)/_hopwire'
	'$(DESTDIR)$(BINDIR)/hopwire' completion fish > '$(DESTDIR)$(FISHCOMPDIR)/hopwire.fish'
	sed -e 's|/usr/local/bin/hopwire|$(BINDIR)/hopwire|g' -e 's|/etc/hopwire/|$(SYSCONFDIR)/hopwire/|g' \
	  packaging/systemd/hopwire.service > '$(DESTDIR)$(SYSTEMDUNITDIR)/hopwire.service'
	install -d '$(DESTDIR)$(SYSCONFDIR)/hopwire'
	test -e '$(DESTDIR)$(SYSCONFDIR)/hopwire/hopwire.conf' || \
	  install -m 0644 packaging/systemd/hopwire.conf '$(DESTDIR)$(SYSCONFDIR)/hopwire/hopwire.conf'
	install -m 0644 packaging/systemd/hopwire.sysusers '$(DESTDIR)$(SYSUSERSDIR)/hopwire.conf'
	chmod 0644 '$(DESTDIR)$(BASHCOMPDIR)/hopwire' '$(DESTDIR)$(ZSHCOMPDIR)/_hopwire' '$(DESTDIR)$(FISHCOMPDIR)/hopwire.fish' \
	  '$(DESTDIR)$(SYSTEMDUNITDIR)/hopwire.service'

uninstall:
	rm -f '$(DESTDIR)$(BINDIR)/hopwire' '$(DESTDIR)$(MANDIR)/man1/hopwire.1' '$(DESTDIR)$(MANDIR)/man1/hopwire-'*.1 \
	  '$(DESTDIR)$(BASHCOMPDIR)/hopwire' '$(DESTDIR)$(ZSHCOMPDIR)/_hopwire' '$(DESTDIR)$(FISHCOMPDIR)/hopwire.fish' \
	  '$(DESTDIR)$(SYSTEMDUNITDIR)/hopwire.service' '$(DESTDIR)$(SYSUSERSDIR)/hopwire.conf'
	@echo "make uninstall keeps $(DESTDIR)$(SYSCONFDIR)/hopwire/hopwire.conf and the state in /var/lib/hopwire"

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
	$(MAKE) --no-print-directory cross

# Builds and vets every package for macOS (amd64, arm64), Windows (amd64)
# and linux/arm64, and compiles (without running) the unit tests for
# darwin/arm64 and windows/amd64: see scripts/cross.sh and README
# "Platforms". About a minute with a warm build cache; about 8 minutes on
# 2 cores from a cold one (each platform compiles every dependency once,
# so a CI that keeps GOCACHE saves most of it). CROSS_STATICCHECK=1
# also runs staticcheck for darwin/arm64 and windows/amd64 (about two
# more minutes each from a cold cache).
CROSS_PLATFORMS ?= darwin/amd64 darwin/arm64 windows/amd64 linux/arm64
CROSS_TEST_PLATFORMS ?= darwin/arm64 windows/amd64
CROSS_STATICCHECK ?=
cross:
	GO=$(GO) STATICCHECK='$(if $(CROSS_STATICCHECK),$(STATICCHECK))' PLATFORMS='$(CROSS_PLATFORMS)' \
	  TEST_PLATFORMS='$(CROSS_TEST_PLATFORMS)' ./scripts/cross.sh

# The long variants of issue 6's scenarios (GC pressure ×100, 100 MiB
# through lossy QUIC and DTLS hops, 1,000 connect/disconnect cycles, …).
soak:
	$(GO) test -tags 'soak integration' -count=1 -run Soak -timeout 60m -v ./...

demo:
	$(GO) run ./cmd/hopwire demo
