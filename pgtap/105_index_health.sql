-- ruvector_index_health(index) and the ruvector_index_health view (issue 18): the figures of
-- ruivfflat and ruhnsw indexes, when an index is degraded and why, the auto_maintain option,
-- privileges and bad input. (Rebuilds, the maintenance process, and ruhnsw's freed slots and churn,
-- which need VACUUM and committed statistics: tests/sh/105_*.sh and 106_*.sh.)
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(84);

SELECT has_function('ruvector_index_health', ARRAY['regclass', 'integer'], 'ruvector_index_health(regclass, integer) exists');
SELECT has_view('ruvector_index_health', 'the ruvector_index_health view exists');

-- Ten well separated clusters in 4 dimensions; row g belongs to cluster g % 10.
CREATE FUNCTION rv105_row(g bigint) RETURNS vector LANGUAGE sql AS $$
	SELECT ARRAY[(g % 10) * 100 + (g * 7919 % 13) / 13.0, (g % 10) * 50 + (g * 104729 % 17) / 17.0,
	             (g * 15485863 % 19) / 19.0, (g % 10) * 25.0]::vector
$$;

-- ---- An index built on an empty table: one list, healthy until the table has rows for more ----
CREATE TABLE rv105_items (id bigserial PRIMARY KEY, embedding vector(4));
SET client_min_messages = warning;  -- the "created with little data" notice
CREATE INDEX rv105_ivf ON rv105_items USING ruivfflat (embedding vector_l2_ops) WITH (lists = 10);
RESET client_min_messages;
SELECT results_eq($$SELECT access_method, state, lists, lists_requested, rows, built_rows, degraded_by
                    FROM ruvector_index_health('rv105_ivf')$$,
                  $$VALUES ('ruivfflat'::text, 'healthy'::text, 1, 10, 0::bigint, 0::bigint, NULL::text)$$,
                  'an index built on an empty table: one of ten lists, no rows, healthy');
SELECT matches((SELECT reason FROM ruvector_index_health('rv105_ivf')), '^1 of 10 lists: too few rows for more',
               'the reason says why one list is fine for now');

-- 389 rows: under 39 per requested list.
INSERT INTO rv105_items (embedding) SELECT rv105_row(g) FROM generate_series(1, 389) g;
SELECT results_eq($$SELECT state, rows, list_min, list_max FROM ruvector_index_health('rv105_ivf')$$,
                  $$VALUES ('healthy'::text, 389::bigint, 389::bigint, 389::bigint)$$,
                  '389 rows for 10 requested lists (38.9 each): still healthy, all in the one list');
-- 390 rows: 39 per requested list.
INSERT INTO rv105_items (embedding) VALUES (rv105_row(390));
SELECT results_eq($$SELECT state, degraded_by, rebuild_would_help, rows FROM ruvector_index_health('rv105_ivf')$$,
                  $$VALUES ('degraded'::text, 'lists'::text, true, 390::bigint)$$,
                  'at 39 rows per requested list the one-list index is degraded, and a rebuild would help');
SELECT is((SELECT reason FROM ruvector_index_health('rv105_ivf')),
          '1 list of 10 requested while the index holds 39 rows per requested list', 'the reason names the figures');
SET LOCAL ruvector.maintenance_min_rows_per_list = 40;
SELECT is((SELECT state FROM ruvector_index_health('rv105_ivf')), 'healthy',
          'ruvector.maintenance_min_rows_per_list moves the threshold (40: healthy again)');
RESET ruvector.maintenance_min_rows_per_list;
SELECT is((SELECT count(*) FROM ruvector_index_health WHERE index = 'rv105_ivf'::regclass AND state = 'degraded'),
          1::bigint, 'the view shows the degraded index');

-- NULL rows are not indexed and do not count.
INSERT INTO rv105_items (embedding) SELECT NULL FROM generate_series(1, 5);
SELECT is((SELECT rows FROM ruvector_index_health('rv105_ivf')), 390::bigint, 'NULL rows are not counted');

-- ---- A fresh build on the same rows: every list, its own imbalance recorded ------------------
REINDEX INDEX rv105_ivf;
SELECT results_eq($$SELECT state, lists, lists_requested, rows, built_rows, degraded_by FROM ruvector_index_health('rv105_ivf')$$,
                  $$VALUES ('healthy'::text, 10, 10, 390::bigint, 390::bigint, NULL::text)$$,
                  'after REINDEX: ten lists, healthy');
