-- halfvec: every function, operator, cast and error, with pgvector 0.8's own expectations
-- (test/sql/halfvec.sql and test/expected/halfvec.out), plus float16 rounding edges, binary I/O,
-- cast contexts, hashing and damaged values.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(190);

-- Text input and output (each element read as a float, rounded to half, printed as that float)
SELECT is('[1,2,3]'::halfvec::text, '[1,2,3]', 'text round trip');
SELECT is('[-1,-2,-3]'::halfvec::text, '[-1,-2,-3]', 'negative values');
SELECT is('[1.,2.,3.]'::halfvec::text, '[1,2,3]', 'trailing dots');
SELECT is(' [ 1,  2 ,    3  ] '::halfvec::text, '[1,2,3]', 'whitespace');
SELECT is('[1.23456]'::halfvec::text, '[1.234375]', 'rounded to the nearest half, printed as its float');
SELECT is('[0.1,1]'::halfvec::text, '[0.099975586,1]', '0.1 as pgvector prints it');
SELECT is('[65519,-65519]'::halfvec::text, '[65504,-65504]', 'values just below the overflow round to the largest half');
SELECT is('[65504,-65504]'::halfvec::text, '[65504,-65504]', 'largest half');
SELECT is('[1e-8,-1e-8]'::halfvec::text, '[0,-0]', 'too small for a half: signed zero');
SELECT is('[1e-46,1]'::halfvec::text, '[0,1]', 'float underflow reads as zero');
SELECT is('[5.9604645e-08,6.1e-05,2.9802322e-08,2.9802326e-08]'::halfvec::text, '[5.9604645e-08,6.097555e-05,0,5.9604645e-08]',
          'subnormal halves; 2^-25 is a tie that rounds to even (zero), just above it rounds up');
