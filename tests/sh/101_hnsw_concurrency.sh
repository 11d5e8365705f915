#!/usr/bin/env bash
# ruhnsw under concurrency and vacuum (pgvector's TAP 011, 013, 014, 015, 046, 047): 8 sessions
# inserting into an index built on an empty table, duplicates, delete + VACUUM + insert again
# (recall, no dead rows, slot reuse), the entry point replaced, and INSERT/DELETE/SELECT/VACUUM
# running together. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_hnsw_conc
log_start=$(stat -c %s "$RUVECTOR_TEST_DATA/server.log")
PGBENCH="$RUVECTOR_PG_BIN/pgbench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

q "CREATE TABLE items (id bigserial PRIMARY KEY, v vector(8)) WITH (autovacuum_enabled = false)"
q "CREATE INDEX items_idx ON items USING hnsw (v vector_l2_ops)"
# recall(ef): mean recall@10 of the index against an exact scan, over 50 queries drawn from the rows.
q "CREATE FUNCTION recall(ef int) RETURNS float LANGUAGE plpgsql AS \$\$
DECLARE total float := 0; n int := 0; qv vector; got bigint[]; want bigint[];
BEGIN
	PERFORM set_config('hnsw.ef_search', ef::text, true);
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR qv IN SELECT v FROM items ORDER BY id % 97, id LIMIT 50 LOOP
		got := ARRAY(SELECT id FROM items ORDER BY v <-> qv LIMIT 10);
		want := ARRAY(SELECT id FROM items ORDER BY (v <-> qv) + 0, id LIMIT 10);
		total := total + (SELECT count(*) FROM unnest(got) g WHERE g = ANY (want)) / 10.0;
		n := n + 1;
	END LOOP;
	RETURN total / n;
