-- ruivfflat: plans, ordering per opclass, recall, inserts, deletes, vacuum, filters, settings,
-- bad input, stats. Multi-session, crash and replica checks are in tests/sh/040_ivfflat*.sh.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(60);

-- Seeded clustered data: 100 centres in 16 dimensions, 10k points, 50 queries from the same mixture.
SELECT setseed(0.42);
CREATE TABLE centers AS
	SELECT c, (SELECT array_agg((random() * 20 - 10)::real) FROM generate_series(1, 16) d WHERE c > 0) AS x
	FROM generate_series(1, 100) c;
CREATE TABLE items (id int PRIMARY KEY, category int, v vector(16));
INSERT INTO items
	SELECT i, i % 50, (SELECT array_agg(x[d] + ((random() - 0.5) * 2)::real) FROM generate_series(1, 16) d)::vector(16)
	FROM generate_series(1, 10000) i JOIN centers ON c = 1 + i % 100;
CREATE TABLE queries AS
	SELECT q AS qid, (SELECT array_agg(x[d] + ((random() - 0.5) * 2)::real) FROM generate_series(1, 16) d)::vector(16) AS v
	FROM generate_series(1, 50) q JOIN centers ON c = 1 + (q * 37) % 100;
ANALYZE items;

CREATE INDEX items_l2 ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 100);

-- Exact answers first (no index), then the index's.
SET enable_indexscan = off;
CREATE TEMP TABLE truth AS SELECT qid, array(SELECT id FROM items ORDER BY items.v <-> queries.v LIMIT 10) AS ids FROM queries;
RESET enable_indexscan;
SET enable_seqscan = off;

CREATE FUNCTION recall(probes int) RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE r double precision;
BEGIN
	EXECUTE format('SET LOCAL ivfflat.probes = %s', probes);
	SELECT sum((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)))::double precision / (10 * count(*))
	INTO r
	FROM (SELECT qid, array(SELECT id FROM items ORDER BY items.v <-> queries.v LIMIT 10) AS ids FROM queries) g
	JOIN truth t USING (qid);
	RETURN r;
END $$;

CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;

SELECT matches(plan_of($$SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 5$$),
	'Index Scan using items_l2 on items', 'ORDER BY <-> LIMIT uses the ruivfflat index');
SELECT matches(plan_of($$SELECT q.qid, (SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY items.v <-> q.v LIMIT 10) s) FROM queries q$$),
	'Index Scan using items_l2 on items', 'and so does a per-row subquery with a parameter');
RESET enable_seqscan;
SELECT doesnt_match(plan_of($$SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]'$$),
	'items_l2', 'ORDER BY without LIMIT does not use the index (it would return too few rows)');
SELECT doesnt_match(plan_of($$SELECT id FROM items WHERE v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' < 1$$),
	'items_l2', 'a distance filter without ORDER BY does not use the index');
SELECT matches(plan_of($$SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 5$$),
	'Index Scan using items_l2', 'the planner picks the index for ORDER BY LIMIT without being forced');
SET enable_seqscan = off;

SELECT is(recall(100), 1.0::double precision, 'probes = lists: recall 1.0');
SELECT cmp_ok(recall(10), '>=', 0.95::double precision, 'probes 10 of 100 lists: recall >= 0.95 on clustered data');
SELECT cmp_ok(recall(1), '<', recall(10), 'fewer probes, lower recall (the setting reaches the scan)');

-- Results come back in exact distance order within the probed lists.
SET ivfflat.probes = 100;
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 7) LIMIT 50) s),
          (SELECT array_agg(id ORDER BY d, id) FROM (SELECT id, v <-> (SELECT v FROM queries WHERE qid = 7) AS d FROM items ORDER BY d, id LIMIT 50) s),
          'l2: 50 rows in exact distance order');
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3)) s), 10000::bigint,
          'probes = lists and no LIMIT: every row comes back once');
SELECT is((SELECT count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3) LIMIT 1000) s), 1000::bigint,
          'past the first batch of candidates (1000 rows): no duplicates');

