# shellcheck shell=bash
# Throwaway PostgreSQL and Redis for the test suites. Sourced by scripts/test.sh
# (it can also be sourced by hand: `source scripts/testenv.sh`, then run
# `go test` in the same shell; the servers stop when that shell exits).
#
# - Installs `postgresql` and `redis-server` from Debian when missing.
# - Starts each server on 127.0.0.1 on a free port, with its data in a
#   temporary directory (PostgreSQL also listens on a unix socket there).
# - Exports GATEHOUSE_TEST_POSTGRES (superuser URL of the `postgres` database;
#   tests create and drop their own databases or schemas) and
#   GATEHOUSE_TEST_REDIS. When either is already set, that server is used
#   and none is started for it.
# - Installs an EXIT trap (chained after any trap already set) that stops
#   both servers and removes their directories, whether the tests pass or fail.

gatehouse_testenv_log() { echo "testenv: $*" >&2; }

# gatehouse_testenv_as_pg runs a command as the unprivileged `postgres` user
# when we are root (PostgreSQL refuses to run as root), else as ourselves.
gatehouse_testenv_as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		if command -v runuser >/dev/null 2>&1; then
			runuser -u postgres -- "$@"
		else
			su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
		fi
	else
		"$@"
	fi
}

gatehouse_testenv_pgbin() {
	# Newest installed major version.
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; fi
}

