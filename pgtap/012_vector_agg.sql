-- vector: avg and sum aggregates, their support functions and parallel (partial) aggregation.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(20);

SELECT is((SELECT avg(v)::text FROM (VALUES ('[1,2]'::vector), ('[3,4]'), ('[5,9]')) t(v)), '[3,5]', 'avg');
SELECT is((SELECT sum(v)::text FROM (VALUES ('[1,2]'::vector), ('[3,4]'), ('[5,9]')) t(v)), '[9,15]', 'sum');
SELECT is((SELECT avg(v) FROM (VALUES ('[1,2]'::vector)) t(v) WHERE false), NULL, 'avg of no rows is NULL');
SELECT is((SELECT sum(v) FROM (VALUES ('[1,2]'::vector)) t(v) WHERE false), NULL, 'sum of no rows is NULL');
SELECT is((SELECT avg(v)::text FROM (VALUES ('[1,2]'::vector), (NULL)) t(v)), '[1,2]', 'avg skips NULL');
SELECT throws_ok($$SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v)$$, '22000', 'expected 2 dimensions, not 3', 'avg dims mismatch');
SELECT throws_ok($$SELECT sum(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v)$$, '22000', 'different vector dimensions 2 and 3', 'sum dims mismatch');
SELECT throws_ok($$SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v)$$, '22003', 'value out of range: overflow', 'sum overflow');

-- Support functions with pgvector's state layout {count, sums...}
SELECT is(vector_accum('{0}', '[1,2]'), '{1,1,2}'::float8[], 'vector_accum first value');
SELECT is(vector_accum('{1,1,2}', '[3,4]'), '{2,4,6}'::float8[], 'vector_accum adds');
SELECT is(vector_combine('{1,1,2}', '{2,4,6}'), '{3,5,8}'::float8[], 'vector_combine adds');
SELECT is(vector_combine('{0}', '{1,1,2}'), '{1,1,2}'::float8[], 'vector_combine with an empty left state');
SELECT is(vector_combine('{1,1,2}', '{0}'), '{1,1,2}'::float8[], 'vector_combine with an empty right state');
SELECT is(vector_avg('{2,4,6}')::text, '[2,3]', 'vector_avg divides by the count');
SELECT is(vector_avg('{0}'), NULL, 'vector_avg of an empty state is NULL');
SELECT throws_ok($$SELECT vector_combine('{1,1,2}', '{1,1,2,3}')$$, '22000', 'expected 2 dimensions, not 3', 'vector_combine dims');
SELECT throws_ok($$SELECT vector_accum('{}', '[1]')$$, '22023', 'vector_accum: expected state array', 'vector_accum checks its state');

-- Parallel aggregation: partial states are combined across workers.
CREATE TABLE agg_items AS
  SELECT i, ARRAY[i % 97, (i * 7) % 13, 1]::real[]::vector AS v FROM generate_series(1, 200000) i;
ANALYZE agg_items;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP RETURN NEXT r."QUERY PLAN"; END LOOP;
END $$;
SELECT ok((SELECT bool_or(l LIKE '%Partial Aggregate%') FROM pg_temp.plan_of('SELECT avg(v), sum(v) FROM agg_items') l),
          'plan aggregates in parallel');
SELECT is((SELECT avg(v)::text FROM agg_items),
          (SELECT ('[' || avg(i % 97)::real || ',' || avg((i * 7) % 13)::real || ',1]') FROM generate_series(1, 200000) i),
          'parallel avg equals the element-wise average');
SELECT is((SELECT sum(v)::text FROM agg_items),
          (SELECT ('[' || sum(i % 97)::real || ',' || sum((i * 7) % 13)::real || ',200000]') FROM generate_series(1, 200000) i),
          'parallel sum equals the element-wise sum');

SELECT * FROM finish();
ROLLBACK;
