#!/usr/bin/env bash
# ruivfflat with quantizer = rabitq across statements that cannot run in a pgTAP transaction: VACUUM
# removes the entries (codes) of deleted rows, inserts reuse the space, and after a crash the
# index (WAL replay of the code pages; the rotation's seed in the meta page) answers as a seq scan.
# Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_rabitq_ivf

q "CREATE TABLE s (id int PRIMARY KEY, v vector(24))"
q "INSERT INTO s SELECT i, ARRAY(SELECT (((i % 40) * 7 + d * 13) % 41)::real / 8 + ((i * 31 + d * 17) % 100) / 400.0 FROM generate_series(1, 24) d)::vector(24) FROM generate_series(1, 5000) i"
q "CREATE INDEX s_idx ON s USING ruivfflat (v vector_l2_ops) WITH (lists = 20, quantizer = rabitq)"
Q="(SELECT v FROM s WHERE id = 777)"
# The data repeats (exact ties), so scans are compared by the distances they return, in order.
top() {  # the distances of the 300 nearest rows through the index, every list probed, every candidate re-ranked
	psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = 20" -c "SET ruvector.ivfflat_rerank = 100000" \
		-c "SELECT string_agg(d::text, ',') FROM (SELECT v <-> $Q AS d FROM s ORDER BY v <-> $Q LIMIT 300) x"
}
exact() {
	psql -X -q -At -c "SET enable_indexscan = off" -c "SET enable_bitmapscan = off" \
		-c "SELECT string_agg(d::text, ',') FROM (SELECT v <-> $Q AS d FROM s ORDER BY v <-> $Q LIMIT 300) x"
}
plan=$(psql -X -q -At -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <-> $Q LIMIT 300")
case "$plan" in *"Index Scan using s_idx"*) ok 0 "the scans go through the index" ;; *) ok 1 "the scans go through the index: $plan" ;; esac
is "$(top)" "$(exact)" "rabitq lists, every list probed and re-ranked, answer as the seq scan"

# The default rerank: the bound decides how far the re-rank goes; the 10 nearest are the seq scan's.
top10() {
	psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = 20" \
		-c "SELECT string_agg(d::text, ',') FROM (SELECT v <-> $Q AS d FROM s ORDER BY v <-> $Q LIMIT 10) x"
}
is "$(top10)" "$(exact | cut -d, -f1-10)" "the default rerank: the 10 nearest, in order"

size0=$(q "SELECT pg_relation_size('s_idx')")
q "CREATE TABLE saved AS SELECT * FROM s WHERE id % 2 = 0"
q "DELETE FROM s WHERE id % 2 = 0"
q "VACUUM s"
is "$(q "SELECT vectors FROM ruvector_ivfflat_stats('s_idx')")" 2500 "VACUUM removes the code entries of deleted rows"
is "$(top)" "$(exact)" "and the index still answers as the seq scan"
q "INSERT INTO s SELECT * FROM saved"
is "$(q "SELECT pg_relation_size('s_idx')")" "$size0" "re-inserting the rows after VACUUM reuses the space (size unchanged)"
is "$(top)" "$(exact)" "inserted rows are found in order"

# Crash: the inserted code entries come back from WAL.
q "INSERT INTO s SELECT i, ARRAY(SELECT ((i * d) % 29)::real / 4 FROM generate_series(1, 24) d)::vector(24) FROM generate_series(5001, 5600) i"
before=$(top)
pg_ctl_test -m immediate stop >/dev/null
pg_ctl_test start >/dev/null
wait_for_worker
is "$(top)" "$before" "after a crash the index returns the same rows (WAL replay)"
is "$(top)" "$(exact)" "which are the seq scan's"
is "$(q "SELECT quantizer || ' ' || vectors FROM ruvector_ivfflat_stats('s_idx')")" "rabitq 5600" \
	"every row is in the rabitq index after recovery"

done_testing
