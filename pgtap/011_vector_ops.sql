-- vector: operators and functions against hand-computed values, and their errors.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(67);

-- Distances (functions and operators agree)
SELECT is(l2_distance('[0,0]'::vector, '[3,4]'), 5::float8, 'l2_distance 3-4-5');
SELECT is('[0,0]'::vector <-> '[3,4]', 5::float8, '<-> is L2');
SELECT ok(abs(('[1,1]'::vector <-> '[2,2]') - sqrt(2)) < 1e-7, '<-> sqrt(2)');
SELECT is(vector_l2_squared_distance('[0,0]'::vector, '[3,4]'), 25::float8, 'squared L2');
SELECT is(inner_product('[1,2,3]'::vector, '[4,5,6]'), 32::float8, 'inner_product');
SELECT is('[1,2,3]'::vector <#> '[4,5,6]', -32::float8, '<#> is the negative inner product');
SELECT is(vector_negative_inner_product('[1,2,3]'::vector, '[4,5,6]'), -32::float8, 'vector_negative_inner_product');
SELECT is(cosine_distance('[1,0]'::vector, '[0,1]'), 1::float8, 'cosine of orthogonal vectors');
SELECT is('[1,1]'::vector <=> '[2,2]', 0::float8, 'cosine of parallel vectors');
SELECT is('[1,0]'::vector <=> '[-1,0]', 2::float8, 'cosine of opposite vectors');
SELECT ok(abs(('[1,2]'::vector <=> '[2,1]') - (1 - 4.0/5)) < 1e-7, 'cosine 1 - 4/5');
SELECT is('[0,0]'::vector <=> '[1,1]', 'NaN'::float8, 'cosine with a zero vector is NaN');
SELECT is('[1,1]'::vector <=> '[0,0]', 'NaN'::float8, 'cosine with a zero vector is NaN (right)');
SELECT is(l1_distance('[1,2,3]'::vector, '[4,0,3]'), 5::float8, 'l1_distance');
SELECT is('[1,2,3]'::vector <+> '[4,0,3]', 5::float8, '<+> is L1');
SELECT ok(abs(vector_spherical_distance('[1,0]'::vector, '[0,1]') - 0.5) < 1e-12, 'spherical distance of orthogonal unit vectors');
SELECT is(vector_spherical_distance('[1,0]'::vector, '[1.0000001,0]'), 0::float8, 'spherical distance clamps dot > 1');

-- Larger vectors: kernels against double-precision SQL arithmetic on random 1..700-d data
CREATE TEMP TABLE pairs AS
  SELECT i, array_agg(random() * 2 - 1)::real[] AS a, array_agg(random() * 2 - 1)::real[] AS b
  FROM generate_series(1, 60) i, LATERAL generate_series(1, 1 + (i * 37) % 700) j GROUP BY i;
SELECT is((SELECT count(*) FROM pairs p WHERE abs((a::vector <-> b::vector) -
            sqrt((SELECT sum((x - y)::float8 ^ 2) FROM unnest(a, b) u(x, y)))) > 1e-4), 0::bigint, 'L2 matches SQL on random vectors');
SELECT is((SELECT count(*) FROM pairs p WHERE abs(inner_product(a::vector, b::vector) -
            (SELECT sum(x::float8 * y) FROM unnest(a, b) u(x, y))) > 1e-4), 0::bigint, 'inner product matches SQL');
SELECT is((SELECT count(*) FROM pairs p WHERE abs((a::vector <+> b::vector) -
            (SELECT sum(abs(x::float8 - y)) FROM unnest(a, b) u(x, y))) > 1e-3), 0::bigint, 'L1 matches SQL');
SELECT is((SELECT count(*) FROM pairs p WHERE abs((a::vector <=> b::vector) -
            (1 - (SELECT sum(x::float8 * y) / sqrt(sum(x::float8 * x) * sum(y::float8 * y)) FROM unnest(a, b) u(x, y)))) > 1e-5), 0::bigint, 'cosine matches SQL');

-- Dimension mismatch
SELECT throws_ok($$SELECT '[1,2]'::vector <-> '[1,2,3]'$$, '22000', 'different vector dimensions 2 and 3', '<-> dims');
SELECT throws_ok($$SELECT '[1,2]'::vector <#> '[1,2,3]'$$, '22000', 'different vector dimensions 2 and 3', '<#> dims');
SELECT throws_ok($$SELECT '[1,2]'::vector <=> '[1,2,3]'$$, '22000', 'different vector dimensions 2 and 3', '<=> dims');
SELECT throws_ok($$SELECT '[1,2]'::vector <+> '[1,2,3]'$$, '22000', 'different vector dimensions 2 and 3', '<+> dims');
SELECT throws_ok($$SELECT '[1,2,3]'::vector + '[1,2]'$$, '22000', 'different vector dimensions 3 and 2', '+ dims');
SELECT throws_ok($$SELECT '[1,2,3]'::vector - '[1,2]'$$, '22000', 'different vector dimensions 3 and 2', '- dims');
SELECT throws_ok($$SELECT '[1,2,3]'::vector * '[1,2]'$$, '22000', 'different vector dimensions 3 and 2', '* dims');

-- Arithmetic
SELECT is(('[1,2]'::vector + '[3,4]')::text, '[4,6]', '+');
SELECT is(('[1,2]'::vector - '[3,5]')::text, '[-2,-3]', '-');
SELECT is(('[1,2]'::vector * '[3,4]')::text, '[3,8]', '*');
SELECT is(('[1,2]'::vector || '[3]')::text, '[1,2,3]', '||');
SELECT throws_ok($$SELECT '[3e38]'::vector + '[3e38]'$$, '22003', 'value out of range: overflow', '+ overflow');
SELECT throws_ok($$SELECT '[-3e38]'::vector - '[3e38]'$$, '22003', 'value out of range: overflow', '- overflow');
SELECT throws_ok($$SELECT '[1e20]'::vector * '[1e20]'$$, '22003', 'value out of range: overflow', '* overflow');
SELECT throws_ok($$SELECT '[1e-30]'::vector * '[1e-30]'$$, '22003', 'value out of range: underflow', '* underflow');
SELECT throws_ok($$SELECT array_fill(1, ARRAY[8000])::vector || array_fill(1, ARRAY[8001])::vector$$, '54000',
                 'vector cannot have more than 16000 dimensions', '|| too long');

-- Utilities
SELECT is(vector_dims('[1,2,3]'::vector), 3, 'vector_dims');
SELECT is(vector_norm('[3,4]'::vector), 5::float8, 'vector_norm');
SELECT is(l2_normalize('[3,4]'::vector)::text, '[0.6,0.8]', 'l2_normalize');
SELECT is(l2_normalize('[0,0]'::vector)::text, '[0,0]', 'l2_normalize of zero');
SELECT is(subvector('[1,2,3,4,5]'::vector, 2, 3)::text, '[2,3,4]', 'subvector');
SELECT is(subvector('[1,2,3,4,5]'::vector, -1, 3)::text, '[1]', 'subvector clamps a negative start');
SELECT is(subvector('[1,2,3,4,5]'::vector, 4, 10)::text, '[4,5]', 'subvector clamps the end');
SELECT throws_ok($$SELECT subvector('[1,2,3]'::vector, 4, 1)$$, '22000', 'vector must have at least 1 dimension', 'subvector past the end');
SELECT throws_ok($$SELECT subvector('[1,2,3]'::vector, 1, 0)$$, '22000', 'vector must have at least 1 dimension', 'subvector count 0');
SELECT throws_ok($$SELECT subvector('[1,2,3]'::vector, -5, 3)$$, '22000', 'vector must have at least 1 dimension', 'subvector before the start');
SELECT is(binary_quantize('[1,-2,0,3]'::vector), B'1001', 'binary_quantize');
SELECT is(binary_quantize('[1,2,3,4,5,6,7,8,-9]'::vector), B'111111110', 'binary_quantize across bytes');

-- Comparison, btree and hash
SELECT ok('[1,2]'::vector < '[1,3]', '<');
SELECT ok('[1,2]'::vector < '[1,2,0]', 'shorter sorts first');
SELECT ok('[1,2]'::vector <= '[1,2]', '<=');
SELECT ok('[1,2]'::vector = '[1,2]', '=');
SELECT ok('[0]'::vector = '[-0]', '-0 equals 0');
SELECT ok('[1,2]'::vector <> '[2,1]', '<>');
SELECT ok('[2]'::vector > '[1,5]', '> compares elements first');
SELECT ok('[2]'::vector >= '[2]', '>=');
SELECT is(vector_cmp('[1,2]', '[1,3]'), -1, 'vector_cmp less');
SELECT is(vector_cmp('[1,2]', '[1,2]'), 0, 'vector_cmp equal');
SELECT is(vector_cmp('[1,2,3]', '[1,2]'), 1, 'vector_cmp longer');
CREATE TEMP TABLE arrs AS
  SELECT array_agg(floor(random() * 3)::int)::real[] AS a FROM generate_series(1, 300) i, generate_series(1, 1 + i % 4) j GROUP BY i;
SELECT is((SELECT count(*) FROM arrs x, arrs y WHERE sign(vector_cmp(x.a::vector, y.a::vector)) <> sign(btarraycmp(x.a, y.a))), 0::bigint,
          'vector_cmp orders like arrays');
SELECT is(vector_hash('[0,1]'), vector_hash('[-0,1]'), 'equal vectors hash equally');
SELECT isnt(vector_hash('[1,2]'), vector_hash('[2,1]'), 'hash depends on order');
CREATE TEMP TABLE vals AS SELECT a::vector AS v FROM arrs;
CREATE INDEX vals_btree ON vals USING btree (v);
CREATE INDEX vals_hash ON vals USING hash (v);
SET LOCAL enable_seqscan = off;
SELECT is((SELECT count(*) FROM vals WHERE v = '[1,2]'), (SELECT count(*) FROM arrs WHERE a = '{1,2}'), 'btree/hash index lookup');
RESET enable_seqscan;
SELECT is((SELECT count(DISTINCT v) FROM vals), (SELECT count(DISTINCT a) FROM arrs), 'DISTINCT on vector');
SELECT is((SELECT array_agg(v::text ORDER BY v) FROM vals), (SELECT array_agg(a::vector::text ORDER BY a) FROM arrs), 'ORDER BY vector');

-- Volatility and strictness, as pgvector declares them
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
           JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ruvector'
           WHERE p.prokind = 'f' AND (p.proargtypes::oid[] && ARRAY['vector'::regtype::oid] OR p.prorettype = 'vector'::regtype)
             AND p.proname NOT LIKE 'ruvector\_%'  -- graph and search functions read tables
             -- and so do the RuVector layer's helpers that read an index's pages or a model's tables
             AND p.oid NOT IN ('_ruvector_hnsw_candidates(regclass, vector, integer, integer)'::regprocedure,
                               '_ruvector_attention_query(vector, vector[], text)'::regprocedure)
             AND (p.provolatile <> 'i' OR NOT p.proisstrict OR p.proparallel <> 's')), 0::bigint,
          'every vector function is IMMUTABLE STRICT PARALLEL SAFE');

SELECT * FROM finish();
ROLLBACK;