-- Each opclass orders by its own operator.
CREATE TABLE small (id int, v vector(3));
INSERT INTO small SELECT i, ARRAY[sin(i), cos(i * 1.3), (i % 7) - 3]::vector(3) FROM generate_series(1, 300) i;
INSERT INTO small VALUES (301, '[0,0,0]'), (302, NULL);
CREATE INDEX small_ip ON small USING ruivfflat (v vector_ip_ops) WITH (lists = 4);
CREATE INDEX small_cos ON small USING ruivfflat (v vector_cosine_ops) WITH (lists = 4);
CREATE INDEX small_l1 ON small USING ruivfflat (v vector_l1_ops) WITH (lists = 4);
SET ivfflat.probes = 4;
SELECT matches(plan_of($$SELECT id FROM small ORDER BY v <#> '[1,2,3]' LIMIT 5$$), 'small_ip', 'ip: <#> uses vector_ip_ops');
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM small ORDER BY v <#> '[1,2,3]' LIMIT 20) s),
          (SELECT array_agg(id) FROM (SELECT id FROM small WHERE v IS NOT NULL ORDER BY (v <#> '[1,2,3]') + 0, id LIMIT 20) s),
          'ip: ordered by negative inner product');
SELECT matches(plan_of($$SELECT id FROM small ORDER BY v <=> '[1,2,3]' LIMIT 5$$), 'small_cos', 'cosine: <=> uses vector_cosine_ops');
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM small ORDER BY v <=> '[1,2,3]' LIMIT 20) s),
          (SELECT array_agg(id) FROM (SELECT id FROM small WHERE id <= 300 ORDER BY (v <=> '[1,2,3]') + 0, id LIMIT 20) s),
          'cosine: ordered by cosine distance');
SELECT is((SELECT count(*) FROM (SELECT id FROM small ORDER BY v <=> '[1,2,3]' LIMIT 1000) s), 300::bigint,
          'cosine: the zero vector and NULL are not indexed');
SELECT matches(plan_of($$SELECT id FROM small ORDER BY v <+> '[1,2,3]' LIMIT 5$$), 'small_l1', 'l1: <+> uses vector_l1_ops');
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM small ORDER BY v <+> '[1,2,3]' LIMIT 20) s),
          (SELECT array_agg(id) FROM (SELECT id FROM small WHERE v IS NOT NULL ORDER BY (v <+> '[1,2,3]') + 0, id LIMIT 20) s),
          'l1: ordered by L1 distance');
SELECT is((SELECT count(*) FROM (SELECT id FROM small ORDER BY v <+> '[1,2,3]' LIMIT 1000) s), 301::bigint,
          'l1: NULLs are skipped, zero vectors are indexed');
SELECT is((SELECT count(*) FROM (SELECT id FROM small ORDER BY v <+> (SELECT NULL::vector) LIMIT 1000) s), 301::bigint,
          'a NULL query value returns the rows of the probed lists');

-- Inserts after the build land in the nearest list and are found; deleted rows never appear.
SET ivfflat.probes = 1;
INSERT INTO items VALUES (20001, 1, (SELECT v FROM queries WHERE qid = 11));
SELECT is((SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 11) LIMIT 1), 20001,
          'a row inserted after the build is found with probes = 1');
DELETE FROM items WHERE id = 20001;
SELECT isnt((SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 11) LIMIT 1), 20001,
          'a deleted row does not appear');
INSERT INTO items VALUES (20002, 1, NULL);
SET ivfflat.probes = 100;
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3)) s), 10000::bigint,
          'a NULL vector is skipped, not an error');

-- Filtered queries: the iterative scan probes further lists until LIMIT is met.
SET ivfflat.probes = 1;
SET ivfflat.iterative_scan = off;
SELECT cmp_ok((SELECT count(*) FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 5) LIMIT 10) s),
          '<', 10::bigint, 'without iterative scan, a filter leaves fewer rows than LIMIT');
SET ivfflat.iterative_scan = relaxed_order;
SELECT is((SELECT count(*) FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 5) LIMIT 10) s),
          10::bigint, 'relaxed_order: the filtered query returns 10 rows when 10 qualify');
SET ivfflat.iterative_scan = strict_order;
SET ivfflat.max_probes = 30;
SELECT is((SELECT count(*) FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 5) LIMIT 10) s),
          10::bigint, 'strict_order: 10 rows as well');