SELECT ok((SELECT build_imbalance = imbalance AND imbalance >= 1 FROM ruvector_index_health('rv105_ivf')),
          'a fresh build records its own imbalance, which the lists still have');
SELECT results_eq($$SELECT list_min, list_max, imbalance FROM ruvector_index_health('rv105_ivf')$$,
                  $$SELECT list_min, list_max, imbalance FROM ruvector_ivfflat_stats('rv105_ivf')$$,
                  'list sizes and imbalance agree with ruvector_ivfflat_stats');
SELECT matches((SELECT reason FROM ruvector_index_health('rv105_ivf')), '^list imbalance [0-9.]+ is within 3\.0 times the build''s',
               'a healthy built index says its imbalance is within the ratio');
SELECT ok((SELECT abs(drift - 1) < 1e-6 FROM ruvector_index_health('rv105_ivf')),
          'a fresh build reads a drift of 1: its rows lie as far from their centroids as the build measured');
SELECT matches((SELECT reason FROM ruvector_index_health('rv105_ivf')), 'drift 1\.00 within 1\.50$',
               'the healthy reason names the drift and its threshold');

-- ---- Drift: rows shifted away from their centroids, as many in every list (no imbalance) ------
CREATE TABLE rv105_drift (id bigserial PRIMARY KEY, embedding vector(4));
INSERT INTO rv105_drift (embedding) SELECT rv105_row(g) FROM generate_series(1, 1000) g;
CREATE INDEX rv105_drift_ivf ON rv105_drift USING ruivfflat (embedding vector_l2_ops) WITH (lists = 10);
SELECT results_eq($$SELECT state, lists, round(drift::numeric, 3) FROM ruvector_index_health('rv105_drift_ivf')$$,
                  $$VALUES ('healthy'::text, 10, 1.000)$$, 'a fresh 10-list build: healthy, drift 1');
-- Other metrics and sq8 lists measure drift too (ip as 1 - cosine to the unit centroids; sq8 on the codes).
CREATE INDEX rv105_drift_ip ON rv105_drift USING ruivfflat (embedding vector_ip_ops) WITH (lists = 10);
CREATE INDEX rv105_drift_sq8 ON rv105_drift USING ruivfflat (embedding vector_l2_ops) WITH (lists = 10, quantizer = sq8);
SELECT ok((SELECT bool_and(abs(drift - 1) < 1e-6) FROM ruvector_index_health
           WHERE index IN ('rv105_drift_ip'::regclass, 'rv105_drift_sq8'::regclass)),
          'fresh ip and sq8 builds read a drift of 1');
-- Each cluster's new rows sit 8 away from it (clusters are 25..100 apart): same list, same sizes.
INSERT INTO rv105_drift (embedding)
	SELECT rv105_row(g) + '[8, 0, 0, 0]'::vector FROM generate_series(1001, 1500) g;
SELECT results_eq($$SELECT state, degraded_by, rebuild_would_help FROM ruvector_index_health('rv105_drift_ivf')$$,
                  $$VALUES ('degraded'::text, 'drift'::text, true)$$,
                  '500 rows shifted off their clusters: degraded by drift, a rebuild would help');
SELECT ok((SELECT drift > 1.5 AND imbalance < 3 * build_imbalance FROM ruvector_index_health('rv105_drift_ivf')),
          'its drift is over 1.5 while its imbalance is within the ratio');
SELECT is((SELECT degraded_by FROM ruvector_index_health('rv105_drift_sq8')), 'drift',
          'the sq8 index sees the shifted rows drift too');
SELECT matches((SELECT reason FROM ruvector_index_health('rv105_drift_ivf')),
               '^rows lie [0-9.]+ times as far from their list''s centroid as at the build \(mean [0-9.e+-]+, build [0-9.e+-]+\), over 1\.50$',
               'the reason names the drift, both means and the threshold');
SET LOCAL ruvector.maintenance_drift_ratio = 1000;
SELECT is((SELECT state FROM ruvector_index_health('rv105_drift_ivf')), 'healthy',
          'ruvector.maintenance_drift_ratio moves the threshold');
RESET ruvector.maintenance_drift_ratio;
SELECT throws_ok($$SET ruvector.maintenance_drift_ratio = 1$$, '22023', NULL, 'a drift ratio of 1 or less is refused');
REINDEX INDEX rv105_drift_ivf;
SELECT results_eq($$SELECT state, round(drift::numeric, 3) FROM ruvector_index_health('rv105_drift_ivf')$$,
                  $$VALUES ('healthy'::text, 1.000)$$, 'a rebuild centres the lists on the rows again: drift 1');