gatehouse_testenv_install() {
	local missing=()
	[ -n "$(gatehouse_testenv_pgbin)" ] || missing+=(postgresql)
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
	[ ${#missing[@]} -eq 0 ] && return 0
	gatehouse_testenv_log "installing ${missing[*]} from Debian"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
	"${sudo[@]}" apt-get update -q >&2
	# The packages' own service start is refused in containers (policy-rc.d)
	# and not wanted here: we start private instances below.
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# gatehouse_testenv_port prints a TCP port on 127.0.0.1 that nothing listens on.
# The server started on it may still lose a race for it; callers retry.
gatehouse_testenv_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	gatehouse_testenv_log "no free port found"
	return 1
}

gatehouse_testenv_start_postgres() {
	local bin port try
	bin=$(gatehouse_testenv_pgbin)
	GATEHOUSE_TESTENV_PGDIR=$(mktemp -d -t gatehouse-pg.XXXXXX)
	if [ "$(id -u)" -eq 0 ]; then chown postgres: "$GATEHOUSE_TESTENV_PGDIR"; fi
	gatehouse_testenv_as_pg "$bin/initdb" -D "$GATEHOUSE_TESTENV_PGDIR/data" -U postgres \
		-A trust -E UTF8 --locale=C --no-sync >"$GATEHOUSE_TESTENV_PGDIR/initdb.log" 2>&1 || {
		cat "$GATEHOUSE_TESTENV_PGDIR/initdb.log" >&2
		return 1
	}
	for try in 1 2 3 4 5; do
		port=$(gatehouse_testenv_port)
		# fsync and friends off: the data is thrown away after the run.
		if gatehouse_testenv_as_pg "$bin/pg_ctl" -D "$GATEHOUSE_TESTENV_PGDIR/data" \
			-l "$GATEHOUSE_TESTENV_PGDIR/server.log" -w -t 60 start \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $GATEHOUSE_TESTENV_PGDIR \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null; then
			GATEHOUSE_TESTENV_PGBIN=$bin
			export GATEHOUSE_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			gatehouse_testenv_log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (dir $GATEHOUSE_TESTENV_PGDIR)"
			return 0
		fi
		gatehouse_testenv_log "PostgreSQL did not start on port $port (try $try)"
	done
	tail -n 30 "$GATEHOUSE_TESTENV_PGDIR/server.log" >&2 || true
	return 1
}

gatehouse_testenv_start_redis() {
	local port try i
	GATEHOUSE_TESTENV_REDISDIR=$(mktemp -d -t gatehouse-redis.XXXXXX)
	for try in 1 2 3 4 5; do
		port=$(gatehouse_testenv_port)
		rm -f "$GATEHOUSE_TESTENV_REDISDIR/redis.pid"
		redis-server --bind 127.0.0.1 --port "$port" --dir "$GATEHOUSE_TESTENV_REDISDIR" \
			--save '' --appendonly no --daemonize yes \
			--pidfile "$GATEHOUSE_TESTENV_REDISDIR/redis.pid" \
			--logfile "$GATEHOUSE_TESTENV_REDISDIR/redis.log" >/dev/null || continue
		for i in $(seq 1 100); do
			if [ -s "$GATEHOUSE_TESTENV_REDISDIR/redis.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				GATEHOUSE_TESTENV_REDISPID=$(cat "$GATEHOUSE_TESTENV_REDISDIR/redis.pid")
				export GATEHOUSE_TEST_REDIS="redis://127.0.0.1:$port/0"
				gatehouse_testenv_log "Redis $(redis-server --version | awk '{print $3}' | sed s/^v=//) on 127.0.0.1:$port (dir $GATEHOUSE_TESTENV_REDISDIR)"
				return 0
			fi
			sleep 0.1
		done
		# Lost the port race or failed to start: stop whatever came up and retry.
		if [ -s "$GATEHOUSE_TESTENV_REDISDIR/redis.pid" ]; then
			kill "$(cat "$GATEHOUSE_TESTENV_REDISDIR/redis.pid")" 2>/dev/null || true
		fi
		gatehouse_testenv_log "Redis did not start on port $port (try $try)"
	done
	tail -n 30 "$GATEHOUSE_TESTENV_REDISDIR/redis.log" >&2 || true
	return 1
}

gatehouse_testenv_stop() {
	local i
	if [ -n "${GATEHOUSE_TESTENV_PGDIR:-}" ]; then
		if [ -n "${GATEHOUSE_TESTENV_PGBIN:-}" ] && [ -f "$GATEHOUSE_TESTENV_PGDIR/data/postmaster.pid" ]; then
			gatehouse_testenv_as_pg "$GATEHOUSE_TESTENV_PGBIN/pg_ctl" -D "$GATEHOUSE_TESTENV_PGDIR/data" \
				-m immediate -w -t 30 stop >/dev/null 2>&1 || true
		fi
		rm -rf "$GATEHOUSE_TESTENV_PGDIR"
		GATEHOUSE_TESTENV_PGDIR=
	fi
	if [ -n "${GATEHOUSE_TESTENV_REDISDIR:-}" ]; then
		if [ -n "${GATEHOUSE_TESTENV_REDISPID:-}" ]; then
			kill "$GATEHOUSE_TESTENV_REDISPID" 2>/dev/null || true
			for i in $(seq 1 50); do
				kill -0 "$GATEHOUSE_TESTENV_REDISPID" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$GATEHOUSE_TESTENV_REDISPID" 2>/dev/null || true
		fi
		rm -rf "$GATEHOUSE_TESTENV_REDISDIR"
		GATEHOUSE_TESTENV_REDISDIR=
	fi
}

gatehouse_testenv_start() {
	gatehouse_testenv_install
	# Chain after any EXIT trap already installed, and turn INT/TERM into an
	# exit so the EXIT trap runs for them too.
	local prev
	prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
	# shellcheck disable=SC2064
	trap "gatehouse_testenv_stop${prev:+; $prev}" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# A server the caller already named is used as it is.
	if [ -n "${GATEHOUSE_TEST_POSTGRES:-}" ]; then
		gatehouse_testenv_log "using PostgreSQL from GATEHOUSE_TEST_POSTGRES"
	else
		gatehouse_testenv_start_postgres
	fi
	if [ -n "${GATEHOUSE_TEST_REDIS:-}" ]; then
		gatehouse_testenv_log "using Redis from GATEHOUSE_TEST_REDIS"
	else
		gatehouse_testenv_start_redis
	fi
}

gatehouse_testenv_start
