-- The C++ / PostgreSQL boundary under replies that do not decode: every path raises a clean
-- error (08P01 protocol_violation) or, for a best-effort cache update, carries on; none crashes
-- the backend. ruvector.debug_fault (superusers only) damages the first reply frame of a request.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(16);

CREATE TABLE bt (id int, v vector(3));
INSERT INTO bt SELECT i, ARRAY[i % 7, i % 5, i % 3]::real[]::vector(3) FROM generate_series(1, 200) i;

-- The setting itself
SELECT throws_ok($$SET ruvector.debug_fault = 'explode'$$, '22023', NULL, 'an unknown fault is refused');
SELECT throws_ok($$SET ruvector.debug_fault = 'corrupt_reply:nosuchrequest'$$, '22023', NULL, 'an unknown request kind is refused');
CREATE ROLE rv_boundary_user;
SET LOCAL ROLE rv_boundary_user;
SELECT throws_ok($$SET ruvector.debug_fault = 'corrupt_reply'$$, '42501', NULL, 'only superusers can set it');
RESET ROLE;

-- The normal path: an SQL function whose reply does not decode raises 08P01.
SET ruvector.debug_fault = 'corrupt_reply:kmeans';
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('bt', 'v', 3)$$, '08P01', 'ruvector worker protocol version mismatch',
                 'a corrupt reply frame is a protocol violation');
SET ruvector.debug_fault = 'truncated_reply:kmeans';
SELECT throws_ok($$SELECT * FROM ruvector_kmeans('bt', 'v', 3)$$, '08P01', 'truncated message from the ruvector worker protocol',
                 'a reply that fails decoding is a protocol violation');
RESET ruvector.debug_fault;
SELECT is((SELECT sum(size)::int FROM ruvector_kmeans('bt', 'v', 3)), 200, 'the next request is served');

-- Best effort: publishing an index's centroids fails to decode; the build succeeds regardless.
SET ruvector.debug_fault = 'corrupt_reply:store_put';
SELECT lives_ok($$CREATE INDEX bt_a ON bt USING ruivfflat (v vector_l2_ops) WITH (lists = 4)$$,
                'a centroid cache update whose reply does not decode does not fail the build');
RESET ruvector.debug_fault;
SET LOCAL enable_seqscan = off;
SELECT results_eq($$SELECT id FROM bt ORDER BY v <-> '[1,1,1]' LIMIT 3$$,
                  $$SELECT id FROM (SELECT id, v <-> '[1,1,1]' AS d FROM bt) s ORDER BY d LIMIT 3$$,
                  'and the index answers');
DROP INDEX bt_a;

-- The object-access hook: dropping an index sends a best-effort store_drop.
CREATE INDEX bt_b ON bt USING ruivfflat (v vector_l2_ops) WITH (lists = 4);
SET ruvector.debug_fault = 'truncated_reply:store_drop';
SELECT lives_ok($$DROP INDEX bt_b$$, 'DROP INDEX survives a store_drop reply that does not decode');
RESET ruvector.debug_fault;
SELECT is((SELECT count(*)::int FROM pg_class WHERE relname = 'bt_b'), 0, 'and the index is gone');

-- Inside ruvector_gnn's PG_TRY around the ruivfflat build.
CREATE TABLE bn (id bigint PRIMARY KEY, embedding vector(2));
CREATE TABLE be (src_id bigint, dst_id bigint);
INSERT INTO bn SELECT i, ARRAY[i % 5, i % 3]::real[]::vector(2) FROM generate_series(1, 50) i;
INSERT INTO be SELECT i, i + 1 FROM generate_series(1, 49) i;
SET ruvector.debug_fault = 'corrupt_reply:kmeans';
SELECT throws_ok($$CREATE INDEX bn_g ON bn USING ruvector_gnn (embedding) WITH (edge_table = 'be', num_layers = 1, lists = 2)$$,
                 '08P01', NULL, 'a ruvector_gnn build whose k-means reply does not decode raises 08P01');
RESET ruvector.debug_fault;
SELECT lives_ok($$CREATE INDEX bn_g ON bn USING ruvector_gnn (embedding) WITH (edge_table = 'be', num_layers = 1, lists = 2)$$,
                'and builds once the replies are sound');

-- Inside the table scan callback: with rows that do not fit in maintenance_work_mem, batches of
-- rows are assigned to lists from the scan's callback.
CREATE TABLE bw (id int, v vector(2000));
INSERT INTO bw SELECT i, array_fill((i % 10)::real, ARRAY[2000])::vector(2000) FROM generate_series(1, 2200) i;
SET LOCAL maintenance_work_mem = '1MB';
SET ruvector.debug_fault = 'corrupt_reply:assign';
SELECT throws_ok($$CREATE INDEX bw_a ON bw USING ruivfflat (v vector_l2_ops) WITH (lists = 2)$$,
                 '08P01', NULL, 'an assignment reply that does not decode, read in the scan callback, raises 08P01');
SET ruvector.debug_fault = 'truncated_reply:assign';
SELECT throws_ok($$CREATE INDEX bw_a ON bw USING ruivfflat (v vector_l2_ops) WITH (lists = 2)$$,
                 '08P01', NULL, 'the same for a reply that fails decoding');
RESET ruvector.debug_fault;
SELECT lives_ok($$CREATE INDEX bw_a ON bw USING ruivfflat (v vector_l2_ops) WITH (lists = 2)$$,
                'the build succeeds once the replies are sound');
SELECT is((SELECT count(*)::int FROM (SELECT id FROM bw ORDER BY v <-> array_fill(3::real, ARRAY[2000])::vector(2000) LIMIT 5) s), 5,
          'and the backend is still here');

SELECT * FROM finish();
ROLLBACK;
