-- ruhnsw (hnsw) on sparsevec: every opclass against an exact scan, NULL and zero rows, duplicates,
-- iterative scans, inserts and VACUUM, pgvector's limits (a typmod, up to 1,000,000,000 dimensions,
-- at most 1000 non-zero elements per indexed value). Recall on more rows: tests/sh/103_hnsw_sparsevec.sh.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(21);

CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;

-- The elements and dimension of a random sparsevec text (without its '{') of `dim` dimensions, each element non-zero with probability p (seeded by
-- setseed; `salt` keeps the subquery from being evaluated once).
CREATE FUNCTION rand_sparse(dim int, p float8, salt int) RETURNS text LANGUAGE sql VOLATILE AS $$
	SELECT (coalesce(string_agg(d || ':' || ((0.1 + random()) * (CASE WHEN random() < 0.5 THEN -1 ELSE 1 END))::real, ',' ORDER BY d), '')
		|| '}/' || dim)::text
	FROM generate_series(1, dim) d WHERE random() < p AND salt IS NOT NULL
$$;
CREATE FUNCTION sv(t text) RETURNS sparsevec LANGUAGE sql IMMUTABLE AS $$ SELECT t::sparsevec $$;

SELECT setseed(0.5);
CREATE TABLE items (id int PRIMARY KEY, v sparsevec(100));
INSERT INTO items SELECT i, sv('{' || rand_sparse(100, 0.1, i)) FROM generate_series(1, 500) i;
INSERT INTO items VALUES (501, NULL), (502, NULL), (503, '{}/100');
CREATE TABLE queries AS SELECT q AS qid, sv('{' || rand_sparse(100, 0.2, q)) AS v FROM generate_series(1, 5) q;
INSERT INTO queries SELECT 100 + id, v FROM items WHERE id IN (7, 77);
ANALYZE items;

-- Every opclass, on both access method names: at a high ef_search the index's top 10 are the
-- exact top 10 (compared as distances, so ties cannot make it flaky).
CREATE FUNCTION exact_vs_index(op text, q sparsevec) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE a float8[]; b float8[];
BEGIN
	SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
	EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM items WHERE v IS NOT NULL ORDER BY 1 LIMIT 10) s', op) INTO a USING q;
	SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
	EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM items ORDER BY v %s $1 LIMIT 10) s', op, op) INTO b USING q;
	RETURN a = b;
END $$;
SET hnsw.ef_search = 1000;
SET enable_seqscan = off;
CREATE INDEX items_l2 ON items USING hnsw (v sparsevec_l2_ops);
SELECT matches(plan_of($$SELECT id FROM items ORDER BY v <-> '{1:1}/100' LIMIT 5$$),
	'Index Scan using items_l2 on items', 'ORDER BY <-> LIMIT uses the sparsevec hnsw index');
SELECT ok(bool_and(exact_vs_index('<->', v)), 'sparsevec_l2_ops (hnsw): exact top 10') FROM queries;
-- NULLs are not indexed; the zero vector is.
SELECT is((SELECT heap_tids FROM ruvector_hnsw_stats('items_l2')), 501::bigint, 'l2: every non-NULL row is indexed, the zero vector too');
DROP INDEX items_l2;
CREATE INDEX items_ip ON items USING ruhnsw (v sparsevec_ip_ops);
SELECT ok(bool_and(exact_vs_index('<#>', v)), 'sparsevec_ip_ops (ruhnsw): exact top 10') FROM queries;
DROP INDEX items_ip;
CREATE INDEX items_l1 ON items USING ruhnsw (v sparsevec_l1_ops);
SELECT ok(bool_and(exact_vs_index('<+>', v)), 'sparsevec_l1_ops (ruhnsw): exact top 10') FROM queries;
DROP INDEX items_l1;
CREATE INDEX items_cos ON items USING hnsw (v sparsevec_cosine_ops);
SELECT ok(bool_and(exact_vs_index('<=>', v)), 'sparsevec_cosine_ops (hnsw): exact top 10') FROM queries;
-- Cosine indexes unit vectors: a multiple of a row is at distance 0 from it.
SELECT is((SELECT id FROM items ORDER BY v <=> (SELECT v FROM items WHERE id = 42) LIMIT 1), 42,
	'cosine: a row is its own nearest');
SELECT is((SELECT round((v <=> (SELECT v FROM items WHERE id = 42))::numeric, 5) FROM items ORDER BY v <=> (SELECT v FROM items WHERE id = 42) LIMIT 1),
	0::numeric, 'cosine: the distance returned is the operator''s');
