#!/usr/bin/env bash
# Dependencies run one way (docs/design.md §1): nothing an app imports —
# the app kit and its session stores, idpclient, the webhook wire format and
# receiver — may depend on the identity server (idp/...), and the webhook
# package imports nothing of this module at all. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
fail=0
for pkg in ./appkit/... ./idpclient ./webhook; do
	bad=$(go list -deps $pkg | grep -E "^$mod/idp(/|$)" || true)
	if [ -n "$bad" ]; then
		echo "check-deps: $pkg depends on the identity server:"; echo "$bad" | sed 's/^/    /'
		fail=1
	fi
done
own=$(go list -deps ./webhook | grep -E "^$mod/" | grep -v -x "$mod/webhook" || true)
if [ -n "$own" ]; then
	echo "check-deps: webhook imports packages of this module:"; echo "$own" | sed 's/^/    /'
	fail=1
fi
if [ "$fail" -ne 0 ]; then exit 1; fi
echo "check-deps: appkit, idpclient and webhook do not depend on idp/..."
