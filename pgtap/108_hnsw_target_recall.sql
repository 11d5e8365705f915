-- A recall target for ruhnsw (issue 18): ruvector_index_tune measures a ruhnsw index's recall@10 at
-- ef_search 10, 16, 25, ... 1000 and stores the curve in its meta page; under
-- ruvector.hnsw_target_recall (or the index's target_recall option) a scan searches with the
-- smallest measured ef_search whose recall meets the target, and EXPLAIN says so. Held-out queries
-- check the recall the target promises.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(34);

-- Overlapping Gaussian clusters (200 in 32 dimensions), 10000 rows, and a graph with few links
-- (m = 8, ef_construction = 32), so that recall grows with ef_search; 200 held-out queries.
\set gc_seed 0.108
\set gc_rows 10000
\set gc_items rv108_items
\set gc_centers rv108_centers
\set gc_queries rv108_queries
\ir include/gauss_clusters.sql
ANALYZE rv108_items;
CREATE INDEX rv108_hnsw ON rv108_items USING ruhnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);

SET LOCAL enable_indexscan = off;
CREATE TEMP TABLE rv108_truth AS
	SELECT qid, array(SELECT id FROM rv108_items i ORDER BY i.v <-> q.v LIMIT 10) AS ids FROM rv108_queries q;
RESET enable_indexscan;
SET LOCAL enable_seqscan = off;

-- recall@10 of the held-out queries through the index, at the session's settings.
CREATE FUNCTION rv108_recall() RETURNS double precision LANGUAGE sql AS $$
	SELECT sum((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)))::double precision / (10 * count(*))
	FROM (SELECT qid, array(SELECT id FROM rv108_items i ORDER BY i.v <-> q.v LIMIT 10) AS ids FROM rv108_queries q) g
	JOIN rv108_truth t USING (qid)
$$;
CREATE FUNCTION rv108_explain(options text DEFAULT 'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF') RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE format('EXPLAIN (%s) SELECT id FROM rv108_items ORDER BY v <-> (SELECT v FROM rv108_queries WHERE qid = 1) LIMIT 10', options)
	LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;
CREATE FUNCTION pg_temp.explain_small() RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id FROM rv108_small ORDER BY v <-> (SELECT v FROM rv108_queries WHERE qid = 1) LIMIT 10;
END $$;
-- The ef_search a scan used, from EXPLAIN ANALYZE.
CREATE FUNCTION rv108_ef() RETURNS int LANGUAGE sql AS $$ SELECT substring(rv108_explain() FROM 'rv108_hnsw: ef_search ([0-9]+)')::int $$;

-- ---- No curve yet: the target cannot apply; EXPLAIN says so ------------------------------------
SELECT matches(rv108_explain(), 'rv108_hnsw: ef_search 40, ', 'without a target: hnsw.ef_search, and EXPLAIN shows it');
SET LOCAL ruvector.hnsw_target_recall = 0.95;
SET LOCAL hnsw.ef_search = 30;
SELECT matches(rv108_explain(), 'rv108_hnsw: ef_search 30 \(fixed: target recall 0\.95, but the index has no measured curve\)',
               'without a curve a target scan searches as set, and EXPLAIN says why');
SELECT is((SELECT estimated_recall IS NOT NULL FROM ruvector_index_health('rv108_hnsw', 20)), true,
          'ruvector_index_health estimates a ruhnsw index''s recall (at the session''s ef_search)');

-- ---- Measuring the curve --------------------------------------------------------------------------
CREATE TEMP TABLE rv108_curve AS SELECT * FROM ruvector_index_tune('rv108_hnsw', 100);
SELECT results_eq($$SELECT ef_search FROM rv108_curve ORDER BY ef_search$$,
                  $$VALUES (10), (16), (25), (40), (64), (100), (160), (250), (400), (640), (1000)$$,
                  'the curve: ef_search 10, 16, 25, ... 1000');
SELECT ok((SELECT bool_and(probes IS NULL AND ratio IS NULL AND mean_probes IS NULL) FROM rv108_curve),
          'a ruhnsw curve has no probes, ratios or mean probes');
SELECT ok((SELECT bool_and(recall BETWEEN 0 AND 1) FROM rv108_curve), 'every point is a recall');
SELECT ok((SELECT recall FROM rv108_curve WHERE ef_search = 10) < (SELECT recall FROM rv108_curve WHERE ef_search = 1000),
          'recall grows with ef_search on this graph');
