-- The ruhnsw SQL surface, as pgvector 0.8's hnsw: both access method names, the opclasses (none
-- is the default), the m / ef_construction bounds, the four hnsw.* settings (real GUCs with
-- pgvector's types, ranges, defaults and errors, the reserved prefix) and ruvector.hnsw_ef_search
-- as the same setting, and the core errors for index shapes the AM cannot have.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(74);

-- ---- Access methods and opclasses ------------------------------------------------------------------
SELECT is((SELECT array_agg(amname ORDER BY amname) FROM pg_am WHERE amname IN ('hnsw', 'ruhnsw') AND amtype = 'i'),
          ARRAY['hnsw', 'ruhnsw']::name[], 'index access methods hnsw and ruhnsw exist');
SELECT is((SELECT count(DISTINCT amhandler) FROM pg_am WHERE amname IN ('hnsw', 'ruhnsw')), 1::bigint,
          'one handler serves both names');
SELECT is((SELECT array_agg(opcname::text || ':' || format_type(opcintype, NULL) ORDER BY opcname)
             FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE a.amname = 'hnsw'),
          ARRAY['bit_hamming_ops:bit', 'bit_jaccard_ops:bit', 'halfvec_cosine_ops:halfvec', 'halfvec_ip_ops:halfvec', 'halfvec_l1_ops:halfvec',
                'halfvec_l2_ops:halfvec', 'sparsevec_cosine_ops:sparsevec', 'sparsevec_ip_ops:sparsevec',
                'sparsevec_l1_ops:sparsevec', 'sparsevec_l2_ops:sparsevec', 'vector_cosine_ops:vector',
                'vector_ip_ops:vector', 'vector_l1_ops:vector', 'vector_l2_ops:vector'],
          'hnsw has pgvector''s opclass names for vector, halfvec, sparsevec and bit');
SELECT is((SELECT array_agg(opcname ORDER BY opcname) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE a.amname = 'ruhnsw'),
          (SELECT array_agg(opcname ORDER BY opcname) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE a.amname = 'hnsw'),
          'ruhnsw has the same opclasses');
SELECT is((SELECT count(*) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
            WHERE a.amname IN ('hnsw', 'ruhnsw') AND c.opcdefault), 0::bigint, 'no hnsw opclass is the default');
SELECT is((SELECT array_agg(DISTINCT o.oprname::text ORDER BY o.oprname::text)
             FROM pg_amop ao JOIN pg_am a ON a.oid = ao.amopmethod JOIN pg_operator o ON o.oid = ao.amopopr
            WHERE a.amname = 'hnsw' AND ao.amoppurpose = 'o' AND ao.amopstrategy = 1),
          ARRAY['<#>', '<%>', '<+>', '<->', '<=>', '<~>'], 'the opclasses order by the distance operators (strategy 1)');
SELECT is((SELECT count(*) FROM pg_amop ao JOIN pg_am a ON a.oid = ao.amopmethod
            WHERE a.amname IN ('hnsw', 'ruhnsw') AND ao.amoppurpose <> 'o'), 0::bigint,
          'no search operators: hnsw answers only ORDER BY');
SELECT is((SELECT array_agg(p ORDER BY p) FROM unnest(ARRAY['can_order', 'can_unique', 'can_multi_col', 'can_include']) p
            WHERE pg_indexam_has_property((SELECT oid FROM pg_am WHERE amname = 'hnsw'), p)),
          NULL::text[], 'no plain order, unique, multicolumn or include support');

CREATE TABLE rv101 (id int, v vector(3), w vector(3), h halfvec(3), b bit(3), vb varbit);
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v)$$, '42704',
                 'data type vector has no default operator class for access method "hnsw"',
                 'no opclass given: 42704, as pgvector (no default opclass)');
SELECT throws_ok($$CREATE INDEX ON rv101 USING ruhnsw (v)$$, '42704',
                 'data type vector has no default operator class for access method "ruhnsw"', 'the same for ruhnsw');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (h)$$, '42704',
                 'data type halfvec has no default operator class for access method "hnsw"', 'and for halfvec');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v halfvec_l2_ops)$$, '42804', NULL,
                 'an opclass of another type is refused');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops, w vector_l2_ops)$$, '0A000',
                 'access method "hnsw" does not support multicolumn indexes', 'multicolumn: 0A000');
