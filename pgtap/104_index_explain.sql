-- EXPLAIN ANALYZE shows what a vector index scan did, in the index name (index_explain.hpp); plain
-- EXPLAIN prints the name alone, as pgvector does.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(15);

SELECT setseed(0.5);
CREATE TABLE ex (id int, v vector(3));
INSERT INTO ex SELECT i, ARRAY[random(), random(), random()] FROM generate_series(1, 5000) i;
CREATE INDEX ex_ivf ON ex USING ivfflat (v) WITH (lists = 50);
ANALYZE ex;
SET enable_seqscan = off;
SET ivfflat.probes = 3;

CREATE FUNCTION plan_of(q text, run boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	out text := '';
BEGIN
	FOR line IN EXECUTE format('EXPLAIN (ANALYZE %s, COSTS OFF, TIMING OFF, SUMMARY OFF) %s', CASE WHEN run THEN 'on' ELSE 'off' END, q) LOOP
		out := out || line || E'\n';
	END LOOP;
	RETURN out;
END $$;

SELECT matches(plan_of($$SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$, false),
               'Index Scan using ex_ivf on ex', 'plain EXPLAIN prints the index name alone');
SELECT matches(plan_of($$SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$, true),
               'Index Scan using "ex_ivf: probes 3 of 50 lists, [0-9]+ rows scanned in 1 batch" on ex',
               'EXPLAIN ANALYZE shows the probes, the lists and the rows the scan read');
SELECT matches(plan_of($$SELECT e.id, s.id FROM ex e CROSS JOIN LATERAL
                           (SELECT id FROM ex x ORDER BY x.v <-> e.v LIMIT 2) s WHERE e.id < 4$$, true),
               'ex_ivf: probes 3 of 50 lists, [0-9]+ rows scanned in 3 batches over 3 scans',
               'a rescanned index (nested loop) adds up its scans');
SET ivfflat.iterative_scan = relaxed_order;
SELECT matches(plan_of($$SELECT id FROM ex WHERE id % 100 = 0 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$, true),
               'ex_ivf: probes 3 of 50 lists, relaxed_order up to 50 lists, [0-9]+ rows scanned in [0-9]+ batches',
               'an iterative scan shows its mode, its limit and its batches');
RESET ivfflat.iterative_scan;

-- A query that fails with its scan open leaves nothing behind for the next EXPLAIN.
SAVEPOINT s;
DECLARE c CURSOR FOR SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5;
SELECT lives_ok($$FETCH 1 FROM c$$, 'a cursor opens the scan');
SELECT throws_ok($$SELECT 1 / 0$$, '22012', NULL, 'then the transaction fails');
ROLLBACK TO SAVEPOINT s;
SELECT matches(plan_of($$SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$, true),
               'Index Scan using "ex_ivf: probes 3 of 50 lists, [0-9]+ rows scanned in 1 batch" on ex',
               'after the aborted scan, EXPLAIN ANALYZE describes only the new one');
SELECT is((SELECT count(*) FROM (SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5) s), 5::bigint,
          'the index still answers');

-- ruhnsw: ef_search, the iterative mode, elements visited at layer 0, batches and rescans.
DROP INDEX ex_ivf;
CREATE INDEX ex_hnsw ON ex USING hnsw (v vector_l2_ops);
SET hnsw.ef_search = 30;
SELECT matches(plan_of($$SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$, false),
               'Index Scan using ex_hnsw on ex', 'plain EXPLAIN of an hnsw scan prints the index name alone');
SELECT matches(plan_of($$SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$, true),
               'Index Scan using "ex_hnsw: ef_search 30, [1-9][0-9]* elements visited" on ex',
               'EXPLAIN ANALYZE shows ef_search and the elements the search visited');
SELECT matches(plan_of($$SELECT e.id, s.id FROM ex e CROSS JOIN LATERAL
                           (SELECT id FROM ex x ORDER BY x.v <-> e.v LIMIT 2) s WHERE e.id < 4$$, true),
               'ex_hnsw: ef_search 30, [1-9][0-9]* elements visited over 3 scans', 'a rescanned hnsw index adds up its scans');
SET hnsw.iterative_scan = strict_order;
SELECT matches(plan_of($$SELECT id FROM ex WHERE id % 500 = 0 ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 8$$, true),
               'ex_hnsw: ef_search 30, strict_order, [1-9][0-9]* elements visited in ([2-9]|[1-9][0-9]+) batches',
               'an iterative hnsw scan shows its mode and its batches');

-- The scan settings show in EXPLAIN (SETTINGS) when they differ from their defaults, as the planner's own.
CREATE FUNCTION settings_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (SETTINGS, COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;
SET ivfflat.probes = 7;
SET ruvector.ivfflat_rerank = 9;
SELECT matches(settings_of($$SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$),
               'Settings: .*hnsw.ef_search = ''30''.*hnsw.iterative_scan = ''strict_order''',
               'EXPLAIN (SETTINGS) shows hnsw.ef_search and hnsw.iterative_scan');
SELECT matches(settings_of($$SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$),
               'ivfflat.probes = ''7''.*ruvector.ivfflat_rerank = ''9''',
               'and ivfflat.probes and ruvector.ivfflat_rerank (the settings set, under the names they were set by)');
SET ruvector.enable_exact_scan = off;
SELECT matches(settings_of($$SELECT id FROM ex ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 5$$),
               'ruvector.enable_exact_scan = ''off''', 'and ruvector.enable_exact_scan, a planner switch');

SELECT * FROM finish();
ROLLBACK;