-- ---- Shifted inserts pile into one list: imbalance well beyond the build's --------------------
INSERT INTO rv105_items (embedding) SELECT rv105_row(g * 10 + 3) FROM generate_series(1, 2000) g;
SELECT results_eq($$SELECT state, degraded_by, rebuild_would_help FROM ruvector_index_health('rv105_ivf')$$,
                  $$VALUES ('degraded'::text, 'imbalance'::text, true)$$,
                  '2000 inserts into one cluster: degraded by imbalance');
SELECT ok((SELECT imbalance > 3 * build_imbalance FROM ruvector_index_health('rv105_ivf')),
          'its imbalance is over 3 times the build''s');
SELECT matches((SELECT reason FROM ruvector_index_health('rv105_ivf')), '^list imbalance [0-9.]+ is over 3\.0 times the build''s [0-9.]+$',
               'the reason names both imbalances');
SET LOCAL ruvector.maintenance_imbalance_ratio = 1000;
SELECT is((SELECT state FROM ruvector_index_health('rv105_ivf')), 'healthy',
          'ruvector.maintenance_imbalance_ratio moves the threshold');
RESET ruvector.maintenance_imbalance_ratio;
SELECT throws_ok($$SET ruvector.maintenance_imbalance_ratio = 1$$, '22023', NULL, 'a ratio of 1 or less is refused');
REINDEX INDEX rv105_ivf;
SELECT is((SELECT state FROM ruvector_index_health('rv105_ivf')), 'healthy', 'a rebuild on the new rows is healthy again');
SELECT is((SELECT rows FROM ruvector_index_health('rv105_ivf')), 2390::bigint, 'with every row');

-- ---- Estimated recall@10 at the session's probes, on request ----------------------------------
-- Uniform random rows (no clusters): one probe of 20 lists misses many neighbours.
SELECT setseed(0.105);
CREATE TABLE rv105_recall (id bigserial PRIMARY KEY, embedding vector(8));
INSERT INTO rv105_recall (embedding)
	SELECT ARRAY(SELECT random() FROM generate_series(1, 8) WHERE g > 0)::vector FROM generate_series(1, 3000) g;
CREATE INDEX rv105_recall_ivf ON rv105_recall USING ruivfflat (embedding vector_l2_ops) WITH (lists = 20);
SELECT is((SELECT estimated_recall FROM ruvector_index_health('rv105_recall_ivf')), NULL,
          'without recall_sample no recall is estimated (NULL)');
SET LOCAL ruvector.ivfflat_probes = 20;
SELECT is((SELECT estimated_recall FROM ruvector_index_health('rv105_recall_ivf', 30)), 1::float8,
          'probes = lists: the index answers exactly, estimated recall 1');
SET LOCAL ruvector.ivfflat_probes = 1;
SELECT ok((SELECT estimated_recall BETWEEN 0.05 AND 0.9 FROM ruvector_index_health('rv105_recall_ivf', 30)),
          'one probe of 20 lists on uniform data: estimated recall well under 1');
SELECT is((SELECT state FROM ruvector_index_health('rv105_recall_ivf', 30)), 'healthy',
          'ruvector.maintenance_min_recall is off by default');
SET LOCAL ruvector.maintenance_min_recall = 0.95;
SELECT results_eq($$SELECT state, degraded_by FROM ruvector_index_health('rv105_recall_ivf', 30)$$,
                  $$VALUES ('degraded'::text, 'recall'::text)$$, 'under ruvector.maintenance_min_recall: degraded by recall');
SELECT matches((SELECT reason FROM ruvector_index_health('rv105_recall_ivf', 20)),
               '^estimated recall@10 0\.[0-9]+ is under 0\.950 \(20 sample queries at probes 1\)$',
               'the reason names the estimate, the target and the sample');
SELECT is((SELECT state FROM ruvector_index_health('rv105_recall_ivf')), 'healthy',
          'without an estimate the recall target does not apply');
SET LOCAL ruvector.ivfflat_probes = 20;
SELECT is((SELECT state FROM ruvector_index_health('rv105_recall_ivf', 30)), 'healthy',
          'with enough probes the target is met');
