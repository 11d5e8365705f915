-- Self-tuning probes (issue 18): ruvector_index_tune measures a ruivfflat index's recall@10 at
-- probes 1, 2, 4, ... lists and stores the curve in its meta page; under
-- ruvector.ivfflat_target_recall a scan probes the fewest lists whose measured recall meets the
-- target, and EXPLAIN says so. Held-out queries check the recall the target promises.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(41);

SELECT has_function('ruvector_index_tune', ARRAY['regclass', 'integer'], 'ruvector_index_tune(regclass, integer) exists');

-- 100 clusters in 16 dimensions, 10000 rows; 50 held-out queries from the same clusters.
SELECT setseed(0.107);
CREATE TABLE rv107_centers AS
	SELECT c, (SELECT array_agg((random() * 20 - 10)::real) FROM generate_series(1, 16) d WHERE c > 0) AS x
	FROM generate_series(1, 100) c;
CREATE TABLE rv107_items (id int PRIMARY KEY, v vector(16));
INSERT INTO rv107_items
	SELECT i, (SELECT array_agg(x[d] + ((random() - 0.5) * 16)::real) FROM generate_series(1, 16) d)::vector(16)
	FROM generate_series(1, 10000) i JOIN rv107_centers ON c = 1 + i % 100;
CREATE TABLE rv107_queries AS
	SELECT q AS qid, (SELECT array_agg(x[d] + ((random() - 0.5) * 16)::real) FROM generate_series(1, 16) d)::vector(16) AS v
	FROM generate_series(1, 50) q JOIN rv107_centers ON c = 1 + (q * 37) % 100;
ANALYZE rv107_items;
CREATE INDEX rv107_ivf ON rv107_items USING ruivfflat (v vector_l2_ops) WITH (lists = 100);

SET LOCAL enable_indexscan = off;
CREATE TEMP TABLE rv107_truth AS
	SELECT qid, array(SELECT id FROM rv107_items i ORDER BY i.v <-> q.v LIMIT 10) AS ids FROM rv107_queries q;
RESET enable_indexscan;
SET LOCAL enable_seqscan = off;

-- recall@10 of the held-out queries through the index, at the session's settings.
CREATE FUNCTION rv107_recall() RETURNS double precision LANGUAGE sql AS $$
	SELECT sum((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)))::double precision / (10 * count(*))
	FROM (SELECT qid, array(SELECT id FROM rv107_items i ORDER BY i.v <-> q.v LIMIT 10) AS ids FROM rv107_queries q) g
	JOIN rv107_truth t USING (qid)
$$;
CREATE FUNCTION rv107_explain() RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
		SELECT id FROM rv107_items ORDER BY v <-> (SELECT v FROM rv107_queries WHERE qid = 1) LIMIT 10
	LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;

-- ---- No curve yet: the target cannot apply; EXPLAIN says so ------------------------------------
SET LOCAL ruvector.ivfflat_target_recall = 0.95;
SET LOCAL ruvector.ivfflat_probes = 3;
SELECT matches(rv107_explain(), 'rv107_ivf: probes 3 of 100 lists \(fixed: target recall 0\.95, but the index has no measured curve\)',
               'without a curve a target scan probes as set, and EXPLAIN says why');

-- ---- Measuring the curve --------------------------------------------------------------------------
CREATE TEMP TABLE rv107_curve AS SELECT * FROM ruvector_index_tune('rv107_ivf', 100);
SELECT results_eq($$SELECT probes FROM rv107_curve WHERE ratio IS NULL ORDER BY probes$$,
                  $$VALUES (1), (2), (4), (8), (16), (32), (64), (100)$$, 'the curve: probes 1, 2, 4, ... 64 and all 100 lists');
