-- A build's centroids stay on the worker (issue 18): the k-means request of a ruivfflat build asks
-- the worker to keep what it trained in its shared store under the index's key, tagged with the
-- build's stamp, so the backend does not send them back (no store_put); the pages stay the truth.
-- A build that fails after the k-means, or whose transaction aborts, leaves no entry behind.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(15);

SELECT has_function('ruvector_worker_status', 'ruvector_worker_status() exists');
SELECT setseed(0.044);
CREATE TABLE rv044 (id int PRIMARY KEY, v vector(8));
INSERT INTO rv044 SELECT i, (SELECT array_agg(((i % 20) * 3 + d % 2 + random())::real) FROM generate_series(1, 8) d WHERE i > 0)::vector(8)
	FROM generate_series(1, 4000) i;
CREATE TEMP TABLE rv044_before AS SELECT store_puts, centroids_kept FROM ruvector_worker_status();
-- The centroid entries of the current database (kind 1) before the builds below.
CREATE TEMP TABLE rv044_entries AS SELECT object FROM ruvector_store_entries() WHERE kind = 1;

-- ---- A build: the worker keeps the centroids, the backend puts nothing --------------------------
CREATE INDEX rv044_idx ON rv044 USING ruivfflat (v vector_l2_ops) WITH (lists = 20);
SELECT is((SELECT centroids_kept - (SELECT centroids_kept FROM rv044_before) FROM ruvector_worker_status()), 1::bigint,
          'the worker kept the centroids of the build''s k-means');
SELECT is((SELECT store_puts - (SELECT store_puts FROM rv044_before) FROM ruvector_worker_status()), 0::bigint,
          'and the backend did not send them back (no store_put)');
SELECT is((SELECT count(*) FROM ruvector_store_entries() WHERE kind = 1 AND object = 'rv044_idx'::regclass), 1::bigint,
          'the shared store holds them under the index''s key');
SELECT is((SELECT centroid_cache FROM ruvector_ivfflat_stats('rv044_idx')), 'shared',
          'tagged with the build''s stamp (the meta page''s): the shared cache is current');
SELECT is((SELECT bytes FROM ruvector_store_entries() WHERE kind = 1 AND object = 'rv044_idx'::regclass), 16 + 20 * 8 * 4::bigint,
          'a centroid blob: its header and 20 x 8 floats');
-- A scan's centroids come from there, and answer as the pages would: the exact order at probes = lists.
SET LOCAL ivfflat.probes = 20;
SET LOCAL enable_seqscan = off;
SELECT is(array(SELECT id FROM rv044 ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 10),
          array(SELECT id FROM rv044 ORDER BY (v <-> '[1,1,1,1,1,1,1,1]') + 0, id LIMIT 10),
          'a scan with every list probed answers exactly');
RESET enable_seqscan;

-- ---- bit: the build rounds the worker's centroids, so it still publishes its own -----------------
CREATE TABLE rv044_bits AS SELECT id, (SELECT string_agg(CASE WHEN random() < 0.5 + 0 * d THEN '1' ELSE '0' END, '') FROM generate_series(1, 64) d WHERE id > 0)::bit(64) AS b
	FROM generate_series(1, 500) id;
CREATE TEMP TABLE rv044_bits_before AS SELECT store_puts, centroids_kept FROM ruvector_worker_status();
CREATE INDEX rv044_bits_idx ON rv044_bits USING ruivfflat (b bit_hamming_ops) WITH (lists = 5);
SELECT is((SELECT (s.store_puts - b.store_puts, s.centroids_kept - b.centroids_kept) FROM ruvector_worker_status() s, rv044_bits_before b),
          (1::bigint, 0::bigint), 'bit centroids (rounded by the build) are published by the backend, not kept');
SELECT is((SELECT centroid_cache FROM ruvector_ivfflat_stats('rv044_bits_idx')), 'shared', 'and are current in the shared store');

-- ---- A build that fails after its k-means leaves no entry ----------------------------------------
-- The assignment's reply does not decode: the build fails after the worker kept the
-- centroids; the aborted (sub)transaction drops them once the worker sees the slot idle.
CREATE FUNCTION rv044_wait_for_no_orphans() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
	FOR i IN 1..100 LOOP
		SELECT count(*) INTO n FROM ruvector_store_entries() e
		WHERE e.kind = 1 AND e.object NOT IN (SELECT object FROM rv044_entries)
		  AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = e.object);
		EXIT WHEN n = 0;
		PERFORM ruvector_worker_ping();  -- this slot idle and busy again: the worker applies the drop
		PERFORM pg_sleep(0.05);
	END LOOP;
	RETURN n;
END $$;
CREATE TEMP TABLE rv044_fail AS SELECT centroids_kept FROM ruvector_worker_status();
SET LOCAL ruvector.debug_fault = 'corrupt_reply:assign';
SELECT throws_ok($$CREATE INDEX rv044_failed ON rv044 USING ruivfflat (v vector_l2_ops) WITH (lists = 10)$$, '08P01', NULL,
                 'a build whose assignment reply does not decode fails');
RESET ruvector.debug_fault;
SELECT is((SELECT centroids_kept - (SELECT centroids_kept FROM rv044_fail) FROM ruvector_worker_status()), 1::bigint,
          'after the worker had kept its centroids');
SELECT is(rv044_wait_for_no_orphans(), 0::bigint, 'the failed build left no centroid entry behind');

-- A REINDEX that fails: the old index serves, and the shared cache is not left with the failed build's.
SET LOCAL ruvector.debug_fault = 'corrupt_reply:assign';
SELECT throws_ok($$REINDEX INDEX rv044_idx$$, '08P01', NULL, 'a REINDEX whose assignment reply does not decode fails');
RESET ruvector.debug_fault;
DO $$ BEGIN FOR i IN 1..100 LOOP
	EXIT WHEN (SELECT centroid_cache FROM ruvector_ivfflat_stats('rv044_idx')) <> 'stale';
	PERFORM ruvector_worker_ping(); PERFORM pg_sleep(0.05);
END LOOP; END $$;
SELECT isnt((SELECT centroid_cache FROM ruvector_ivfflat_stats('rv044_idx')), 'stale',
            'no entry of the failed REINDEX''s centroids is left (it was dropped)');
SET LOCAL enable_seqscan = off;
SELECT is(array(SELECT id FROM rv044 ORDER BY v <-> '[1,1,1,1,1,1,1,1]' LIMIT 10),
          array(SELECT id FROM rv044 ORDER BY (v <-> '[1,1,1,1,1,1,1,1]') + 0, id LIMIT 10),
          'the old index still answers exactly at probes = lists');

SELECT * FROM finish();
ROLLBACK;
