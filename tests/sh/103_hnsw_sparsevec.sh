#!/bin/bash
# ruhnsw on sparsevec: recall@10 against an exact scan on clustered sparse rows for every sparsevec
# opclass, for a built index and for one filled by inserts; pgvector's TAP 038 (issue #975): rounds
# of inserts of random-nnz rows, deleting half, VACUUM, with no error and a graph that keeps every
# live row (freed slots are reused only by elements that fit them).
. "$(dirname "$0")/lib.sh"

fresh_db hnsw_sparsevec
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SELECT setseed(0.25);
-- 40 clusters, each a set of about 20 of the first 100 of 1000 dimensions (clusters share some:
-- wholly orthogonal clusters leave a graph with nothing to navigate by); a row is its cluster's
-- values plus noise, and three random extra elements.
CREATE TABLE centers AS
	SELECT c, array_agg(d ORDER BY d) AS idx, array_agg((random() * 4 - 2)::real ORDER BY d) AS val
	FROM generate_series(1, 40) c, generate_series(1, 100) d WHERE random() < 0.2 GROUP BY c;
CREATE FUNCTION near(c_ int, salt int) RETURNS sparsevec(1000) LANGUAGE sql VOLATILE AS $$
	SELECT ('{' || coalesce(string_agg(d || ':' || x, ',' ORDER BY d), '') || '}/1000')::sparsevec(1000)
	FROM (SELECT d, sum(x)::real AS x FROM (
		SELECT unnest(idx) AS d, unnest(val) + (random() - 0.5)::real AS x FROM centers WHERE c = c_
		UNION ALL SELECT 1 + (random() * 999)::int, (random() - 0.5)::real FROM generate_series(1, 3) WHERE salt IS NOT NULL) u
		GROUP BY d) s WHERE x <> 0
$$;
CREATE TABLE items (id int PRIMARY KEY, v sparsevec(1000));
INSERT INTO items SELECT i, near(1 + i % 40, i) FROM generate_series(1, 3000) i;
CREATE TABLE queries AS SELECT q AS qid, near(1 + (q * 7) % 40, q) AS v FROM generate_series(1, 40) q;
-- recall@10 of table t's index for operator op at hnsw.ef_search 100 (ties count as hits).
CREATE FUNCTION recall(t text, op text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE r record; a float8[]; b float8[]; hits int := 0; total int := 0;
BEGIN
	FOR r IN SELECT * FROM queries LOOP
		SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = on;
		EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM %I ORDER BY 1 LIMIT 10) s', op, t) INTO a USING r.v;
		SET LOCAL enable_indexscan = on; SET LOCAL enable_seqscan = off; SET LOCAL hnsw.ef_search = 100;
		EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM %I ORDER BY v %s $1 LIMIT 10) s', op, t, op) INTO b USING r.v;
		hits := hits + (SELECT count(*) FROM unnest(b) x WHERE x <= a[10] + abs(a[10]) * 1e-6 + 1e-9);
		total := total + 10;
	END LOOP;
	RETURN round(hits::numeric / total, 3);
END $$;
SQL

for oc in "sparsevec_l2_ops <->" "sparsevec_ip_ops <#>" "sparsevec_cosine_ops <=>" "sparsevec_l1_ops <+>"; do
	set -- $oc
	q "CREATE INDEX items_idx ON items USING hnsw (v $1)"
	r=$(q "SELECT recall('items', '$2')")
	echo "# $1 built: recall@10 = $r"
	is "$(q "SELECT $r >= 0.95")" t "$1: recall@10 of a built index >= 0.95 (got $r)"
	q "DROP INDEX items_idx"

	q "SET client_min_messages = warning; DROP TABLE IF EXISTS grown; CREATE TABLE grown (id int, v sparsevec(1000))"
	q "CREATE INDEX grown_idx ON grown USING ruhnsw (v $1)"
	q "INSERT INTO grown SELECT id, v FROM items"
	r=$(q "SELECT recall('grown', '$2')")
	echo "# $1 filled by inserts: recall@10 = $r"
	is "$(q "SELECT $r >= 0.95")" t "$1: recall@10 of an index filled by inserts >= 0.95 (got $r)"
done

# pgvector's TAP 038: sparsevec(100000), 0 to 100 random non-zero elements, three rounds of 100
# inserts, deleting half and VACUUM.
q "CREATE TABLE tst (i serial, v sparsevec(100000))"
q "CREATE INDEX tst_idx ON tst USING hnsw (v sparsevec_l2_ops)"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE FUNCTION rand_sv(salt int) RETURNS sparsevec LANGUAGE sql VOLATILE AS $$
	SELECT ('{' || coalesce(string_agg(d || ':' || (random() + 0.01)::real, ',' ORDER BY d), '') || '}/100000')::sparsevec
	FROM (SELECT DISTINCT 1 + (random() * 99999)::int AS d FROM generate_series(1, (random() * 100)::int + salt * 0)) s
$$;
SQL
errors=0
errfile=$(mktemp)
for round in 1 2 3; do
	for j in $(seq 1 100); do
		psql -X -q -c "INSERT INTO tst (v) VALUES (rand_sv($j))" >/dev/null 2>>"$errfile" || errors=$((errors + 1))
	done
	psql -X -q -c "DELETE FROM tst WHERE i % 2 = 0 OR random() < 0.2" >/dev/null 2>>"$errfile" || errors=$((errors + 1))
	psql -X -q -c "VACUUM tst" >/dev/null 2>>"$errfile" || errors=$((errors + 1))
done
[ "$errors" = 0 ] || cat "$errfile"
is "$errors" 0 "TAP 038: three rounds of 100 random-nnz inserts, deletes and VACUUM, no error"
# (Not every row is reachable here, in pgvector neither: rows of random indices in 100000 dimensions
# are orthogonal, so every element picks the rows of the smallest norm as neighbours and rows of
# large norm get no links in.) The nearest rows are the hubs: the index finds the exact nearest.
is "$(q "SET enable_seqscan = off; SELECT v <-> '{1:1}/100000' FROM tst ORDER BY v <-> '{1:1}/100000' LIMIT 1")" \
	"$(q "SET enable_indexscan = off; SELECT v <-> '{1:1}/100000' FROM tst ORDER BY v <-> '{1:1}/100000' LIMIT 1")" \
	"TAP 038: after the rounds the index returns the exact nearest row"
# Freed slots are reused by the elements that fit them: inserts after the VACUUM take some of them.
before=$(q "SELECT deleted FROM ruvector_hnsw_stats('tst_idx')")
q "INSERT INTO tst (v) SELECT rand_sv(j) FROM generate_series(1, 100) j"
after=$(q "SELECT deleted FROM ruvector_hnsw_stats('tst_idx')")
echo "# freed element slots: $before before, $after after 100 inserts"
ok "$([ "$before" -gt 0 ] && [ "$after" -lt "$before" ]; echo $?)" "TAP 038: inserts after VACUUM reuse freed slots ($before -> $after)"
rm -f "$errfile"

done_testing
