#!/usr/bin/env bash
# The one test command (README "Run the tests"; .ci/run calls it).
# Installs and starts what the tests need, runs every suite, stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export GATEHOUSE_CI="${GATEHOUSE_CI:-1}"

echo "== gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted"; exit 1; fi
go vet ./...

echo "== staticcheck"
# Installed through the Go module proxy when missing (pinned: same findings on every machine).
if ! command -v staticcheck >/dev/null 2>&1; then
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	export PATH="$PATH:$(go env GOPATH)/bin"
fi
staticcheck ./...

echo "== docs: every cited requirement ID and section resolves in docs/"
./scripts/check-docs.sh

echo "== dependencies run one way"
./scripts/check-deps.sh

echo "== test servers (PostgreSQL, Redis)"
# Throwaway servers; its EXIT trap stops them and removes their data even when tests fail.
source scripts/testenv.sh

echo "== Chromium (browser suite, e2e/browser)"
# Debian's chromium; the browser tests fail instead of skipping under GATEHOUSE_CI=1.
if ! command -v chromium >/dev/null 2>&1; then
	sudo=(); if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
	"${sudo[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q chromium
fi
export GATEHOUSE_CHROMIUM="${GATEHOUSE_CHROMIUM:-$(command -v chromium)}"

echo "== go test"
go test -count=1 -timeout 30m ./...
