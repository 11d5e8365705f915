-- ruivfflat / ivfflat over halfvec: halfvec_l2_ops, halfvec_ip_ops, halfvec_cosine_ops (pgvector's
-- ivfflat opclasses for halfvec). The lists store halves, so the index is about half the size of
-- the vector index, and an index scan over every list returns exactly the seq scan's order.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(37);

SELECT setseed(0.85);
CREATE TABLE h (id int PRIMARY KEY, v halfvec(8));
INSERT INTO h SELECT i, (SELECT array_agg((random() * 4 - 2)::real) FROM generate_series(1, 8) d WHERE i > 0)::halfvec(8)
	FROM generate_series(1, 600) i;
INSERT INTO h VALUES (601, NULL), (602, '[0,0,0,0,0,0,0,0]');
CREATE TABLE q AS SELECT qid, (SELECT array_agg((random() * 4 - 2)::real) FROM generate_series(1, 8) d WHERE qid > 0)::halfvec(8) AS v
	FROM generate_series(1, 6) qid;
ANALYZE h;

CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;

-- For every query: the distances in the order a scan returns them, with the index (every list
-- probed) and without; equal arrays mean the same order up to exact ties. Also the ids returned.
CREATE FUNCTION order_matches(op text, n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE r record; a float8[]; b float8[]; ia int[]; ib int[]; ok boolean := true;
BEGIN
	FOR r IN SELECT * FROM q LOOP
		SET LOCAL enable_seqscan = off;
		SET LOCAL enable_indexscan = on;
		EXECUTE format('SELECT array(SELECT v %s $1 FROM (SELECT v FROM h ORDER BY v %s $1 LIMIT %s) s), '
		               'array(SELECT id FROM (SELECT id FROM h ORDER BY v %s $1 LIMIT %s) s ORDER BY id)', op, op, n, op, n)
			INTO a, ia USING r.v;
		SET LOCAL enable_seqscan = on;
		SET LOCAL enable_indexscan = off;
		SET LOCAL enable_bitmapscan = off;
		EXECUTE format('SELECT array(SELECT v %s $1 FROM (SELECT v FROM h ORDER BY v %s $1 LIMIT %s) s), '
		               'array(SELECT id FROM (SELECT id FROM h ORDER BY v %s $1 LIMIT %s) s ORDER BY id)', op, op, n, op, n)
			INTO b, ib USING r.v;
		IF a IS DISTINCT FROM b OR cardinality(a) <> n THEN
			RAISE NOTICE 'order differs for % query %: % vs %', op, r.qid, a, b;
			ok := false;
		END IF;
		-- Ties aside, the same rows (with ties, the same distances suffice).
		IF ia IS DISTINCT FROM ib AND (SELECT count(DISTINCT x) FROM unnest(a) x) = n THEN
			ok := false;
		END IF;
	END LOOP;
	RESET enable_seqscan; RESET enable_indexscan; RESET enable_bitmapscan;
	RETURN ok;
END $$;

SET ivfflat.probes = 5;

-- Each opclass, under both access method names.
CREATE INDEX h_l2 ON h USING ruivfflat (v halfvec_l2_ops) WITH (lists = 5);
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT id FROM h ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 5$$),
	'Index Scan using h_l2', 'halfvec_l2_ops: ORDER BY <-> LIMIT uses the index');
RESET enable_seqscan;
SELECT ok(order_matches('<->', 601), 'halfvec_l2_ops: index order over every list is the seq scan''s (601 non-null rows)');
SELECT is((SELECT metric FROM ruvector_ivfflat_stats('h_l2')), 'l2', 'stats name the metric');
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('h_l2')), 601::bigint, 'every non-null row is indexed');

-- Inserts after the build, and REINDEX.
INSERT INTO h SELECT i, (SELECT array_agg((random() * 4 - 2)::real) FROM generate_series(1, 8) d WHERE i > 0)::halfvec(8)
	FROM generate_series(1001, 1100) i;
SELECT ok(order_matches('<->', 701), 'halfvec_l2_ops: rows inserted after the build are found in order');
REINDEX INDEX h_l2;
SELECT ok(order_matches('<->', 701), 'halfvec_l2_ops: and after REINDEX');
DELETE FROM h WHERE id BETWEEN 1001 AND 1050;
SELECT ok(order_matches('<->', 651), 'halfvec_l2_ops: and after DELETE (VACUUM: tests/sh/085_halfvec_ivfflat_vacuum.sh)');
DROP INDEX h_l2;