SELECT throws_ok($$CREATE UNIQUE INDEX ON rv101 USING hnsw (v vector_l2_ops)$$, '0A000',
                 'access method "hnsw" does not support unique indexes', 'unique: 0A000');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) INCLUDE (id)$$, '0A000',
                 'access method "hnsw" does not support included columns', 'include: 0A000');
SELECT throws_ok($$CREATE INDEX ON rv101 USING ruhnsw (v vector_l2_ops, w vector_l2_ops)$$, '0A000',
                 'access method "ruhnsw" does not support multicolumn indexes', 'the same under ruhnsw');
SELECT throws_ok($$ALTER TABLE rv101 ADD EXCLUDE USING hnsw (v WITH <->)$$, NULL, NULL,
                 'no exclusion constraints');

-- ---- Reloptions: pgvector's bounds and messages ------------------------------------------------------
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) WITH (m = 1)$$, '22023',
                 'value 1 out of bounds for option "m"', 'm below 2');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) WITH (m = 101)$$, '22023',
                 'value 101 out of bounds for option "m"', 'm above 100');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) WITH (ef_construction = 3)$$, '22023',
                 'value 3 out of bounds for option "ef_construction"', 'ef_construction below 4');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) WITH (ef_construction = 1001)$$, '22023',
                 'value 1001 out of bounds for option "ef_construction"', 'ef_construction above 1000');
SELECT throws_ok($$CREATE INDEX ON rv101 USING ruhnsw (v vector_l2_ops) WITH (m = 0)$$, '22023',
                 'value 0 out of bounds for option "m"', 'the same bounds under ruhnsw');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) WITH (m = 'many')$$, '22023',
                 'invalid value for integer option "m": many', 'm must be an integer');
SELECT throws_ok($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) WITH (lists = 10)$$, '22023',
                 'unrecognized parameter "lists"', 'an ivfflat option is not an hnsw option');

-- The DETAIL names the range, as core's reloption parser does for pgvector.
CREATE FUNCTION rv101_detail(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d;
END $$;
CREATE FUNCTION rv101_hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN h;
END $$;
SELECT is(rv101_detail($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) WITH (m = 1)$$),
          'Valid values are between "2" and "100".', 'm: the detail gives the range');
SELECT is(rv101_detail($$CREATE INDEX ON rv101 USING hnsw (v vector_l2_ops) WITH (ef_construction = 1001)$$),
          'Valid values are between "4" and "1000".', 'ef_construction: the detail gives the range');
SELECT is(rv101_hint($$CREATE INDEX ON rv101 USING hnsw (v)$$),
          'You must specify an operator class for the index or define a default operator class for the data type.',
          'no opclass: the hint says to name one');

-- ---- Settings: real GUCs with pgvector's types, ranges and defaults -------------------------------
SELECT results_eq(
	$$SELECT name::text, vartype, boot_val, min_val, max_val, context, short_desc FROM pg_settings
	   WHERE name IN ('hnsw.ef_search', 'hnsw.max_scan_tuples', 'hnsw.scan_mem_multiplier') ORDER BY name$$,
	$$VALUES ('hnsw.ef_search', 'integer', '40', '1', '1000', 'user', 'Sets the size of the dynamic candidate list for search'),
	         ('hnsw.max_scan_tuples', 'integer', '20000', '1', '2147483647', 'user', 'Sets the max number of tuples to visit for iterative scans'),
	         ('hnsw.scan_mem_multiplier', 'real', '1', '1', '1000', 'user', 'Sets the multiple of work_mem to use for iterative scans')$$,
	'hnsw.ef_search, max_scan_tuples, scan_mem_multiplier: types, defaults, ranges, USERSET, pgvector''s descriptions');
