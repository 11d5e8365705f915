-- ruhnsw (hnsw): build over NULLs, zero vectors and duplicates, every opclass against an exact scan,
-- ef_search, iterative scans, inserts after the build, unlogged tables, TRUNCATE, REINDEX, stats,
-- and bad input. Recall on clustered data and CREATE INDEX CONCURRENTLY: tests/sh/100_hnsw_recall.sh.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(51);

CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;

SELECT setseed(0.25);
CREATE TABLE items (id int PRIMARY KEY, c int, v vector(8));
INSERT INTO items SELECT i, i % 100, (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 8) d WHERE i > 0)::vector(8)
	FROM generate_series(1, 600) i;
INSERT INTO items VALUES (601, 1, NULL), (602, 2, NULL), (603, 3, '[0,0,0,0,0,0,0,0]');
CREATE TABLE queries AS SELECT q AS qid, (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 8) d WHERE q > 0)::vector(8) AS v
	FROM generate_series(1, 5) q;
ANALYZE items;

CREATE INDEX items_l2 ON items USING hnsw (v vector_l2_ops);
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 5$$),
	'Index Scan using items_l2 on items', 'ORDER BY <-> LIMIT uses the hnsw index');
SELECT doesnt_match(plan_of($$SELECT id FROM items WHERE v <-> '[1,2,3,4,5,6,7,8]' < 1$$),
	'items_l2', 'a distance filter without ORDER BY does not use the index');

-- Every opclass: at a high ef_search the index's top 10 are the exact top 10 (compared as
-- distances: ties, and near ties the index's float order may swap, cannot make it flaky). Returns
-- how many of the index's 10 are among the exact 10: 10 unless the graph lost the way to one of
-- them (a worker-built graph may leave a rare element without in-links, as HNSW can).
CREATE FUNCTION exact_vs_index(op text, q vector) RETURNS int LANGUAGE plpgsql AS $$
DECLARE a float8[]; b float8[];
BEGIN
	SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
	EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM items WHERE v IS NOT NULL ORDER BY 1 LIMIT 10) s', op) INTO a USING q;
	SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
	EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM items ORDER BY v %s $1 LIMIT 10) s', op, op) INTO b USING q;
	RETURN (SELECT count(*) FROM unnest(b) x WHERE x <= a[10]);
END $$;
SET hnsw.ef_search = 1000;
SELECT cmp_ok(sum(exact_vs_index('<->', v)), '>=', 49::bigint, 'vector_l2_ops: exact top 10 (49 of 50 at least)') FROM queries;
CREATE INDEX items_ip ON items USING hnsw (v vector_ip_ops);
SELECT cmp_ok(sum(exact_vs_index('<#>', v)), '>=', 49::bigint, 'vector_ip_ops: exact top 10 (49 of 50 at least)') FROM queries;
DROP INDEX items_ip;
CREATE INDEX items_l1 ON items USING hnsw (v vector_l1_ops);
SELECT cmp_ok(sum(exact_vs_index('<+>', v)), '>=', 49::bigint, 'vector_l1_ops: exact top 10 (49 of 50 at least)') FROM queries;
DROP INDEX items_l1;
CREATE INDEX items_cos ON items USING ruhnsw (v vector_cosine_ops) WITH (m = 8, ef_construction = 32);
-- The zero row has no cosine distance: the exact side leaves it out too (NaN sorts last).
SELECT cmp_ok(sum(exact_vs_index('<=>', v)), '>=', 49::bigint, 'vector_cosine_ops: exact top 10 (49 of 50 at least)') FROM queries;

-- What is indexed: NULLs never, the zero vector not under cosine.
SET hnsw.iterative_scan = relaxed_order;
SELECT is((SELECT count(*) FILTER (WHERE id > 600) FROM (SELECT id FROM items ORDER BY v <=> (SELECT v FROM queries WHERE qid = 1) LIMIT 1000) s), 0::bigint,
	'cosine: NULL rows and the zero vector are not indexed');
-- Every element: the build links in those the worker's graph left unreachable (with m = 8 it
-- sometimes left a few; the scan then found 587 of 600).
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <=> (SELECT v FROM queries WHERE qid = 1) LIMIT 1000) s), 600::bigint,
	'cosine: an iterative scan reaches every element');
