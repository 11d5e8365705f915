#!/usr/bin/env bash
# ruivfflat with quantizer = rabitq across statements that cannot run in a pgTAP transaction: VACUUM
# removes the entries (codes) of deleted rows, inserts reuse the space, and after a crash the
# index (WAL replay of the code pages; the rotation's seed in the meta page) answers as a seq scan.
# Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_rabitq_ivf

q "CREATE TABLE s (id int PRIMARY KEY, v vector(24))"
ivf_rows s "vector(24)" 24
q "CREATE INDEX s_idx ON s USING ruivfflat (v vector_l2_ops) WITH (lists = 20, quantizer = rabitq)"
# The default rerank: the bound decides how far the re-rank goes; the 10 nearest are the seq scan's.
nearest10="SELECT string_agg(d::text, ',') FROM (SELECT v <-> (SELECT v FROM s WHERE id = 777) AS d FROM s ORDER BY v <-> (SELECT v FROM s WHERE id = 777) LIMIT 10) x"
is "$(psql -X -q -At -c "SET enable_seqscan = off" -c "SET ivfflat.probes = 20" -c "$nearest10")" \
	"$(psql -X -q -At -c "SET enable_indexscan = off" -c "SET enable_bitmapscan = off" -c "$nearest10")" "the default rerank: the 10 nearest, in order"
# Every candidate re-ranked: the estimates rank, the re-rank orders.
ivf_durability_checks s "vector(24)" 24 "<->" rabitq "ruvector.ivfflat_rerank = 100000"
is "$(q "SELECT quantizer || ' ' || vectors FROM ruvector_ivfflat_stats('s_idx')")" "rabitq 5600" \
	"every row is in the rabitq index after recovery"

done_testing