SELECT results_eq(
	$$SELECT vartype, boot_val, enumvals, context, short_desc FROM pg_settings WHERE name = 'hnsw.iterative_scan'$$,
	$$VALUES ('enum', 'off', ARRAY['off', 'relaxed_order', 'strict_order'], 'user', 'Sets the mode for iterative scans')$$,
	'hnsw.iterative_scan: an enum of off, relaxed_order, strict_order, default off');
SELECT is((SELECT extra_desc FROM pg_settings WHERE name = 'hnsw.ef_search'), 'Valid range is 1..1000.',
          'hnsw.ef_search extra description as pgvector');
SELECT results_eq(
	$$SELECT vartype, boot_val, min_val, max_val, context FROM pg_settings WHERE name = 'ruvector.hnsw_ef_search'$$,
	$$VALUES ('integer', '40', '1', '1000', 'user')$$, 'ruvector.hnsw_ef_search: the same type, range and default');

SELECT throws_ok($$SET hnsw.ef_search = 'banana'$$, '22023', 'invalid value for parameter "hnsw.ef_search": "banana"',
                 'hnsw.ef_search = banana is an error, not a placeholder');
SELECT throws_ok($$SET hnsw.ef_search = 0$$, '22023', '0 is outside the valid range for parameter "hnsw.ef_search" (1 .. 1000)',
                 'hnsw.ef_search below 1');
SELECT throws_ok($$SET hnsw.ef_search = 1001$$, '22023', '1001 is outside the valid range for parameter "hnsw.ef_search" (1 .. 1000)',
                 'hnsw.ef_search above 1000');
SELECT throws_ok($$SET ruvector.hnsw_ef_search = 1001$$, '22023',
                 '1001 is outside the valid range for parameter "ruvector.hnsw_ef_search" (1 .. 1000)',
                 'ruvector.hnsw_ef_search has the same range');
SELECT throws_ok($$SET hnsw.max_scan_tuples = 0$$, '22023',
                 '0 is outside the valid range for parameter "hnsw.max_scan_tuples" (1 .. 2147483647)', 'hnsw.max_scan_tuples below 1');
SELECT throws_ok($$SET hnsw.max_scan_tuples = 'lots'$$, '22023', 'invalid value for parameter "hnsw.max_scan_tuples": "lots"',
                 'hnsw.max_scan_tuples must be an integer');
SELECT throws_ok($$SET hnsw.scan_mem_multiplier = 0$$, '22023',
                 '0 is outside the valid range for parameter "hnsw.scan_mem_multiplier" (1 .. 1000)', 'hnsw.scan_mem_multiplier below 1');
SELECT throws_ok($$SET hnsw.scan_mem_multiplier = 1000.5$$, '22023',
                 '1000.5 is outside the valid range for parameter "hnsw.scan_mem_multiplier" (1 .. 1000)', 'and above 1000');
SELECT throws_ok($$SET hnsw.iterative_scan = on$$, '22023', 'invalid value for parameter "hnsw.iterative_scan": "on"',
                 'hnsw.iterative_scan = on is refused');
SELECT is(rv101_hint($$SET hnsw.iterative_scan = on$$), 'Available values: off, relaxed_order, strict_order.',
          'with the values in the hint');
SELECT throws_ok($$SET hnsw.foo = 1$$, '42602', 'invalid configuration parameter name "hnsw.foo"',
                 'the hnsw prefix is reserved: an unknown hnsw.* setting is an error');
SELECT is(rv101_detail($$SET hnsw.ef_construction = 64$$), '"hnsw" is a reserved prefix.',
          'hnsw.ef_construction is not a setting (an index option), detail: reserved prefix');

SET hnsw.iterative_scan = strict_order;
SELECT is(current_setting('hnsw.iterative_scan'), 'strict_order', 'iterative_scan takes strict_order');
SET hnsw.iterative_scan = relaxed_order;
SELECT is(current_setting('hnsw.iterative_scan'), 'relaxed_order', 'and relaxed_order');
RESET hnsw.iterative_scan;
SET hnsw.max_scan_tuples = 2147483647;
SET hnsw.scan_mem_multiplier = 2.5;
SELECT is(current_setting('hnsw.max_scan_tuples') || ' ' || current_setting('hnsw.scan_mem_multiplier'), '2147483647 2.5',
          'max_scan_tuples and scan_mem_multiplier take values in range');
