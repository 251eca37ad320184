#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md.
#
#   scripts/bench.sh [kit] [idp] [stores]     (default: all three)
#
#   kit     bench/kitbench: a page behind appkit.RequireLogin (memory and
#           SQLite stores) vs plain net/http and scs, wrk -t1 -c32 -d10s
#           --latency, 5 rounds alternating modes
#   idp     bench/idpbench: password-grant logins (ES256) vs raw argon2id,
#           refresh grants on SQLite for ES256, RS256 and EdDSA, and the
#           SQLite store's own rotation rate as the refresh rows' baseline
#   stores  go test -bench of the memory and SQLite session stores
#
# Environment:
#   BENCH_MAX_LOAD  wait before each benchmark until the 1-minute load
#                   average is below this (default 1.5)
#   BENCH_WAIT      give up waiting after this many seconds and measure
#                   anyway, recording the load (default 900)
#   BENCH_OUT       directory for the raw outputs (default: a new temp dir)
#   BENCH_PROFILE   1: also write CPU profiles of kitbench's server per mode
#
# The load generator shares the machine's cores with the server, as in
# ../shared/anchors/RESULTS.md; other processes running at the same time
# change the absolute figures, so every section records the load average.
set -euo pipefail
cd "$(dirname "$0")/.."

max_load="${BENCH_MAX_LOAD:-1.5}"
max_wait="${BENCH_WAIT:-900}"
out="${BENCH_OUT:-$(mktemp -d -t gatehouse-bench.XXXXXX)}"
mkdir -p "$out"
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(kit idp stores)

if ! command -v wrk >/dev/null; then
	echo "== installing wrk (Debian package)"
	if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk; else sudo apt-get install -y wrk; fi
fi

# wait_for_quiet polls every 30 s until the 1-minute load average is below
# max_load or max_wait seconds have passed, then prints the load.
wait_for_quiet() {
	local waited=0 l1
	while :; do
		l1=$(cut -d' ' -f1 /proc/loadavg)
		if awk -v l="$l1" -v m="$max_load" 'BEGIN { exit !(l < m) }'; then break; fi
		if [ "$waited" -ge "$max_wait" ]; then
			echo "   load still $l1 after ${waited}s; measuring anyway"
			break
		fi
		sleep 30
		waited=$((waited + 30))
	done
	echo "   load average before run: $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%H:%M:%SZ))"
}

echo "== machine"
echo "$(nproc) CPUs, Linux $(uname -r), $(go version | cut -d' ' -f3-), $(date -u +%Y-%m-%dT%H:%MZ)" | tee "$out/machine.txt"

bin="$out/bin"
mkdir -p "$bin"
go build -o "$bin/kitbench" ./bench/kitbench
go build -o "$bin/idpbench" ./bench/idpbench

for s in "${sections[@]}"; do
	case "$s" in
	kit)
		echo "== kitbench: $bin/kitbench -rounds 5 -d 10s -c 32 -t 1"
		wait_for_quiet | tee "$out/kit.load"
		prof=()
		[ "${BENCH_PROFILE:-0}" = 1 ] && prof=(-profile "$out/profiles")
		"$bin/kitbench" -rounds 5 -d 10s -c 32 -t 1 "${prof[@]}" 2> >(tee "$out/kit.log" >&2) | tee "$out/kit.md"
		;;
	idp)
		{
			echo "| mode | alg | clients | rate/s | p50 ms | p99 ms | baseline | ratio |"
			echo "|---|---|---|---|---|---|---|---|"
		} >"$out/idp.md"
		for run in "login ES256" "refresh ES256" "refresh RS256" "refresh EdDSA"; do
			set -- $run
			echo "== idpbench: go run ./bench/idpbench -mode $1 -alg $2 -c 16 -d 10s -rounds 3"
			wait_for_quiet | tee -a "$out/idp.load"
			# stderr has the per-round figures and the error counts (must be 0).
			"$bin/idpbench" -mode "$1" -alg "$2" -c 16 -d 10s -rounds 3 2> >(tee -a "$out/idp.log" >&2) | tee -a "$out/idp.md"
		done
		# idpbench's refresh mode has no baseline of its own: the store's own
		# rotation rate (no HTTP, no signing), measured right after, is the
		# ceiling a refresh grant on SQLite can reach.
		echo "== go test -run '^\$' -bench 'Rotate|Refresh' -benchtime 3s -count 3 ./idp/store/sqlite"
		wait_for_quiet | tee -a "$out/idp.load"
		go test -run '^$' -bench 'Rotate|Refresh' -benchtime 3s -count 3 ./idp/store/sqlite | tee "$out/idpstore.txt"
		;;
	stores)
		echo "== go test -run '^\$' -bench . ./appkit/sessionstore/memstore ./appkit/sessionstore/sqlitestore"
		wait_for_quiet | tee "$out/stores.load"
		go test -run '^$' -bench . -count 3 ./appkit/sessionstore/memstore ./appkit/sessionstore/sqlitestore | tee "$out/stores.txt"
		;;
	*)
		echo "unknown section $s (kit, idp, stores)" >&2
		exit 2
		;;
	esac
done
echo "== raw outputs in $out"
