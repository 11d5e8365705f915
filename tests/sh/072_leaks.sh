#!/usr/bin/env bash
# A failed request leaves nothing in the worker's shared store. A graph build's vectors (a scratch
# entry) are released on an error, a cancel (statement_timeout), an error trapped in a
# subtransaction and when the building backend is terminated; the centroids a CREATE INDEX
# published go when its (sub)transaction rolls back. Later large requests still fit under a small
# ruvector.shared_memory_limit. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_leaks
# 20000 x 128 floats: 10.24 MB of vectors, the size of the request in the report.
q "CREATE TABLE t (id bigint PRIMARY KEY, v vector(128))"
q "INSERT INTO t SELECT i, ARRAY(SELECT ((i::bigint * d * 7919) % 1000)::real / 1000 FROM generate_series(1, 128) d)::vector FROM generate_series(1, 20000) i"

entries() { q "SELECT count(*) FROM ruvector_store_entries() WHERE kind = $1"; }
scratch() { entries 3; }
used() { q "SELECT shared_memory_used FROM ruvector_worker_status()"; }
# Until the worker holds no entry of kind KIND and is back to the base usage, at most 10 s (it
# drops a scratch entry once the slot is idle).
wait_gone() {  # wait_gone KIND
	for _ in $(seq 1 100); do
		[ "$(entries "$1")" = 0 ] && [ "$(used)" = "$base" ] && return 0
		sleep 0.1
	done
	return 1
}
wait_released() { wait_gone 3; }

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

# --- a block reply that does not decode (ruvector.debug_fault): a clean 08P01, and the same release
is "$(sqlstate_of "SET ruvector.debug_fault = 'corrupt_reply:graph_build'; SELECT ruvector_build_knn_graph('t', 'v', 't_knn_bad', 1)")" 08P01 "a corrupt k-NN block reply is a protocol violation"
wait_released; ok $? "and the build's vectors are released"
is "$(sqlstate_of "SET ruvector.debug_fault = 'truncated_reply:graph_build'; SELECT ruvector_build_eps_graph('t', 'v', 't_eps_bad', 0.1)")" 08P01 "an epsilon block reply that fails decoding too"
wait_released; ok $? "and the build's vectors are released"

# --- an error trapped in a subtransaction: the session goes on, the vectors do not stay
out=$(psql -X -q -At -v ON_ERROR_STOP=1 \
	-c "DO \$\$ BEGIN PERFORM ruvector_build_knn_graph('t', 'v', 'nosuchschema.x', 1); EXCEPTION WHEN invalid_schema_name THEN NULL; END \$\$" \
	-c "SELECT count(*) FROM ruvector_store_entries() WHERE kind = 3" 2>&1)
wait_released; ok $? "an error caught by an exception block releases them (same session saw: $out)"

# --- cancel through statement_timeout while the worker computes (l1: no matrix products; 40000
# rows are 1.6e9 pairs, tens of seconds, so the timeout always comes first; 20 MB fits the limit)
q "CREATE TABLE t_big AS SELECT id, v FROM t UNION ALL SELECT id + 20000, v + v FROM t"
is "$(sqlstate_of "SET statement_timeout = '2s'; SELECT ruvector_build_knn_graph('t_big', 'v', 't_knn', 10, 'l1')")" 57014 "statement_timeout cancels a k-NN build"
wait_released; ok $? "the cancelled build's vectors are released"
is "$(q "SELECT to_regclass('t_knn') IS NULL")" t "and its edge table is rolled back"
q "DROP TABLE t_big"

# --- the building backend is terminated mid-build
psql -X -q -At -c "SELECT ruvector_build_knn_graph('t', 'v', 't_knn_term', 10, 'l1')" >/dev/null 2>&1 &
bg=$!
for _ in $(seq 1 300); do [ "$(scratch)" = 1 ] && break; sleep 0.1; done
is "$(scratch)" 1 "a running build holds its vectors in the store"
for _ in $(seq 1 100); do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%t_knn_term%' AND pid <> pg_backend_pid() LIMIT 1")
	[ -n "$pid" ] && break
	sleep 0.1
done
is "$(q "SELECT pg_terminate_backend($pid)")" t "the building backend is terminated"
wait $bg
wait_released; ok $? "its vectors are released when the backend exits"