DROP INDEX items_cos;
SELECT is((SELECT id FROM items ORDER BY v <-> '[0,0,0,0,0,0,0,0]' LIMIT 1), 603, 'l2: the zero vector is indexed');
SELECT is((SELECT count(*) FILTER (WHERE id IN (601, 602)) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 1) LIMIT 1000) s), 0::bigint,
	'l2: NULL rows are not');
SELECT is((SELECT count(*) - count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 1) LIMIT 1000) s), 0::bigint,
	'and each row comes back once');

-- ef_search caps the rows when iterative scan is off.
RESET hnsw.iterative_scan;
SET hnsw.ef_search = 40;
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 500) s), 40::bigint,
	'iterative_scan off: at most ef_search rows');
SET ruvector.hnsw_ef_search = 25;
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 500) s), 25::bigint,
	'ruvector.hnsw_ef_search is the same setting');
SET hnsw.ef_search = 40;
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT NULL::vector) LIMIT 500) s), 40::bigint,
	'a NULL query returns ef_search rows (unordered)');

-- Iterative scans: a filter keeping 1% of the rows.
SELECT cmp_ok((SELECT count(*) FROM (SELECT id FROM items WHERE c = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3) LIMIT 5) s), '<', 5::bigint,
	'off: a 1% filter finds fewer rows than the LIMIT');
SET hnsw.iterative_scan = relaxed_order;
SELECT is((SELECT count(*) FROM (SELECT id FROM items WHERE c = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3) LIMIT 5) s), 5::bigint,
	'relaxed_order: the 1% filter returns LIMIT rows');
SET hnsw.iterative_scan = strict_order;
SELECT is((SELECT count(*) FROM (SELECT id FROM items WHERE c = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3) LIMIT 5) s), 5::bigint,
	'strict_order: the 1% filter returns LIMIT rows');
SELECT ok((SELECT bool_and(d >= p) FROM (SELECT d, lag(d, 1, 0::float8) OVER (ORDER BY n) AS p FROM
	(SELECT row_number() OVER () AS n, d FROM (SELECT v <-> (SELECT v FROM queries WHERE qid = 4) AS d FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 300) s) s2) s3),
	'strict_order: distances never decrease');
SET hnsw.max_scan_tuples = 50;
SELECT cmp_ok((SELECT count(*) FROM (SELECT id FROM items WHERE c = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3) LIMIT 6) s), '<', 6::bigint,
	'max_scan_tuples stops the search early');
RESET hnsw.max_scan_tuples;
RESET hnsw.iterative_scan;

-- Duplicates: identical rows share an element of up to 10 heap TIDs.
CREATE TABLE dup (id int, v vector(3));
INSERT INTO dup SELECT i, '[1,2,3]' FROM generate_series(1, 20) i;
CREATE INDEX ON dup USING hnsw (v vector_l2_ops);
SET hnsw.ef_search = 1;
SELECT is((SELECT count(*) FROM (SELECT id FROM dup ORDER BY v <-> '[1,2,3]' LIMIT 100) s), 10::bigint,
	'20 identical rows, ef_search 1: exactly 10 rows (one element)');
INSERT INTO dup SELECT i, '[1,2,3]' FROM generate_series(21, 25) i;
-- (The two full elements take no more: the 5 share a new one; ef_search 1 returns one of the three.)
SELECT ok((SELECT count(*) FROM (SELECT id FROM dup ORDER BY v <-> '[1,2,3]' LIMIT 100) s) IN (5, 10),
	'identical rows inserted later share an element too');
SET hnsw.ef_search = 40;
SELECT is((SELECT count(DISTINCT id) FROM (SELECT id FROM dup ORDER BY v <-> '[1,2,3]' LIMIT 100) s), 25::bigint,
	'and ef_search 40 returns all 25 rows, once each');