RESET hnsw.max_scan_tuples;
RESET hnsw.scan_mem_multiplier;

-- ---- hnsw.ef_search and ruvector.hnsw_ef_search: one setting under two names ------------------------
SET hnsw.ef_search = 100;
SELECT is(current_setting('ruvector.hnsw_ef_search'), '100', 'SET hnsw.ef_search shows in ruvector.hnsw_ef_search');
RESET hnsw.ef_search;
SELECT is(current_setting('hnsw.ef_search') || ' ' || current_setting('ruvector.hnsw_ef_search'), '40 40',
          'RESET hnsw.ef_search goes back to the default under both names');
SET ruvector.hnsw_ef_search = 7;
SELECT is(current_setting('hnsw.ef_search'), '7', 'SET ruvector.hnsw_ef_search shows in hnsw.ef_search');
RESET ruvector.hnsw_ef_search;
SELECT is(current_setting('hnsw.ef_search') || ' ' || current_setting('ruvector.hnsw_ef_search'), '40 40',
          'RESET ruvector.hnsw_ef_search goes back to the default under both names');
-- Set under both names, the last SET decides; a RESET of it uncovers the other name's value.
SET hnsw.ef_search = 55;
SET ruvector.hnsw_ef_search = 66;
RESET ruvector.hnsw_ef_search;
SELECT is(current_setting('hnsw.ef_search') || ' ' || current_setting('ruvector.hnsw_ef_search'), '55 55',
          'RESET of the name set last: the other name''s value is in force under both');
RESET hnsw.ef_search;
SET hnsw.ef_search = 60;
SAVEPOINT rv101_sp;
SET ruvector.hnsw_ef_search = 300;
SELECT is(current_setting('hnsw.ef_search'), '300', 'inside a subtransaction: 300 under both names');
ROLLBACK TO SAVEPOINT rv101_sp;
SELECT is(current_setting('hnsw.ef_search') || ' ' || current_setting('ruvector.hnsw_ef_search'), '60 60',
          'rolling back a SET of ruvector.hnsw_ef_search restores both names');
SAVEPOINT rv101_sp2;
SET hnsw.ef_search = 301;
ROLLBACK TO SAVEPOINT rv101_sp2;
SELECT is(current_setting('hnsw.ef_search') || ' ' || current_setting('ruvector.hnsw_ef_search'), '60 60',
          'rolling back a SET of hnsw.ef_search restores both names');
SAVEPOINT rv101_sp3;
SET LOCAL ruvector.hnsw_ef_search = 5;
SELECT is(current_setting('hnsw.ef_search'), '5', 'SET LOCAL under one name shows under the other');
RELEASE SAVEPOINT rv101_sp3;
SELECT is(current_setting('hnsw.ef_search') || ' ' || current_setting('ruvector.hnsw_ef_search'), '5 5',
          'a released subtransaction keeps the value under both names');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'hnsw.ef_search') || ' ' ||
          (SELECT setting FROM pg_settings WHERE name = 'ruvector.hnsw_ef_search'), '5 5', 'pg_settings agrees');
SELECT is(set_config('ruvector.hnsw_ef_search', '123', false), '123', 'set_config on one name');
SELECT is(current_setting('hnsw.ef_search'), '123', 'shows in the other');
RESET ALL;
SELECT is(current_setting('hnsw.ef_search') || ' ' || current_setting('ruvector.hnsw_ef_search'), '40 40',
          'RESET ALL resets both');
SET hnsw.ef_search = 1;
SELECT is(current_setting('ruvector.hnsw_ef_search'), '1', 'the lower bound is accepted under both names');
SET ruvector.hnsw_ef_search = 1000;
SELECT is(current_setting('hnsw.ef_search'), '1000', 'and the upper bound');
SELECT throws_ok($$SET hnsw.ef_search = 'banana'$$, '22023', NULL, 'a bad value under one name ...');
SELECT is(current_setting('ruvector.hnsw_ef_search'), '1000', '... leaves both names unchanged');
RESET hnsw.ef_search;

