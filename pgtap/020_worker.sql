-- The background worker: status, ping, k-means results and every bad input.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(29);

SELECT is((SELECT state FROM ruvector_worker_status()), 'ready', 'worker is ready');
SELECT ok((SELECT threads >= 1 FROM ruvector_worker_status()), 'worker has compute threads');
SELECT is((SELECT pid FROM ruvector_worker_status()),
          (SELECT pid FROM pg_stat_activity WHERE backend_type = 'ruvector worker'),
          'worker visible in pg_stat_activity as "ruvector worker"');
SELECT ok(ruvector_worker_ping() BETWEEN 0 AND 5e6, 'ping returns a round-trip time');
SELECT is((SELECT in_flight FROM ruvector_worker_status()), 0, 'nothing in flight after a ping');

-- Three well-separated blobs in 2-D, seeded.
SELECT setseed(0.42);
CREATE TABLE km (id int, v vector(2), grp int);
INSERT INTO km
  SELECT i, ARRAY[c.x + (random() - 0.5), c.y + (random() - 0.5)]::real[]::vector, c.g
  FROM generate_series(1, 900) i
  JOIN (VALUES (0, 0, 0), (1, 100, 0), (2, 0, 100)) c(g, x, y) ON c.g = i % 3;
INSERT INTO km VALUES (901, NULL, NULL);

CREATE TEMP TABLE res AS SELECT * FROM ruvector_kmeans('km', 'v', 3);
SELECT is((SELECT count(*) FROM res), 3::bigint, 'k rows');
SELECT is((SELECT sum(size) FROM res), 900::numeric, 'sizes sum to the non-NULL rows');
SELECT is((SELECT array_agg(size ORDER BY size) FROM res), ARRAY[300, 300, 300]::bigint[], 'each blob is one cluster');
SELECT is((SELECT count(*) FROM res r WHERE EXISTS (
             SELECT 1 FROM (VALUES ('[0,0]'::vector), ('[100,0]'), ('[0,100]')) t(c) WHERE (r.centroid <-> t.c) < 0.2)),
          3::bigint, 'centroids sit on the blob centres');
SELECT is((SELECT array_agg(centroid::text ORDER BY cluster) FROM ruvector_kmeans('km', 'v', 3)),
          (SELECT array_agg(centroid::text ORDER BY cluster) FROM res), 'deterministic across calls');
SELECT isnt((SELECT array_agg(centroid::text ORDER BY cluster) FROM ruvector_kmeans('km', 'v', 3, seed => 7)),
            NULL, 'another seed works');
SELECT ok((SELECT bool_and(abs(vector_norm(centroid) - 1) < 1e-5) FROM ruvector_kmeans('km', 'v', 3, metric => 'cosine')),
          'cosine centroids are unit vectors');
SELECT is((SELECT sum(size) FROM ruvector_kmeans('km', 'v', 2, metric => 'ip')), 900::numeric, 'inner product metric');
SELECT is((SELECT count(*) FROM ruvector_kmeans('km', 'v', 900)), 900::bigint, 'k equal to n');

-- A result far larger than the 64 kB queue streams through it: 3000 centroids x 64-d (about 800 kB),
-- and so does the 6000-row input (1.5 MB).
CREATE TABLE km_wide AS
  SELECT i, (SELECT array_agg(((i * 31 + j * 17) % 1000) / 10.0) FROM generate_series(1, 64) j)::real[]::vector AS v
  FROM generate_series(1, 6000) i;
SELECT is((SELECT count(*) FROM ruvector_kmeans('km_wide', 'v', 3000, 2)), 3000::bigint, 'large result streams in chunks');
SELECT is((SELECT sum(size) FROM ruvector_kmeans('km_wide', 'v', 3000, 2)), 6000::numeric, 'and every row is accounted for');

-- Bad input
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km', 'v', 0)$$, '22023', 'k must be at least 1', 'k = 0');
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km', 'v', 901)$$, '22023', 'k must be between 1 and the number of vectors (900)', 'k > n');
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km', 'v', 3, 0)$$, '22023', 'max_iterations must be at least 1', 'iterations = 0');
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km', 'v', 3, metric => 'hamming')$$, '22023', 'unknown k-means metric "hamming"', 'unknown metric');
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km', 'v', 3, metric => 'l1')$$, '22023', 'k-means supports the l2, cosine and ip metrics', 'l1 metric');
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km', 'nope', 3)$$, '42703', 'column "nope" of relation public.km does not exist', 'missing column');
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km', 'grp', 3)$$, '42804', 'column "grp" of relation public.km is not of type vector', 'not a vector column');
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('no_such_table', 'v', 3)$$, '42P01', NULL, 'missing table');
CREATE TABLE km_empty (v vector);
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km_empty', 'v', 1)$$, '22000', 'k-means needs at least one non-NULL vector', 'empty table');
CREATE TABLE km_mixed (v vector);
INSERT INTO km_mixed VALUES ('[1,2]'), ('[1,2,3]');
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km_mixed', 'v', 1)$$, '22000', 'different vector dimensions 2 and 3', 'mixed dimensions');

-- Privileges and row-level security are the caller's.
CREATE ROLE ruvector_km_reader;
GRANT USAGE ON SCHEMA public TO ruvector_km_reader;
SET LOCAL ROLE ruvector_km_reader;
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('km', 'v', 3)$$, '42501', 'permission denied for table km', 'no SELECT privilege');
RESET ROLE;
GRANT SELECT ON km TO ruvector_km_reader;
ALTER TABLE km ENABLE ROW LEVEL SECURITY;
CREATE POLICY km_only_group0 ON km FOR SELECT TO ruvector_km_reader USING (grp = 0);
SET LOCAL ROLE ruvector_km_reader;
SELECT is((SELECT sum(size) FROM ruvector_kmeans('km', 'v', 2)), 300::numeric, 'row-level security limits what k-means sees');
RESET ROLE;
SELECT is((SELECT in_flight FROM ruvector_worker_status()), 0, 'no request left in flight');

SELECT * FROM finish();
ROLLBACK;
