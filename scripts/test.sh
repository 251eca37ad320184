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

echo "== npm (axe-core and FusionAuth's TypeScript client come from it)"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	sudo=(); if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
	"${sudo[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q npm nodejs
fi

echo "== axe-core (the browser suite's accessibility checks, e2e/browser)"
# Pinned (e2e/browser's axeVersion says the same); installed from npm into
# the user's cache, never into the repository. Under GATEHOUSE_CI=1 the
# browser tests fail without it.
axe_version=4.14.1
axe_prefix="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/axe-core-$axe_version"
export GATEHOUSE_AXE="${GATEHOUSE_AXE:-$axe_prefix/node_modules/axe-core/axe.min.js}"
if [ ! -s "$GATEHOUSE_AXE" ]; then
	npm install --prefix "$axe_prefix" --no-save --no-audit --no-fund --silent "axe-core@$axe_version"
fi

echo "== @fusionauth/typescript-client (idp's FusionAuth wire test)"
# Pinned (idp/tsclient_test.go's fusionAuthTSClient says the same); into the
# user's cache like axe-core. The test installs it itself when missing.
fa_ts_prefix="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/fusionauth-typescript-client-1.69.0"
if [ ! -s "$fa_ts_prefix/node_modules/@fusionauth/typescript-client/package.json" ]; then
	npm install --prefix "$fa_ts_prefix" --no-save --no-audit --no-fund --silent "@fusionauth/typescript-client@1.69.0"
fi

echo "== go test"
go test -count=1 -timeout 30m ./...
