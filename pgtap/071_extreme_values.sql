-- Extreme but valid values, and damaged ones: printing never crashes, arithmetic and aggregates
-- raise 22003 rather than return a non-finite vector, k-means and ruivfflat builds take every
-- finite float, graphs order overflowing distances as +Infinity, and a cosine index orders like
-- the operator.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(44);

-- Damaged values: any bytes reach the type through a binary-coercible cast (both are varlenas with
-- int alignment). Layout after the varlena header: int16 dim, int16 unused, floats (little-endian).
CREATE CAST (bytea AS vector) WITHOUT FUNCTION;
CREATE TABLE damaged (id int, v vector);
INSERT INTO damaged VALUES
	(1, '\x020000000000c07f0000803f'::bytea::vector),          -- [NaN, 1]
	(2, '\x020000000000807f000080ff'::bytea::vector),          -- [Infinity, -Infinity]
	(3, '\x0300000000000080010000000000803f'::bytea::vector);  -- [-0, 1e-45 (subnormal), 1]
SELECT is((SELECT array_agg(v::text ORDER BY id) FROM damaged), ARRAY['[NaN,1]', '[Infinity,-Infinity]', '[-0,1e-45,1]'],
	'non-finite elements print as float4out prints them, without crashing');
SELECT is((SELECT count(*) FROM (SELECT * FROM damaged) t WHERE t::text IS NOT NULL), 3::bigint, 'SELECT * of a damaged table works');
SELECT is(vector_send((SELECT v FROM damaged WHERE id = 1)), '\x000200007fc000003f800000'::bytea, 'binary send of a NaN vector');
SELECT throws_ok($$SELECT (SELECT v FROM damaged WHERE id = 1)::text::vector$$, '22000', 'NaN not allowed in vector',
	'what is printed does not read back as a vector');
SELECT throws_ok($$SELECT '\x050000000000803f'::bytea::vector::text$$, 'XX001', NULL,
	'a dimension count the value does not hold is an error, not a read past its end');
SELECT throws_ok($$SELECT vector_send('\x050000000000803f'::bytea::vector)$$, 'XX001', NULL, 'binary send checks it too');
SELECT throws_ok($$SELECT vector_dims('\xffff0000'::bytea::vector)$$, 'XX001', NULL, 'a negative dimension count is an error');
SELECT throws_ok($$SELECT '\x0200000000' ::bytea::vector <-> '[1,2]'$$, 'XX001', NULL, 'operators check it');
DROP CAST (bytea AS vector);

-- Arithmetic and aggregates: overflow is 22003, never a non-finite vector.
SELECT throws_ok($$SELECT '[3e38,1]'::vector + '[3e38,1]'$$, '22003', 'value out of range: overflow', '+ overflows');
SELECT throws_ok($$SELECT '[-3e38,1]'::vector - '[3e38,1]'$$, '22003', 'value out of range: overflow', '- overflows');
SELECT throws_ok($$SELECT '[3e38,1]'::vector * '[2,1]'$$, '22003', 'value out of range: overflow', '* overflows');
SELECT throws_ok($$SELECT '[1e-30,1]'::vector * '[1e-30,1]'$$, '22003', 'value out of range: underflow', '* underflows');
SELECT is(l2_normalize('[3e38,-3e38]'::vector)::text, '[0.70710677,-0.70710677]', 'l2_normalize of huge values (norm in double)');
SELECT ok(abs(vector_norm('[3e38,3e38]') / (sqrt(2::float8) * 3e38::real) - 1) < 1e-15, 'vector_norm of huge values');
SELECT is((SELECT avg(v)::text FROM (VALUES ('[3.4e38,-3.4e38]'::vector), ('[3.4e38,-3.4e38]')) t(v)), '[3.4e+38,-3.4e+38]',
	'avg of the largest floats (sums in double)');
