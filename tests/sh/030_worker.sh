#!/usr/bin/env bash
# The worker under stress: cancel, statement_timeout, worker death, concurrency, memory limit,
# and a server without shared_preload_libraries. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_worker_test
# A k-means that takes several seconds (about 8 s here uncancelled): 50k x 64 uniform points, k = 8000.
q "SELECT setseed(0.1); CREATE TABLE big AS SELECT i AS id, (SELECT array_agg(random()) FROM generate_series(1, 64) WHERE i > 0)::real[]::vector AS v FROM generate_series(1, 50000) i" >/dev/null
q "CREATE TABLE small AS SELECT i AS id, ARRAY[i % 7, i % 11, i % 13]::real[]::vector AS v FROM generate_series(1, 2000) i" >/dev/null
LONG="SELECT count(*) FROM ruvector_kmeans('big', 'v', 8000, 50)"

# --- statement_timeout cancels a running job promptly, and the session goes on working
cancelled_before=$(q "SELECT requests_cancelled FROM ruvector_worker_status()")
t0=$(now_ms)
out=$(psql -X -q -At -v VERBOSITY=verbose -c "SET statement_timeout = '1500ms'" -c "$LONG" -c "RESET statement_timeout" -c "SELECT 'ping:' || (ruvector_worker_ping() > 0)" 2>&1)
t1=$(now_ms)
echo "$out" | grep -q "57014" ; ok $? "statement_timeout cancels k-means with SQLSTATE 57014"
[ $((t1 - t0)) -lt 6000 ]; ok $? "cancel is prompt ($((t1 - t0)) ms for a 1.5 s timeout)"
echo "$out" | grep -q "ping:true"; ok $? "the next request on the same backend succeeds"
for _ in $(seq 1 50); do [ "$(q "SELECT in_flight FROM ruvector_worker_status()")" = 0 ] && break; sleep 0.1; done
is "$(q "SELECT in_flight FROM ruvector_worker_status()")" 0 "the cancelled request leaves no slot in flight"
cancelled_after=$(q "SELECT requests_cancelled FROM ruvector_worker_status()")
[ "$cancelled_after" -gt "$cancelled_before" ]; ok $? "worker counters show the cancellation ($cancelled_before -> $cancelled_after)"

