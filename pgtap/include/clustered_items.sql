-- Included by pgTAP files (\ir include/clustered_items.sql after \set seed 0.NN): 3000 rows `items`
-- (id, v vector(32)) around 20 random centres, 20 held-out `queries` (qid, v) near them, and
-- plan_of(query), the query's EXPLAIN ANALYZE text without costs or timings, and order_matches(table,
-- op, n [, cast]): whether, for every query, a scan of table's index with every one of 10 lists
-- probed and every candidate re-ranked returns the n distances of the seq scan, in its order.
SELECT setseed(:seed);
CREATE TABLE centers AS
	SELECT c, (SELECT array_agg((random() * 20 - 10)::real) FROM generate_series(1, 32) d WHERE c > 0) AS x
	FROM generate_series(1, 20) c;
CREATE TABLE items (id int PRIMARY KEY, v vector(32));
INSERT INTO items
	SELECT i, (SELECT array_agg(x[d] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 32) d)::vector(32)
	FROM generate_series(1, 3000) i JOIN centers ON c = 1 + i % 20;
CREATE TABLE queries AS
	SELECT q AS qid, (SELECT array_agg(x[d] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 32) d)::vector(32) AS v
	FROM generate_series(1, 20) q JOIN centers ON c = 1 + (q * 7) % 20;
ANALYZE items;

CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;

CREATE FUNCTION order_matches(tbl text, op text, n int, cast_to text DEFAULT '') RETURNS boolean LANGUAGE plpgsql
	SET enable_seqscan = on SET enable_indexscan = on SET ivfflat.probes = 10 SET ruvector.ivfflat_rerank = 100000 AS $$
DECLARE r record; a float8[]; b float8[]; ok boolean := true;
BEGIN
	FOR r IN SELECT * FROM queries LOOP
		SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
		EXECUTE format('SELECT array(SELECT v %s $1%s FROM %I ORDER BY v %s $1%s LIMIT %s)', op, cast_to, tbl, op, cast_to, n) INTO a USING r.v;
		SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
		EXECUTE format('SELECT array(SELECT v %s $1%s FROM %I ORDER BY v %s $1%s LIMIT %s)', op, cast_to, tbl, op, cast_to, n) INTO b USING r.v;
		ok := ok AND a = b AND cardinality(a) = n;
	END LOOP;
	RETURN ok;
END $$;