SELECT throws_ok($$SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v)$$, '22003', 'value out of range: overflow', 'sum overflows');
SELECT throws_ok($$SELECT vector_avg('{1,1e300}')$$, '22000', 'infinite value not allowed in vector', 'vector_avg of a state beyond float range');
SELECT throws_ok($$SELECT vector_combine('{1,1e308}', '{1,1e308}')$$, '22003', 'value out of range: overflow', 'vector_combine overflows');
-- Bad states (pgvector: elog, XX000): a clear errcode, pgvector's message.
SELECT throws_ok($$SELECT vector_avg('{}')$$, '22023', 'vector_avg: expected state array', 'vector_avg of an empty array');
SELECT throws_ok($$SELECT vector_avg('{{1,2}}')$$, '22023', 'vector_avg: expected state array', 'vector_avg of a 2-D array');
SELECT throws_ok($$SELECT vector_accum('{1,NULL}', '[1]')$$, '22023', 'vector_accum: expected state array', 'vector_accum of a state with nulls');
SELECT throws_ok($$SELECT vector_accum(array_fill(0::float8, ARRAY[16002]), '[1]')$$, '54000',
	'vector cannot have more than 16000 dimensions', 'vector_accum rejects a state of 16001 dimensions');
SELECT throws_ok($$SELECT vector_combine('{1,1}', array_fill(1::float8, ARRAY[16002]))$$, '54000',
	'vector cannot have more than 16000 dimensions', 'vector_combine rejects a state of 16001 dimensions');
SELECT is(array_length(vector_accum(array_fill(0::float8, ARRAY[16001]), array_fill(1, ARRAY[16000])::vector), 1), 16001,
	'a state of 16000 dimensions is fine');

-- k-means and ruivfflat builds take every finite float: squared norms overflow float here.
SELECT setseed(0.71);
CREATE TABLE big (id int, v vector(3));
INSERT INTO big SELECT i, ARRAY[random() * 10, random() * 10, random() * 10]::real[]::vector FROM generate_series(1, 400) i;
INSERT INTO big VALUES (0, '[1e20,1,1]'), (-1, '[-3.4e38,3.4e38,1]');
SELECT lives_ok($$CREATE INDEX big_l2 ON big USING ruivfflat (v vector_l2_ops) WITH (lists = 8)$$, 'ruivfflat L2 build with [1e20,1,1]');
SELECT lives_ok($$CREATE INDEX big_l1 ON big USING ruivfflat (v vector_l1_ops) WITH (lists = 8)$$, 'ruivfflat L1 build with [1e20,1,1]');
SELECT lives_ok($$REINDEX INDEX big_l2$$, 'REINDEX');
SELECT is((SELECT count(*) FROM ruvector_kmeans('big', 'v', 8) WHERE centroid IS NOT NULL), 8::bigint, 'ruvector_kmeans l2 with huge rows');
SELECT is((SELECT sum(size) FROM ruvector_kmeans('big', 'v', 8)), 402::numeric, 'every row is assigned');
CREATE TABLE tiny (v vector(3));
INSERT INTO tiny SELECT ARRAY[(i % 2) * 1e-25 + random() * 1e-27, (1 - i % 2) * 1e-25 + random() * 1e-27, 0]::real[]::vector
	FROM generate_series(1, 400) i;
SELECT is((SELECT array_agg(size ORDER BY size) FROM ruvector_kmeans('tiny', 'v', 2)), ARRAY[200, 200]::bigint[],
	'ruvector_kmeans separates clusters whose squared distances underflow float');
SET LOCAL enable_seqscan = off;
SET LOCAL ivfflat.probes = 8;
SELECT is((SELECT id FROM big ORDER BY v <-> '[1e20,1,1]' LIMIT 1), 0, 'the index finds the huge row');
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM big ORDER BY v <-> '[5,5,5]' LIMIT 5) t),
	(SELECT array_agg(id) FROM (SELECT id FROM big ORDER BY l2_distance(v, '[5,5,5]') LIMIT 5) t), 'L2 index order is the exact order');
RESET enable_seqscan;

