-- The exact scan (ruvector exact scan, extension/scan/): ORDER BY distance LIMIT k answered by a
-- custom scan. Every query here is run twice, with ruvector.enable_exact_scan on and off, and the
-- rows (in order, with the distances as text, so bit for bit) must be the same; and the plan must
-- show the custom scan where it is expected and not where it is not.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(106);

SET LOCAL max_parallel_workers_per_gather = 0;

-- The rows of `q` (each as its text form, in the order returned), planned with the exact scan on
-- or off.
CREATE FUNCTION pg_temp.rows_of(q text, exact boolean) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE r record; a text[] := '{}';
BEGIN
	PERFORM set_config('ruvector.enable_exact_scan', exact::text, true);
	FOR r IN EXECUTE q LOOP a := a || r::text; END LOOP;
	PERFORM set_config('ruvector.enable_exact_scan', 'on', true);
	RETURN a;
END $$;
CREATE FUNCTION pg_temp.plan_of(q text, options text DEFAULT 'COSTS OFF') RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; s text := '';
BEGIN
	FOR r IN EXECUTE 'EXPLAIN (' || options || ') ' || q LOOP s := s || r || E'\n'; END LOOP;
	RETURN s;
END $$;
CREATE FUNCTION pg_temp.uses_exact(q text) RETURNS boolean LANGUAGE sql AS $$
	SELECT pg_temp.plan_of(q) LIKE '%Custom Scan (ruvector exact scan)%' $$;
-- The rows of `q` as an array from EXECUTE ... INTO, which may run a parallel plan (a FOR loop over
-- a query would not: it is a cursor).
CREATE FUNCTION pg_temp.par_rows(q text, exact boolean) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE a text[];
BEGIN
	PERFORM set_config('ruvector.enable_exact_scan', exact::text, true);
	EXECUTE format('SELECT array(SELECT s::text FROM (%s) s)', q) INTO a;
	PERFORM set_config('ruvector.enable_exact_scan', 'on', true);
	RETURN a;
END $$;
-- The query uses the exact scan (parallel: under Gather Merge, parallel aware), returns rows, and
-- returns what the generic plan returns.
CREATE FUNCTION pg_temp.same(q text, parallel boolean DEFAULT false) RETURNS text LANGUAGE plpgsql AS $$
DECLARE on_rows text[]; off_rows text[];
BEGIN
	IF parallel AND pg_temp.plan_of(q) NOT LIKE '%Gather Merge%Parallel Custom Scan (ruvector exact scan)%' THEN
		RETURN 'no parallel exact scan in: ' || pg_temp.plan_of(q);
	END IF;
	IF NOT pg_temp.uses_exact(q) THEN RETURN 'no exact scan in: ' || pg_temp.plan_of(q); END IF;
	on_rows := CASE WHEN parallel THEN pg_temp.par_rows(q, true) ELSE pg_temp.rows_of(q, true) END;
	off_rows := CASE WHEN parallel THEN pg_temp.par_rows(q, false) ELSE pg_temp.rows_of(q, false) END;
	IF cardinality(off_rows) = 0 THEN RETURN 'the query returns no rows'; END IF;
	IF on_rows IS DISTINCT FROM off_rows THEN
		RETURN format('exact scan %s, generic plan %s', on_rows, off_rows);
	END IF;
	RETURN 'same';
END $$;

-- EXPLAIN ANALYZE's lines, without timings.
CREATE FUNCTION pg_temp.analyze_of(q text) RETURNS text LANGUAGE sql AS $$
	SELECT pg_temp.plan_of(q, 'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF') $$;

-- 1200 rows of 8 dimensions in 10 categories: NULL vectors, zero vectors (cosine NaN), exact
-- duplicates (ties), then deleted and updated rows. Seeded: where a query orders by the distance
-- alone, the generic plan's top-N sort leaves the order of equal distances to chance (random
-- 2-decimal rows tie now and then), and the same data keeps that order reproducible.
SELECT setseed(0.25);
CREATE TABLE items (id int PRIMARY KEY, cat int, v vector(8));
INSERT INTO items
SELECT i, i % 10,
	CASE WHEN i % 97 = 0 THEN NULL
		WHEN i % 101 = 0 THEN '[0,0,0,0,0,0,0,0]'
		WHEN i % 7 = 0 THEN ('[' || (i % 5) || ',1,2,3,4,5,6,7]')::vector
		ELSE (SELECT array_agg(round((random() * 4 - 2)::numeric, 2))::float4[]::vector FROM generate_series(1, 8) WHERE i > 0)
	END
FROM generate_series(1, 1200) i;
DELETE FROM items WHERE id % 13 = 0;
UPDATE items SET v = v + '[0.5,0,0,0,0,0,0,0]' WHERE id % 11 = 0;
UPDATE items SET cat = cat + 100 WHERE id % 17 = 0;
ANALYZE items;

SELECT is(pg_temp.same($$SELECT id, v <-> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 20$$),
	'same', '<->: nearest with ties (duplicates), ORDER BY distance, id');
SELECT is(pg_temp.same($$SELECT id, v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' AS d FROM items ORDER BY v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' LIMIT 10$$),
	'same', '<->: ORDER BY the distance alone');
