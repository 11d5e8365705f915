#!/usr/bin/env bash
# Long graph builds: progress NOTICEs, and cancel mid-build leaves nothing behind. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_gbuild
q "CREATE TABLE pts (id bigint PRIMARY KEY, v vector(32))"
q "INSERT INTO pts SELECT i, ARRAY(SELECT ((i::bigint * d * 7919) % 1000)::real / 1000 FROM generate_series(1, 32) d)::vector FROM generate_series(1, 20000) i"

out=$(psql -X -q -At -c "SET ruvector.progress_interval = 0" -c "SELECT ruvector_build_knn_graph('pts', 'v', 'knn', 5)" 2>&1)
echo "$out" | grep -q "NOTICE:  k-NN graph: 4096 of 20000 nodes, 20480 edges"; ok $? "progress is reported as the build goes"
is "$(echo "$out" | tail -1)" 100000 "and the build completes (20000 x 5 edges)"

# A build big enough to be interrupted: cancel through statement_timeout.
q "CREATE TABLE big AS SELECT i AS id, ARRAY(SELECT ((i::bigint * d * 7919) % 1000)::real / 1000 FROM generate_series(1, 64) d)::vector(64) AS v FROM generate_series(1, 120000) i"
t0=$(now_ms)
is "$(sqlstate_of "SET statement_timeout = '1s'; SELECT ruvector_build_knn_graph('big', 'v', 'big_knn', 10)")" 57014 "statement_timeout cancels a k-NN build mid-way"
t1=$(now_ms)
[ $((t1 - t0)) -lt 5000 ]; ok $? "promptly ($((t1 - t0)) ms)"
is "$(q "SELECT to_regclass('big_knn') IS NULL")" t "the half-built edge table is rolled back"
for _ in $(seq 1 50); do [ "$(q "SELECT in_flight FROM ruvector_worker_status()")" = 0 ] && break; sleep 0.1; done
is "$(q "SELECT in_flight FROM ruvector_worker_status()")" 0 "the worker drops the cancelled job and is idle again"
is "$(q "SELECT ruvector_build_knn_graph('pts', 'v', 'knn_again', 1)")" 20000 "and serves the next build"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
done_testing
