#!/usr/bin/env bash
# A failed graph build leaves nothing in the worker's shared store: its vectors (a scratch entry)
# are released on an error, a cancel (statement_timeout), an error trapped in a subtransaction and
# when the building backend is terminated, so later large requests still fit under a small
# ruvector.shared_memory_limit. Prints TAP.
. "$(dirname "$0")/lib.sh"

export PGDATABASE=ruvector_leaks
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $PGDATABASE" -c "CREATE DATABASE $PGDATABASE" >/dev/null 2>&1
q "CREATE EXTENSION ruvector"
# 20000 x 128 floats: 10.24 MB of vectors, the size of the request in the report.
q "CREATE TABLE t (id bigint PRIMARY KEY, v vector(128))"
q "INSERT INTO t SELECT i, ARRAY(SELECT ((i::bigint * d * 7919) % 1000)::real / 1000 FROM generate_series(1, 128) d)::vector FROM generate_series(1, 20000) i"

scratch() { q "SELECT count(*) FROM ruvector_store_entries() WHERE kind = 3"; }
used() { q "SELECT shared_memory_used FROM ruvector_worker_status()"; }
# Until the worker has dropped every scratch entry (it does so once the slot is idle), at most 10 s.
wait_released() {
	for _ in $(seq 1 100); do
		[ "$(scratch)" = 0 ] && [ "$(used)" = "$base" ] && return 0
		sleep 0.1
	done
	return 1
}

q "ALTER SYSTEM SET ruvector.shared_memory_limit = '32MB'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" = 33554432 ] && break; sleep 0.1; done
base=$(used)

# --- an error after the vectors went to the store (the edge table cannot be created)
is "$(sqlstate_of "SELECT ruvector_build_knn_graph('t', 'v', 'nosuchschema.x', 1)")" 3F000 "k-NN build into a missing schema fails"
wait_released; ok $? "its vectors leave the shared store (scratch entries: $(scratch), bytes in use: $(used), before: $base)"
is "$(sqlstate_of "SELECT ruvector_build_eps_graph('t', 'v', 'nosuchschema.y', 0.1)")" 3F000 "epsilon build into a missing schema fails"
wait_released; ok $? "its vectors leave the shared store too"
for i in 1 2 3; do sqlstate_of "SELECT ruvector_build_knn_graph('t', 'v', 'nosuchschema.x', 1)" >/dev/null; done
wait_released; ok $? "three more failed builds leave nothing behind"

# --- an error trapped in a subtransaction: the session goes on, the vectors do not stay
out=$(psql -X -q -At -v ON_ERROR_STOP=1 \
	-c "DO \$\$ BEGIN PERFORM ruvector_build_knn_graph('t', 'v', 'nosuchschema.x', 1); EXCEPTION WHEN invalid_schema_name THEN NULL; END \$\$" \
	-c "SELECT count(*) FROM ruvector_store_entries() WHERE kind = 3" 2>&1)
wait_released; ok $? "an error caught by an exception block releases them (same session saw: $out)"

# --- cancel through statement_timeout while the worker computes
is "$(sqlstate_of "SET statement_timeout = '2s'; SELECT ruvector_build_knn_graph('t', 'v', 't_knn', 10)")" 57014 "statement_timeout cancels a k-NN build"
wait_released; ok $? "the cancelled build's vectors are released"
is "$(q "SELECT to_regclass('t_knn') IS NULL")" t "and its edge table is rolled back"

# --- the building backend is terminated mid-build
psql -X -q -At -c "SELECT ruvector_build_knn_graph('t', 'v', 't_knn_term', 10)" >/dev/null 2>&1 &
bg=$!
for _ in $(seq 1 300); do [ "$(scratch)" = 1 ] && break; sleep 0.1; done
is "$(scratch)" 1 "a running build holds its vectors in the store"
pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%t_knn_term%' AND pid <> pg_backend_pid() LIMIT 1")
is "$(q "SELECT pg_terminate_backend($pid)")" t "the building backend is terminated"
wait $bg
wait_released; ok $? "its vectors are released when the backend exits"

# --- nothing is running and nothing leaked: a 10 MB request fits under the 32 MB limit
is "$(q "SELECT in_flight FROM ruvector_worker_status()")" 0 "nothing is running"
is "$(q "SELECT sum(size) FROM ruvector_kmeans('t', 'v', 4, 2)")" 20000 "a 10 MB k-means request succeeds under the 32 MB limit"
is "$(q "SELECT ruvector_build_knn_graph('t', 'v', 't_knn_ok', 2, exact => true)")" 40000 "and so does a complete k-NN build"
wait_released; ok $? "which releases its vectors when it is done"

q "ALTER SYSTEM RESET ruvector.shared_memory_limit" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
done_testing