# --- the centroids a rolled-back CREATE INDEX published (the build warms the shared cache)
q "CREATE TABLE s AS SELECT id, v FROM t WHERE id <= 2000"
cents() { entries 1; }
wait_no_centroids() { wait_gone 1; }
inside=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "BEGIN" -c "CREATE INDEX s_rb ON s USING ruivfflat (v) WITH (lists = 8)" \
	-c "SELECT count(*) FROM ruvector_store_entries() WHERE kind = 1" -c "ROLLBACK" 2>&1)
is "$inside" 1 "a CREATE INDEX publishes its centroids inside its transaction"
wait_no_centroids; ok $? "a ROLLBACK drops them (entries: $(cents))"
psql -X -q -At -v ON_ERROR_STOP=1 -c "BEGIN" -c "SAVEPOINT a" -c "CREATE INDEX s_sp ON s USING ruivfflat (v) WITH (lists = 8)" \
	-c "ROLLBACK TO a" -c "COMMIT" >/dev/null 2>&1
wait_no_centroids; ok $? "so does ROLLBACK TO SAVEPOINT"
psql -X -q -At -v ON_ERROR_STOP=1 -c "BEGIN" -c "SAVEPOINT a" -c "CREATE INDEX s_ok ON s USING ruivfflat (v) WITH (lists = 8)" \
	-c "RELEASE a" -c "COMMIT" >/dev/null 2>&1
sleep 0.5
is "$(q "SELECT count(*) FROM ruvector_store_entries() WHERE kind = 1 AND object = 's_ok'::regclass")" 1 "a committed one keeps them"
is "$(q "SELECT centroid_cache FROM ruvector_ivfflat_stats('s_ok')")" shared "and scans use them"
q "DROP INDEX s_ok"
wait_no_centroids; ok $? "DROP INDEX drops them"
psql -X -q -At -c "BEGIN" -c "CREATE INDEX s_term ON s USING ruivfflat (v) WITH (lists = 8)" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
bg=$!
for _ in $(seq 1 300); do [ "$(cents)" = 1 ] && break; sleep 0.1; done
for _ in $(seq 1 100); do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid() LIMIT 1")
	[ -n "$pid" ] && break
	sleep 0.1
done
is "$(q "SELECT pg_terminate_backend($pid)")" t "a backend terminated inside the CREATE INDEX transaction"
wait $bg
wait_no_centroids; ok $? "leaves no centroids behind"

# --- DROP DATABASE takes its entries along (no hook fires for the indexes inside it)
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ruvector_leaks_b" -c "CREATE DATABASE ruvector_leaks_b" >/dev/null 2>&1
PGDATABASE=ruvector_leaks_b q "CREATE EXTENSION ruvector"
PGDATABASE=ruvector_leaks_b q "CREATE TABLE s (id int, v vector(3))"
PGDATABASE=ruvector_leaks_b q "INSERT INTO s SELECT i, ARRAY[i % 7, i % 5, i % 3]::real[]::vector(3) FROM generate_series(1, 500) i"
PGDATABASE=ruvector_leaks_b q "CREATE INDEX ON s USING ruivfflat (v) WITH (lists = 4)"
PGDATABASE=ruvector_leaks_b q "SELECT ruvector_store_put(12345, 7, 1, decode(repeat('ab', 100000), 'hex'))" >/dev/null
[ "$(used)" -gt "$base" ]; ok $? "another database's index and entry use shared memory ($(used) bytes)"
psql -X -q -d postgres -c "DROP DATABASE ruvector_leaks_b" >/dev/null 2>&1
wait_released; ok $? "dropping that database releases them (bytes in use: $(used), before: $base)"