END \$\$"
plan=$(psql -X -q -At -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10")
echo "$plan" | grep -q "Index Scan using items_idx"; ok $? "the recall queries go through the index"

# --- 8 sessions insert at once into the index built on the empty table
cat >"$tmp/insert.sql" <<'EOF'
INSERT INTO items (v) SELECT ARRAY(SELECT random() FROM generate_series(1, 8) WHERE g > 0)::vector(8) FROM generate_series(1, 5) g;
EOF
"$PGBENCH" -n -c 8 -j 8 -t 100 -f "$tmp/insert.sql" >"$tmp/bench1.log" 2>&1
ok $? "8 sessions insert 4000 rows concurrently without errors"
is "$(q "SELECT count(*) FROM items")" 4000 "all rows are in the table"
is "$(q "SELECT heap_tids FROM ruvector_hnsw_stats('items_idx')")" 4000 "and every row is in the index"
r=$(q "SELECT recall(100)")
echo "# recall@10 after concurrent inserts, ef_search 100: $r"
ok "$(q "SELECT ($r >= 0.95)::int - 1")" "recall@10 >= 0.95 at hnsw.ef_search 100 (got $r)"
# With iterative scans every indexed row is reachable: count through the index = seq scan count.
n_idx=$(psql -X -q -At -c "SET enable_seqscan = off" -c "SET hnsw.ef_search = 1000" -c "SET hnsw.iterative_scan = relaxed_order" \
	-c "SET hnsw.max_scan_tuples = 1000000" -c "SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 100000) s")
is "$n_idx" 4000 "an iterative scan reaches every row inserted concurrently"

# --- duplicates: one element holds up to 10 heap TIDs (pgvector's TAP 015)
q "CREATE TABLE dup (id int, v vector(3))"
q "INSERT INTO dup SELECT i, '[1,1,1]' FROM generate_series(1, 20) i"
q "CREATE INDEX dup_idx ON dup USING hnsw (v vector_l2_ops)"
dups() { psql -X -q -At -c "SET enable_seqscan = off" -c "SET hnsw.ef_search = 1" -c "SELECT count(*) FROM (SELECT id FROM dup ORDER BY v <-> '[1,1,1]') s"; }
is "$(dups)" 10 "20 identical rows, built: ef_search 1 returns exactly 10 rows"
q "TRUNCATE dup"
q "INSERT INTO dup SELECT i, '[1,1,1]' FROM generate_series(1, 20) i"
is "$(dups)" 10 "20 identical rows, inserted: ef_search 1 returns exactly 10 rows"

# --- delete half, VACUUM, insert again
q "DELETE FROM items WHERE id % 2 = 0"
q "VACUUM items"
ok $? "VACUUM after deleting half the rows"
is "$(q "SELECT heap_tids FROM ruvector_hnsw_stats('items_idx')")" 2000 "the index holds the 2000 live rows"
ok "$(q "SELECT (deleted > 0)::int - 1 FROM ruvector_hnsw_stats('items_idx')")" "elements left without rows are freed"
is "$(q "SELECT count(*) FROM pg_class c WHERE relname = 'items_idx' AND reltuples = 2000")" 1 "VACUUM reports the index's tuples to pg_class"
r=$(q "SELECT recall(100)")
ok "$(q "SELECT ($r >= 0.95)::int - 1")" "recall holds after VACUUM (got $r)"
r40=$(q "SELECT recall(40)")
ok "$(q "SELECT ($r40 >= 0.9)::int - 1")" "and at the default ef_search 40 (got $r40)"
# An even id was deleted: none may come back, whichever way the graph is walked.
dead=$(psql -X -q -At -c "SET enable_seqscan = off" -c "SET hnsw.ef_search = 1000" -c "SET hnsw.iterative_scan = strict_order" \
	-c "SET hnsw.max_scan_tuples = 1000000" -c "SELECT count(*) FILTER (WHERE id % 2 = 0) || ' ' || count(*) FROM (SELECT id FROM items ORDER BY v <-> '[0.2,0.4,0.6,0.8,0.2,0.4,0.6,0.8]' LIMIT 100000) s")
is "$dead" "0 2000" "no deleted row is returned, and every live row is"
pages_before=$(q "SELECT pages FROM ruvector_hnsw_stats('items_idx')")
"$PGBENCH" -n -c 8 -j 8 -t 50 -f "$tmp/insert.sql" >"$tmp/bench2.log" 2>&1
ok $? "8 sessions insert 2000 rows again"
pages_after=$(q "SELECT pages FROM ruvector_hnsw_stats('items_idx')")
echo "# pages: $pages_before after vacuum, $pages_after after inserting as many rows as were deleted"
ok "$(q "SELECT ($pages_after <= $pages_before * 1.1)::int - 1")" "the freed slots are reused: the index grows by at most 10% ($pages_before -> $pages_after pages)"
r=$(q "SELECT recall(100)")
ok "$(q "SELECT ($r >= 0.95)::int - 1")" "recall holds after inserting into the vacuumed index (got $r)"

# --- delete everything, vacuum, insert the same amount: the size stays (pgvector's TAP 011)
size1=$(q "SELECT pg_relation_size('items_idx')")
q "CREATE TABLE saved AS SELECT v FROM items"
q "DELETE FROM items"
q "VACUUM items"
is "$(q "SELECT elements || ' ' || coalesce(entry_level, -1) FROM ruvector_hnsw_stats('items_idx')")" "0 -1" \
	"everything deleted and vacuumed: an empty graph"
is "$(psql -X -q -At -c "SET enable_seqscan = off" -c "SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 5) s")" 0 \
	"an empty graph answers nothing"
q "INSERT INTO items (v) SELECT v FROM saved"
size2=$(q "SELECT pg_relation_size('items_idx')")
ok "$(q "SELECT ($size2 <= $size1 * 1.02)::int - 1")" "re-inserting the same rows reuses the slots: size $size1 -> $size2 bytes (at most 2% more)"
r=$(q "SELECT recall(100)")
ok "$(q "SELECT ($r >= 0.95)::int - 1")" "and the rebuilt graph answers (recall $r)"

# --- delete all but one: the entry point is replaced
keep=$(q "SELECT min(id) FROM items")
q "DELETE FROM items WHERE id <> $keep"
q "VACUUM items"
is "$(psql -X -q -At -c "SET enable_seqscan = off" -c "SELECT string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY v <-> '[9,9,9,9,9,9,9,9]' LIMIT 5) s")" "$keep" \
	"after deleting all rows but one and VACUUM, the scan returns that row"