SELECT is((SELECT heap_tids FROM ruvector_hnsw_stats('items_cos')), 500::bigint, 'cosine: NULL rows and the zero vector are not indexed');
-- strict_order: beyond ef_search 10, in the operator's order. (Not necessarily every row: rows of
-- disjoint index sets are orthogonal, and one of large norm may get no links in, in pgvector too.)
SET hnsw.ef_search = 10;
SET hnsw.iterative_scan = strict_order;
SELECT ok((SELECT bool_and(d >= prev) FROM (SELECT d, lag(d, 1, '-Infinity') OVER (ORDER BY n) AS prev FROM
	(SELECT row_number() OVER () AS n, v <=> '{1:1,2:1}/100' AS d FROM (SELECT v FROM items ORDER BY v <=> '{1:1,2:1}/100' LIMIT 1000) s) t) u)
	AND (SELECT count(*) FROM (SELECT id FROM items ORDER BY v <=> '{1:1,2:1}/100' LIMIT 1000) s) > 100,
	'iterative strict_order: past ef_search 10, in order');
RESET hnsw.iterative_scan;
SET hnsw.ef_search = 1000;

-- Inserts after the build, duplicates (more than one element's 10 heap TIDs), VACUUM.
INSERT INTO items SELECT 1000 + i, '{5:2,50:-1,99:0.5}/100' FROM generate_series(1, 15) i;
SET hnsw.iterative_scan = relaxed_order;
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <=> '{5:4,50:-2,99:1}/100' LIMIT 1000) s WHERE id > 1000), 15::bigint,
	'15 duplicate rows inserted after the build are all found');
RESET hnsw.iterative_scan;
SELECT is((SELECT id FROM items ORDER BY v <=> '{5:4,50:-2,99:1}/100' LIMIT 1) > 1000, true, 'an inserted row is found first');
DROP INDEX items_cos;

-- Limits, with pgvector's messages.
CREATE TABLE nodim (v sparsevec);
SELECT throws_ok($$CREATE INDEX ON nodim USING hnsw (v sparsevec_l2_ops)$$, '22023', 'column does not have dimensions', 'no typmod');
CREATE TABLE dense (id int, v sparsevec(2000));
INSERT INTO dense VALUES (1, sv('{' || rand_sparse(2000, 0.9, 1))), (2, sv('{' || rand_sparse(2000, 0.01, 2)));
SELECT throws_ok($$CREATE INDEX ON dense USING hnsw (v sparsevec_l2_ops)$$, '54000',
	'sparsevec cannot have more than 1000 non-zero elements for hnsw index', 'more than 1000 non-zero elements: the build fails');
-- (a deleted row would still be indexed: CREATE INDEX keeps recently dead rows)
CREATE TABLE dense_ok AS SELECT * FROM dense WHERE id = 2;
CREATE INDEX dense_l2 ON dense_ok USING hnsw (v sparsevec_l2_ops);
SELECT throws_ok($$INSERT INTO dense_ok VALUES (3, (SELECT ('{' || string_agg(d || ':1', ',') || '}/2000')::sparsevec FROM generate_series(1, 1001) d))$$,
	'54000', 'sparsevec cannot have more than 1000 non-zero elements for hnsw index', '1001 non-zero elements: the insert fails');
SELECT lives_ok($$INSERT INTO dense_ok VALUES (4, (SELECT ('{' || string_agg(d || ':1', ',') || '}/2000')::sparsevec FROM generate_series(1, 1000) d))$$,
	'1000 non-zero elements: indexed');
SELECT is((SELECT id FROM dense_ok ORDER BY v <-> (SELECT ('{' || string_agg(d || ':1', ',') || '}/2000')::sparsevec FROM generate_series(1, 1000) d) LIMIT 1),
	4, 'a 1000-element row is found');
SELECT throws_ok($$SELECT id FROM items ORDER BY v <-> '{1:1}/3' LIMIT 1$$, '22000', 'different sparsevec dimensions 100 and 3',
	'a query of other dimensions');

-- Up to sparsevec's 1,000,000,000 dimensions.
CREATE TABLE huge (id int, v sparsevec(1000000000));
INSERT INTO huge SELECT i, ('{5:' || i || ',999999999:' || (i % 7 + 1) || '}/1000000000')::sparsevec FROM generate_series(1, 200) i;
CREATE INDEX huge_l2 ON huge USING ruhnsw (v sparsevec_l2_ops);
SELECT is((SELECT id FROM huge ORDER BY v <-> '{5:77,999999999:1}/1000000000' LIMIT 1), 77, '1,000,000,000 dimensions: indexed and found');

-- Deleted rows are not returned (VACUUM and slot reuse: tests/sh/103_hnsw_sparsevec.sh).
DELETE FROM huge WHERE id = 77;
SELECT ok((SELECT id FROM huge ORDER BY v <-> '{5:77,999999999:7}/1000000000' LIMIT 1) IN (76, 78), 'a deleted row is not returned');
SELECT lives_ok($$INSERT INTO huge SELECT 1000 + i, ('{' || i || ':2}/1000000000')::sparsevec FROM generate_series(1, 50) i$$,
	'inserts into a 1,000,000,000-dimension index');

SELECT * FROM finish();
ROLLBACK;
