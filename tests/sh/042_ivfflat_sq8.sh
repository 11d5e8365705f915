#!/usr/bin/env bash
# ruivfflat with quantizer = sq8 across statements that cannot run in a pgTAP transaction: VACUUM
# removes the entries (codes) of deleted rows, inserts reuse the space, and after a crash the
# index (WAL replay of code pages and the range pages) answers as a seq scan. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_sq8_ivf

q "CREATE TABLE s (id int PRIMARY KEY, v vector(24))"
ivf_rows s "vector(24)" 24
q "CREATE INDEX s_idx ON s USING ruivfflat (v vector_l2_ops) WITH (lists = 20, quantizer = sq8)"
# Every candidate re-ranked: the codes rank, the re-rank orders.
ivf_durability_checks s "vector(24)" 24 "<->" sq8 "ruvector.ivfflat_rerank = 100000"
is "$(q "SELECT quantizer || ' ' || vectors FROM ruvector_ivfflat_stats('s_idx')")" "sq8 5600" \
	"every row is in the sq8 index after recovery"

done_testing