SELECT is(pg_temp.same($$SELECT id, v <#> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' AS d FROM items ORDER BY v <#> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]', id LIMIT 15$$),
	'same', '<#> negative inner product');
SELECT is(pg_temp.same($$SELECT id, v <=> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' AS d FROM items ORDER BY v <=> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]', id LIMIT 15$$),
	'same', '<=> cosine');
SELECT is(pg_temp.same($$SELECT id, v <+> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' AS d FROM items ORDER BY v <+> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]', id LIMIT 15$$),
	'same', '<+> L1');
SELECT is(pg_temp.same($$SELECT id, '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' <-> v AS d FROM items ORDER BY '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' <-> v, id LIMIT 15$$),
	'same', 'the query vector on the left of the operator');
SELECT is(pg_temp.same($$SELECT id, cosine_distance(v, '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]') AS d FROM items ORDER BY cosine_distance(v, '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]'), id LIMIT 15$$),
	'same', 'the distance function called directly');
SELECT is(pg_temp.same($$SELECT id, v <=> '[0,0,0,0,0,0,0,0]' AS d FROM items ORDER BY v <=> '[0,0,0,0,0,0,0,0]', id LIMIT 12$$),
	'same', '<=> to a zero query: every distance NaN, ties broken by id');
SELECT is(pg_temp.same($$SELECT id, v <=> '[1,1,1,1,1,1,1,1]' AS d FROM items ORDER BY v <=> '[1,1,1,1,1,1,1,1]', id LIMIT 1200$$),
	'same', '<=> over every row: NaN (zero rows) after the numbers, NULLs last');
SELECT is(pg_temp.same($$SELECT id, v <-> '[1,1,1,1,1,1,1,1]' AS d FROM items ORDER BY v <-> '[1,1,1,1,1,1,1,1]', id LIMIT 1110$$),
	'same', 'LIMIT beyond the non-NULL rows: the NULL rows follow, by id');
SELECT is(pg_temp.same($$SELECT id FROM items ORDER BY v <-> (SELECT NULL::vector), id LIMIT 5$$),
	'same', 'a NULL query vector: every distance is NULL');
SELECT is(pg_temp.same($$SELECT id, v <-> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 10 OFFSET 25$$),
	'same', 'LIMIT with OFFSET');
SELECT is(pg_temp.same($$SELECT id, v <-> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT ALL OFFSET 1100$$),
	'same', 'LIMIT ALL: the whole table in order');
SELECT is(pg_temp.same($$SELECT id, v <-> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT NULL OFFSET 1000$$),
	'same', 'LIMIT NULL');
SELECT is(pg_temp.same($$SELECT * FROM (SELECT id, v <-> '[2,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[2,1,2,3,4,5,6,7]' FETCH FIRST 3 ROWS WITH TIES) s ORDER BY d, id$$),
	'same', 'FETCH FIRST ... WITH TIES returns every row tied with the last');
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> '[2,1,2,3,4,5,6,7]' FETCH FIRST 3 ROWS WITH TIES) s)::int > 3,
	true, 'the WITH TIES query above does cross a group of ties');
SELECT is(pg_temp.same($$SELECT id, cat FROM items WHERE cat = 3 ORDER BY v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]', id LIMIT 10$$),
	'same', 'a WHERE filter keeping 10% of the rows');
SELECT is(pg_temp.same($$SELECT id, cat FROM items WHERE cat > 100 OR id < 30 ORDER BY v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]', id LIMIT 10$$),
	'same', 'a filter on updated rows');
SELECT is(pg_temp.same($$SELECT id FROM items WHERE cat = 3 AND id % 2 = 1 ORDER BY v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' LIMIT 10$$),
	'same', 'two filters');
SELECT is(pg_temp.same($$SELECT id, v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' AS d, ctid, tableoid::regclass FROM items ORDER BY v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' LIMIT 10$$),
	'same', 'system columns of the returned rows (ctid, tableoid)');
SELECT is(pg_temp.same($$SELECT * FROM items ORDER BY v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' LIMIT 10$$),
	'same', 'whole rows, no projection');
SELECT is(pg_temp.same($$SELECT id, v <-> (SELECT v FROM items WHERE id = 40) AS d FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 40), id LIMIT 10$$),
	'same', 'the query vector from an uncorrelated subquery (initplan)');
SELECT is(pg_temp.same($$SELECT id, v <-> ('[1,1,2,3,4,5,6,' || 7 || ']')::vector AS d FROM items ORDER BY v <-> ('[1,1,2,3,4,5,6,' || 7 || ']')::vector, id LIMIT 10$$),
	'same', 'the query vector from a stable expression');
SELECT is(pg_temp.rows_of($$SELECT o.id, (SELECT i.id FROM items i ORDER BY i.v <-> o.v, i.id LIMIT 1 OFFSET 1) FROM items o WHERE o.id < 60 ORDER BY o.id$$, true),
	pg_temp.rows_of($$SELECT o.id, (SELECT i.id FROM items i ORDER BY i.v <-> o.v, i.id LIMIT 1 OFFSET 1) FROM items o WHERE o.id < 60 ORDER BY o.id$$, false),
	'a correlated subquery: the scan is run again for every outer row');
SELECT ok(pg_temp.plan_of($$SELECT o.id, (SELECT i.id FROM items i ORDER BY i.v <-> o.v, i.id LIMIT 1 OFFSET 1) FROM items o WHERE o.id < 60$$) LIKE '%SubPlan%Custom Scan (ruvector exact scan)%',
	'... with the exact scan inside the subplan');

-- Visibility: rows inserted, deleted and updated in this transaction, then a savepoint rolled back.
SAVEPOINT s1;
INSERT INTO items VALUES (5000, 1, '[1,1,2,3,4,5,6,7]');
DELETE FROM items WHERE id = 14;
ROLLBACK TO SAVEPOINT s1;
UPDATE items SET v = '[1,1,2,3,4,5,6,7]' WHERE id IN (3, 14);
DELETE FROM items WHERE id = 21;
SELECT is(pg_temp.same($$SELECT id, v <-> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 20$$),
	'same', 'rows changed in this transaction and in a rolled-back savepoint');
SELECT ok((SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 20) s) @> '{3,14}'
	AND NOT (SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 20) s) && '{21,5000}',
	'the updated row is found, the deleted and rolled-back ones are not');

