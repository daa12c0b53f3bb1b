#!/usr/bin/env bash
# The cross-platform checks (make cross, part of make lint): for each
# GOOS/GOARCH in PLATFORMS, go build and go vet every package (vet also
# type-checks the test files); for each in TEST_PLATFORMS, also vet with
# the integration and soak tags, compile and link every package's unit
# tests without running them, and run $STATICCHECK if it is set. No macOS
# or Windows machine runs anything here: this only proves that the code
# builds there. Test files that use Linux-only APIs are tagged
# //go:build linux (or unix) and so are left out where they would not
# build. Measured on 2 shared cores: about a minute with a warm build
# cache, about 8 minutes from a cold one (16 CPU-minutes, mostly every
# dependency compiled once per platform).
set -euo pipefail
GO=${GO:-go}
PLATFORMS=${PLATFORMS:-darwin/amd64 darwin/arm64 windows/amd64 linux/arm64}
TEST_PLATFORMS=${TEST_PLATFORMS:-darwin/arm64 windows/amd64}
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for p in $PLATFORMS; do
  echo "cross: build and vet $p"
  GOOS=${p%/*} GOARCH=${p#*/} CGO_ENABLED=0 $GO build ./...
  GOOS=${p%/*} GOARCH=${p#*/} CGO_ENABLED=0 $GO vet ./...
done
for p in $TEST_PLATFORMS; do
  echo "cross: vet with tags and compile unit tests for $p${STATICCHECK:+, staticcheck}"
  GOOS=${p%/*} GOARCH=${p#*/} CGO_ENABLED=0 $GO vet -tags 'integration soak' ./...
  # go test builds and links every package's test binary, in parallel,
  # and -exec true "runs" each one without running it (vet ran above).
  GOOS=${p%/*} GOARCH=${p#*/} CGO_ENABLED=0 $GO test -exec true -vet=off -count=1 ./... >"$log" 2>&1 || {
    cat "$log"
    exit 1
  }
  if [ -n "${STATICCHECK:-}" ] && [ -x "$STATICCHECK" ]; then
    GOOS=${p%/*} GOARCH=${p#*/} CGO_ENABLED=0 "$STATICCHECK" ./...
  fi
done
echo "cross: ok ($PLATFORMS; unit tests compiled for $TEST_PLATFORMS) in $(( $(date +%s) - start ))s"