-- Inserts after the build are found.
INSERT INTO items VALUES (700, 0, '[0.9,0.9,0.9,0.9,0.9,0.9,0.9,0.9]');
SELECT is((SELECT id FROM items ORDER BY v <-> '[0.91,0.9,0.9,0.9,0.9,0.9,0.9,0.9]' LIMIT 1), 700, 'a row inserted after the build is found first');
CREATE TABLE grown (id int, v vector(4));
CREATE INDEX grown_l2 ON grown USING hnsw (v vector_l2_ops);
SELECT is(pg_relation_size('grown_l2'), 16384::bigint, 'an empty index has the meta page and one element page');
SELECT is((SELECT count(*) FROM (SELECT id FROM grown ORDER BY v <-> '[1,1,1,1]' LIMIT 5) s), 0::bigint, 'an empty index returns nothing');
INSERT INTO grown SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)] FROM generate_series(1, 300) i;
SET hnsw.ef_search = 1000;
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM grown ORDER BY v <-> '[0.1,0.2,0.3,0.4]' LIMIT 10) s),
	(SELECT array_agg(id) FROM (SELECT id FROM grown ORDER BY (v <-> '[0.1,0.2,0.3,0.4]')::float4, id LIMIT 10) s),
	'an index filled by inserts gives the exact top 10 at a high ef_search');
SET hnsw.ef_search = 40;

-- halfvec and bit.
CREATE TABLE hb (id int, h halfvec(4), b bit(16));
INSERT INTO hb SELECT i, ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::halfvec(4), (i * 2654435761 % 65536)::int::bit(16) FROM generate_series(1, 200) i;
CREATE INDEX hb_h ON hb USING hnsw (h halfvec_l2_ops);
CREATE INDEX hb_b ON hb USING hnsw (b bit_hamming_ops);
SET hnsw.ef_search = 400;
SELECT is((SELECT array_agg(d ORDER BY d) FROM (SELECT h <-> '[0.5,0.5,0.5,0.5]' AS d FROM hb ORDER BY h <-> '[0.5,0.5,0.5,0.5]' LIMIT 10) s),
	(SELECT array_agg(d) FROM (SELECT d FROM (SELECT h <-> '[0.5,0.5,0.5,0.5]' AS d FROM hb) x ORDER BY d LIMIT 10) s),
	'halfvec_l2_ops: exact top 10');
SELECT is((SELECT array_agg(d) FROM (SELECT b <~> B'1010101010101010' AS d FROM hb ORDER BY b <~> B'1010101010101010' LIMIT 10) s),
	(SELECT array_agg(d) FROM (SELECT d FROM (SELECT b <~> B'1010101010101010' AS d FROM hb) x ORDER BY d LIMIT 10) s),
	'bit_hamming_ops: exact top 10');
SET hnsw.ef_search = 40;

