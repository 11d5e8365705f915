-- vector: text and binary I/O, typmod, casts, and every input error pgvector raises.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(63);

-- Text input and output
SELECT is('[1,2,3]'::vector::text, '[1,2,3]', 'text round trip');
SELECT is('  [ 1 , -2.5,3e2 ]  '::vector::text, '[1,-2.5,300]', 'whitespace and exponents accepted');
SELECT is('[0.1,1e-07,1.2345679e+08]'::vector::text, '[0.1,1e-07,1.2345679e+08]', 'shortest float output, pgvector style');
SELECT is('[-0,1.5e-45]'::vector::text, '[-0,1e-45]', 'negative zero and denormals');
SELECT is(
  (SELECT count(*) FROM (
     SELECT x FROM (SELECT (random() * exp(random() * 80 - 40) * (CASE WHEN random() < 0.5 THEN -1 ELSE 1 END))::real AS x
                    FROM generate_series(1, 2000)) s
     WHERE ('[' || x::text || ']')::vector::text <> '[' || x::text || ']') bad),
  0::bigint, 'output equals float4out for 2000 random values');
SELECT ok(('[' || string_agg(i::text, ',') || ']')::vector::text = '[' || string_agg(i::text, ',') || ']',
          '16000 dimensions accepted and printed back')
  FROM generate_series(1, 16000) i;

SELECT throws_ok($$SELECT '1,2,3'::vector$$, '22P02', 'invalid input syntax for type vector: "1,2,3"', 'missing bracket');
SELECT throws_ok($$SELECT '[]'::vector$$, '22000', 'vector must have at least 1 dimension', 'empty vector');
SELECT throws_ok($$SELECT '[ ]'::vector$$, '22000', 'vector must have at least 1 dimension', 'blank vector');
SELECT throws_ok($$SELECT '[1,]'::vector$$, '22P02', 'invalid input syntax for type vector: "[1,]"', 'trailing comma');
SELECT throws_ok($$SELECT '[1,,3]'::vector$$, '22P02', 'invalid input syntax for type vector: "[1,,3]"', 'double comma');
SELECT throws_ok($$SELECT '[1 2]'::vector$$, '22P02', 'invalid input syntax for type vector: "[1 2]"', 'missing comma');
SELECT throws_ok($$SELECT '[1'::vector$$, '22P02', 'invalid input syntax for type vector: "[1"', 'unterminated');
SELECT throws_ok($$SELECT '[a]'::vector$$, '22P02', 'invalid input syntax for type vector: "[a]"', 'junk element');
SELECT throws_ok($$SELECT '[1]x'::vector$$, '22P02', 'invalid input syntax for type vector: "[1]x"', 'junk after bracket');
SELECT throws_ok($$SELECT '[NaN]'::vector$$, '22000', 'NaN not allowed in vector', 'NaN');
SELECT throws_ok($$SELECT '[1,Infinity]'::vector$$, '22000', 'infinite value not allowed in vector', 'Infinity');
SELECT throws_ok($$SELECT '[-inf]'::vector$$, '22000', 'infinite value not allowed in vector', '-inf');
SELECT throws_ok($$SELECT '[4e38]'::vector$$, '22003', '"4e38" is out of range for type vector', 'float overflow');
SELECT throws_ok($$SELECT ('[' || repeat('1,', 16000) || '1]')::vector$$, '54000',
                 'vector cannot have more than 16000 dimensions', '16001 dimensions');

-- typmod
SELECT throws_ok($$SELECT '[1,2]'::vector(0)$$, '22023', 'dimensions for type vector must be at least 1', 'vector(0)');
SELECT throws_ok($$SELECT '[1,2]'::vector(16001)$$, '22023', 'dimensions for type vector cannot exceed 16000', 'vector(16001)');
SELECT throws_ok($$SELECT '[1,2]'::vector(3, 2)$$, '22023', 'invalid type modifier', 'vector(3, 2)');
SELECT is('[1,2,3]'::vector(3)::text, '[1,2,3]', 'matching typmod');
SELECT throws_ok($$SELECT '[1,2]'::vector(3)$$, '22000', 'expected 3 dimensions, not 2', 'typmod mismatch on input');
SELECT throws_ok($$SELECT '[1,2]'::vector::vector(3)$$, '22000', 'expected 3 dimensions, not 2', 'typmod mismatch on cast');
SELECT is(vector('[1,2]'::vector, 2, false)::text, '[1,2]', 'vector(vector, int, bool) passes a matching value');
SELECT throws_ok($$SELECT vector('[1,2]'::vector, 3, true)$$, '22000', 'expected 3 dimensions, not 2', 'vector(vector, int, bool) checks');
SELECT is(format_type(atttypid, atttypmod), 'vector(3)', 'typmod shown as vector(3)')
  FROM (SELECT 'vector(3)'::regtype::oid AS atttypid, 3 AS atttypmod) t;