SELECT ok((SELECT bool_and(d >= lag_d) FROM (SELECT d, lag(d) OVER (ORDER BY n) AS lag_d FROM (
	SELECT row_number() OVER () AS n, v <-> (SELECT v FROM queries WHERE qid = 5) AS d FROM
		(SELECT v FROM items WHERE category = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 5) LIMIT 30) s) t) u WHERE lag_d IS NOT NULL),
	'strict_order: distances never decrease');
SET ivfflat.iterative_scan = relaxed_order;
SET ivfflat.max_probes = 2;
SELECT cmp_ok((SELECT count(*) FROM (SELECT id FROM items WHERE category = 7 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 5) LIMIT 200) s),
          '<', 200::bigint, 'ivfflat.max_probes bounds the iterative scan');
RESET ivfflat.max_probes;
RESET ivfflat.iterative_scan;

-- Settings: pgvector's names work and are the same setting as ruvector's.
SET ivfflat.probes = 7;
SELECT is(current_setting('ruvector.ivfflat_probes'), '7', 'SET ivfflat.probes shows in ruvector.ivfflat_probes');
SET ruvector.ivfflat_probes = 9;
SELECT is(current_setting('ivfflat.probes'), '9', 'and the other way round');
SELECT is((SELECT probes FROM ruvector_ivfflat_stats('items_l2')), 9, 'the stats report the probes a scan would use');
SELECT throws_ok($$SET ivfflat.probes = 0$$, '22023', '0 is outside the valid range for parameter "ivfflat.probes" (1 .. 32768)', 'probes range');
SELECT throws_ok($$SET ivfflat.iterative_scan = on$$, '22023', 'invalid value for parameter "ivfflat.iterative_scan": "on"', 'iterative_scan values');
SELECT throws_ok($$SET ivfflat.max_probes = 32769$$, '22023', NULL, 'max_probes range');
RESET ruvector.ivfflat_probes;
RESET ivfflat.probes;
-- The index's own probes option applies when the session sets nothing.
CREATE INDEX items_l2_p ON items USING ruivfflat (v) WITH (lists = 100, probes = 100);
SELECT is((SELECT probes FROM ruvector_ivfflat_stats('items_l2_p')), 100, 'the index option probes is the default');
DROP INDEX items_l2_p;

-- Bad input.
SELECT throws_ok($$SELECT id FROM items ORDER BY v <-> '[1,2,3]' LIMIT 1$$, '22000', 'different vector dimensions 16 and 3',
                 'a query vector of the wrong dimension');
SELECT throws_ok($$INSERT INTO items VALUES (30000, 1, '[1,2,3]')$$, '22000', 'expected 16 dimensions, not 3',
                 'an insert of the wrong dimension');
SELECT throws_ok($$CREATE INDEX ON items USING ruivfflat (v) WITH (lists = 0)$$, '22023',
                 'value 0 out of bounds for option "lists"', 'lists = 0');
SELECT throws_ok($$CREATE INDEX ON items USING ruivfflat (v) WITH (lists = 32769)$$, '22023',
                 'value 32769 out of bounds for option "lists"', 'lists = 32769');
SELECT throws_ok($$CREATE INDEX ON items USING ruivfflat (category)$$, '42704',
                 'data type integer has no default operator class for access method "ruivfflat"', 'a non-vector column');
CREATE TABLE nodim (v vector);
SELECT throws_ok($$CREATE INDEX ON nodim USING ruivfflat (v)$$, '22023', 'column does not have dimensions', 'a column without dimensions');
CREATE TABLE wide (id int, v vector(2037));
SELECT throws_ok($$CREATE INDEX ON wide USING ruivfflat (v)$$, '54000',
                 'column cannot have more than 2036 dimensions for ruivfflat index', 'over the page limit');
SET maintenance_work_mem = '1MB';
CREATE TABLE widest (id int, v vector(2036));
INSERT INTO widest SELECT i, array_fill(i::real, ARRAY[2036])::vector FROM generate_series(1, 50) i;
SELECT lives_ok($$CREATE INDEX widest_idx ON widest USING ruivfflat (v) WITH (lists = 5)$$, '2036 dimensions (more than pgvector''s 2000) build');
SELECT is((SELECT id FROM widest ORDER BY v <-> array_fill(30.2::real, ARRAY[2036])::vector LIMIT 1), 30, 'and answer');
SELECT throws_ok($$CREATE INDEX ON widest USING ruivfflat (v) WITH (lists = 200)$$, '54000', NULL,
                 'a sample that does not fit maintenance_work_mem is a clear error');