RESET ruvector.maintenance_min_recall;
RESET ruvector.ivfflat_probes;
-- sq8 lists (re-ranked through the heap) and cosine (rechecked order): exact with every list probed.
CREATE INDEX rv105_recall_sq8 ON rv105_recall USING ruivfflat (embedding vector_l2_ops) WITH (lists = 20, quantizer = sq8);
CREATE INDEX rv105_recall_cos ON rv105_recall USING ruivfflat (embedding vector_cosine_ops) WITH (lists = 20);
SET LOCAL ruvector.ivfflat_probes = 20;
SELECT is((SELECT estimated_recall FROM ruvector_index_health('rv105_recall_sq8', 20)), 1::float8,
          'an sq8 index at probes = lists: estimated recall 1');
SELECT is((SELECT estimated_recall FROM ruvector_index_health('rv105_recall_cos', 20)), 1::float8,
          'a cosine index at probes = lists: estimated recall 1 (its own operator''s exact answers)');
RESET ruvector.ivfflat_probes;
-- A sample row is left out of its own answers: it is its own nearest neighbour, which a query from
-- outside the table is not. One far row and a group of ten, in two lists: at probes 1 the far
-- row's list holds only itself (0 of its 10 neighbours found), and each of the ten finds the other
-- nine of its list but not the far row (9 of 10): 90 of 110. Counting each row as found by itself
-- would say 101 of 110.
CREATE TABLE rv105_self (id bigserial PRIMARY KEY, embedding vector(2));
INSERT INTO rv105_self (embedding) SELECT ARRAY[i * 0.01, 0]::vector FROM generate_series(1, 10) i;
INSERT INTO rv105_self (embedding) VALUES ('[1000,0]');
CREATE INDEX rv105_self_ivf ON rv105_self USING ruivfflat (embedding vector_l2_ops) WITH (lists = 2);
SET LOCAL ruvector.ivfflat_probes = 1;
SELECT is((SELECT round(estimated_recall::numeric, 4) FROM ruvector_index_health('rv105_self_ivf', 11)), round(90 / 110.0, 4),
          'each sample row is left out of its own answers (90 of 110 neighbours found at probes 1, not 101)');
RESET ruvector.ivfflat_probes;
CREATE INDEX rv105_recall_hnsw ON rv105_recall USING ruhnsw (embedding vector_l2_ops);
SELECT ok((SELECT estimated_recall > 0.5 FROM ruvector_index_health('rv105_recall_hnsw', 20)),
          'a ruhnsw index is estimated at the session''s ef_search');
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_recall_ivf', -1)$$, '22023',
                 'recall_sample must be between 0 and 1000', 'a negative sample is refused');
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_recall_ivf', 1001)$$, '22023', NULL, 'too large a sample is refused');
CREATE INDEX rv105_recall_expr ON rv105_recall USING ruivfflat (((embedding + embedding)::vector(8)) vector_l2_ops) WITH (lists = 5);
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_recall_expr', 10)$$, '0A000',
                 'cannot estimate the recall of index "rv105_recall_expr"', 'an expression index: 0A000');
SELECT is((SELECT lists FROM ruvector_index_health('rv105_recall_expr')), 5, 'whose other figures are readable');
CREATE INDEX rv105_recall_part ON rv105_recall USING ruivfflat (embedding vector_l2_ops) WITH (lists = 5) WHERE id > 10;
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_recall_part', 10)$$, '0A000', NULL, 'a partial index: 0A000');
CREATE ROLE rv105_limited;
GRANT SELECT ON rv105_recall TO rv105_limited;
ALTER TABLE rv105_recall ENABLE ROW LEVEL SECURITY;
CREATE POLICY rv105_half ON rv105_recall FOR SELECT USING (id % 2 = 0);
SET ROLE rv105_limited;
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_recall_ivf', 10)$$, '0A000', NULL,
                 'under row-level security: 0A000 (the exact answers would hide rows the index returns)');
SELECT is((SELECT rows FROM ruvector_index_health('rv105_recall_ivf')), 3000::bigint, 'the health without an estimate is readable');
RESET ROLE;

-- ---- Degraded, but a rebuild would not help: the last build saw every row there is -------------
CREATE TABLE rv105_small (id bigserial PRIMARY KEY, embedding vector(4));
INSERT INTO rv105_small (embedding) SELECT rv105_row(g) FROM generate_series(1, 50) g;
SET client_min_messages = warning;
CREATE INDEX rv105_small_ivf ON rv105_small USING ruivfflat (embedding vector_l2_ops) WITH (lists = 100);
RESET client_min_messages;
SET LOCAL ruvector.maintenance_min_rows_per_list = 0.5;
SELECT results_eq($$SELECT state, degraded_by, rebuild_would_help, lists, rows, built_rows FROM ruvector_index_health('rv105_small_ivf')$$,
                  $$VALUES ('degraded'::text, 'lists'::text, false, 50, 50::bigint, 50::bigint)$$,
                  '50 of 100 lists at 0.5 rows per requested list: degraded, but a rebuild of the same 50 rows would not help');