-- 2000 dimensions (pgvector's limit): an element fills a page and its neighbour tuple goes to the
-- next one, in a build and in inserts.
CREATE TABLE w2000 (id int, v vector(2000));
INSERT INTO w2000 SELECT i, (SELECT array_agg(sin(i * d)) FROM generate_series(1, 2000) d)::vector(2000) FROM generate_series(1, 30) i;
CREATE INDEX w2000_built ON w2000 USING hnsw (v vector_l2_ops);
SELECT is((SELECT id FROM w2000 ORDER BY v <-> (SELECT v FROM w2000 WHERE id = 17) LIMIT 1), 17, '2000 dimensions, built: a row finds itself');
DROP INDEX w2000_built;
CREATE TABLE w2000b (id int, v vector(2000));
CREATE INDEX w2000_inserted ON w2000b USING hnsw (v vector_l2_ops);
INSERT INTO w2000b SELECT * FROM w2000;
SELECT is((SELECT id FROM w2000b ORDER BY v <-> (SELECT v FROM w2000 WHERE id = 23) LIMIT 1), 23, '2000 dimensions, inserted: a row finds itself');
SELECT cmp_ok(pg_relation_size('w2000_inserted') / 8192, '>=', 60::bigint, 'each element and each neighbour tuple took a page of its own');

-- Statistics: one index scan per (re)scan.
CREATE TEMP TABLE scans_before AS SELECT pg_stat_get_xact_numscans('items_l2'::regclass) AS n;
SELECT is((SELECT count(x) FROM (SELECT q.qid, (SELECT id FROM items ORDER BY items.v <-> q.v LIMIT 1) AS x FROM queries q) s), 5::bigint, 'a nested-loop query');
SELECT is(pg_stat_get_xact_numscans('items_l2'::regclass) - (SELECT n FROM scans_before), 5::bigint,
	'idx_scan counts one scan per rescan (5 queries)');

-- Unlogged tables, TRUNCATE, REINDEX.
CREATE UNLOGGED TABLE ul (id int, v vector(3));
INSERT INTO ul SELECT i, ARRAY[i, i % 7, i % 3] FROM generate_series(1, 100) i;
CREATE INDEX ul_l2 ON ul USING hnsw (v vector_l2_ops);
SELECT is(pg_relation_size('ul_l2', 'init'), 16384::bigint, 'unlogged: the init fork holds an empty index (2 pages)');
SELECT is((SELECT id FROM ul ORDER BY v <-> '[50,1,2]' LIMIT 1), 50, 'unlogged: the index answers');
TRUNCATE ul;
SELECT is((SELECT count(*) FROM (SELECT id FROM ul ORDER BY v <-> '[50,1,2]' LIMIT 5) s), 0::bigint, 'after TRUNCATE the index is empty');
INSERT INTO ul VALUES (1, '[1,2,3]'), (2, '[50,1,2]');
SELECT is((SELECT id FROM ul ORDER BY v <-> '[50,1,2]' LIMIT 1), 2, 'and takes new rows');
REINDEX INDEX items_l2;
SELECT cmp_ok(sum(exact_vs_index('<->', v)), '>=', 49::bigint, 'REINDEX: the rebuilt index gives the exact top 10 (49 of 50 at least) (ef_search 1000)')
	FROM queries WHERE set_config('hnsw.ef_search', '1000', true) IS NOT NULL;
SET hnsw.ef_search = 40;

-- Settings.
SELECT throws_ok($$SET hnsw.ef_search = 0$$, '22023', '0 is outside the valid range for parameter "hnsw.ef_search" (1 .. 1000)', 'ef_search range');
SELECT throws_ok($$SET hnsw.iterative_scan = on$$, '22023', 'invalid value for parameter "hnsw.iterative_scan": "on"', 'iterative_scan values');
SELECT throws_ok($$SET hnsw.max_scan_tuples = 0$$, '22023', NULL, 'max_scan_tuples range');

-- Bad input: errors with pgvector's codes and messages, data intact.
SELECT throws_ok($$SELECT id FROM items ORDER BY v <-> '[1,2,3]' LIMIT 1$$, '22000', 'different vector dimensions 8 and 3',
	'a query of other dimensions');
SELECT throws_ok($$INSERT INTO items VALUES (9000, 1, '[1,2,3]')$$, '22000', 'expected 8 dimensions, not 3', 'a row of other dimensions');
SELECT throws_ok($$INSERT INTO items VALUES (9001, 1, '[NaN,1,1,1,1,1,1,1]')$$, '22000', 'NaN not allowed in vector', 'NaN cannot reach the index');
SELECT is((SELECT count(*) FROM items), 604::bigint, 'the table is intact after the errors');
CREATE TABLE nodim (v vector);
SELECT throws_ok($$CREATE INDEX ON nodim USING hnsw (v vector_l2_ops)$$, '22023', 'column does not have dimensions', 'no typmod');
CREATE TABLE wide (v vector(2001));
SELECT throws_ok($$CREATE INDEX ON wide USING hnsw (v vector_l2_ops)$$, '54000', 'column cannot have more than 2000 dimensions for hnsw index',
	'more than 2000 dimensions');
SELECT throws_ok($$CREATE INDEX ON items USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 31)$$, '22023',
	'ef_construction must be greater than or equal to 2 * m', 'ef_construction < 2 * m');
SELECT throws_ok($$CREATE INDEX ON items USING hnsw (v vector_l2_ops) WITH (m = 1)$$, '22023', NULL, 'm out of range');
SELECT throws_ok($$CREATE INDEX ON items USING hnsw (v)$$, '42704', NULL, 'no default operator class');
SELECT throws_ok($$CREATE INDEX ON items USING hnsw (c vector_l2_ops)$$, '42804', NULL, 'wrong type for the operator class');

SELECT * FROM finish();
ROLLBACK;