CREATE TEMP TABLE items (id int, embedding vector(3));
INSERT INTO items VALUES (1, '[1,2,3]');
SELECT throws_ok($$INSERT INTO items VALUES (2, '[1,2]')$$, '22000', 'expected 3 dimensions, not 2', 'typmod enforced on insert');
SELECT throws_ok($$INSERT INTO items VALUES (2, '[1,2]'::vector)$$, '22000', 'expected 3 dimensions, not 2', 'typmod enforced on assignment');
SELECT throws_ok($$UPDATE items SET embedding = '[1,2,3,4]'::vector$$, '22000', 'expected 3 dimensions, not 4', 'typmod enforced on update');
SELECT is((SELECT count(*) FROM items), 1::bigint, 'failed inserts leave the table intact');
SELECT is((SELECT embedding::text FROM items), '[1,2,3]', 'failed update leaves the row intact');

-- Binary I/O: pgvector's wire format
SELECT is(vector_send('[1,2]'), '\x000200003f80000040000000'::bytea, 'vector_send wire format');
SELECT is(vector_send('[-0.5]'), '\x00010000bf000000'::bytea, 'vector_send negative value');

-- Casts from arrays
SELECT is(ARRAY[1,2,3]::vector::text, '[1,2,3]', 'integer[] to vector');
SELECT is(ARRAY[1.5,2.5]::real[]::vector::text, '[1.5,2.5]', 'real[] to vector');
SELECT is(ARRAY[1.5,2.25]::double precision[]::vector::text, '[1.5,2.25]', 'double precision[] to vector');
SELECT is(ARRAY[1.5,2.75]::numeric[]::vector::text, '[1.5,2.75]', 'numeric[] to vector');
SELECT is(ARRAY[1,2,3]::vector(3)::text, '[1,2,3]', 'integer[] to vector(3)');
SELECT is('[1,2.5]'::vector::real[], ARRAY[1,2.5]::real[], 'vector to real[]');
SELECT throws_ok($$SELECT ARRAY[1,2]::vector(3)$$, '22000', 'expected 3 dimensions, not 2', 'array cast checks typmod');
SELECT throws_ok($$SELECT '{{1,2},{3,4}}'::int[]::vector$$, '22000', 'array must be 1-D', '2-D array');
SELECT throws_ok($$SELECT ARRAY[1,NULL]::int[]::vector$$, '22004', 'array must not contain nulls', 'array with NULL');
SELECT throws_ok($$SELECT '{}'::int[]::vector$$, '22000', 'vector must have at least 1 dimension', 'empty array');
SELECT throws_ok($$SELECT ARRAY[1e300]::float8[]::vector$$, '22000', 'infinite value not allowed in vector', 'double overflows float');
SELECT throws_ok($$SELECT ARRAY['NaN']::float8[]::vector$$, '22000', 'NaN not allowed in vector', 'NaN element');
SELECT throws_ok($$SELECT ARRAY['Infinity']::real[]::vector$$, '22000', 'infinite value not allowed in vector', 'infinite element');
SELECT throws_ok($$SELECT array_fill(1, ARRAY[16001])::vector$$, '54000', 'vector cannot have more than 16000 dimensions', 'too long array');
SELECT is(ARRAY[1,2,3]::int[]::vector(3)::text, '[1,2,3]', 'assignment cast target with typmod');