INSERT INTO rv105_small (embedding) SELECT rv105_row(g) FROM generate_series(51, 60) g;
SELECT is((SELECT rebuild_would_help FROM ruvector_index_health('rv105_small_ivf')), true,
          'with 10 more rows a rebuild would train more lists');
RESET ruvector.maintenance_min_rows_per_list;
SELECT throws_ok($$SET ruvector.maintenance_min_rows_per_list = 0$$, '22023', NULL, 'a threshold of 0 rows per list is refused');

-- ---- The auto_maintain option ------------------------------------------------------------------
SELECT is((SELECT auto_maintain FROM ruvector_index_health('rv105_ivf')), true, 'auto_maintain is on by default');
ALTER INDEX rv105_ivf SET (auto_maintain = off);
SELECT is((SELECT auto_maintain FROM ruvector_index_health('rv105_ivf')), false, 'ALTER INDEX ... SET (auto_maintain = off)');
CREATE INDEX rv105_ivf_off ON rv105_items USING ivfflat (embedding vector_l2_ops) WITH (lists = 5, auto_maintain = false);
SELECT results_eq($$SELECT access_method, auto_maintain, lists FROM ruvector_index_health('rv105_ivf_off')$$,
                  $$VALUES ('ruivfflat'::text, false, 5)$$, 'pgvector''s ivfflat name, WITH (auto_maintain = false)');
SELECT throws_ok($$CREATE INDEX ON rv105_items USING ruivfflat (embedding) WITH (auto_maintain = 'maybe')$$, '22023', NULL,
                 'a non-boolean auto_maintain is refused');

-- ---- ruhnsw: its figures; healthy after a build ------------------------------------------------
CREATE INDEX rv105_hnsw ON rv105_items USING ruhnsw (embedding vector_l2_ops);
SELECT results_eq($$SELECT access_method, state, rows, built_rows, dead_elements, lists, imbalance, auto_maintain, degraded_by, drift
                    FROM ruvector_index_health('rv105_hnsw')$$,
                  $$VALUES ('ruhnsw'::text, 'healthy'::text, 2390::bigint, 2390::bigint, 0::bigint, NULL::integer, NULL::float8, true, NULL::text, NULL::float8)$$,
                  'a ruhnsw index: its rows and the build''s, no freed slot, healthy, auto_maintain on, no ivfflat figures');
SELECT matches((SELECT reason FROM ruvector_index_health('rv105_hnsw')), '^[0-9]+ elements, 0 freed slots \(0%, under 50%\)',
               'the reason counts its elements (equal rows share one) and freed slots against the dead ratio');
SELECT set_eq($$SELECT indexname::text FROM ruvector_index_health WHERE tablename = 'rv105_items'$$,
              ARRAY['rv105_ivf', 'rv105_ivf_off', 'rv105_hnsw'], 'the view lists every ruivfflat and ruhnsw index of the table');
SELECT is((SELECT rows FROM ruvector_index_health WHERE indexname = 'rv105_hnsw'), 2390::bigint, 'with the function''s figures');
ALTER INDEX rv105_hnsw SET (auto_maintain = off);
SELECT is((SELECT auto_maintain FROM ruvector_index_health('rv105_hnsw')), false, 'ruhnsw: ALTER INDEX ... SET (auto_maintain = off)');
SELECT throws_ok($$CREATE INDEX ON rv105_items USING hnsw (embedding vector_l2_ops) WITH (auto_maintain = 'maybe')$$, '22023', NULL,
                 'a non-boolean auto_maintain is refused for hnsw too');
SELECT throws_ok($$SET ruvector.maintenance_dead_ratio = 0$$, '22023', NULL, 'a dead ratio of 0 is refused');
SELECT throws_ok($$SET ruvector.maintenance_dead_ratio = 1.5$$, '22023', NULL, 'a dead ratio over 1 is refused');
SELECT throws_ok($$SET ruvector.maintenance_churn_ratio = 0$$, '22023', NULL, 'a churn ratio of 0 is refused');