# --- pg_cancel_backend from another session
psql -X -q -At -v VERBOSITY=verbose -c "SELECT pg_backend_pid()" -c "$LONG" >"$RUVECTOR_TEST_DATA/../cancel.out" 2>&1 &
bg=$!
sleep 1.5
pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%ruvector_kmeans(''big''%' AND pid <> pg_backend_pid() LIMIT 1")
t0=$(now_ms)
q "SELECT pg_cancel_backend($pid)" >/dev/null
wait $bg
t1=$(now_ms)
grep -q 57014 "$RUVECTOR_TEST_DATA/../cancel.out"; ok $? "pg_cancel_backend interrupts a waiting backend"
[ $((t1 - t0)) -lt 3000 ]; ok $? "pg_cancel_backend takes effect promptly ($((t1 - t0)) ms)"

# --- the worker dies during a request: a clear error, then a restart
gen_before=$(q "SELECT generation FROM ruvector_worker_status()")
psql -X -q -At -v VERBOSITY=verbose -c "$LONG" >"$RUVECTOR_TEST_DATA/../death.out" 2>&1 &
bg=$!
sleep 1.5
t0=$(now_ms)
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'ruvector worker'" >/dev/null
wait $bg
t1=$(now_ms)
grep -q "the ruvector worker stopped during the request" "$RUVECTOR_TEST_DATA/../death.out"; ok $? "a request whose worker dies gets a clear error"
grep -q "08006" "$RUVECTOR_TEST_DATA/../death.out"; ok $? "with SQLSTATE 08006"
[ $((t1 - t0)) -lt 3000 ]; ok $? "the error arrives within seconds ($((t1 - t0)) ms)"
wait_for_worker; ok $? "the worker restarts"
gen_after=$(q "SELECT generation FROM ruvector_worker_status()")
[ "$gen_after" -gt "$gen_before" ]; ok $? "generation increases after the restart ($gen_before -> $gen_after)"
is "$(q "SELECT ruvector_worker_ping() > 0")" t "requests succeed after the restart"
is "$(q "SELECT sum(size) FROM ruvector_kmeans('small', 'v', 5)")" 2000 "k-means succeeds after the restart"

# --- 10 concurrent sessions mixing pings and k-means; every result is checked
expect=$(q "SELECT string_agg(size::text, ',' ORDER BY cluster) FROM ruvector_kmeans('small', 'v', 7)")
for c in $(seq 1 10); do
	(
		bad=0
		for i in $(seq 1 15); do
			r=$(psql -X -q -At -c "SELECT ruvector_worker_ping() > 0" 2>&1)
			[ "$r" = t ] || bad=$((bad + 1))
			if [ $((i % 5)) -eq 0 ]; then
				r=$(psql -X -q -At -c "SELECT string_agg(size::text, ',' ORDER BY cluster) FROM ruvector_kmeans('small', 'v', 7)" 2>&1)
				[ "$r" = "$expect" ] || bad=$((bad + 1))
			fi
		done
		echo "$bad" >"$RUVECTOR_TEST_DATA/../conc.$c"
	) &
done
wait
bad=$(cat "$RUVECTOR_TEST_DATA"/../conc.* | awk '{s += $1} END {print s}')
is "$bad" 0 "10 concurrent sessions: every ping and k-means result correct"
is "$(q "SELECT in_flight FROM ruvector_worker_status()")" 0 "no slot leaks after the concurrent run"

# --- shared memory limit: a request over the limit fails cleanly, the worker keeps serving
q "ALTER SYSTEM SET ruvector.shared_memory_limit = '8MB'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" = 8388608 ] && break; sleep 0.1; done
is "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" 8388608 "the worker applies a new limit on reload"
used_before=$(q "SELECT shared_memory_used FROM ruvector_worker_status()")
is "$(sqlstate_of "SELECT count(*) FROM ruvector_kmeans('big', 'v', 10)")" 53200 "a request over the limit fails with SQLSTATE 53200"
psql -X -q -c "SELECT count(*) FROM ruvector_kmeans('big', 'v', 10)" 2>&1 | grep -q "ruvector shared memory limit exceeded"; ok $? "with a clear message"
is "$(q "SELECT shared_memory_used FROM ruvector_worker_status()")" "$used_before" "nothing is left allocated"
is "$(q "SELECT sum(size) FROM ruvector_kmeans('small', 'v', 5)")" 2000 "the worker keeps serving"
q "ALTER SYSTEM RESET ruvector.shared_memory_limit" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null

# --- without shared_preload_libraries: the type works, worker functions say what is missing
np=$(mktemp -d /tmp/ruvector-np.XXXXXX)
[ "$(id -u)" -eq 0 ] && chown "$RUVECTOR_PG_OS_USER" "$np"
as_pg_user "$RUVECTOR_PG_BIN/initdb" -D "$np/db" -A trust -U postgres >/dev/null
np_port=$((PGPORT + 1))
as_pg_user "$RUVECTOR_PG_BIN/pg_ctl" -D "$np/db" -l "$np/log" -o "-c listen_addresses='' -k $np -c port=$np_port" -w start >/dev/null
PGHOST=$np PGPORT=$np_port PGDATABASE=postgres q "CREATE EXTENSION ruvector"
is "$(PGHOST=$np PGPORT=$np_port PGDATABASE=postgres q "SELECT '[1,2]'::vector <-> '[4,6]'")" 5 "the vector type works without preloading"
is "$(PGHOST=$np PGPORT=$np_port PGDATABASE=postgres sqlstate_of "SELECT ruvector_worker_ping()")" 55000 "worker functions fail with 55000"
PGHOST=$np PGPORT=$np_port PGDATABASE=postgres psql -X -q -c "SELECT ruvector_worker_ping()" 2>&1 | grep -q "ruvector must be loaded via shared_preload_libraries"
ok $? "and say that ruvector must be preloaded"
as_pg_user "$RUVECTOR_PG_BIN/pg_ctl" -D "$np/db" -m fast -w stop >/dev/null
rm -rf "$np"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null
done_testing