SELECT diag('curve: ' || (SELECT string_agg(ef_search || ':' || round(recall::numeric, 3), ' ' ORDER BY ef_search) FROM rv108_curve));

-- ---- Target recall 0.95: the smallest ef_search the curve says reaches it -------------------------
SELECT matches(rv108_explain(), 'rv108_hnsw: ef_search [0-9]+ \(for target recall 0\.95: [0-9.]+ measured\), ',
               'EXPLAIN shows the ef_search the target chose and the recall measured there');
CREATE TEMP TABLE rv108_chosen AS SELECT rv108_ef() AS ef;
-- A point meets the target when its 95% lower bound over the 100 sample queries does.
SELECT is((SELECT ef FROM rv108_chosen),
          (SELECT min(ef_search) FROM rv108_curve WHERE recall - 1.645 * sqrt(recall * (1 - recall) / 100) >= 0.95),
          'the smallest measured ef_search meeting the target with 95% confidence');
SELECT cmp_ok((SELECT ef FROM rv108_chosen), '<', 1000, 'a smaller ef_search than the largest the curve has');
SELECT cmp_ok((SELECT ef FROM rv108_chosen), '>', 10, 'and larger than the smallest (under the target here)');
SELECT cmp_ok(rv108_recall(), '>=', 0.95::float8, 'held-out queries at the chosen ef_search: recall@10 >= 0.95');
SELECT is((SELECT round(estimated_recall::numeric, 5) FROM ruvector_index_health('rv108_hnsw')),
          (SELECT round(recall::numeric, 5) FROM rv108_curve WHERE ef_search = (SELECT ef FROM rv108_chosen)),
          'ruvector_index_health reports the curve''s recall at the ef_search the target chose');
SELECT diag('held-out recall at the chosen ef_search ' || (SELECT ef FROM rv108_chosen) || ': ' || rv108_recall());
SELECT matches(rv108_explain('SETTINGS, COSTS OFF'), 'ruvector\.hnsw_target_recall = ''0\.95''',
               'EXPLAIN (SETTINGS) lists ruvector.hnsw_target_recall');
-- The planner costs the ef_search the target picks.
CREATE FUNCTION rv108_cost() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
	EXECUTE $q$EXPLAIN (FORMAT JSON) SELECT id FROM rv108_items ORDER BY v <-> (SELECT v FROM rv108_queries WHERE qid = 2) LIMIT 10$q$ INTO j;
	RETURN (j -> 0 -> 'Plan' -> 'Plans' -> 1 ->> 'Startup Cost')::float8;
END $$;
CREATE TEMP TABLE rv108_costs AS SELECT rv108_cost() AS target_cost;
SET LOCAL ruvector.hnsw_target_recall = 0;
DO $$ BEGIN PERFORM set_config('hnsw.ef_search', (SELECT ef FROM rv108_chosen)::text, true); END $$;
SELECT is(rv108_cost(), (SELECT target_cost FROM rv108_costs), 'the plan''s cost under the target is that of the ef_search it picks');
SET LOCAL hnsw.ef_search = 30;
SET LOCAL ruvector.hnsw_target_recall = 1;
SELECT is(rv108_ef(), coalesce((SELECT min(ef_search) FROM rv108_curve WHERE recall >= 1), 1000),
          'target 1: the first point measured at 1 (or the largest)');
SET LOCAL ruvector.hnsw_target_recall = 0.01;
SELECT matches(rv108_explain(), 'rv108_hnsw: ef_search 10 \(for target recall 0\.01', 'a low target: the smallest ef_search');
SET LOCAL ruvector.hnsw_target_recall = 0;
SELECT matches(rv108_explain(), 'rv108_hnsw: ef_search 30, ', 'target 0 (off): hnsw.ef_search, as before');
SELECT is((SELECT estimated_recall FROM ruvector_index_health('rv108_hnsw')), NULL,
          'at an ef_search the curve has no point for, no estimate without a sample');
-- An iterative scan under a target: batches of the chosen ef_search.
SET LOCAL ruvector.hnsw_target_recall = 0.95;
SET LOCAL hnsw.iterative_scan = relaxed_order;
SELECT is(substring(rv108_explain() FROM 'rv108_hnsw: ef_search ([0-9]+) \(for target recall 0\.95: [0-9.]+ measured\), relaxed_order')::int,
          (SELECT ef FROM rv108_chosen), 'an iterative scan searches with the target''s ef_search too');