is "$(q "SELECT elements || ' ' || (entry_point IS NOT NULL) FROM ruvector_hnsw_stats('items_idx')")" "1 true" \
	"it is the entry point"

# --- INSERT / DELETE / SELECT / VACUUM together (pgvector's TAP 046, 047)
q "INSERT INTO items (v) SELECT v FROM saved"
cat >"$tmp/del.sql" <<'EOF'
DELETE FROM items WHERE id IN (SELECT id FROM items ORDER BY random() LIMIT 5);
EOF
cat >"$tmp/sel.sql" <<'EOF'
SET enable_seqscan = off;
SELECT id FROM items ORDER BY v <-> ARRAY(SELECT random() FROM generate_series(1, 8))::vector(8) LIMIT 10;
EOF
cat >"$tmp/vac.sql" <<'EOF'
VACUUM items;
EOF
"$PGBENCH" -n -c 6 -j 6 -T 20 -f "$tmp/insert.sql@20" -f "$tmp/del.sql@20" -f "$tmp/sel.sql@10" -f "$tmp/vac.sql@1" \
	>"$tmp/bench3.log" 2>&1
rc=$?
grep -E "ERROR|error" "$tmp/bench3.log" | head -5 | sed 's/^/# /'
ok $rc "INSERT, DELETE, SELECT and VACUUM for 20 s in 6 sessions: no errors"
tail -c +"$((log_start + 1))" "$RUVECTOR_TEST_DATA/server.log" | grep -q "hnsw graph not repaired"; is $? 1 "vacuum never found an element it had not repaired"
q "VACUUM items"
n_seq=$(psql -X -q -At -c "SET enable_indexscan = off" -c "SELECT count(*) FROM items")
n_idx=$(psql -X -q -At -c "SET enable_seqscan = off" -c "SET hnsw.ef_search = 1000" -c "SET hnsw.iterative_scan = relaxed_order" \
	-c "SET hnsw.max_scan_tuples = 1000000" -c "SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 1000000) s")
is "$n_idx" "$n_seq" "afterwards the index reaches every live row ($n_seq)"
r=$(q "SELECT recall(100)")
ok "$(q "SELECT ($r >= 0.95)::int - 1")" "and recall holds (got $r)"

# All rows deleted: scans and a vacuum at once (the scan-lock barrier).
q "DELETE FROM items"
"$PGBENCH" -n -c 4 -j 4 -t 100 -f "$tmp/sel.sql" >"$tmp/bench4.log" 2>&1 &
bench=$!
q "VACUUM items"
vrc=$?
wait $bench
ok $? "scans of an index whose rows are all deleted run while VACUUM frees them"
ok $vrc "and the VACUUM succeeds"

# --- vacuum's repair restores recall on a sparse graph (pgvector's TAP 014: m 4, ef_construction 8,
# 75% deleted), and VACUUM (PARALLEL) gives each of two hnsw indexes its own worker
q "CREATE TABLE sparse (id int PRIMARY KEY, v vector(3)) WITH (autovacuum_enabled = false)"
q "INSERT INTO sparse SELECT i, ARRAY(SELECT random() * random() FROM generate_series(1, 3) WHERE i > 0)::vector(3) FROM generate_series(1, 5000) i"
q "CREATE INDEX sparse_idx ON sparse USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 8)"
q "CREATE INDEX sparse_idx2 ON sparse USING hnsw (v vector_l1_ops) WITH (m = 4, ef_construction = 8)"
q "CREATE FUNCTION sparse_recall(ef int) RETURNS float LANGUAGE plpgsql AS \$\$
DECLARE total float := 0; n int := 0; qv vector; got int[]; want int[];
BEGIN
	PERFORM set_config('hnsw.ef_search', ef::text, true);
	PERFORM set_config('enable_seqscan', 'off', true);
	FOR qv IN SELECT ARRAY[random(), random(), random()]::vector(3) FROM generate_series(1, 50) LOOP
		got := ARRAY(SELECT id FROM sparse ORDER BY v <-> qv LIMIT 20);
		want := ARRAY(SELECT id FROM sparse ORDER BY (v <-> qv) + 0, id LIMIT 20);
		total := total + (SELECT count(*) FROM unnest(got) g WHERE g = ANY (want)) / 20.0;
		n := n + 1;
	END LOOP;
	RETURN total / n;