SELECT is((SELECT recall FROM rv107_curve WHERE probes = 100), 1::float8, 'every list probed: recall 1');
SELECT ok((SELECT recall < 1 FROM rv107_curve WHERE probes = 1), 'one probe misses neighbours');
SELECT ok((SELECT bool_and(recall BETWEEN 0 AND 1) FROM rv107_curve), 'every point is a recall');
SELECT diag('curve: ' || (SELECT string_agg(probes || ':' || round(recall::numeric, 3), ' ' ORDER BY probes) FROM rv107_curve));
-- Fixed probes first (per-query probes below).
SET LOCAL ruvector.ivfflat_target_per_query = off;

-- ---- Target recall 0.95: the fewest probes the curve says reach it -------------------------------
SELECT matches(rv107_explain(), 'rv107_ivf: probes [0-9]+ of 100 lists \(for target recall 0\.95: [0-9.]+ measured\)',
               'EXPLAIN shows the probes the target chose and the recall measured there');
CREATE TEMP TABLE rv107_chosen AS
	SELECT substring(rv107_explain() FROM 'probes ([0-9]+) of 100 lists')::int AS probes;
-- A point meets the target when its 95% lower bound over the 100 sample queries does.
SELECT is((SELECT probes FROM rv107_chosen),
          (SELECT min(probes) FROM rv107_curve WHERE recall - 1.645 * sqrt(recall * (1 - recall) / 100) >= 0.95),
          'the smallest measured probes meeting the target with 95% confidence');
SELECT ok((SELECT probes < 100 FROM rv107_chosen), 'fewer than all the lists');
SELECT ok((SELECT probes > 1 FROM rv107_chosen), 'more than one (one probe is under the target here)');
SELECT cmp_ok(rv107_recall(), '>=', 0.95::float8, 'held-out queries at the chosen probes: recall@10 >= 0.95');
SELECT diag('held-out recall at the chosen probes ' || (SELECT probes FROM rv107_chosen) || ': ' || rv107_recall());
-- The planner costs the probes the target picks.
CREATE FUNCTION rv107_cost() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
	EXECUTE $q$EXPLAIN (FORMAT JSON) SELECT id FROM rv107_items ORDER BY v <-> '[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10$q$ INTO j;
	RETURN (j -> 0 -> 'Plan' -> 'Plans' -> 0 ->> 'Total Cost')::float8;
END $$;
SET LOCAL ruvector.ivfflat_probes = 100;
CREATE TEMP TABLE rv107_costs AS SELECT rv107_cost() AS target_cost;
SET LOCAL ruvector.ivfflat_target_recall = 0;
DO $$ BEGIN PERFORM set_config('ruvector.ivfflat_probes', (SELECT probes FROM rv107_chosen)::text, true); END $$;
SELECT is(rv107_cost(), (SELECT target_cost FROM rv107_costs), 'the plan''s cost under the target is that of the probes it picks');
SET LOCAL ruvector.ivfflat_probes = 3;
SET LOCAL ruvector.ivfflat_target_recall = 1;
SELECT is(substring(rv107_explain() FROM 'probes ([0-9]+) of 100 lists \(for target recall 1: 1 measured\)')::int,
          (SELECT min(probes) FROM rv107_curve WHERE recall >= 1), 'target 1: the first point measured at 1');
SET LOCAL ruvector.ivfflat_target_recall = 0.01;
SELECT matches(rv107_explain(), 'rv107_ivf: probes 1 of 100 lists \(for target recall 0\.01', 'a low target: one probe');
SET LOCAL ruvector.ivfflat_target_recall = 0;
SELECT matches(rv107_explain(), 'rv107_ivf: probes 3 of 100 lists, ', 'target 0 (off): the probes setting, as before');
SELECT throws_ok($$SET ruvector.ivfflat_target_recall = 1.5$$, '22023', NULL, 'a target over 1 is refused');
-- The index's own target_recall option applies when the session sets none.
ALTER INDEX rv107_ivf SET (target_recall = 0.95);
SELECT is(substring(rv107_explain() FROM 'probes ([0-9]+) of 100 lists \(for target recall 0\.95')::int,
          (SELECT probes FROM rv107_chosen), 'WITH (target_recall = 0.95) picks the same probes as the setting');