RESET hnsw.iterative_scan;
SET LOCAL ruvector.hnsw_target_recall = 0;

-- ---- The index's own target_recall option -----------------------------------------------------
ALTER INDEX rv108_hnsw SET (target_recall = 0.95);
SELECT is(substring(rv108_explain() FROM 'rv108_hnsw: ef_search ([0-9]+) \(for target recall 0\.95')::int,
          (SELECT ef FROM rv108_chosen), 'WITH (target_recall = 0.95) picks the same ef_search as the setting');
SET LOCAL ruvector.hnsw_target_recall = 0.01;
SELECT matches(rv108_explain(), 'ef_search 10 \(for target recall 0\.01', 'a session target above 0 overrides the index''s');
SET LOCAL ruvector.hnsw_target_recall = 0;
-- Measuring again with the option set: each point at its own ef_search, not the target's.
CREATE TEMP TABLE rv108_again AS SELECT * FROM ruvector_index_tune('rv108_hnsw', 100);
SELECT ok((SELECT recall FROM rv108_again WHERE ef_search = 10) < (SELECT recall FROM rv108_again WHERE ef_search = 1000),
          'a curve measured under a target_recall option still measures every ef_search');
ALTER INDEX rv108_hnsw RESET (target_recall);
SELECT matches(rv108_explain(), 'rv108_hnsw: ef_search 30, ', 'with the option reset: hnsw.ef_search');

-- ---- Rebuilds -------------------------------------------------------------------------------------
REINDEX INDEX rv108_hnsw;
SET LOCAL ruvector.hnsw_target_recall = 0.95;
SELECT matches(rv108_explain(), 'ef_search 30 \(fixed: target recall 0\.95, but the index has no measured curve\)',
               'after REINDEX an index without a target_recall option has no curve (it was of the old graph)');
SET LOCAL ruvector.hnsw_target_recall = 0;
ALTER INDEX rv108_hnsw SET (target_recall = 0.95);
REINDEX INDEX rv108_hnsw;
SELECT matches(rv108_explain(), 'rv108_hnsw: ef_search [0-9]+ \(for target recall 0\.95: [0-9.]+ measured\)',
               'with WITH (target_recall = 0.95) a REINDEX measures the new graph''s curve');
SELECT cmp_ok(rv108_recall(), '>=', 0.95::float8, 'after REINDEX held-out queries under the target: recall@10 >= 0.95');
SELECT diag('after REINDEX: ' || substring(rv108_explain() FROM 'ef_search [0-9]+ \([^)]*\)') || ', held-out recall ' || rv108_recall());
CREATE TABLE rv108_small AS SELECT * FROM rv108_items WHERE id <= 2000;
CREATE INDEX rv108_built ON rv108_small USING ruhnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32, target_recall = 0.9);
SELECT matches((SELECT string_agg(line, E'\n') FROM (SELECT * FROM pg_temp.explain_small()) e(line)),
               'rv108_built: ef_search [0-9]+ \(for target recall 0\.9: [0-9.]+ measured\)',
               'CREATE INDEX WITH (target_recall) measures the curve in the build');

-- ---- Bad input ------------------------------------------------------------------------------------
SELECT throws_ok($$SET ruvector.hnsw_target_recall = 1.5$$, '22023', NULL, 'a target over 1 is refused');
SELECT throws_ok($$SET ruvector.hnsw_target_recall = -0.1$$, '22023', NULL, 'a negative target is refused');
SELECT throws_ok($$ALTER INDEX rv108_hnsw SET (target_recall = 2)$$, '22023', NULL, 'an option over 1 is refused');
SELECT throws_ok($$CREATE INDEX ON rv108_items USING ruhnsw (v vector_l2_ops) WITH (target_recall = -1)$$, '22023', NULL,
                 'a negative option is refused');
SELECT throws_ok($$SELECT * FROM ruvector_index_tune('rv108_hnsw', 0)$$, '22023', 'sample must be between 1 and 1000', 'sample 0 is refused');
CREATE ROLE rv108_reader;
GRANT SELECT ON rv108_items TO rv108_reader;
SET ROLE rv108_reader;
SELECT throws_ok($$SELECT * FROM ruvector_index_tune('rv108_hnsw')$$, '42501', 'must be owner of index rv108_hnsw',
                 'only the owner may store a curve');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