END \$\$"
q "DELETE FROM sparse WHERE id % 4 <> 0"
before=$(q "SELECT sparse_recall(20)")
vac=$(psql -X -q -At -c "SET client_min_messages = info" -c "VACUUM (PARALLEL 2, VERBOSE) sparse" 2>&1)
ok $? "VACUUM (PARALLEL 2) of a table with two hnsw indexes"
echo "$vac" | grep -q "launched 1 parallel vacuum worker"; ok $? "one index was vacuumed by a parallel worker"
after=$(q "SELECT sparse_recall(20)")
echo "# recall@20 at ef_search 20 with 75% deleted: $before before VACUUM, $after after"
ok "$(q "SELECT ($after >= 0.95)::int - 1")" "after VACUUM recall@20 >= 0.95 at ef_search 20 (got $after)"
ok "$(q "SELECT ($after > $before)::int - 1")" "VACUUM raised recall ($before -> $after)"
is "$(q "SELECT (SELECT heap_tids FROM ruvector_hnsw_stats('sparse_idx')) || ' ' || (SELECT heap_tids FROM ruvector_hnsw_stats('sparse_idx2'))")" \
	"1250 1250" "both indexes lost their dead rows"

# --- halfvec, bit and cosine indexes of an unlogged table: the same vacuum
q "CREATE UNLOGGED TABLE kinds (id int PRIMARY KEY, h halfvec(6), b bit(40), c vector(6)) WITH (autovacuum_enabled = false)"
q "INSERT INTO kinds SELECT i, ARRAY(SELECT random() FROM generate_series(1, 6) WHERE i > 0)::halfvec(6),
	(SELECT string_agg(CASE WHEN random() < 0.5 THEN '1' ELSE '0' END, '') FROM generate_series(1, 40) WHERE i > 0)::bit(40),
	ARRAY(SELECT random() - 0.5 FROM generate_series(1, 6) WHERE i > 0)::vector(6) FROM generate_series(1, 2000) i"
q "CREATE INDEX kinds_h ON kinds USING hnsw (h halfvec_l2_ops)"
q "CREATE INDEX kinds_b ON kinds USING hnsw (b bit_hamming_ops)"
q "CREATE INDEX kinds_c ON kinds USING hnsw (c vector_cosine_ops)"
q "DELETE FROM kinds WHERE id % 3 <> 0"
q "VACUUM kinds"
ok $? "VACUUM of halfvec, bit and cosine hnsw indexes on an unlogged table"
for order in "h <-> '[0.5,0.5,0.5,0.5,0.5,0.5]'" "b <~> B'1010101010101010101010101010101010101010'" "c <=> '[0.5,-0.5,0.5,0.5,0.5,0.5]'"; do
	is "$(psql -X -q -At -c "SET enable_seqscan = off" -c "SET hnsw.ef_search = 1000" -c "SET hnsw.iterative_scan = relaxed_order" \
		-c "SET hnsw.max_scan_tuples = 1000000" \
		-c "SELECT count(DISTINCT id) || ' ' || count(*) FILTER (WHERE id % 3 <> 0) FROM (SELECT id FROM kinds ORDER BY $order LIMIT 100000) s")" \
		"666 0" "ORDER BY ${order%% *} ...: every live row through the vacuumed index, no deleted one"
done
is "$(q "SELECT string_agg(deleted::text || '/' || heap_tids, ' ') FROM (SELECT (ruvector_hnsw_stats(i)).* FROM unnest(ARRAY['kinds_h', 'kinds_b', 'kinds_c']::regclass[]) i) s")" \
	"1334/666 1334/666 1334/666" "each index freed the deleted rows' elements"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
done_testing
