# Helpers for scripted TAP tests (tests/sh/*.sh), run by ./run test against its throwaway cluster.
# Environment from ./run: PGHOST PGPORT PGUSER, RUVECTOR_TEST_DATA (data directory),
# RUVECTOR_PG_BIN, RUVECTOR_PG_OS_USER.
set -u

TAP_N=0
TAP_FAILED=0

ok() {  # ok CONDITION_EXIT_STATUS DESCRIPTION
	TAP_N=$((TAP_N + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $TAP_N - $2"
	else
		echo "not ok $TAP_N - $2"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

is() {  # is GOT WANT DESCRIPTION
	TAP_N=$((TAP_N + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $TAP_N - $3"
	else
		echo "not ok $TAP_N - $3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
		TAP_FAILED=$((TAP_FAILED + 1))
	fi
}

done_testing() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}

fresh_db() {  # fresh_db NAME: (re)create database NAME with the extension and make it the default
	export PGDATABASE=$1
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $PGDATABASE" -c "CREATE DATABASE $PGDATABASE" >/dev/null 2>&1
	q "CREATE EXTENSION ruvector"
}

q() {  # q SQL: one value, no alignment
	psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}

# The SQLSTATE of the error SQL raises (empty when it succeeds).
sqlstate_of() {
	psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null |
		sed -nE 's/^ERROR:  ([0-9A-Z]{5}): .*/\1/p' | head -1
}

as_pg_user() {
	if [ "$(id -un)" = "$RUVECTOR_PG_OS_USER" ]; then "$@"; else (cd / && runuser -u "$RUVECTOR_PG_OS_USER" -- "$@"); fi
}

pg_ctl_test() {  # pg_ctl_test ARGS...: pg_ctl on the test cluster
	as_pg_user "$RUVECTOR_PG_BIN/pg_ctl" -D "$RUVECTOR_TEST_DATA" -l "$RUVECTOR_TEST_DATA/server.log" -w "$@"
}

wait_for_worker() {  # until the worker answers (after a restart)
	for _ in $(seq 1 100); do
		[ "$(q "SELECT state FROM ruvector_worker_status()" 2>/dev/null)" = ready ] && return 0
		sleep 0.1
	done
	return 1
}

now_ms() { date +%s%3N; }