-- Where the exact scan is not used.
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]'$$), 'no LIMIT: generic plan');
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' DESC LIMIT 5$$), 'DESC: generic plan');
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' NULLS FIRST LIMIT 5$$), 'NULLS FIRST: generic plan');
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY id, v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$), 'distance not the first key: generic plan');
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5 FOR UPDATE$$), 'FOR UPDATE: generic plan');
SELECT ok(NOT pg_temp.uses_exact($$SELECT DISTINCT cat, v <-> '[1,1,2,3,4,5,6,7]' FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$), 'DISTINCT: generic plan');
SELECT ok(NOT pg_temp.uses_exact($$SELECT a.id FROM items a JOIN items b ON a.id = b.id ORDER BY a.v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$), 'a join: generic plan');
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> v LIMIT 5$$), 'no constant side: generic plan');
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> ('[1,1,2,3,4,5,6,' || (random() * 0 + 7)::int || ']')::vector LIMIT 5$$), 'a volatile query vector: generic plan');
SET LOCAL ruvector.enable_exact_scan = off;
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$), 'ruvector.enable_exact_scan = off: generic plan');
SET LOCAL ruvector.enable_exact_scan = on;
SELECT alike(pg_temp.plan_of($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 5$$),
	'%Incremental Sort%Custom Scan (ruvector exact scan) on items%', 'ORDER BY distance, id: an incremental sort over the exact scan');

-- An index for the ORDER BY: the planner chooses between it and the generic plan as before.
CREATE INDEX items_v_idx ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 4);
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$)
	AND pg_temp.plan_of($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$) LIKE '%Index Scan using items_v_idx%',
	'an ivfflat index for <->: the index scan, not the exact scan');
SELECT ok(pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <=> '[1,1,2,3,4,5,6,7]' LIMIT 5$$), 'the index does not order <=>: exact scan');
SET LOCAL enable_indexscan = off;
SELECT ok(pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$), 'enable_indexscan = off: exact scan');
RESET enable_indexscan;
DROP INDEX items_v_idx;
-- Vectors in TOAST (1536 dimensions): at probes of half the lists the index is still far faster
-- than fetching every row (pgvector's estimate switches to the seq scan there; ours from probes
-- = lists on).
CREATE TABLE wide_items AS SELECT i AS id, array_fill(i::real, ARRAY[1536])::vector(1536) AS v FROM generate_series(1, 2000) i;
ANALYZE wide_items;
CREATE INDEX wide_items_idx ON wide_items USING ruivfflat (v vector_l2_ops) WITH (lists = 4);
SET LOCAL ivfflat.probes = 3;
SELECT alike(pg_temp.plan_of($$SELECT id FROM wide_items ORDER BY v <-> array_fill(7.3::real, ARRAY[1536])::vector LIMIT 5$$),
	'%Index Scan using wide_items_idx%', 'TOASTed vectors, probes 3 of 4 lists: the index');
SET LOCAL ivfflat.probes = 4;
SELECT alike(pg_temp.plan_of($$SELECT id FROM wide_items ORDER BY v <-> array_fill(7.3::real, ARRAY[1536])::vector LIMIT 5$$),
	'%Custom Scan (ruvector exact scan) on wide_items%', 'and probes = lists: the exact scan (the index loses to the generic plan, which it replaces)');
SELECT is(pg_temp.same($$SELECT id FROM wide_items ORDER BY v <-> array_fill(7.3::real, ARRAY[1536])::vector LIMIT 5$$), 'same',
	'with the generic plan''s rows');
RESET ivfflat.probes;

-- Dimension mismatches: an error as the operator raises it, but only for rows the quals keep.
ALTER TABLE items ALTER COLUMN v TYPE vector;
INSERT INTO items VALUES (9001, 55, '[1,2,3]'), (9002, 55, '[1,2,3,4,5,6,7,8,9]');
SELECT throws_ok($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$, '22000', 'different vector dimensions 3 and 8',
	'a row of other dimensions: the operator''s error');