-- Exact k-NN and epsilon graphs: an overflowing distance orders as +Infinity, as <-> does.
CREATE TABLE knn_nodes (id bigint, v vector(3));
INSERT INTO knn_nodes SELECT i, ARRAY[random() * 6 - 3, random() * 6 - 3, random() * 6 - 3]::real[]::vector FROM generate_series(1, 300) i;
INSERT INTO knn_nodes VALUES (0, '[3e38,0,0]');
SELECT is(ruvector_build_knn_graph('knn_nodes', 'v', 'knn_edges', 3), 903::bigint, 'k-NN graph over huge values');
SELECT is((SELECT count(*) FROM knn_edges WHERE src_id = 0), 0::bigint, 'the huge row is nobody''s neighbour');
SELECT is((SELECT count(*) FROM knn_edges WHERE weight = 'Infinity'), 3::bigint, 'its own neighbours are at +Infinity');
SELECT is((SELECT count(*) FROM knn_edges WHERE weight = 'NaN' OR (weight = 0 AND src_id <> dst_id)), 0::bigint, 'no NaN or false zero');
SELECT ok(ruvector_build_eps_graph('knn_nodes', 'v', 'eps_edges', 1.0) > 0, 'epsilon graph over huge values');
SELECT is((SELECT count(*) FROM eps_edges WHERE src_id = 0 OR dst_id = 0), 0::bigint, 'no edge to the huge row within epsilon');

-- Cosine: the distance is computed in double where float sums overflow (pgvector: NaN), so a
-- cosine index and a sequential scan order such rows alike.
CREATE TABLE cos (id int, v vector(3));
INSERT INTO cos SELECT i, ARRAY[random() * 2 - 1, random() * 2 - 1, random() * 2 - 1]::real[]::vector FROM generate_series(1, 200) i;
INSERT INTO cos VALUES (0, '[-3e38,3e38,-3e38]'), (-1, '[1e-30,-2e-30,1e-30]');
SELECT ok(('[-3e38,3e38,-3e38]'::vector <=> '[-1,1,-1]') < 1e-6, '<=> of huge values is finite');
SELECT ok(('[1e-30,-2e-30,1e-30]'::vector <=> '[1,-2,1]') < 1e-6, '<=> of tiny values is finite');
CREATE TEMP TABLE cos_seq AS SELECT array_agg(id ORDER BY d, id) AS ids FROM (SELECT id, v <=> '[-1,1,-1]' AS d FROM cos) t;
CREATE INDEX cos_idx ON cos USING ruivfflat (v vector_cosine_ops) WITH (lists = 1);
SET LOCAL enable_seqscan = off;
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM cos ORDER BY v <=> '[-1,1,-1]') t), (SELECT ids FROM cos_seq),
	'a cosine index scan returns the sequential scan''s order');
SELECT ok((SELECT ids[1] FROM cos_seq) = 0, 'the huge row is the nearest, in both');

-- Rows whose cosine distances nearly tie: the index ranks by its unit-vector copies, whose float
-- rounding differs from <=>'s; the executor rechecks with <=>, so the order is still the operator's.
CREATE TABLE near (id int, v vector(4));
INSERT INTO near VALUES (16, '[-5.4123088375490624e-06,9.99994610111476e-41,-0.0,-35.7955436706543]'),
	(23, '[0.003923887852579355,5.427371434052475e-06,-4.060321771248709e-06,-988457.125]'),
	(1, '[1,2,3,4]'), (2, '[-4,-3,-2,-1]'), (3, '[0,0,0,-1]');
CREATE INDEX near_idx ON near USING ruivfflat (v vector_cosine_ops) WITH (lists = 1);
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM near ORDER BY v <=> '[1,2,3,4]') t),
	(SELECT array_agg(id ORDER BY v <=> '[1,2,3,4]', id) FROM near),
	'a near tie comes in the operator''s order through a cosine index');
SELECT ok(('[0.003923887852579355,5.427371434052475e-06,-4.060321771248709e-06,-988457.125]'::vector <=> '[1,2,3,4]')
	< ('[-5.4123088375490624e-06,9.99994610111476e-41,-0.0,-35.7955436706543]'::vector <=> '[1,2,3,4]'),
	'(the two rows differ in the last bits of <=>)');

SELECT * FROM finish();
ROLLBACK;