-- ---- ruhnsw: estimated recall at the index's ef_search, degraded under the target --------------
CREATE INDEX rv105_recall_hnsw1 ON rv105_recall USING ruhnsw (embedding vector_l2_ops);
SET LOCAL hnsw.ef_search = 1;  -- LIMIT 10 answered with one row: recall@10 at most 0.1
SELECT results_eq($$SELECT state, estimated_at, estimated_recall <= 0.1 FROM ruvector_index_health('rv105_recall_hnsw1', 20)$$,
                  $$VALUES ('healthy'::text, 1, true)$$,
                  'ef_search 1: estimated recall@10 at most 0.1, made at ef_search 1; healthy without a target');
SET LOCAL ruvector.maintenance_min_recall = 0.9;
SELECT results_eq($$SELECT state, degraded_by, rebuild_would_help FROM ruvector_index_health('rv105_recall_hnsw1', 20)$$,
                  $$VALUES ('degraded'::text, 'recall'::text, false)$$,
                  'under ruvector.maintenance_min_recall a ruhnsw index is degraded by recall, but a rebuild of the rows the build saw would not help');
SELECT matches((SELECT reason FROM ruvector_index_health('rv105_recall_hnsw1', 20)),
               '^estimated recall@10 0\.[0-9]+ is under 0\.900 \(20 sample queries at ef_search 1\)$',
               'the reason names the estimate, the target, the sample and the ef_search');
INSERT INTO rv105_recall (embedding) SELECT ARRAY(SELECT random() FROM generate_series(1, 8) WHERE g > 0)::vector FROM generate_series(1, 10) g;
SELECT results_eq($$SELECT state, degraded_by, rebuild_would_help, rows FROM ruvector_index_health('rv105_recall_hnsw1', 20)$$,
                  $$VALUES ('degraded'::text, 'recall'::text, true, 3010::bigint)$$,
                  'once rows changed since the build a rebuild would help');
SET LOCAL hnsw.ef_search = 200;
SELECT results_eq($$SELECT state, estimated_at, estimated_recall > 0.9 FROM ruvector_index_health('rv105_recall_hnsw1', 20)$$,
                  $$VALUES ('healthy'::text, 200, true)$$, 'at ef_search 200 the target is met');
RESET ruvector.maintenance_min_recall;
RESET hnsw.ef_search;
SELECT results_eq($$SELECT state, degraded_by FROM ruvector_index_health('rv105_recall_hnsw1')$$,
                  $$VALUES ('healthy'::text, NULL::text)$$, 'without a sample (and no background estimate) no recall applies');

-- ---- Bad input ---------------------------------------------------------------------------------
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_items_pkey')$$, '42809', '"rv105_items_pkey" is not a ruivfflat or ruhnsw index',
                 'a btree index is refused');
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_items')$$, '42809', NULL, 'a table is refused');
SELECT is((SELECT count(*) FROM ruvector_index_health(NULL)), 1::bigint, 'NULL gives a NULL row (strict)');
SELECT is((SELECT state FROM ruvector_index_health(NULL)), NULL, 'whose figures are NULL');

-- ---- Privileges: reading the index needs SELECT on its table -----------------------------------
CREATE ROLE rv105_nobody;
CREATE ROLE rv105_reader;
GRANT SELECT ON rv105_items TO rv105_reader;
SET ROLE rv105_nobody;
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_ivf')$$, '42501', 'permission denied for table rv105_items',
                 'without SELECT on the table: 42501');
SELECT is((SELECT count(*) FROM ruvector_index_health WHERE tablename = 'rv105_items'), 0::bigint,
          'and the view does not show its indexes');
RESET ROLE;
SET ROLE rv105_reader;
SELECT is((SELECT state FROM ruvector_index_health('rv105_ivf')), 'healthy', 'with SELECT on the table the health is readable');
SELECT is((SELECT count(*) FROM ruvector_index_health WHERE tablename = 'rv105_items'), 3::bigint, 'and the view shows all three');
RESET ROLE;

-- ---- An invalid index (an interrupted concurrent build) is not in the view -----------------------
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'rv105_ivf_off'::regclass;
SELECT throws_ok($$SELECT * FROM ruvector_index_health('rv105_ivf_off')$$, '55000', NULL, 'an invalid index: 55000');
SELECT is((SELECT count(*) FROM ruvector_index_health WHERE indexname = 'rv105_ivf_off'), 0::bigint,
          'the view skips invalid indexes');
SELECT is((SELECT count(*) FROM rv105_items), 2395::bigint, 'the table is intact');

SELECT * FROM finish();
ROLLBACK;
