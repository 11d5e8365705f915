#!/usr/bin/env bash
# ruivfflat over halfvec across statements that cannot run in a pgTAP transaction: VACUUM removes the
# entries of deleted rows (half rows: the entry size differs from vector's), inserts reuse the space,
# and the index answers as a seq scan after a crash (WAL replay of half-row pages). Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_half_ivf

q "CREATE TABLE h (id int PRIMARY KEY, v halfvec(12))"
ivf_rows h "halfvec(12)" 12
q "CREATE INDEX h_idx ON h USING ivfflat (v halfvec_cosine_ops) WITH (lists = 20)"
ivf_durability_checks h "halfvec(12)" 12 "<=>" half
is "$(q "SELECT vectors FROM ruvector_ivfflat_stats('h_idx')")" "$(q "SELECT count(*) FROM h WHERE l2_norm(v) > 0")" \
	"every row is in the index after recovery (zero rows have no direction and are not indexed)"

done_testing