-- Assignment casts work in INSERT
CREATE TEMP TABLE from_arrays (v vector(2));
INSERT INTO from_arrays VALUES (ARRAY[1,2]), (ARRAY[1.5,2]::real[]), (ARRAY[3,4]::float8[]), (ARRAY[5,6]::numeric[]);
SELECT is((SELECT string_agg(v::text, ' ') FROM from_arrays), '[1,2] [1.5,2] [3,4] [5,6]', 'arrays assigned to vector(2)');

-- COPY text and binary round trips (through files in the data directory)
CREATE FUNCTION pg_temp.f(name text) RETURNS text LANGUAGE sql AS $$ SELECT current_setting('data_directory') || '/' || name $$;
CREATE TEMP TABLE copy_src (id int, v vector);
INSERT INTO copy_src SELECT i, ARRAY[i, -i * 0.5, i * 1e-7, 1.2345679e8]::real[]::vector FROM generate_series(1, 50) i;
DO $$ BEGIN EXECUTE format('COPY copy_src TO %L', pg_temp.f('ruvector_copy_test.txt')); END $$;
CREATE TEMP TABLE copy_txt (id int, v vector);
DO $$ BEGIN EXECUTE format('COPY copy_txt FROM %L', pg_temp.f('ruvector_copy_test.txt')); END $$;
SELECT is((SELECT count(*) FROM copy_src s JOIN copy_txt t USING (id) WHERE s.v = t.v AND s.v::text = t.v::text), 50::bigint, 'COPY text round trip');
DO $$ BEGIN EXECUTE format('COPY copy_src TO %L WITH (FORMAT binary)', pg_temp.f('ruvector_copy_test.bin')); END $$;
CREATE TEMP TABLE copy_bin (id int, v vector);
DO $$ BEGIN EXECUTE format('COPY copy_bin FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_copy_test.bin')); END $$;
SELECT is((SELECT count(*) FROM copy_src s JOIN copy_bin t USING (id) WHERE vector_send(s.v) = vector_send(t.v)), 50::bigint, 'COPY binary round trip');
CREATE TEMP TABLE copy_bin3 (id int, v vector(3));
SELECT throws_ok(format('COPY copy_bin3 FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_copy_test.bin')), '22000', 'expected 3 dimensions, not 4', 'binary input checks typmod');

-- Binary input errors, by forging a binary COPY file (header, one row with one field, trailer)
-- and writing it with server-side lo_export.
CREATE FUNCTION pg_temp.forge(vec bytea) RETURNS void LANGUAGE plpgsql AS $$
DECLARE lo oid;
BEGIN
  lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
                         || '\x0001'::bytea || int4send(length(vec)) || vec || '\xffff'::bytea);
  PERFORM lo_export(lo, pg_temp.f('ruvector_forged.bin'));
  PERFORM lo_unlink(lo);
END $$;
CREATE TEMP TABLE forged (v vector);
SELECT pg_temp.forge('\x000200003f80000040000000');
SELECT lives_ok(format('COPY forged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_forged.bin')), 'forged valid vector loads');
SELECT is((SELECT v::text FROM forged), '[1,2]', 'forged valid vector reads back');
SELECT pg_temp.forge('\x000200013f80000040000000');
SELECT throws_ok(format('COPY forged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_forged.bin')), '22000', 'expected unused to be 0, not 1', 'binary unused must be 0');
SELECT pg_temp.forge('\x000200007fc0000040000000');
SELECT throws_ok(format('COPY forged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_forged.bin')), '22000', 'NaN not allowed in vector', 'binary NaN rejected');
SELECT pg_temp.forge('\x000200007f80000040000000');
SELECT throws_ok(format('COPY forged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_forged.bin')), '22000', 'infinite value not allowed in vector', 'binary infinity rejected');
SELECT pg_temp.forge('\x00000000');
SELECT throws_ok(format('COPY forged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_forged.bin')), '22000', 'vector must have at least 1 dimension', 'binary zero dims rejected');
SELECT pg_temp.forge('\x3e810000');
SELECT throws_ok(format('COPY forged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_forged.bin')), '54000', 'vector cannot have more than 16000 dimensions', 'binary too many dims');
SELECT is((SELECT count(*) FROM forged), 1::bigint, 'failed binary loads leave the table intact');

SELECT * FROM finish();
ROLLBACK;