SELECT is(pg_temp.same($$SELECT id FROM items WHERE cat <> 55 ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 5$$),
	'same', 'rows of other dimensions filtered out by WHERE: no error');
SELECT is(pg_temp.same($$SELECT id FROM items WHERE vector_dims(v) = 3 ORDER BY v <-> '[1,2,3]', id LIMIT 5$$),
	'same', 'a query of the other dimensions on its rows');
DELETE FROM items WHERE cat = 55;

-- Prepared statements: a generic plan with the query vector, LIMIT and OFFSET as parameters.
SET LOCAL plan_cache_mode = force_generic_plan;
PREPARE p_on(vector, bigint, bigint) AS SELECT id, v <-> $1 AS d FROM items WHERE cat <> $3 ORDER BY v <-> $1, id LIMIT $2 OFFSET $3;
PREPARE p_off(vector, bigint, bigint) AS SELECT id, v <-> $1 AS d FROM items WHERE cat <> $3 ORDER BY v <-> $1, id LIMIT $2 OFFSET $3;
SET LOCAL ruvector.enable_exact_scan = off;
CREATE TEMP TABLE want1 AS EXECUTE p_off('[1,1,2,3,4,5,6,7]', 10, 3);
CREATE TEMP TABLE want2 AS EXECUTE p_off('[0.3,-1,0.2,1,0,0.5,1.5,-0.7]', 4, 0);
CREATE TEMP TABLE want3 AS EXECUTE p_off('[1,1,1,1,1,1,1,1]', 1200, 1);
SET LOCAL ruvector.enable_exact_scan = on;
SELECT ok(pg_temp.plan_of($$EXECUTE p_on('[1,1,2,3,4,5,6,7]', 10, 3)$$) LIKE '%Custom Scan (ruvector exact scan)%'
	AND pg_temp.plan_of($$EXECUTE p_on('[1,1,2,3,4,5,6,7]', 10, 3)$$) LIKE '%$1%',
	'a generic plan with parameters uses the exact scan');
SELECT results_eq($$EXECUTE p_on('[1,1,2,3,4,5,6,7]', 10, 3)$$, 'SELECT * FROM want1', 'prepared: LIMIT 10 OFFSET 3');
SELECT results_eq($$EXECUTE p_on('[0.3,-1,0.2,1,0,0.5,1.5,-0.7]', 4, 0)$$, 'SELECT * FROM want2', 'prepared, the same plan, other parameters');
SELECT results_eq($$EXECUTE p_on('[1,1,1,1,1,1,1,1]', 1200, 1)$$, 'SELECT * FROM want3', 'prepared, LIMIT beyond the table');
SELECT ok(pg_temp.plan_of($$EXECUTE p_off('[1,1,2,3,4,5,6,7]', 10, 3)$$) NOT LIKE '%ruvector exact scan%', '... and the other statement''s plan is the generic one');
DEALLOCATE p_on;
DEALLOCATE p_off;
RESET plan_cache_mode;

-- Cursors: a scroll cursor gets a Materialize over the scan and fetches backward as the generic plan.
CREATE FUNCTION pg_temp.walk(q text, exact boolean) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE c refcursor; r record; a text[] := '{}';
BEGIN
	PERFORM set_config('ruvector.enable_exact_scan', exact::text, true);
	OPEN c SCROLL FOR EXECUTE q;
	FOR i IN 1..4 LOOP FETCH NEXT FROM c INTO r; a := a || r::text; END LOOP;
	FOR i IN 1..3 LOOP FETCH PRIOR FROM c INTO r; a := a || r::text; END LOOP;
	FETCH LAST FROM c INTO r; a := a || r::text;
	FETCH ABSOLUTE 2 FROM c INTO r; a := a || r::text;
	FETCH RELATIVE 3 FROM c INTO r; a := a || r::text;
	CLOSE c;
	PERFORM set_config('ruvector.enable_exact_scan', 'on', true);
	RETURN a;
END $$;
SELECT is(pg_temp.walk($$SELECT id, v <-> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 9 OFFSET 2$$, true),
	pg_temp.walk($$SELECT id, v <-> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 9 OFFSET 2$$, false),
	'a scroll cursor: forward, backward, last, absolute, relative');
DECLARE c1 SCROLL CURSOR FOR SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5;
SELECT ok(pg_temp.plan_of($$DECLARE c2 SCROLL CURSOR FOR SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$)
	LIKE '%Materialize%Custom Scan (ruvector exact scan)%', 'a scroll cursor''s plan materialises the exact scan');
CLOSE c1;

-- Toasted rows (out of line: 700 dimensions), halfvec, bit and sparsevec.
CREATE TABLE big (id int, v vector(700));
INSERT INTO big SELECT i, (SELECT array_agg(round((random() * 2 - 1)::numeric, 3))::float4[]::vector FROM generate_series(1, 700) WHERE i > 0)
FROM generate_series(1, 60) i;
INSERT INTO big VALUES (61, NULL);
SELECT is(pg_temp.same($$SELECT id, v <-> (SELECT v FROM big WHERE id = 7) AS d FROM big ORDER BY v <-> (SELECT v FROM big WHERE id = 7) LIMIT 8$$),
	'same', 'toasted vectors: <->');