-- ALTER ROLE / ALTER DATABASE ... SET validate the value too (a real GUC, not a placeholder).
SELECT throws_ok($$ALTER DATABASE postgres SET hnsw.ef_search = 'banana'$$, '22023', NULL,
                 'ALTER DATABASE SET hnsw.ef_search = banana is refused');

-- ---- ruvector_hnsw_stats: the graph read from the pages -------------------------------------------
CREATE TABLE rv101_s (id int, v vector(4));
INSERT INTO rv101_s SELECT i, ARRAY[i % 7, i % 11, i % 13, i]::vector(4) FROM generate_series(1, 300) i;
INSERT INTO rv101_s SELECT 1000 + i, '[0,0,0,0]' FROM generate_series(1, 3) i;  -- one element, 3 rows
INSERT INTO rv101_s VALUES (2000, NULL);
CREATE INDEX rv101_s_idx ON rv101_s USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16);
SELECT results_eq(
	$$SELECT elements, heap_tids, deleted, m, ef_construction, dimensions, metric FROM ruvector_hnsw_stats('rv101_s_idx')$$,
	$$VALUES (301::bigint, 303::bigint, 0::bigint, 4, 16, 4, 'l2')$$,
	'stats: one element per distinct value, a heap TID per row (NULL not indexed), options, dimensions, metric');
SELECT is((SELECT (SELECT sum(c) FROM unnest(level_counts) c) = elements AND cardinality(level_counts) = max_level + 1
             AND entry_level = max_level AND entry_point IS NOT NULL FROM ruvector_hnsw_stats('rv101_s_idx')), true,
          'elements per level add up; the entry point is on the top level');
SELECT is((SELECT mean_layer0_degree > 4 AND mean_layer0_degree <= 8 FROM ruvector_hnsw_stats('rv101_s_idx')), true,
          'mean layer-0 out-degree between m and 2m');
SELECT is((SELECT pages = pg_relation_size('rv101_s_idx') / current_setting('block_size')::int
                  AND bytes = pg_relation_size('rv101_s_idx') FROM ruvector_hnsw_stats('rv101_s_idx')), true, 'pages and bytes');
CREATE INDEX rv101_e_idx ON rv101 USING ruhnsw (h halfvec_cosine_ops);
SELECT results_eq($$SELECT elements, max_level, entry_point, entry_level, metric, pages FROM ruvector_hnsw_stats('rv101_e_idx')$$,
                  $$VALUES (0::bigint, -1, NULL::tid, NULL::int, 'cosine', 2::bigint)$$,
                  'an empty index: no entry point, meta page and one element page');
CREATE INDEX rv101_btree ON rv101 (id);
SELECT throws_ok($$SELECT * FROM ruvector_hnsw_stats('rv101_btree')$$, '42809', '"rv101_btree" is not a ruhnsw index',
                 'stats of a btree index: 42809');
CREATE ROLE rv101_nobody;
GRANT USAGE ON SCHEMA public TO rv101_nobody;
SET ROLE rv101_nobody;
SELECT throws_ok($$SELECT * FROM ruvector_hnsw_stats('rv101_s_idx')$$, '42501', 'permission denied for table rv101_s',
                 'stats need SELECT on the table');
RESET ROLE;
GRANT SELECT ON rv101_s TO rv101_nobody;
SET ROLE rv101_nobody;
SELECT lives_ok($$SELECT * FROM ruvector_hnsw_stats('rv101_s_idx')$$, 'with SELECT on the table they work');
RESET ROLE;
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'rv101_s_idx'::regclass;  -- as a cancelled CONCURRENTLY
SELECT throws_ok($$SELECT * FROM ruvector_hnsw_stats('rv101_s_idx')$$, '55000', 'index "rv101_s_idx" is not valid',
                 'an invalid index: 55000, with a REINDEX hint');

SELECT * FROM finish();
ROLLBACK;