CREATE INDEX h_ip ON h USING ruivfflat (v halfvec_ip_ops) WITH (lists = 5);
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT id FROM h ORDER BY v <#> '[1,2,3,4,5,6,7,8]' LIMIT 5$$),
	'Index Scan using h_ip', 'halfvec_ip_ops: ORDER BY <#> LIMIT uses the index');
RESET enable_seqscan;
SELECT ok(order_matches('<#>', 651), 'halfvec_ip_ops: index order is the seq scan''s');
INSERT INTO h SELECT i, (SELECT array_agg((random() * 4 - 2)::real) FROM generate_series(1, 8) d WHERE i > 0)::halfvec(8)
	FROM generate_series(1101, 1150) i;
SELECT ok(order_matches('<#>', 701), 'halfvec_ip_ops: with rows inserted after the build');
REINDEX INDEX h_ip;
SELECT ok(order_matches('<#>', 701), 'halfvec_ip_ops: and after REINDEX');
DROP INDEX h_ip;

CREATE INDEX h_cos ON h USING ruivfflat (v halfvec_cosine_ops) WITH (lists = 5);
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT id FROM h ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 5$$),
	'Index Scan using h_cos', 'halfvec_cosine_ops: ORDER BY <=> LIMIT uses the index');
RESET enable_seqscan;
-- The zero row has no direction (NaN distance): not indexed, as in pgvector. The build indexes
-- 701 live non-null rows and the 50 deleted ones no VACUUM has removed yet, less the zero row.
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('h_cos')), 750::bigint, 'cosine: the zero row is not indexed');
SELECT ok(order_matches('<=>', 700), 'halfvec_cosine_ops: index order is the seq scan''s (recheck of the half rows)');
INSERT INTO h SELECT i, (SELECT array_agg((random() * 4 - 2)::real) FROM generate_series(1, 8) d WHERE i > 0)::halfvec(8)
	FROM generate_series(1151, 1200) i;
SELECT ok(order_matches('<=>', 750), 'halfvec_cosine_ops: with rows inserted after the build');
REINDEX INDEX h_cos;
SELECT ok(order_matches('<=>', 750), 'halfvec_cosine_ops: and after REINDEX');
DROP INDEX h_cos;

-- pgvector's access method name.
CREATE INDEX h_pl2 ON h USING ivfflat (v halfvec_l2_ops) WITH (lists = 5);
CREATE INDEX h_pip ON h USING ivfflat (v halfvec_ip_ops) WITH (lists = 5);
CREATE INDEX h_pcos ON h USING ivfflat (v halfvec_cosine_ops) WITH (lists = 5);
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT id FROM h ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 5$$), 'Index Scan using h_pl2', 'ivfflat halfvec_l2_ops is used');
SELECT matches(plan_of($$SELECT id FROM h ORDER BY v <#> '[1,2,3,4,5,6,7,8]' LIMIT 5$$), 'Index Scan using h_pip', 'ivfflat halfvec_ip_ops is used');
SELECT matches(plan_of($$SELECT id FROM h ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 5$$), 'Index Scan using h_pcos', 'ivfflat halfvec_cosine_ops is used');
RESET enable_seqscan;
SELECT ok(order_matches('<->', 751), 'ivfflat halfvec_l2_ops: seq scan order');
SELECT ok(order_matches('<#>', 751), 'ivfflat halfvec_ip_ops: seq scan order');
SELECT ok(order_matches('<=>', 750), 'ivfflat halfvec_cosine_ops: seq scan order');
-- halfvec has no l1 opclass for ivfflat in pgvector, nor here.
SELECT throws_ok($$CREATE INDEX ON h USING ivfflat (v halfvec_l1_ops)$$, '42704', NULL, 'no halfvec_l1_ops for ivfflat');
SELECT throws_ok($$CREATE INDEX ON h USING ruivfflat (v vector_l2_ops)$$, '42804', NULL,
	'a vector opclass does not apply to a halfvec column');
-- A query of other dimensions: pgvector's error.
SET enable_seqscan = off;
SELECT throws_ok($$SELECT id FROM h ORDER BY v <-> '[1,2,3]'::halfvec LIMIT 1$$, '22000',
	'different halfvec dimensions 8 and 3', 'a query of other dimensions is refused');
RESET enable_seqscan;
DROP INDEX h_pl2, h_pip, h_pcos;

-- The query is rounded to half as the operator takes it: a vector query casts to halfvec.
CREATE INDEX h_l2b ON h USING ivfflat (v halfvec_l2_ops) WITH (lists = 5);
SET enable_seqscan = off;
SELECT is(array(SELECT id FROM h ORDER BY v <-> '[1.00001,2,3,4,5,6,7,8]'::vector LIMIT 10),
	array(SELECT id FROM h ORDER BY v <-> '[1,2,3,4,5,6,7,8]'::halfvec LIMIT 10), 'a vector query is cast to halfvec');
RESET enable_seqscan;
DROP INDEX h_l2b;

-- pgvector's expression index over a vector column, and its query.
CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3));
INSERT INTO items (embedding) SELECT ARRAY[random(), random(), random()]::vector(3) FROM generate_series(1, 300);
CREATE INDEX items_half ON items USING ivfflat ((embedding::halfvec(3)) halfvec_l2_ops) WITH (lists = 3);
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT * FROM items ORDER BY embedding::halfvec(3) <-> '[1,2,3]' LIMIT 5$$),
	'Index Scan using items_half', 'the expression index (embedding::halfvec(3)) is used');