RESET maintenance_work_mem;
SELECT is((SELECT count(*) FROM items), 10001::bigint, 'failed statements left the data intact');

-- pgvector's spelling restores unchanged.
SELECT lives_ok($$CREATE INDEX items_pgv ON items USING ivfflat (v vector_l2_ops) WITH (lists = 10)$$, 'USING ivfflat is accepted');
SELECT matches(plan_of($$SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 5$$),
	'Index Scan using items_(l2|pgv)', 'and serves scans');
DROP INDEX items_pgv;

-- Empty and tiny tables build, and later inserts land in a list and are found.
CREATE TABLE empty_t (id int, v vector(2));
CREATE INDEX empty_idx ON empty_t USING ruivfflat (v) WITH (lists = 10);
SELECT is((SELECT lists FROM ruvector_ivfflat_stats('empty_idx')), 1, 'an empty table gets one list');
INSERT INTO empty_t SELECT i, ARRAY[i, -i]::vector FROM generate_series(1, 100) i;
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM empty_t ORDER BY v <-> '[50,-50]' LIMIT 3) s), ARRAY[50, 49, 51],
          'rows inserted later are found in order');
CREATE TABLE same_t (id int, v vector(2));
INSERT INTO same_t SELECT i, '[1,1]' FROM generate_series(1, 10) i;
SELECT lives_ok($$CREATE INDEX ON same_t USING ruivfflat (v) WITH (lists = 10)$$, 'ten identical rows, ten lists');
SELECT is((SELECT count(*) FROM (SELECT id FROM same_t ORDER BY v <-> '[1,1]' LIMIT 20) s), 10::bigint, 'all found with probes = lists');

-- Statistics.
SELECT is((SELECT (lists, lists_requested, dimensions, metric, vectors, vectors - list_min >= 0, list_max >= list_mean)
           FROM ruvector_ivfflat_stats('items_l2')),
          (100, 100, 16, 'l2'::text, 10001::bigint, true, true),
          'stats: lists, dimensions, metric, entries (a deleted row counts until VACUUM), list sizes');
SELECT is((SELECT pages * 8192 = bytes AND pages = pg_relation_size('items_l2') / 8192 FROM ruvector_ivfflat_stats('items_l2')), true,
          'stats: pages and bytes match the relation');
SELECT is((SELECT centroid_cache FROM ruvector_ivfflat_stats('items_l2')), 'shared', 'stats: the centroids are in the shared store');
SELECT is((SELECT metric FROM ruvector_ivfflat_stats('small_cos')), 'cosine', 'stats: cosine metric');
SELECT throws_ok($$SELECT * FROM ruvector_ivfflat_stats('items_pkey')$$, '42809', '"items_pkey" is not a ruivfflat index', 'stats of a btree index');
CREATE ROLE ivf_nobody;
SET ROLE ivf_nobody;
SELECT throws_ok($$SELECT * FROM ruvector_ivfflat_stats('items_l2')$$, '42501', 'permission denied for table items',
                 'stats need SELECT on the table');
RESET ROLE;

-- Temporary and unlogged tables (pages are written straight to storage; temp ones are local).
CREATE TEMP TABLE tmp_items AS SELECT id, v FROM items;
CREATE INDEX tmp_items_idx ON tmp_items USING ruivfflat (v) WITH (lists = 20);
SET LOCAL enable_seqscan = off;
SET LOCAL ivfflat.probes = 20;
SELECT results_eq('SELECT id FROM tmp_items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3) LIMIT 10',
                  'SELECT unnest(ids) FROM truth WHERE qid = 3', 'an index on a temporary table answers exactly with probes = lists');
CREATE UNLOGGED TABLE ul_items AS SELECT id, v FROM items;
CREATE INDEX ul_items_idx ON ul_items USING ruivfflat (v) WITH (lists = 20);
SELECT results_eq('SELECT id FROM ul_items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 3) LIMIT 10',
                  'SELECT unnest(ids) FROM truth WHERE qid = 3', 'and on an unlogged table');

SELECT * FROM finish();
ROLLBACK;