# --- GNN replies: the worker writes each into its DSA area and the reading session frees it, on
# success, on an error while its rows are read, and when the reply frame does not decode
q "CREATE TABLE gn AS SELECT id, v AS embedding FROM t WHERE id <= 5000"
q "CREATE TABLE ge AS SELECT i::bigint AS src_id, (i % 5000 + 1)::bigint AS dst_id FROM generate_series(1, 5000) i"
q "SELECT ruvector_gnn_model_create('leak_gcn', 'gcn', ARRAY[128, 64], '{}'::jsonb, 42)" >/dev/null
q "SELECT ruvector_graph_create('leak_g', 'gn', 'ge')" >/dev/null
q "SELECT count(*) FROM ruvector_gnn_forward('leak_gcn', 'leak_g')" >/dev/null  # caches the graph
gbase=$(used)
is "$(q "SELECT count(*) FROM ruvector_gnn_forward('leak_gcn', 'leak_g')")" 5000 "a GNN forward pass on the cached graph"
is "$(used)" "$gbase" "its reply is freed with the statement"
is "$(sqlstate_of "SELECT count(*) FROM ruvector_gnn_forward('leak_gcn', 'leak_g') WHERE 1 / (node_id - 2500) > 0")" 22012 \
	"an error while its rows are read"
is "$(used)" "$gbase" "frees the reply too"
is "$(sqlstate_of "SET ruvector.debug_fault = 'corrupt_reply:gnn_forward'; SELECT count(*) FROM ruvector_gnn_forward('leak_gcn', 'leak_g')")" \
	08P01 "a GNN reply that does not decode is a protocol violation"
is "$(used)" "$gbase" "and the reply the worker wrote is freed (bytes in use: $(used), before: $gbase)"
q "SELECT ruvector_graph_drop('leak_g')" >/dev/null

# --- the request input segment a session keeps between its GNN calls (8 MB up to an eighth of the
# limit: 128 MB here): counted while kept, reused by the next call, dropped when a request fails
# (an error, one trapped in a subtransaction) and when the session ends or is terminated
q "ALTER SYSTEM SET ruvector.shared_memory_limit = '128MB'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" = 134217728 ] && break; sleep 0.1; done
# 8000 x 256 floats: an 8.3 MB request
q "CREATE TABLE kn AS SELECT i::bigint AS id, ARRAY(SELECT ((i::bigint * d * 7919) % 1000)::real / 1000 FROM generate_series(1, 256) d)::vector(256) AS embedding FROM generate_series(1, 8000) i"
q "CREATE TABLE ke AS SELECT i::bigint AS src_id, (i % 8000 + 1)::bigint AS dst_id FROM generate_series(1, 8000) i"
q "SELECT ruvector_gnn_model_create('keep_gcn', 'gcn', ARRAY[256, 64], '{}'::jsonb, 42)" >/dev/null
kbase=$(used)
fwd="SELECT count(*) FROM ruvector_gnn_forward('keep_gcn', 'kn', 'ke')"
usedq="SELECT shared_memory_used FROM ruvector_worker_status()"
wait_used() {  # wait_used BYTES: until shared_memory_used is BYTES, at most 10 s
	for _ in $(seq 1 100); do [ "$(used)" = "$1" ] && return 0; sleep 0.1; done
	return 1
}
mapfile -t seen < <(psql -X -q -At -c "$fwd" -c "$usedq" -c "$fwd" -c "$usedq" \
	-c "SET ruvector.debug_fault = 'corrupt_reply:gnn_forward'" -c "$fwd" -c "RESET ruvector.debug_fault" -c "$usedq" \
	-c "$fwd" -c "$usedq" -c "SET ruvector.debug_fault = 'corrupt_reply:gnn_forward'" \
	-c "DO \$\$ BEGIN PERFORM count(*) FROM ruvector_gnn_forward('keep_gcn', 'kn', 'ke'); EXCEPTION WHEN protocol_violation THEN NULL; END \$\$" \
	-c "RESET ruvector.debug_fault" -c "$usedq" 2>/dev/null)
