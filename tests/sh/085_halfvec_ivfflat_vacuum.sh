#!/usr/bin/env bash
# ruivfflat over halfvec across statements that cannot run in a pgTAP transaction: VACUUM removes the
# entries of deleted rows (half rows: the entry size differs from vector's), inserts reuse the space,
# and the index answers as a seq scan after a crash (WAL replay of half-row pages). Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_half_ivf

q "CREATE TABLE h (id int PRIMARY KEY, v halfvec(12))"
q "INSERT INTO h SELECT i, ARRAY(SELECT (((i % 40) * 7 + d * 13) % 41)::real / 8 + ((i * 31 + d * 17) % 100) / 400.0 FROM generate_series(1, 12) d)::halfvec(12) FROM generate_series(1, 5000) i"
q "CREATE INDEX h_idx ON h USING ivfflat (v halfvec_cosine_ops) WITH (lists = 20)"
Q="(SELECT v FROM h WHERE id = 777)"
# The data repeats (exact ties), so scans are compared by the distances they return, in order.
top() {  # the distances of the 300 nearest rows through the index, every list probed
	psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = 20" \
		-c "SELECT string_agg(d::text, ',') FROM (SELECT v <=> $Q AS d FROM h ORDER BY v <=> $Q LIMIT 300) s"
}
exact() {
	psql -X -q -At -c "SET enable_indexscan = off" -c "SET enable_bitmapscan = off" \
		-c "SELECT string_agg(d::text, ',') FROM (SELECT v <=> $Q AS d FROM h ORDER BY v <=> $Q LIMIT 300) s"
}
plan=$(psql -X -q -At -c "SET enable_seqscan = off" -c "EXPLAIN (COSTS OFF) SELECT id FROM h ORDER BY v <=> $Q LIMIT 300")
case "$plan" in *"Index Scan using h_idx"*) ok 0 "the scans go through the index" ;; *) ok 1 "the scans go through the index: $plan" ;; esac
is "$(top)" "$(exact)" "halfvec_cosine_ops answers as the seq scan with every list probed"

size0=$(q "SELECT pg_relation_size('h_idx')")
q "CREATE TABLE saved AS SELECT * FROM h WHERE id % 2 = 0"
q "DELETE FROM h WHERE id % 2 = 0"
q "VACUUM h"
is "$(q "SELECT vectors FROM ruvector_ivfflat_stats('h_idx')")" 2500 "VACUUM removes the half entries of deleted rows"
is "$(top)" "$(exact)" "and the index still answers as the seq scan"
q "INSERT INTO h SELECT * FROM saved"
is "$(q "SELECT pg_relation_size('h_idx')")" "$size0" "re-inserting the rows after VACUUM reuses the space (size unchanged)"
is "$(top)" "$(exact)" "inserted rows are found in order"

# Crash: the inserted half rows come back from WAL.
q "INSERT INTO h SELECT i, ARRAY(SELECT ((i * d) % 29)::real / 4 FROM generate_series(1, 12) d)::halfvec(12) FROM generate_series(5001, 5600) i"
before=$(top)
pg_ctl_test -m immediate stop >/dev/null
pg_ctl_test start >/dev/null
wait_for_worker
is "$(top)" "$before" "after a crash the index returns the same rows (WAL replay)"
is "$(top)" "$(exact)" "which are the seq scan's"
is "$(q "SELECT vectors FROM ruvector_ivfflat_stats('h_idx')")" "$(q "SELECT count(*) FROM h WHERE l2_norm(v) > 0")" \
	"every row is in the index after recovery (zero rows have no direction and are not indexed)"

done_testing
