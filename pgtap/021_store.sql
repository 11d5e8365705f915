-- The worker's shared store: publish, versioning, exact round trips, memory accounting, privileges.
-- The store is not transactional: entries use their own keys and are dropped at the end.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(17);

-- Leftovers of an interrupted earlier run would skew the accounting checks.
SELECT ruvector_store_drop(k, 1) FROM generate_series(910001, 910004) k;
CREATE TEMP TABLE s AS SELECT shared_memory_used AS used0 FROM ruvector_worker_status();
CREATE TEMP TABLE v AS SELECT ruvector_store_put(910001, 1, 77, '\x0102030405'::bytea) AS v1;
SELECT ok((SELECT v1 > 0 FROM v), 'publishing returns a version');
SELECT is(ruvector_store_get(910001, 1), '\x0102030405'::bytea, 'the blob reads back');
SELECT is((SELECT (bytes, tag) FROM ruvector_store_entries() WHERE object = 910001 AND kind = 1),
          (5::bigint, 77::bigint), 'listed with its size and tag');
SELECT is((SELECT shared_memory_used FROM ruvector_worker_status()), (SELECT used0 + 5 FROM s), 'its bytes are accounted');

SELECT ok(ruvector_store_put(910001, 1, 78, '\xaabb'::bytea) > (SELECT v1 FROM v), 'republishing bumps the version');
SELECT is(ruvector_store_get(910001, 1), '\xaabb'::bytea, 'readers see the new version');
SELECT is((SELECT count(*) FROM ruvector_store_entries() WHERE object = 910001 AND kind = 1), 1::bigint, 'one entry per key');
SELECT is((SELECT shared_memory_used FROM ruvector_worker_status()), (SELECT used0 + 2 FROM s), 'the old version was freed');

-- A blob far larger than the queues streams in and reads back exactly.
CREATE TEMP TABLE big AS SELECT decode(string_agg(lpad(to_hex((i::bigint * 7919) % 256), 2, '0'), ''), 'hex') AS b
  FROM generate_series(1, 3000000) i;
SELECT lives_ok($$SELECT ruvector_store_put(910002, 1, 0, (SELECT b FROM big))$$, 'a 3 MB blob is published');
SELECT is(md5(ruvector_store_get(910002, 1)), (SELECT md5(b) FROM big), 'and reads back byte for byte');
SELECT is(ruvector_store_put(910003, 1, 0, ''::bytea) > 0, true, 'an empty blob is fine');
SELECT is(ruvector_store_get(910003, 1), ''::bytea, 'and reads back empty');

SELECT is(ruvector_store_drop(910001, 1), true, 'drop reports an existing entry');
SELECT is(ruvector_store_drop(910001, 1), false, 'and a missing one');
SELECT is(ruvector_store_get(910001, 1), NULL, 'a dropped entry is gone');
SELECT ruvector_store_drop(910002, 1), ruvector_store_drop(910003, 1);
SELECT is((SELECT shared_memory_used FROM ruvector_worker_status()), (SELECT used0 FROM s), 'dropping frees the memory');

CREATE ROLE ruvector_store_user;
SET LOCAL ROLE ruvector_store_user;
SELECT throws_ok($$SELECT ruvector_store_put(910004, 1, 0, '\x00')$$, '42501', NULL, 'store functions are for superusers');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