SELECT is(pg_temp.same($$SELECT id, v <=> (SELECT v FROM big WHERE id = 8) AS d FROM big ORDER BY v <=> (SELECT v FROM big WHERE id = 8) LIMIT 8$$),
	'same', 'toasted vectors: <=>');

-- The TOAST pass: once enough out-of-line values were fetched by index, the rest come from one
-- pass over the TOAST table in page order (EXPLAIN ANALYZE says which). Around the values it uses:
-- dead chunks (deleted and updated rows, not vacuumed), rows whose update kept the value's TOAST
-- pointer, another column's values in the same TOAST table, compressed values (left to the
-- index), NULLs, and a table whose value ids outgrow hash_mem.
CREATE TABLE tv (id int, note text, v vector(600));
ALTER TABLE tv ALTER COLUMN note SET STORAGE EXTERNAL;
INSERT INTO tv SELECT i, CASE WHEN i % 7 = 0 THEN repeat(chr(97 + i % 26), 3000) END,
	CASE WHEN i % 37 = 0 THEN NULL ELSE (SELECT array_agg(round((random() * 2 - 1)::numeric, 3))::float4[]::vector FROM generate_series(1, 600) WHERE i > 0) END
FROM generate_series(1, 400) i;
DELETE FROM tv WHERE id % 11 = 0;
UPDATE tv SET v = (SELECT array_agg(round((random() * 2 - 1)::numeric, 3))::float4[]::vector FROM generate_series(1, 600) WHERE id > 0) WHERE id % 13 = 0;
UPDATE tv SET note = 'kept pointer' WHERE id % 17 = 0;
SELECT is(pg_temp.same($$SELECT id, v <-> (SELECT v FROM tv WHERE id = 5) AS d FROM tv ORDER BY v <-> (SELECT v FROM tv WHERE id = 5) LIMIT 12$$),
	'same', 'TOAST pass: <-> over live, updated, deleted and NULL rows');
