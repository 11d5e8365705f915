#!/bin/bash
# ruhnsw recall@10 against an exact scan on clustered data, for every vector opclass, for a built
# index and for one built empty then filled by inserts (from four sessions at once); CREATE INDEX
# CONCURRENTLY while rows are inserted.
. "$(dirname "$0")/lib.sh"

fresh_db hnsw_recall
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT setseed(0.5);
CREATE TABLE centers AS
	SELECT c, (SELECT array_agg((random() * 20 - 10)::real) FROM generate_series(1, 16) d WHERE c > 0) AS x
	FROM generate_series(1, 40) c;
CREATE TABLE items (id int PRIMARY KEY, v vector(16));
INSERT INTO items
	SELECT i, (SELECT array_agg(x[d] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 16) d)::vector(16)
	FROM generate_series(1, 3000) i JOIN centers ON c = 1 + i % 40;
CREATE TABLE queries AS
	SELECT q AS qid, (SELECT array_agg(x[d] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 16) d)::vector(16) AS v
	FROM generate_series(1, 40) q JOIN centers ON c = 1 + (q * 7) % 40;
-- recall@10 of table t's index for operator op at hnsw.ef_search ef (ties count as hits: compared by distance).
CREATE FUNCTION recall(t text, op text, qt text DEFAULT 'queries', ef int DEFAULT 100) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE r record; a float8[]; b float8[]; hits int := 0; total int := 0;
BEGIN
	FOR r IN EXECUTE format('SELECT v FROM %I', qt) LOOP
		SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = on;
		EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM %I ORDER BY 1 LIMIT 10) s', op, t) INTO a USING r.v;
		SET LOCAL enable_indexscan = on; SET LOCAL enable_seqscan = off; PERFORM set_config('hnsw.ef_search', ef::text, true);
		EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM %I ORDER BY v %s $1 LIMIT 10) s', op, t, op) INTO b USING r.v;
		hits := hits + (SELECT count(*) FROM unnest(b) x WHERE x <= a[10] + abs(a[10]) * 1e-6 + 1e-9);
		total := total + 10;
	END LOOP;
	RETURN round(hits::numeric / total, 3);
END $$;
SQL

for oc in "vector_l2_ops <->" "vector_ip_ops <#>" "vector_cosine_ops <=>" "vector_l1_ops <+>"; do
	set -- $oc
	q "CREATE INDEX items_idx ON items USING hnsw (v $1)"
	r=$(q "SELECT recall('items', '$2')")
	echo "# $1 built: recall@10 = $r"
	is "$(q "SELECT $r >= 0.95")" t "$1: recall@10 of a built index >= 0.95 (got $r)"
	q "DROP INDEX items_idx"

	# Built empty, then filled by four sessions at once.
	q "SET client_min_messages = warning; DROP TABLE IF EXISTS grown; CREATE TABLE grown (id int, v vector(16))"
	q "CREATE INDEX grown_idx ON grown USING hnsw (v $1)"
	for s in 0 1 2 3; do
		psql -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO grown SELECT id, v FROM items WHERE id % 4 = $s" &
	done
	wait
	r=$(q "SELECT recall('grown', '$2')")
	echo "# $1 filled by inserts: recall@10 = $r"
	is "$(q "SELECT $r >= 0.95")" t "$1: recall@10 of an index filled by 4 concurrent sessions >= 0.95 (got $r)"
	# An iterative scan reaches every element (not under inner product, which is no metric: an element
	# that is no one's nearest may have no in-links, as in pgvector).
	# At least 99.7% of them (pgvector's TAP 016 allows 997 of 1000: concurrent inserts may prune a
	# node from every list that linked to it).
	if [ "$2" != "<#>" ]; then
		got=$(q "SET hnsw.iterative_scan = relaxed_order; SET enable_seqscan = off;
			SELECT count(DISTINCT id) || ' ' || count(*) FROM (SELECT id FROM grown ORDER BY v $2 (SELECT v FROM queries WHERE qid = 1) LIMIT 5000) s")
		read -r d c <<<"$got"
		ok "$([ "$d" = "$c" ] && [ $((d * 1000)) -ge 2991000 ] && [ "$d" -le 3000 ]; echo $?)" \
			"$1: concurrently inserted rows reached once, >= 99.7% of 3000 (distinct, all: $got)"
	fi
done

# A build whose graph outgrows maintenance_work_mem: the first rows are built by the worker, the
# rest inserted on disk (pgvector's notice); the two parts form one graph. The rows are in cluster
# order, as a table loaded cluster by cluster: inserted in that order by pgvector's algorithm (one
# greedy path to the layer searched), a cluster's first rows linked only to a neighbouring
# cluster, its later rows never found them, and queries found one part of the cluster (1 build in
# 6-8 below 0.95 here, as low as 0.80).
q "CREATE TABLE wide AS SELECT i AS id, (SELECT array_agg(x[1 + (d % 16)] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 128) d)::vector(128) AS v
	FROM generate_series(1, 2000) i JOIN centers ON c = 1 + i % 40 ORDER BY c, i"
q "CREATE TABLE wide_queries AS SELECT v FROM wide WHERE id % 50 = 0"
out=$(psql -X -v ON_ERROR_STOP=1 -c "SET maintenance_work_mem = '1MB'" -c "CREATE INDEX wide_idx ON wide USING hnsw (v vector_l2_ops)" 2>&1)
[[ "$out" == *"NOTICE:  hnsw graph no longer fits into maintenance_work_mem after "*" tuples"* ]]
ok $? "maintenance_work_mem 1MB: pgvector's notice (got: $(echo "$out" | grep NOTICE))"
r=$(q "SELECT recall('wide', '<->', 'wide_queries')")
is "$(q "SELECT $r >= 0.95")" t "and recall@10 >= 0.95 (got $r)"
# (A worker-built graph can leave a rare element with no way in: 99% at least.)
is "$(q "SET hnsw.iterative_scan = relaxed_order; SET enable_seqscan = off;
	SELECT count(DISTINCT id) >= 1980 FROM (SELECT id FROM wide ORDER BY v <-> (SELECT v FROM wide WHERE id = 7) LIMIT 5000) s")" t \
	"the rows built and the rows inserted form one graph"
# The same rows built by the worker alone: it inserts them in a random order, so every cluster stays
# whole (in the table's order, recall@10 over all rows at ef_search 40 was 0.94-0.97).
q "DROP INDEX wide_idx"
q "CREATE INDEX wide_idx ON wide USING hnsw (v vector_l2_ops)"
r=$(q "SELECT recall('wide', '<->', 'wide', 40)")
is "$(q "SELECT $r >= 0.99")" t "cluster-ordered rows built by the worker: recall@10 over all rows at ef_search 40 >= 0.99 (got $r)"

# CREATE INDEX CONCURRENTLY while another session inserts.
q "DROP TABLE grown"
psql -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO items SELECT id + 10000, v FROM items WHERE id <= 500" >/dev/null 2>&1 &
err=$(psql -X -q -v ON_ERROR_STOP=1 -c "CREATE INDEX CONCURRENTLY items_cic ON items USING hnsw (v vector_l2_ops)" 2>&1)
wait
is "$err" "" "CREATE INDEX CONCURRENTLY builds"
is "$(q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_cic'::regclass")" t "the concurrently built index is valid"
r=$(q "SELECT recall('items', '<->')")
is "$(q "SELECT $r >= 0.95")" t "and its recall@10 >= 0.95 (got $r)"
# Every row is in the index; an iterative scan reaches at least 99% of them (a worker-built graph
# can leave a rare element with no way in; one seen run reached 3475 of 3500).
n=$(q "SET hnsw.iterative_scan = relaxed_order; SET enable_seqscan = off;
	SELECT count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 10000) s")