SET ivfflat.probes = 3;
SELECT is(array(SELECT id FROM items ORDER BY embedding::halfvec(3) <-> '[1,2,3]' LIMIT 20),
	(SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY embedding::halfvec(3) <-> '[1,2,3]', id LIMIT 20) s),
	'and returns the seq scan''s nearest rows') ;
RESET enable_seqscan;
INSERT INTO items (embedding) VALUES ('[1,2,3]');
SET enable_seqscan = off;
SELECT is((SELECT embedding FROM items ORDER BY embedding::halfvec(3) <-> '[1,2,3]' LIMIT 1), '[1,2,3]'::vector,
	'a row inserted after the build goes through the cast');
RESET enable_seqscan;

-- Half the bytes: the same data under a vector and a halfvec index.
CREATE TABLE big (id int, v vector(256));
INSERT INTO big SELECT i, (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 256) d WHERE i > 0)::vector(256)
	FROM generate_series(1, 2000) i;
CREATE INDEX big_v ON big USING ivfflat (v vector_l2_ops) WITH (lists = 4);
CREATE INDEX big_h ON big USING ivfflat ((v::halfvec(256)) halfvec_l2_ops) WITH (lists = 4);
SELECT cmp_ok(pg_relation_size('big_h')::float8 / pg_relation_size('big_v'), '<', 0.56::float8,
	'the halfvec index is about half the size of the vector index');
SELECT cmp_ok(pg_relation_size('big_h')::float8 / pg_relation_size('big_v'), '>', 0.45::float8,
	'(and holds every row)');
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('big_h')), 2000::bigint, 'the halfvec index holds every row');
SET ivfflat.probes = 4;
SET enable_seqscan = off;
SELECT is((SELECT id FROM big ORDER BY v::halfvec(256) <-> (SELECT v::halfvec(256) FROM big WHERE id = 7) LIMIT 1), 7,
	'the halfvec index finds a row from its own value');
RESET enable_seqscan;

-- Wider than any vector index: halves fit twice the dimensions on an entry page.
CREATE TABLE wide (v halfvec(4072));
INSERT INTO wide SELECT array_fill(1, ARRAY[4072])::halfvec(4072) FROM generate_series(1, 3);
SELECT lives_ok($$CREATE INDEX wide_idx ON wide USING ivfflat (v halfvec_l2_ops) WITH (lists = 1)$$,
	'halfvec index over 4072 dimensions (a vector index stops at 2036)');
SELECT lives_ok($$INSERT INTO wide SELECT array_fill(2, ARRAY[4072])::halfvec(4072)$$, 'and an insert into it');
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('wide_idx')), 4::bigint, 'one entry per page, all there');
CREATE TABLE wider (v halfvec(4073));
SELECT throws_ok($$CREATE INDEX ON wider USING ivfflat (v halfvec_l2_ops) WITH (lists = 1)$$, '54000', NULL,
	'past one entry page of halves: refused');

SELECT * FROM finish();
ROLLBACK;