SET LOCAL ruvector.ivfflat_target_recall = 0.01;
SELECT matches(rv107_explain(), 'probes 1 of 100 lists \(for target recall 0\.01', 'a session target above 0 overrides the index''s');
SET LOCAL ruvector.ivfflat_target_recall = 0;
ALTER INDEX rv107_ivf RESET (target_recall);
SELECT matches(rv107_explain(), 'rv107_ivf: probes 3 of 100 lists, ', 'with the option reset: the probes setting');
SELECT throws_ok($$ALTER INDEX rv107_ivf SET (target_recall = 2)$$, '22023', NULL, 'an option over 1 is refused');

-- ---- Per-query probes: lists within a ratio of the nearest centroid's distance ---------------------
-- A target of 0.98: fixed probes jump from 8 to 16 lists here, per-query probes need fewer.
SET LOCAL ruvector.ivfflat_target_recall = 0.98;
CREATE TEMP TABLE rv107_fixed98 AS
	SELECT substring(rv107_explain() FROM 'probes ([0-9]+) of 100 lists \(for target recall 0\.98')::int AS probes;
SET LOCAL ruvector.ivfflat_target_per_query = on;
-- EXPLAIN ANALYZE of every held-out query's top 10 over a table (per-query probes: the mean and range).
CREATE FUNCTION rv107_explain_over(items regclass, queries regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE format('EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
		SELECT qid, array(SELECT id FROM %s i ORDER BY i.v <-> q.v LIMIT 10) FROM %s q', items, queries)
	LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;
SELECT ok((SELECT count(*) FROM rv107_curve WHERE ratio IS NOT NULL) >= 3, 'the curve has per-query points (ratio, recall, mean probes)');
SELECT diag('per-query curve: ' || (SELECT string_agg(round(ratio::numeric, 3) || ':' || round(recall::numeric, 3) || '@' || round(mean_probes::numeric, 1), ' ' ORDER BY ratio)
                                    FROM rv107_curve WHERE ratio IS NOT NULL));
-- The first ratio whose recall meets the target with 95% confidence, if it probed fewer lists on the sample.
CREATE TEMP TABLE rv107_per_query AS
	SELECT coalesce((SELECT mean_probes < (SELECT probes FROM rv107_fixed98) FROM rv107_curve
	                 WHERE ratio IS NOT NULL AND recall - 1.645 * sqrt(recall * (1 - recall) / 100) >= 0.98
	                 ORDER BY ratio LIMIT 1), false) AS chosen;
SELECT is(rv107_explain_over('rv107_items', 'rv107_queries') ~ 'rv107_ivf: probes [0-9.]+ on average \([0-9]+\.\.[0-9]+, lists within ratio [0-9.e+-]+ of the nearest\) of 100 lists \(for target recall 0\.98: [0-9.]+ measured\)',
          (SELECT chosen FROM rv107_per_query),
          'the target picks per-query probes exactly when the curve says they need fewer lists (EXPLAIN shows mean, range, ratio)');
SELECT ok(NOT (SELECT chosen FROM rv107_per_query)
          OR substring(rv107_explain_over('rv107_items', 'rv107_queries') FROM 'probes ([0-9.]+) on average')::float8 < (SELECT probes FROM rv107_fixed98),
          'when chosen, held-out queries probe fewer lists on average than the fixed probes');
SELECT cmp_ok(rv107_recall(), '>=', 0.98::float8, 'held-out queries under target 0.98: recall@10 >= 0.98');
SELECT diag('fixed probes for 0.98: ' || (SELECT probes FROM rv107_fixed98) || ', per-query chosen: ' || (SELECT chosen FROM rv107_per_query));
SELECT diag('target 0.98: ' || substring(rv107_explain_over('rv107_items', 'rv107_queries') FROM 'rv107_ivf: probes [^"]*') || ', held-out recall ' || rv107_recall());
SET LOCAL ruvector.ivfflat_target_recall = 0;
SET LOCAL ruvector.ivfflat_probe_ratio = 1000000;
SELECT matches(rv107_explain(), 'rv107_ivf: probes 100\.0 on average \(100\.\.100, lists within ratio 1e\+06 of the nearest\) of 100 lists, ',
               'ruvector.ivfflat_probe_ratio without a target: a huge ratio probes every list');
SELECT is(rv107_recall(), 1::float8, 'and answers exactly');
SET LOCAL ruvector.ivfflat_probe_ratio = 0;
SELECT matches(rv107_explain(), 'rv107_ivf: probes 3 of 100 lists, ', 'ratio 0 (off): the probes setting');
SELECT throws_ok($$SET ruvector.ivfflat_probe_ratio = -1$$, '22023', NULL, 'a negative ratio is refused');
SET LOCAL ruvector.ivfflat_target_per_query = off;

-- Overlapping Gaussian clusters (200 in 32 dimensions, 50 lists), where queries differ in how many
-- lists hold their neighbours: the target picks per-query probes, which probe fewer lists on
-- average than the fixed probes it would pick, and held-out queries still meet it.
SET LOCAL ruvector.ivfflat_target_per_query = on;
SET LOCAL ruvector.ivfflat_target_recall = 0;
\set gc_seed 0.42
\set gc_rows 20000
\set gc_items rv107_g
\set gc_centers rv107_g_centers
\set gc_queries rv107_g_queries
\ir include/gauss_clusters.sql
CREATE INDEX rv107_g_ivf ON rv107_g USING ruivfflat (v vector_l2_ops) WITH (lists = 50);
SET LOCAL enable_seqscan = on;
SET LOCAL enable_indexscan = off;
CREATE TEMP TABLE rv107_g_truth AS SELECT qid, array(SELECT id FROM rv107_g i ORDER BY i.v <-> q.v LIMIT 10) AS ids FROM rv107_g_queries q;
SET LOCAL enable_indexscan = on;
SET LOCAL enable_seqscan = off;
CREATE FUNCTION rv107_g_recall() RETURNS double precision LANGUAGE sql AS $$
	SELECT sum((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)))::double precision / (10 * count(*))
	FROM (SELECT qid, array(SELECT id FROM rv107_g i ORDER BY i.v <-> q.v LIMIT 10) AS ids FROM rv107_g_queries q) g
	JOIN rv107_g_truth t USING (qid) $$;
SELECT count(*) FROM ruvector_index_tune('rv107_g_ivf', 100) \g /dev/null
SET LOCAL ruvector.ivfflat_target_recall = 0.9;
SET LOCAL ruvector.ivfflat_target_per_query = off;
CREATE TEMP TABLE rv107_g_fixed AS SELECT substring(rv107_explain_over('rv107_g', 'rv107_g_queries') FROM 'probes ([0-9]+) of 50 lists')::int AS probes;
SET LOCAL ruvector.ivfflat_target_per_query = on;
SELECT matches(rv107_explain_over('rv107_g', 'rv107_g_queries'), 'rv107_g_ivf: probes [0-9.]+ on average \([0-9]+\.\.[0-9]+, lists within ratio [0-9.]+ of the nearest\) of 50 lists \(for target recall 0\.9: ',
               'overlapping clusters: the target picks per-query probes');
SELECT cmp_ok(substring(rv107_explain_over('rv107_g', 'rv107_g_queries') FROM 'probes ([0-9.]+) on average')::float8, '<', (SELECT probes FROM rv107_g_fixed)::float8,
              'held-out queries probe fewer lists on average than the fixed probes the target would pick');
SELECT cmp_ok(rv107_g_recall(), '>=', 0.9::float8, 'and meet the target: recall@10 >= 0.9');
SELECT diag('overlapping clusters, target 0.9: fixed ' || (SELECT probes FROM rv107_g_fixed) || ' probes; '
            || substring(rv107_explain_over('rv107_g', 'rv107_g_queries') FROM 'probes [0-9.]+ on average \([^)]*\)') || ', held-out recall ' || rv107_g_recall());
SET LOCAL ruvector.ivfflat_target_recall = 0;
SET LOCAL ruvector.ivfflat_target_per_query = off;

-- ---- A rebuild drops the curve (it was measured on other lists) -----------------------------------
REINDEX INDEX rv107_ivf;
SET LOCAL ruvector.ivfflat_target_recall = 0.95;
SELECT matches(rv107_explain(), 'probes 3 of 100 lists \(fixed: target recall 0\.95, but the index has no measured curve\)',
               'after REINDEX an index without a target_recall option has no curve (the session''s target is not the index''s)');
-- ... unless the index has a target: then every build measures the new lists' curve.
SET LOCAL ruvector.ivfflat_target_recall = 0;
ALTER INDEX rv107_ivf SET (target_recall = 0.95);
REINDEX INDEX rv107_ivf;
SELECT matches(rv107_explain(), 'rv107_ivf: probes [0-9]+ of 100 lists \(for target recall 0\.95: [0-9.]+ measured\)',
               'with WITH (target_recall = 0.95) a REINDEX measures the curve again: EXPLAIN shows the target''s probes');
SELECT cmp_ok(rv107_recall(), '>=', 0.95::float8, 'after REINDEX held-out queries under the target: recall@10 >= 0.95');
SELECT diag('after REINDEX: ' || substring(rv107_explain() FROM 'probes [0-9]+ of 100 lists \([^)]*\)') || ', held-out recall ' || rv107_recall());
-- A build whose recall cannot be measured still succeeds (a NOTICE says why it has no curve).
SET LOCAL client_min_messages = warning;
SELECT lives_ok($$CREATE INDEX rv107_partial ON rv107_items USING ruivfflat (v vector_l2_ops) WITH (lists = 10, target_recall = 0.9) WHERE id > 10$$,
                'a partial index WITH (target_recall) builds (its recall curve is not measured)');
RESET client_min_messages;
DROP INDEX rv107_partial;

-- ---- Bad input ------------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM ruvector_index_tune('rv107_ivf', 0)$$, '22023', 'sample must be between 1 and 1000', 'sample 0 is refused');
SELECT throws_ok($$SELECT * FROM ruvector_index_tune('rv107_items_pkey')$$, '42809', NULL, 'a btree index is refused');
CREATE INDEX rv107_hnsw ON rv107_queries USING ruhnsw (v vector_l2_ops);
SELECT is((SELECT count(*) FROM ruvector_index_tune('rv107_hnsw') WHERE ef_search IS NOT NULL AND probes IS NULL), 11::bigint,
          'a ruhnsw index is measured at ef_search points, not probes (pgtap 108)');
CREATE TABLE rv107_empty (v vector(3));
SET client_min_messages = warning;
CREATE INDEX rv107_empty_ivf ON rv107_empty USING ruivfflat (v) WITH (lists = 4);
RESET client_min_messages;
SELECT throws_ok($$SELECT * FROM ruvector_index_tune('rv107_empty_ivf')$$, '55000', NULL, 'an empty table has nothing to sample');
SELECT lives_ok($$CREATE INDEX rv107_empty_target ON rv107_empty USING ruivfflat (v) WITH (lists = 4, target_recall = 0.9)$$,
                'an empty table WITH (target_recall) builds (nothing to measure yet)');
CREATE ROLE rv107_reader;
GRANT SELECT ON rv107_items TO rv107_reader;
SET ROLE rv107_reader;
SELECT throws_ok($$SELECT * FROM ruvector_index_tune('rv107_ivf')$$, '42501', 'must be owner of index rv107_ivf',
                 'only the owner may store a curve');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