is "${seen[0]}/${seen[2]}" 8000/8000 "two table-form GNN calls in one session"
[ "${seen[1]}" -ge $((kbase + 8 * 1024 * 1024)) ]; ok $? "the session keeps the first call's input segment, counted (${seen[1]} bytes in use, before: $kbase)"
is "${seen[3]}" "${seen[1]}" "the second call reuses it: no second segment"
gseg=$(( ${seen[1]} - kbase ))  # the GNN call's segment
is "${seen[4]}" "$kbase" "a call whose reply fails to decode drops it"
[ "${seen[6]}" -gt "$kbase" ]; ok $? "the next call keeps one again"
is "${seen[7]}" "$kbase" "an error trapped in a subtransaction drops it too"
wait_used "$kbase"; ok $? "the session's end releases what it kept (bytes in use: $(used), before: $kbase)"
# a cancel (statement_timeout) while the worker runs a request whose input is in the kept segment:
# a k-means call keeps its 10 MB input segment, an HNSW build's 10 MB of rows (20000 distinct ones)
# then go into it and the build (m 48, ef_construction 800: tens of seconds) is cancelled
q "CREATE TABLE th AS SELECT id, (v + array_fill((id % 997)::real / 997, ARRAY[128])::vector)::vector(128) AS v FROM t"
kerr=$(mktemp)
mapfile -t seen < <(psql -X -q -At -c "SELECT count(*) FROM ruvector_kmeans('th', 'v', 4, 2)" -c "$usedq" \
	-c "SET statement_timeout = '2s'" -c "CREATE INDEX th_hnsw_cancel ON th USING ruhnsw (v vector_l2_ops) WITH (m = 48, ef_construction = 800)" \
	-c "RESET statement_timeout" -c "$usedq" 2>"$kerr")
[ "${seen[1]}" -ge $((kbase + 9 * 1024 * 1024)) ]; ok $? "a k-means call keeps its 10 MB input segment too (${seen[1]} bytes in use)"
grep -q "canceling statement due to statement timeout" "$kerr"; ok $? "statement_timeout cancels an HNSW build while the worker runs it"
is "${seen[2]}" "$kbase" "and the segment it was using is dropped"
rm -f "$kerr"
wait_used "$kbase"; ok $? "nothing stays after that session (bytes in use: $(used), before: $kbase)"
psql -X -q -At -c "$fwd" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
bg=$!
for _ in $(seq 1 300); do [ "$(used)" -gt "$kbase" ] && break; sleep 0.1; done
for _ in $(seq 1 100); do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid() LIMIT 1")
	[ -n "$pid" ] && break
	sleep 0.1
done
[ "$(used)" -gt "$kbase" ]; ok $? "a session idle after a call holds its segment"
is "$(q "SELECT pg_terminate_backend($pid)")" t "that backend is terminated"
wait $bg
wait_used "$kbase"; ok $? "and its segment is released (bytes in use: $(used), before: $kbase)"
# all sessions together keep at most a quarter of the limit (32 MB): three idle sessions keep their
# 8.3 MB segments, a fourth one's call succeeds without keeping its own
seg=$gseg
pids=()
for i in 1 2 3; do
	psql -X -q -At -c "$fwd" -c "SELECT pg_sleep(60) /* kept_$i */" >/dev/null 2>&1 &
	pids+=($!)
done
for _ in $(seq 1 300); do [ "$(used)" = $((kbase + 3 * seg)) ] && break; sleep 0.1; done
is "$(used)" $((kbase + 3 * seg)) "three idle sessions keep a segment each"
mapfile -t seen < <(psql -X -q -At -c "$fwd" -c "$usedq" 2>/dev/null)
is "${seen[0]}/${seen[1]}" "8000/$((kbase + 3 * seg))" "a fourth session's call succeeds and keeps none (a quarter of the limit is kept already)"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60) /* kept_%' AND pid <> pg_backend_pid()" >/dev/null
wait "${pids[@]}"
wait_used "$kbase"; ok $? "their segments are released when they are terminated (bytes in use: $(used), before: $kbase)"
q "ALTER SYSTEM SET ruvector.shared_memory_limit = '32MB'" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q "SELECT shared_memory_limit FROM ruvector_worker_status()")" = 33554432 ] && break; sleep 0.1; done

# --- nothing is running and nothing leaked: a 10 MB request fits under the 32 MB limit
is "$(q "SELECT in_flight FROM ruvector_worker_status()")" 0 "nothing is running"
is "$(q "SELECT sum(size) FROM ruvector_kmeans('t', 'v', 4, 2)")" 20000 "a 10 MB k-means request succeeds under the 32 MB limit"
is "$(q "SELECT ruvector_build_knn_graph('t', 'v', 't_knn_ok', 2, exact => true)")" 40000 "and so does a complete k-NN build"
wait_released; ok $? "which releases its vectors when it is done"

q "ALTER SYSTEM RESET ruvector.shared_memory_limit" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
done_testing