is "$(q "SELECT $n >= 0.99 * count(*) FROM items")" t "an iterative scan reaches at least 99% of the rows ($n of $(q "SELECT count(*) FROM items"))"

# The same build on 1 and on 2 worker threads (ruvector.worker_threads needs a restart): the graphs
# differ a little (rows are inserted in another interleaving), recall within 0.01 (issue 16). On
# these rows (40 separated clusters) 2-thread builds were 0.008-0.013 below 1-thread ones until
# the kernel linked a new node top-down (a node reached through an upper layer before its layer-0
# list was written; see HnswGraph.ParallelBuildReachesEveryNode).
restore_threads() {
	q "ALTER SYSTEM RESET ruvector.worker_threads" >/dev/null 2>&1
	pg_ctl_test restart >/dev/null 2>&1
	wait_for_worker
}
trap restore_threads EXIT
q "SELECT setseed(0.25); CREATE TABLE many AS SELECT i AS id, (SELECT array_agg(x[d] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 16) d)::vector(16) AS v
	FROM generate_series(1, 20000) i JOIN centers ON c = 1 + i % 40"
q "SELECT setseed(0.75); CREATE TABLE many_queries AS SELECT q AS qid, (SELECT array_agg(x[d] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 16) d)::vector(16) AS v
	FROM generate_series(1, 1000) q JOIN centers ON c = 1 + (q * 7) % 40"
# (On noisier 32-dimensional rows, recall 0.92-0.94, builds on the same thread count differed by up
# to 0.018.)
declare -A threads_recall
for t in 1 2; do
	q "ALTER SYSTEM SET ruvector.worker_threads = $t" >/dev/null
	pg_ctl_test restart >/dev/null 2>&1
	wait_for_worker
	is "$(q "SELECT threads FROM ruvector_worker_status()")" "$t" "the worker runs $t compute thread(s)"
	q "CREATE INDEX many_idx ON many USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32)"
	threads_recall[$t]=$(q "SELECT recall('many', '<->', 'many_queries', 20)")
	echo "# built on $t thread(s): recall@10 at ef_search 20 = ${threads_recall[$t]}"
	q "DROP INDEX many_idx"
done
r1=${threads_recall[1]} r2=${threads_recall[2]}
echo "# recall on 2 threads minus recall on 1: $(q "SELECT $r2 - $r1")"
is "$(q "SELECT abs($r1 - $r2) <= 0.01 AND $r1 >= 0.9")" t "recall on 1 and on 2 worker threads within 0.01 ($r1, $r2)"
restore_threads
trap - EXIT

done_testing