SELECT is(pg_temp.same($$SELECT id, v <#> (SELECT v FROM tv WHERE id = 26) AS d FROM tv ORDER BY v <#> (SELECT v FROM tv WHERE id = 26) LIMIT 30 OFFSET 5$$),
	'same', 'TOAST pass: <#> with OFFSET');
SELECT alike(pg_temp.analyze_of($$SELECT id FROM tv ORDER BY v <-> (SELECT v FROM tv WHERE id = 5) LIMIT 3$$),
	'%TOAST Pages Read in Order: %TOAST Values Computed: %TOAST Values Fetched: 16%', 'TOAST pass: taken after 16 values fetched by index');
SELECT unalike(pg_temp.analyze_of($$SELECT id FROM tv WHERE id % 25 = 0 ORDER BY v <-> (SELECT v FROM tv WHERE id = 5) LIMIT 3$$),
	'%TOAST Pages Read in Order%', 'TOAST pass: not taken when a filter leaves few values to fetch');
SELECT is(pg_temp.same($$SELECT id FROM tv WHERE id % 25 = 0 ORDER BY v <-> (SELECT v FROM tv WHERE id = 5) LIMIT 3$$),
	'same', '... and the filtered query agrees');
SELECT is(pg_temp.same($$SELECT q.id, n.id FROM tv q CROSS JOIN LATERAL (SELECT id FROM tv t ORDER BY t.v <=> q.v LIMIT 2) n WHERE q.id IN (3, 4, 6) ORDER BY 1, 2$$),
	'same', 'TOAST pass: a rescan per outer row with a new query value');
-- A value written inside the current transaction, and a row whose value went back in line.
UPDATE tv SET v = (SELECT v FROM tv WHERE id = 5) WHERE id = 8;
SELECT is(pg_temp.same($$SELECT id FROM tv ORDER BY v <-> (SELECT v FROM tv WHERE id = 5), id LIMIT 3$$),
	'same', 'TOAST pass: a value updated in this transaction');
CREATE TABLE th (id int, v halfvec(1100));
INSERT INTO th SELECT i, (SELECT array_agg(round((random() * 2 - 1)::numeric, 3))::float4[]::halfvec FROM generate_series(1, 1100) WHERE i > 0)
FROM generate_series(1, 120) i;
SELECT is(pg_temp.same($$SELECT id, v <=> (SELECT v FROM th WHERE id = 4) AS d FROM th ORDER BY v <=> (SELECT v FROM th WHERE id = 4) LIMIT 6$$),
	'same', 'TOAST pass: halfvec <=>');
SELECT alike(pg_temp.analyze_of($$SELECT id FROM th ORDER BY v <=> (SELECT v FROM th WHERE id = 4) LIMIT 6$$),
	'%TOAST Values Computed: 120%', '... every halfvec value from the pass');
-- Compressed out-of-line values (16000 compressible dimensions): the pass does not use them.
CREATE TABLE tz (id int, v vector(16000));
ALTER TABLE tz ALTER COLUMN v SET STORAGE EXTENDED;
-- Half zeros, then varied values: compressed to about half, still out of line.
INSERT INTO tz SELECT i, (SELECT array_agg(CASE WHEN j > 8000 THEN ((j * 7919 + i * 104729) % 10007)::real / 10007 ELSE 0 END)::vector
	FROM generate_series(1, 16000) j) FROM generate_series(1, 40) i;
SELECT ok((SELECT bool_and(pg_column_compression(v) IS NOT NULL AND pg_column_size(v) > 8000) FROM tz), 'compressed values stored out of line');
SELECT is(pg_temp.same($$SELECT id FROM tz ORDER BY v <-> (SELECT v FROM tz WHERE id = 9) LIMIT 5$$),
	'same', 'TOAST pass: compressed values come through the index');
SELECT alike(pg_temp.analyze_of($$SELECT id FROM tz ORDER BY v <-> (SELECT v FROM tz WHERE id = 9) LIMIT 5$$),
	'%TOAST Values Fetched: 40%', '... all 40 of them');
-- Over hash_mem: the pass gives up and the scan goes on by index.
CREATE TABLE tmany (id int, v vector(520));
INSERT INTO tmany SELECT i, array_fill((i % 97)::real / 10, ARRAY[520])::vector FROM generate_series(1, 2500) i;
SET LOCAL work_mem = '64kB';
SET LOCAL hash_mem_multiplier = 1;
SELECT is(pg_temp.same($$SELECT id FROM tmany ORDER BY v <-> array_fill(3.3::real, ARRAY[520])::vector, id LIMIT 4$$),
	'same', 'TOAST pass: over hash_mem, by index');
SELECT alike(pg_temp.analyze_of($$SELECT id FROM tmany ORDER BY v <-> array_fill(3.3::real, ARRAY[520])::vector LIMIT 4$$),
	'%TOAST Values Fetched: 2500%', '... every value fetched');
RESET work_mem;
RESET hash_mem_multiplier;
SELECT alike(pg_temp.analyze_of($$SELECT id FROM tmany ORDER BY v <-> array_fill(3.3::real, ARRAY[520])::vector LIMIT 4$$),
	'%TOAST Values Computed: 2500%TOAST Values Fetched: 16%', '... and within it, the pass');

CREATE TABLE h (id int, v halfvec(5));
INSERT INTO h SELECT i, CASE WHEN i % 31 = 0 THEN NULL ELSE
	(SELECT array_agg(round((random() * 4 - 2)::numeric, 1))::float4[]::halfvec FROM generate_series(1, 5) WHERE i > 0) END
FROM generate_series(1, 700) i;
SELECT is(pg_temp.same($$SELECT id, v <-> '[0.1,0.2,-0.3,1,0]' AS d FROM h ORDER BY v <-> '[0.1,0.2,-0.3,1,0]', id LIMIT 25$$),
	'same', 'halfvec <->');
SELECT is(pg_temp.same($$SELECT id, v <#> '[0.1,0.2,-0.3,1,0]' AS d FROM h ORDER BY v <#> '[0.1,0.2,-0.3,1,0]', id LIMIT 25$$),
	'same', 'halfvec <#>');
SELECT is(pg_temp.same($$SELECT id, v <=> '[0.1,0.2,-0.3,1,0]' AS d FROM h ORDER BY v <=> '[0.1,0.2,-0.3,1,0]', id LIMIT 25$$),
	'same', 'halfvec <=>');
SELECT is(pg_temp.same($$SELECT id, v <+> '[0.1,0.2,-0.3,1,0]' AS d FROM h ORDER BY v <+> '[0.1,0.2,-0.3,1,0]', id LIMIT 690$$),
	'same', 'halfvec <+>, NULLs last');

CREATE TABLE b (id int, v bit(24));
INSERT INTO b SELECT i, (SELECT string_agg(CASE WHEN random() < 0.5 THEN '1' ELSE '0' END, '') FROM generate_series(1, 24) WHERE i > 0)::bit(24)
FROM generate_series(1, 500) i;
SELECT is(pg_temp.same($$SELECT id, v <~> '101010101010101010101010' AS d FROM b ORDER BY v <~> '101010101010101010101010', id LIMIT 30$$),
	'same', 'bit <~> Hamming (many ties)');
SELECT is(pg_temp.same($$SELECT id, v <%> '101010101010101010101010' AS d FROM b ORDER BY v <%> '101010101010101010101010', id LIMIT 30$$),
	'same', 'bit <%> Jaccard (through the operator function)');

CREATE TABLE sp (id int, v sparsevec(6));
INSERT INTO sp SELECT i, (SELECT array_agg(CASE WHEN random() < 0.5 THEN 0 ELSE round((random() * 4 - 2)::numeric, 1) END)::float4[]::vector FROM generate_series(1, 6) WHERE i > 0)::sparsevec
FROM generate_series(1, 400) i;
SELECT is(pg_temp.same($$SELECT id, v <-> '{1:1,3:-1}/6' AS d FROM sp ORDER BY v <-> '{1:1,3:-1}/6', id LIMIT 20$$),
	'same', 'sparsevec <->');
SELECT is(pg_temp.same($$SELECT id, v <=> '{1:1,3:-1}/6' AS d FROM sp ORDER BY v <=> '{1:1,3:-1}/6', id LIMIT 20$$),
	'same', 'sparsevec <=>');

-- Distances bit for bit: the value the scan orders by is the operator's.
SELECT is((SELECT bool_and(float8send(d) = float8send(v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]'))
	FROM (SELECT v, v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' AS d FROM items ORDER BY v <-> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' LIMIT 50) s),
	true, 'the distances returned are the operator''s, bit for bit');

-- Row-level security and column privileges.
CREATE ROLE rv_exact_user;
CREATE TABLE docs (id int, owner name, v vector);
INSERT INTO docs SELECT i, CASE WHEN i % 3 = 0 THEN 'rv_exact_user' ELSE 'someone' END,
	ARRAY[i % 7, i % 5, i % 11]::float4[]::vector FROM generate_series(1, 300) i;
-- Rows the user cannot see have other dimensions: a distance on them would fail.
INSERT INTO docs VALUES (1000, 'someone', '[1,2]');
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON docs USING (owner = current_user);
GRANT SELECT ON docs TO rv_exact_user;
CREATE TABLE secret (id int, v vector(3));
INSERT INTO secret SELECT i, ARRAY[i, 1, 2]::float4[]::vector FROM generate_series(1, 10) i;
GRANT SELECT (id) ON secret TO rv_exact_user;
REVOKE EXECUTE ON FUNCTION cosine_distance(vector, vector) FROM PUBLIC;
SET LOCAL ROLE rv_exact_user;
SELECT is(pg_temp.same($$SELECT id, owner, v <-> '[1,2,3]' AS d FROM docs ORDER BY v <-> '[1,2,3]', id LIMIT 30$$),
	'same', 'RLS: only the policy''s rows, in the generic plan''s order');
SELECT is((SELECT bool_and(owner = 'rv_exact_user') FROM (SELECT owner FROM docs ORDER BY v <-> '[1,2,3]' LIMIT 200) s),
	true, 'RLS: no row of another owner, and no distance computed on them (no dimension error)');
SELECT throws_ok($$SELECT id FROM secret ORDER BY v <-> '[1,2,3]' LIMIT 3$$, '42501', NULL,
	'column privileges: ordering by a column the role cannot read is refused');
SELECT throws_ok($$SELECT id FROM docs ORDER BY v <=> '[1,2,3]' LIMIT 3$$, '42501', 'permission denied for function cosine_distance',
	'EXECUTE privilege on the distance function: refused as in the generic plan');
RESET ROLE;
GRANT EXECUTE ON FUNCTION cosine_distance(vector, vector) TO PUBLIC;

-- The plan and EXPLAIN ANALYZE lines.
SELECT alike(pg_temp.plan_of($$SELECT id FROM items WHERE cat = 2 ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5$$),
	'%Limit%Custom Scan (ruvector exact scan) on items%Filter: (cat = 2)%Distance: l2_distance%', 'EXPLAIN: the scan, its filter and distance');
SELECT alike(pg_temp.analyze_of($$SELECT id FROM items WHERE cat = 2 ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 5 OFFSET 2$$),
	'%Rows Removed by Filter: %Top K: 7%Rows Scanned: ' || (SELECT count(*) FROM items) || '%', 'EXPLAIN ANALYZE: k = LIMIT + OFFSET, rows scanned');

-- The custom scan node survives the plan cache and being copied (a plpgsql function's plan).
CREATE FUNCTION pg_temp.nearest(q vector, k int) RETURNS int[] LANGUAGE plpgsql AS $$
BEGIN RETURN (SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v <-> q, id LIMIT k) s); END $$;
SELECT is(pg_temp.nearest('[1,1,2,3,4,5,6,7]', 4), pg_temp.nearest('[1,1,2,3,4,5,6,7]', 4), 'a cached plan runs twice');
SET LOCAL ruvector.enable_exact_scan = off;
SELECT array_agg(id)::text AS want_nearest FROM (SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 4) s \gset
SET LOCAL ruvector.enable_exact_scan = on;
SELECT is(pg_temp.nearest('[1,1,2,3,4,5,6,7]', 4)::text, :'want_nearest', '... and agrees with the generic plan');

-- A table with no rows, and LIMIT 0.
CREATE TABLE empty_t (id int, v vector(2));
SELECT is(pg_temp.rows_of($$SELECT id FROM empty_t ORDER BY v <-> '[1,2]' LIMIT 3$$, true), '{}'::text[], 'an empty table');
SELECT ok(pg_temp.uses_exact($$SELECT id FROM empty_t ORDER BY v <-> '[1,2]' LIMIT 3$$), '... through the exact scan');
SELECT is(pg_temp.rows_of($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 0$$, true), '{}'::text[], 'LIMIT 0');
SELECT throws_ok($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT -1$$, '2201W', 'LIMIT must not be negative', 'a negative LIMIT: the Limit node''s error');

-- A materialized view is a heap too.
CREATE MATERIALIZED VIEW mv AS SELECT id, v FROM items WHERE cat = 4;
SELECT is(pg_temp.same($$SELECT id FROM mv ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 6$$), 'same', 'a materialized view');

-- Other query shapes: a partitioned table (its partitions keep the generic plan under a Merge
-- Append), a UNION of two nearest-neighbour subqueries, a security-barrier view (never flattened, so
-- the LIMIT is not on its scan), a gating qual.
CREATE TABLE parts (id int, cat int, v vector(8)) PARTITION BY LIST (cat);
CREATE TABLE parts_a PARTITION OF parts FOR VALUES IN (1, 2, 3);
CREATE TABLE parts_b PARTITION OF parts FOR VALUES IN (4, 5, 6, 7, 8, 9, 0);
INSERT INTO parts SELECT id, cat, v FROM items WHERE cat < 10;
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM parts ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 5$$)
	AND pg_temp.rows_of($$SELECT id FROM parts ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 5$$, true)
		= pg_temp.rows_of($$SELECT id FROM items WHERE cat < 10 ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 5$$, false),
	'a partitioned table: generic plan, same answer');
SELECT is(pg_temp.same($$(SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 3) UNION ALL (SELECT id FROM h ORDER BY v <-> '[0.1,0.2,-0.3,1,0]', id LIMIT 3)$$),
	'same', 'UNION ALL of two nearest-neighbour queries');
CREATE VIEW cat2 WITH (security_barrier) AS SELECT id, v FROM items WHERE cat = 2;
SELECT ok(NOT pg_temp.uses_exact($$SELECT id FROM cat2 WHERE id % 3 = 0 ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 6$$),
	'a security-barrier view stays a subquery (its LIMIT is outside): generic plan');
SELECT is(pg_temp.rows_of($$SELECT id FROM items WHERE now() < '2000-01-01' ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 6$$, true),
	'{}'::text[], 'a false gating qual: no rows');

-- Parallel query: the scan is parallel aware. Each participant keeps the top k of the heap
-- blocks it is handed, and Gather Merge merges them; the rows must be those of the generic plan
-- (which here is a Sort of a Parallel Seq Scan under Gather Merge). Parallel costs are 0 so that
-- both plans go parallel on this small table.
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT ok(pg_temp.plan_of($$SELECT id FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]' LIMIT 10$$, 'ANALYZE, COSTS OFF, TIMING OFF')
		~ 'Gather Merge.*Workers Launched: \d.*Parallel Custom Scan \(ruvector exact scan\) on items',
	'parallel: Gather Merge over the parallel-aware exact scan, run with workers');
SELECT is(pg_temp.same($$SELECT id, v <-> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[1,1,2,3,4,5,6,7]', id LIMIT 20$$, true),
	'same', 'parallel: l2 with ties broken by id');
SELECT is(pg_temp.same($$SELECT id, v <#> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]' AS d FROM items WHERE cat = 3 ORDER BY v <#> '[0.3,-1,0.2,1,0,0.5,1.5,-0.7]', id LIMIT 10$$, true),
	'same', 'parallel: inner product with a filter');
SELECT is(pg_temp.same($$SELECT id, v <=> '[0,0,0,0,0,0,0,0]' AS d FROM items ORDER BY v <=> '[0,0,0,0,0,0,0,0]', id LIMIT 12$$, true),
	'same', 'parallel: cosine with a zero query (NaN distances)');
SELECT is(pg_temp.same($$SELECT id, v <-> '[1,1,1,1,1,1,1,1]' AS d FROM items ORDER BY v <-> '[1,1,1,1,1,1,1,1]', id LIMIT 1110$$, true),
	'same', 'parallel: LIMIT beyond the non-NULL rows (NULL distances last)');
SELECT is(pg_temp.same($$SELECT id, v <+> '[1,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <+> '[1,1,2,3,4,5,6,7]', id LIMIT 10 OFFSET 25$$, true),
	'same', 'parallel: L1 with OFFSET');
SELECT is(pg_temp.same($$SELECT * FROM (SELECT id, v <-> '[2,1,2,3,4,5,6,7]' AS d FROM items ORDER BY v <-> '[2,1,2,3,4,5,6,7]' FETCH FIRST 3 ROWS WITH TIES) s ORDER BY d, id$$, true),
	'same', 'parallel: WITH TIES');
SELECT is(pg_temp.same($$SELECT id, v <-> (SELECT v FROM items WHERE id = 40) AS d FROM items ORDER BY v <-> (SELECT v FROM items WHERE id = 40), id LIMIT 10$$, true),
	'same', 'parallel: the query vector from an initplan (evaluated by the leader, passed to the workers)');
-- A query vector that is not parallel safe keeps the plan serial.
CREATE FUNCTION pg_temp.restricted_q() RETURNS vector LANGUAGE plpgsql STABLE PARALLEL RESTRICTED AS $$ BEGIN RETURN '[1,1,2,3,4,5,6,7]'::vector; END $$;
SELECT ok(pg_temp.uses_exact($$SELECT id FROM items ORDER BY v <-> pg_temp.restricted_q() LIMIT 5$$)
		AND pg_temp.plan_of($$SELECT id FROM items ORDER BY v <-> pg_temp.restricted_q() LIMIT 5$$) NOT LIKE '%Parallel Custom Scan%',
	'parallel: a parallel-restricted query vector keeps the exact scan serial');
SET LOCAL max_parallel_workers_per_gather = 0;

SELECT * FROM finish();
ROLLBACK;