SELECT is('[2049,2051,0.00012207031]'::halfvec::text, '[2048,2052,0.00012207031]', 'ties round to even');
SELECT throws_ok($$SELECT '[hello,1]'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[hello,1]"', 'junk element');
SELECT throws_ok($$SELECT '[NaN,1]'::halfvec$$, '22000', 'NaN not allowed in halfvec', 'NaN');
SELECT throws_ok($$SELECT '[Infinity,1]'::halfvec$$, '22000', 'infinite value not allowed in halfvec', 'Infinity');
SELECT throws_ok($$SELECT '[-Infinity,1]'::halfvec$$, '22000', 'infinite value not allowed in halfvec', '-Infinity');
SELECT throws_ok($$SELECT '[65520,-65520]'::halfvec$$, '22003', '"65520" is out of range for type halfvec', 'the first value that rounds to infinity');
SELECT throws_ok($$SELECT '[1,-1e5]'::halfvec$$, '22003', '"-1e5" is out of range for type halfvec', 'negative overflow names the token');
SELECT throws_ok($$SELECT '[4e38,1]'::halfvec$$, '22003', '"4e38" is out of range for type halfvec', 'float overflow');
SELECT throws_ok($$SELECT '[1,2,3'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[1,2,3"', 'unterminated');
SELECT throws_ok($$SELECT '[1,2,3]9'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[1,2,3]9"', 'junk after');
SELECT throws_ok($$SELECT '1,2,3'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "1,2,3"', 'missing bracket');
SELECT throws_ok($$SELECT ''::halfvec$$, '22P02', 'invalid input syntax for type halfvec: ""', 'empty string');
SELECT throws_ok($$SELECT '['::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "["', 'lone bracket');
SELECT throws_ok($$SELECT '[ '::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[ "', 'bracket and space');
SELECT throws_ok($$SELECT '[,'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[,"', 'bracket comma');
SELECT throws_ok($$SELECT '[]'::halfvec$$, '22000', 'halfvec must have at least 1 dimension', 'empty');
SELECT throws_ok($$SELECT '[ ]'::halfvec$$, '22000', 'halfvec must have at least 1 dimension', 'blank');
SELECT throws_ok($$SELECT '[,]'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[,]"', 'lone comma');
SELECT throws_ok($$SELECT '[1,]'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[1,]"', 'trailing comma');
SELECT throws_ok($$SELECT '[1a]'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[1a]"', 'junk in number');
SELECT throws_ok($$SELECT '[1,,3]'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[1,,3]"', 'double comma');
SELECT throws_ok($$SELECT '[1, ,3]'::halfvec$$, '22P02', 'invalid input syntax for type halfvec: "[1, ,3]"', 'blank element');
SELECT throws_ok($$SELECT ('[' || repeat('1,', 16000) || '1]')::halfvec$$, '54000',
                 'halfvec cannot have more than 16000 dimensions', '16001 dimensions');
SELECT is(vector_dims(('[' || repeat('1,', 15999) || '1]')::halfvec), 16000, '16000 dimensions accepted');
SELECT is((SELECT count(*) FROM (
             SELECT h FROM generate_series(0, 30719) h
             WHERE ('[' || (('[' || ((h & 1023) + 1024) * power(2::float8, (h >> 10) - 25) || ']')::halfvec::real[])[1] || ']')::halfvec::text
                   <> ('[' || ((h & 1023) + 1024) * power(2::float8, (h >> 10) - 25) || ']')::halfvec::text) bad),
          0::bigint, 'every normal half prints and reads back unchanged');

-- typmod
SELECT is('[1,2,3]'::halfvec(3)::text, '[1,2,3]', 'halfvec(3)');
SELECT throws_ok($$SELECT '[1,2,3]'::halfvec(2)$$, '22000', 'expected 2 dimensions, not 3', 'typmod mismatch');
SELECT throws_ok($$SELECT '[1,2,3]'::halfvec(3, 2)$$, '22023', 'invalid type modifier', 'two modifiers');
SELECT throws_ok($$SELECT '[1,2,3]'::halfvec('a')$$, '22P02', 'invalid input syntax for type integer: "a"', 'text modifier');
SELECT throws_ok($$SELECT '[1,2,3]'::halfvec(0)$$, '22023', 'dimensions for type halfvec must be at least 1', 'halfvec(0)');
SELECT throws_ok($$SELECT '[1,2,3]'::halfvec(16001)$$, '22023', 'dimensions for type halfvec cannot exceed 16000', 'halfvec(16001)');
SELECT is((SELECT array_agg(u::text) FROM unnest('{"[1,2,3]", "[4,5,6]"}'::halfvec[]) u), ARRAY['[1,2,3]', '[4,5,6]'], 'halfvec[]');
SELECT throws_ok($$SELECT '{"[1,2,3]"}'::halfvec(2)[]$$, '22000', 'expected 2 dimensions, not 3', 'halfvec(2)[]');
CREATE TEMP TABLE th (v halfvec(2));
SELECT throws_ok($$INSERT INTO th VALUES ('[1,2,3]')$$, '22000', 'expected 2 dimensions, not 3', 'column typmod');
SELECT is(format_type(atttypid, atttypmod), 'halfvec(2)', 'typmod shown') FROM pg_attribute WHERE attrelid = 'th'::regclass AND attname = 'v';

-- Binary I/O: int16 dim, int16 unused, then big-endian halves
SELECT is(halfvec_send('[1,2]'), '\x000200003c004000'::bytea, 'halfvec_send wire format');
SELECT is(halfvec_send('[-0.5,65504,6e-08]'), '\x00030000b8007bff0001'::bytea, 'sign, largest and smallest subnormal');
CREATE FUNCTION pg_temp.f(name text) RETURNS text LANGUAGE sql AS $$ SELECT current_setting('data_directory') || '/' || name $$;
CREATE TEMP TABLE hsrc (id int, v halfvec);
INSERT INTO hsrc SELECT i, ARRAY[i, -i * 0.5, i * 1e-7, 65504]::real[]::halfvec FROM generate_series(1, 50) i;
DO $$ BEGIN EXECUTE format('COPY hsrc TO %L WITH (FORMAT binary)', pg_temp.f('ruvector_half.bin')); END $$;
CREATE TEMP TABLE hbin (id int, v halfvec);
DO $$ BEGIN EXECUTE format('COPY hbin FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half.bin')); END $$;
SELECT is((SELECT count(*) FROM hsrc s JOIN hbin t USING (id) WHERE halfvec_send(s.v) = halfvec_send(t.v)), 50::bigint, 'COPY binary round trip');
CREATE TEMP TABLE hbin3 (id int, v halfvec(3));
SELECT throws_ok(format('COPY hbin3 FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half.bin')), '22000', 'expected 3 dimensions, not 4', 'binary input checks typmod');
CREATE FUNCTION pg_temp.forge(vec bytea) RETURNS void LANGUAGE plpgsql AS $$
DECLARE lo oid;
BEGIN
  lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
                         || '\x0001'::bytea || int4send(length(vec)) || vec || '\xffff'::bytea);
  PERFORM lo_export(lo, pg_temp.f('ruvector_half_forged.bin'));
  PERFORM lo_unlink(lo);
END $$;
CREATE TEMP TABLE hforged (v halfvec);
SELECT pg_temp.forge('\x000200003c004000');
SELECT lives_ok(format('COPY hforged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half_forged.bin')), 'forged valid halfvec loads');
SELECT is((SELECT v::text FROM hforged), '[1,2]', 'and reads back');
SELECT pg_temp.forge('\x000200013c004000');
SELECT throws_ok(format('COPY hforged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half_forged.bin')), '22000', 'expected unused to be 0, not 1', 'unused must be 0');
SELECT pg_temp.forge('\x000200007e004000');
SELECT throws_ok(format('COPY hforged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half_forged.bin')), '22000', 'NaN not allowed in halfvec', 'binary NaN');
SELECT pg_temp.forge('\x00020000fc004000');
SELECT throws_ok(format('COPY hforged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half_forged.bin')), '22000', 'infinite value not allowed in halfvec', 'binary -Infinity');
SELECT pg_temp.forge('\x00000000');
SELECT throws_ok(format('COPY hforged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half_forged.bin')), '22000', 'halfvec must have at least 1 dimension', 'binary zero dimensions');
SELECT pg_temp.forge('\x3e810000');
SELECT throws_ok(format('COPY hforged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half_forged.bin')), '54000', 'halfvec cannot have more than 16000 dimensions', 'binary 16001 dimensions');
SELECT pg_temp.forge('\x000200003c00');
SELECT throws_ok(format('COPY hforged FROM %L WITH (FORMAT binary)', pg_temp.f('ruvector_half_forged.bin')), '08P01', NULL, 'binary value shorter than its dimensions');
SELECT is((SELECT count(*) FROM hforged), 1::bigint, 'failed loads left the table as it was');

-- Damaged values (any bytes through a binary-coercible cast): an error, never a read past the end
CREATE CAST (bytea AS halfvec) WITHOUT FUNCTION;
SELECT throws_ok($$SELECT '\x0500000000003c00'::bytea::halfvec::text$$, 'XX001', 'invalid halfvec value: header says 5 dimensions in 12 bytes', 'damaged value: text output');
SELECT throws_ok($$SELECT l2_norm('\xffff0000'::bytea::halfvec)$$, 'XX001', NULL, 'damaged value: negative dimension count');
SELECT is('\x02000000007e003c'::bytea::halfvec::text, '[NaN,1]', 'a stored NaN prints (and a dump then fails loudly on reload)');
DROP CAST (bytea AS halfvec);

-- Casts and their contexts (pgvector's)
SELECT is('[1,2,3]'::halfvec::vector::text, '[1,2,3]', 'halfvec -> vector');
SELECT is('[0.1,65504]'::halfvec::vector::text, '[0.099975586,65504]', 'halfvec -> vector is exact');
SELECT is('[1.23456,2]'::vector::halfvec::text, '[1.234375,2]', 'vector -> halfvec rounds');
SELECT is('[1,2,3]'::vector::halfvec(3)::text, '[1,2,3]', 'vector -> halfvec(3)');
SELECT throws_ok($$SELECT '[1,2,3]'::vector::halfvec(2)$$, '22000', 'expected 2 dimensions, not 3', 'vector -> halfvec(2)');
SELECT throws_ok($$SELECT '[1,2,3]'::halfvec::vector(2)$$, '22000', 'expected 2 dimensions, not 3', 'halfvec -> vector(2)');
SELECT throws_ok($$SELECT '[1,1e6]'::vector::halfvec$$, '22003', '"1e+06" is out of range for type halfvec', 'vector -> halfvec overflow');
SELECT throws_ok($$SELECT '[-65520]'::vector::halfvec$$, '22003', '"-65520" is out of range for type halfvec', 'vector -> halfvec at the boundary');
SELECT is('[-65519.99]'::vector::halfvec::text, '[-65504]', 'just inside the boundary');
SELECT is('{1,2,3}'::int[]::halfvec::text, '[1,2,3]', 'integer[] -> halfvec');
SELECT is('{1.5,2,3}'::real[]::halfvec::text, '[1.5,2,3]', 'real[] -> halfvec');
SELECT is('{1.5,2,3}'::float8[]::halfvec::text, '[1.5,2,3]', 'double precision[] -> halfvec');
SELECT is('{1.5,2,3}'::numeric[]::halfvec::text, '[1.5,2,3]', 'numeric[] -> halfvec');
SELECT is('{1,2,3}'::int[]::halfvec(3)::text, '[1,2,3]', 'integer[] -> halfvec(3)');
SELECT throws_ok($$SELECT '{1,2,3}'::int[]::halfvec(2)$$, '22000', 'expected 2 dimensions, not 3', 'array -> halfvec(2)');
SELECT throws_ok($$SELECT '{100000}'::int[]::halfvec$$, '22003', '"100000" is out of range for type halfvec', 'integer overflow');
SELECT throws_ok($$SELECT '{1e10}'::float8[]::halfvec$$, '22003', '"1e+10" is out of range for type halfvec', 'double overflow');
SELECT throws_ok($$SELECT '{1e300}'::float8[]::halfvec$$, '22000', 'infinite value not allowed in halfvec', 'beyond float: infinite, as pgvector');
SELECT throws_ok($$SELECT '{NaN,1e6}'::real[]::halfvec$$, '22003', '"1e+06" is out of range for type halfvec', 'out of range is found while converting, before NaN');
SELECT throws_ok($$SELECT '{NaN}'::real[]::halfvec$$, '22000', 'NaN not allowed in halfvec', 'NaN array element');
SELECT throws_ok($$SELECT '{-Infinity}'::real[]::halfvec$$, '22000', 'infinite value not allowed in halfvec', 'infinite array element');
SELECT throws_ok($$SELECT '{{1},{2}}'::real[]::halfvec$$, '22000', 'array must be 1-D', '2-D array');
SELECT throws_ok($$SELECT '{1,NULL}'::real[]::halfvec$$, '22004', 'array must not contain nulls', 'null element');
SELECT throws_ok($$SELECT '{}'::real[]::halfvec$$, '22000', 'halfvec must have at least 1 dimension', 'empty array');
SELECT is('[1.5,-2,6e-08]'::halfvec::real[], '{1.5,-2,5.9604645e-08}'::real[], 'halfvec -> real[]');
SELECT is((SELECT array_agg(format('%s->%s:%s', castsource::regtype, casttarget::regtype, castcontext) ORDER BY castsource::regtype::text, casttarget::regtype::text)
           FROM pg_cast WHERE 'halfvec'::regtype IN (castsource, casttarget)),
          ARRAY['double precision[]->halfvec:a', 'halfvec->halfvec:i', 'halfvec->real[]:a', 'halfvec->sparsevec:i', 'halfvec->vector:a',
                'integer[]->halfvec:a', 'numeric[]->halfvec:a', 'real[]->halfvec:a', 'sparsevec->halfvec:a', 'vector->halfvec:i'],
          'cast contexts as pgvector: vector -> halfvec and halfvec -> sparsevec implicit, the rest on assignment');
CREATE TEMP TABLE hv (v halfvec(3));
INSERT INTO hv VALUES ('[1,2,3]'::vector), (ARRAY[4,5,6]);
SELECT is((SELECT array_agg(v::text ORDER BY v) FROM hv), ARRAY['[1,2,3]', '[4,5,6]'], 'vector and arrays assign to a halfvec column');
SELECT is(('[1,2,3]'::vector <-> '[1,2,4]'::halfvec)::text, '1', 'vector argument promoted to halfvec implicitly');

-- Arithmetic (rounded to half; overflow and underflow are errors)
SELECT is(('[1,2,3]'::halfvec + '[4,5,6]')::text, '[5,7,9]', '+');
SELECT throws_ok($$SELECT '[65519]'::halfvec + '[65519]'$$, '22003', 'value out of range: overflow', '+ overflow');
SELECT throws_ok($$SELECT '[1,2]'::halfvec + '[3]'$$, '22000', 'different halfvec dimensions 2 and 1', '+ dims');
SELECT is(('[1,2,3]'::halfvec - '[4,5,6]')::text, '[-3,-3,-3]', '-');
SELECT throws_ok($$SELECT '[-65519]'::halfvec - '[65519]'$$, '22003', 'value out of range: overflow', '- overflow');
SELECT throws_ok($$SELECT '[1,2]'::halfvec - '[3]'$$, '22000', 'different halfvec dimensions 2 and 1', '- dims');
SELECT is(('[1,2,3]'::halfvec * '[4,5,6]')::text, '[4,10,18]', '*');
SELECT throws_ok($$SELECT '[65519]'::halfvec * '[65519]'$$, '22003', 'value out of range: overflow', '* overflow');
SELECT throws_ok($$SELECT '[1e-7]'::halfvec * '[1e-7]'$$, '22003', 'value out of range: underflow', '* underflow');
SELECT throws_ok($$SELECT '[1,2]'::halfvec * '[3]'$$, '22000', 'different halfvec dimensions 2 and 1', '* dims');
SELECT is(('[32768,0.5]'::halfvec + '[32736,0.00024414062]')::text, '[65504,0.5]', '+ rounds to the nearest half (to even)');
SELECT is(('[1,2,3]'::halfvec || '[4,5]')::text, '[1,2,3,4,5]', '||');
SELECT throws_ok($$SELECT array_fill(0, ARRAY[16000])::halfvec || '[1]'$$, '54000', 'halfvec cannot have more than 16000 dimensions', '|| limit');

-- Comparison, btree and hash
SELECT is('[1,2,3]'::halfvec < '[1,2,3]', false, '<');
SELECT is('[1,2,3]'::halfvec < '[1,2]', false, '< shorter');
SELECT is('[1,2,3]'::halfvec <= '[1,2,3]', true, '<=');
SELECT is('[1,2,3]'::halfvec <= '[1,2]', false, '<= shorter');
SELECT is('[1,2,3]'::halfvec = '[1,2,3]', true, '=');
SELECT is('[1,2,3]'::halfvec = '[1,2]', false, '= shorter');
SELECT is('[1,2,3]'::halfvec != '[1,2,3]', false, '!=');
SELECT is('[1,2,3]'::halfvec != '[1,2]', true, '!= shorter');
SELECT is('[1,2,3]'::halfvec >= '[1,2,3]', true, '>=');
SELECT is('[1,2,3]'::halfvec >= '[1,2]', true, '>= shorter');
SELECT is('[1,2,3]'::halfvec > '[1,2,3]', false, '>');
SELECT is('[1,2,3]'::halfvec > '[1,2]', true, '> shorter');
SELECT is(ARRAY[halfvec_cmp('[1,2,3]', '[1,2,3]'), halfvec_cmp('[1,2,3]', '[0,0,0]'), halfvec_cmp('[0,0,0]', '[1,2,3]'),
                halfvec_cmp('[1,2]', '[1,2,3]'), halfvec_cmp('[1,2,3]', '[1,2]'), halfvec_cmp('[1,2]', '[2,3,4]'),
                halfvec_cmp('[2,3]', '[1,2,3]')], ARRAY[0, 1, -1, -1, 1, -1, 1], 'halfvec_cmp');
SELECT is('[-0]'::halfvec = '[0]', true, '-0 equals 0');
SELECT is('[1.0001]'::halfvec = '[1.0002]', true, 'values that round to the same half are equal');
SELECT is(halfvec_hash('[-0,1]') = halfvec_hash('[0,1]'), true, 'equal values hash equally');
SELECT isnt(halfvec_hash('[1,2]'), halfvec_hash('[2,1]'), 'the hash depends on the order');
SELECT isnt(halfvec_hash_extended('[1,2]', 0), halfvec_hash_extended('[1,2]', 1), 'extended hash depends on the seed');
CREATE TEMP TABLE hb (id int, v halfvec);
INSERT INTO hb SELECT i, ARRAY[i % 7, -(i % 3)]::halfvec FROM generate_series(1, 200) i;
CREATE INDEX ON hb (v);
CREATE INDEX hb_hash ON hb USING hash (v);
SET enable_seqscan = off;
SELECT is((SELECT count(*) FROM hb WHERE v = '[3,-1]'), (SELECT count(*) FROM hb WHERE v::text = '[3,-1]'), 'btree and hash index lookups');
SELECT is((SELECT array_agg(v::text ORDER BY v) FROM (SELECT DISTINCT v FROM hb WHERE v < '[1,0]') d),
          ARRAY['[0,-2]', '[0,-1]', '[0,0]', '[1,-2]', '[1,-1]'], 'btree range scan in order');
RESET enable_seqscan;
SET enable_sort = off;
SELECT is((SELECT count(*) FROM (SELECT v FROM hb GROUP BY v) g), 21::bigint, 'hash aggregation');
RESET enable_sort;

-- Utilities
SELECT is(vector_dims('[1,2,3]'::halfvec), 3, 'vector_dims');
SELECT is(round(l2_norm('[1,1]'::halfvec)::numeric, 5), 1.41421, 'l2_norm');
SELECT is(l2_norm('[3,4]'::halfvec), 5::float8, 'l2_norm 3-4-5');
SELECT is(l2_norm('[0,0]'::halfvec), 0::float8, 'l2_norm zero');
SELECT is(l2_norm('[65504,65504]'::halfvec), sqrt(2 * 65504::float8 * 65504), 'l2_norm in double at the largest half');
SELECT is(l2_normalize('[3,4]'::halfvec)::text, '[0.60009766,0.7998047]', 'l2_normalize');
SELECT is(l2_normalize('[3,0]'::halfvec)::text, '[1,0]', 'l2_normalize axis');
SELECT is(l2_normalize('[0,0.1]'::halfvec)::text, '[0,1]', 'l2_normalize small');
SELECT is(l2_normalize('[0,0]'::halfvec)::text, '[0,0]', 'l2_normalize zero stays zero');
SELECT is(l2_normalize('[65504]'::halfvec)::text, '[1]', 'l2_normalize largest');
SELECT is(l2_normalize('[6e-08,0]'::halfvec)::text, '[1,0]', 'l2_normalize smallest subnormal');
SELECT is(binary_quantize('[1,0,-1]'::halfvec)::text, '100', 'binary_quantize');
SELECT is(binary_quantize('[0,0.1,-0.2,-0.3,0.4,0.5,0.6,-0.7,0.8,-0.9,1]'::halfvec)::text, '01001110101', 'binary_quantize 11');
SELECT is(binary_quantize('[1,2,3,-4,5,6,-7,8,1,-2,-3,4,5,-6,7,8,-1,2,3]'::halfvec)::text, '1110110110011011011', 'binary_quantize 19');
SELECT is(binary_quantize('[6e-08,-0]'::halfvec)::text, '10', 'binary_quantize subnormal and -0');
SELECT is(subvector('[1,2,3,4,5]'::halfvec, 1, 3)::text, '[1,2,3]', 'subvector');
SELECT is(subvector('[1,2,3,4,5]'::halfvec, 3, 2)::text, '[3,4]', 'subvector middle');
SELECT is(subvector('[1,2,3,4,5]'::halfvec, -1, 3)::text, '[1]', 'subvector before the start');
SELECT is(subvector('[1,2,3,4,5]'::halfvec, 3, 9)::text, '[3,4,5]', 'subvector past the end');
SELECT throws_ok($$SELECT subvector('[1,2,3,4,5]'::halfvec, 1, 0)$$, '22000', 'halfvec must have at least 1 dimension', 'subvector count 0');
SELECT throws_ok($$SELECT subvector('[1,2,3,4,5]'::halfvec, 3, -1)$$, '22000', 'halfvec must have at least 1 dimension', 'subvector count -1');
SELECT throws_ok($$SELECT subvector('[1,2,3,4,5]'::halfvec, -1, 2)$$, '22000', 'halfvec must have at least 1 dimension', 'subvector empty');
SELECT throws_ok($$SELECT subvector('[1,2,3,4,5]'::halfvec, 2147483647, 10)$$, '22000', 'halfvec must have at least 1 dimension', 'subvector start overflow');
SELECT is(subvector('[1,2,3,4,5]'::halfvec, 3, 2147483647)::text, '[3,4,5]', 'subvector count overflow');
SELECT is(subvector('[1,2,3,4,5]'::halfvec, -2147483644, 2147483647)::text, '[1,2]', 'subvector negative start overflow');

-- Distances
SELECT is(l2_distance('[0,0]'::halfvec, '[3,4]'), 5::float8, 'l2_distance');
SELECT is(l2_distance('[0,0]'::halfvec, '[0,1]'), 1::float8, 'l2_distance unit');
SELECT throws_ok($$SELECT l2_distance('[1,2]'::halfvec, '[3]')$$, '22000', 'different halfvec dimensions 2 and 1', 'l2_distance dims');
SELECT is(l2_distance('[1,1,1,1,1,1,1,1,1]'::halfvec, '[1,1,1,1,1,1,1,4,5]'), 5::float8, 'l2_distance 9 dims (SIMD and tail)');
SELECT is('[0,0]'::halfvec <-> '[3,4]', 5::float8, '<->');
SELECT is(halfvec_l2_squared_distance('[0,0]', '[3,4]'), 25::float8, 'halfvec_l2_squared_distance');
SELECT is(inner_product('[1,2]'::halfvec, '[3,4]'), 11::float8, 'inner_product');
SELECT throws_ok($$SELECT inner_product('[1,2]'::halfvec, '[3]')$$, '22000', 'different halfvec dimensions 2 and 1', 'inner_product dims');
SELECT is(inner_product('[65504]'::halfvec, '[65504]'), 4290774016::float8, 'inner_product beyond the half range (in float)');
SELECT is(inner_product('[1,1,1,1,1,1,1,1,1]'::halfvec, '[1,2,3,4,5,6,7,8,9]'), 45::float8, 'inner_product 9 dims');
SELECT is('[1,2]'::halfvec <#> '[3,4]', -11::float8, '<#>');
SELECT is(halfvec_negative_inner_product('[1,2]', '[3,4]'), -11::float8, 'halfvec_negative_inner_product');
SELECT is(cosine_distance('[1,2]'::halfvec, '[2,4]'), 0::float8, 'cosine_distance parallel');
SELECT is(cosine_distance('[1,2]'::halfvec, '[0,0]')::text, 'NaN', 'cosine_distance zero vector is NaN (pgvector)');
SELECT is(cosine_distance('[1,0]'::halfvec, '[0,2]'), 1::float8, 'cosine_distance orthogonal');
SELECT is(cosine_distance('[1,1]'::halfvec, '[-1,-1]'), 2::float8, 'cosine_distance opposite');
SELECT throws_ok($$SELECT cosine_distance('[1,2]'::halfvec, '[3]')$$, '22000', 'different halfvec dimensions 2 and 1', 'cosine_distance dims');
SELECT is(cosine_distance('[1,1]'::halfvec, '[1.1,1.1]'), 0::float8, 'cosine_distance clamps to 0');
SELECT is(cosine_distance('[1,1]'::halfvec, '[-1.1,-1.1]'), 2::float8, 'cosine_distance clamps to 2');
SELECT is(cosine_distance('[1,2,3,4,5,6,7,8,9]'::halfvec, '[-1,-2,-3,-4,-5,-6,-7,-8,-9]'), 2::float8, 'cosine_distance 9 dims');
SELECT is('[1,2]'::halfvec <=> '[2,4]', 0::float8, '<=>');
SELECT is(halfvec_spherical_distance('[1,0]', '[0,1]'), 0.5::float8, 'halfvec_spherical_distance');
SELECT is(l1_distance('[0,0]'::halfvec, '[3,4]'), 7::float8, 'l1_distance');
SELECT throws_ok($$SELECT l1_distance('[1,2]'::halfvec, '[3]')$$, '22000', 'different halfvec dimensions 2 and 1', 'l1_distance dims');
SELECT is(l1_distance('[1,2,3,4,5,6,7,8,9]'::halfvec, '[0,3,2,5,4,7,6,9,8]'), 9::float8, 'l1_distance 9 dims');
SELECT is('[0,0]'::halfvec <+> '[3,4]', 7::float8, '<+>');
SELECT is(l2_distance('[65504,-65504]'::halfvec, '[-65504,65504]'), sqrt(2 * 131008::float8 * 131008), 'l2_distance across the whole range');
SELECT is((SELECT count(*) FROM generate_series(1, 300) n,
            LATERAL (SELECT array_agg((random() * 200 - 100)::real) a, array_agg((random() * 200 - 100)::real) b FROM generate_series(1, n)) r
           WHERE abs(l2_distance(a::halfvec, b::halfvec) - l2_distance(a::halfvec::vector, b::halfvec::vector)) > 1e-4 * l2_distance(a::halfvec::vector, b::halfvec::vector)
              OR abs(inner_product(a::halfvec, b::halfvec) - inner_product(a::halfvec::vector, b::halfvec::vector)) > 1e-3 * n
              OR abs(l1_distance(a::halfvec, b::halfvec) - l1_distance(a::halfvec::vector, b::halfvec::vector)) > 1e-4 * l1_distance(a::halfvec::vector, b::halfvec::vector)
              OR abs(cosine_distance(a::halfvec, b::halfvec) - cosine_distance(a::halfvec::vector, b::halfvec::vector)) > 1e-5),
          0::bigint, 'halfvec distances equal the vector distances of the same values (dims 1..300)');

-- Aggregates
SELECT is((SELECT avg(v)::text FROM unnest(ARRAY['[1,2,3]'::halfvec, '[3,5,7]']) v), '[2,3.5,5]', 'avg');
SELECT is((SELECT avg(v)::text FROM unnest(ARRAY['[1,2,3]'::halfvec, '[3,5,7]', NULL]) v), '[2,3.5,5]', 'avg skips NULL');
SELECT is((SELECT avg(v) FROM unnest(ARRAY[]::halfvec[]) v), NULL, 'avg of nothing');
SELECT throws_ok($$SELECT avg(v) FROM unnest(ARRAY['[1,2]'::halfvec, '[3]']) v$$, '22000', 'expected 2 dimensions, not 1', 'avg dims');
SELECT is((SELECT avg(v)::text FROM unnest(ARRAY['[65504]'::halfvec, '[65504]']) v), '[65504]', 'avg of the largest (summed in double)');
SELECT throws_ok($$SELECT halfvec_avg(array_agg(n)) FROM generate_series(1, 16002) n$$, '54000', 'halfvec cannot have more than 16000 dimensions', 'avg state too long');
SELECT throws_ok($$SELECT halfvec_accum('{}', '[1]')$$, '22023', 'halfvec_accum: expected state array', 'halfvec_accum checks its state');
SELECT is((SELECT sum(v)::text FROM unnest(ARRAY['[1,2,3]'::halfvec, '[3,5,7]']) v), '[4,7,10]', 'sum');
SELECT is((SELECT sum(v)::text FROM unnest(ARRAY['[1,2,3]'::halfvec, '[3,5,7]', NULL]) v), '[4,7,10]', 'sum skips NULL');
SELECT is((SELECT sum(v) FROM unnest(ARRAY[]::halfvec[]) v), NULL, 'sum of nothing');
SELECT throws_ok($$SELECT sum(v) FROM unnest(ARRAY['[1,2]'::halfvec, '[3]']) v$$, '22000', 'different halfvec dimensions 2 and 1', 'sum dims');
SELECT throws_ok($$SELECT sum(v) FROM unnest(ARRAY['[65504]'::halfvec, '[65504]']) v$$, '22003', 'value out of range: overflow', 'sum overflow');
CREATE TEMP TABLE hagg AS SELECT ARRAY[i, i * 2]::halfvec AS v FROM generate_series(1, 20000) i;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT is((SELECT avg(v)::text FROM hagg), '[10000,20000]', 'avg over parallel partial aggregates (halfvec_combine)');
RESET parallel_setup_cost;

SELECT * FROM finish();
ROLLBACK;
