-- Casts between the vector types: the halfvec cases of pgvector 0.8's test/expected/cast.out, with
-- pgvector's outputs and errors, plus the halfvec <-> sparsevec cast contexts and what they allow.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(36);

-- pgvector's cast.out: vector <-> halfvec, real[] -> halfvec
SELECT is(('[1,2,3]'::vector::halfvec)::text, '[1,2,3]', '''[1,2,3]''::vector::halfvec');
SELECT is(('[1,2,3]'::vector::halfvec(3))::text, '[1,2,3]', '''[1,2,3]''::vector::halfvec(3)');
SELECT throws_ok($$SELECT '[1,2,3]'::vector::halfvec(2)$$, '22000', 'expected 2 dimensions, not 3', '''[1,2,3]''::vector::halfvec(2)');
SELECT throws_ok($$SELECT '[65520]'::vector::halfvec$$, '22003', '"65520" is out of range for type halfvec', '''[65520]''::vector::halfvec');
SELECT is(('[1e-8]'::vector::halfvec)::text, '[0]', '''[1e-8]''::vector::halfvec');
SELECT is(('[1,2,3]'::halfvec::vector)::text, '[1,2,3]', '''[1,2,3]''::halfvec::vector');
SELECT is(('[1,2,3]'::halfvec::vector(3))::text, '[1,2,3]', '''[1,2,3]''::halfvec::vector(3)');
SELECT throws_ok($$SELECT '[1,2,3]'::halfvec::vector(2)$$, '22000', 'expected 2 dimensions, not 3', '''[1,2,3]''::halfvec::vector(2)');
SELECT is(('{1,2,3}'::real[]::halfvec)::text, '[1,2,3]', '''{1,2,3}''::real[]::halfvec');
SELECT is(('{1,2,3}'::real[]::halfvec(3))::text, '[1,2,3]', '''{1,2,3}''::real[]::halfvec(3)');
SELECT throws_ok($$SELECT '{1,2,3}'::real[]::halfvec(2)$$, '22000', 'expected 2 dimensions, not 3', '''{1,2,3}''::real[]::halfvec(2)');
SELECT throws_ok($$SELECT '{65520,-65520}'::real[]::halfvec$$, '22003', '"65520" is out of range for type halfvec', '''{65520,-65520}''::real[]::halfvec');
SELECT is(('{1e-8,-1e-8}'::real[]::halfvec)::text, '[0,-0]', '''{1e-8,-1e-8}''::real[]::halfvec');

-- pgvector's cast.out: halfvec <-> sparsevec
SELECT is(('[0,1.5,0,3.5,0]'::halfvec::sparsevec)::text, '{2:1.5,4:3.5}/5', '''[0,1.5,0,3.5,0]''::halfvec::sparsevec');
SELECT is(('[0,1.5,0,3.5,0]'::halfvec::sparsevec(5))::text, '{2:1.5,4:3.5}/5', '''[0,1.5,0,3.5,0]''::halfvec::sparsevec(5)');
SELECT throws_ok($$SELECT '[0,1.5,0,3.5,0]'::halfvec::sparsevec(4)$$, '22000', 'expected 4 dimensions, not 5', '''[0,1.5,0,3.5,0]''::halfvec::sparsevec(4)');
SELECT is(('{2:1.5,4:3.5}/5'::sparsevec::halfvec)::text, '[0,1.5,0,3.5,0]', '''{2:1.5,4:3.5}/5''::sparsevec::halfvec');
SELECT is(('{2:1.5,4:3.5}/5'::sparsevec::halfvec(5))::text, '[0,1.5,0,3.5,0]', '''{2:1.5,4:3.5}/5''::sparsevec::halfvec(5)');
SELECT throws_ok($$SELECT '{2:1.5,4:3.5}/5'::sparsevec::halfvec(4)$$, '22000', 'expected 4 dimensions, not 5', '''{2:1.5,4:3.5}/5''::sparsevec::halfvec(4)');
SELECT throws_ok($$SELECT '{}/16001'::sparsevec::halfvec$$, '54000', 'halfvec cannot have more than 16000 dimensions', '''{}/16001''::sparsevec::halfvec');
SELECT throws_ok($$SELECT '{1:65520}/1'::sparsevec::halfvec$$, '22003', '"65520" is out of range for type halfvec', '''{1:65520}/1''::sparsevec::halfvec');
SELECT is(('{1:1e-8}/1'::sparsevec::halfvec)::text, '[0]', '''{1:1e-8}/1''::sparsevec::halfvec');

-- Beyond cast.out: edges of the half range, signed zeros, size limits, round trips
SELECT is(('{1:65504,2:-65504,3:6e-08}/3'::sparsevec::halfvec)::text, '[65504,-65504,5.9604645e-08]', 'the largest half and the smallest subnormal half convert');
SELECT is(('[-0,6e-08,0]'::halfvec::sparsevec)::text, '{2:5.9604645e-08}/3', '-0 is dropped, a subnormal half is kept');
SELECT is((SELECT bool_and(v::sparsevec::halfvec = v) FROM (SELECT (SELECT array_agg(CASE WHEN random() < 0.5 THEN 0 ELSE random() * 200 - 100 END::real) FROM generate_series(1, 40) WHERE g > 0)::halfvec v FROM generate_series(1, 200) g) t),
          true, 'halfvec -> sparsevec -> halfvec is the identity (200 random values)');
SELECT is((SELECT bool_and(v::sparsevec = v::vector::sparsevec) FROM (SELECT (SELECT array_agg(CASE WHEN random() < 0.5 THEN 0 ELSE random() * 200 - 100 END::real) FROM generate_series(1, 40) WHERE g > 0)::halfvec v FROM generate_series(1, 200) g) t),
          true, 'halfvec -> sparsevec equals the cast through vector (200 random values)');
SELECT is((array_fill(1, ARRAY[16000])::halfvec::sparsevec::halfvec)::real[], array_fill(1, ARRAY[16000])::real[], '16000 non-zero elements both ways');

-- Contexts (pgvector's): halfvec -> sparsevec implicit, sparsevec -> halfvec on assignment
SELECT is((SELECT array_agg(format('%s->%s:%s', castsource::regtype, casttarget::regtype, castcontext) ORDER BY castsource::regtype::text)
           FROM pg_cast WHERE castsource IN ('halfvec'::regtype, 'sparsevec'::regtype) AND casttarget IN ('halfvec'::regtype, 'sparsevec'::regtype) AND castsource <> casttarget),
          ARRAY['halfvec->sparsevec:i', 'sparsevec->halfvec:a'], 'cast contexts as pgvector');
SELECT is(('[0,1]'::halfvec <-> '{2:4}/2'::sparsevec)::text, '3', 'a halfvec argument is promoted to sparsevec implicitly');
CREATE TEMP TABLE casts_h (v halfvec(3));
CREATE TEMP TABLE casts_s (v sparsevec(3));
INSERT INTO casts_h VALUES ('{1:1,3:2}/3'::sparsevec);
SELECT is((SELECT v::text FROM casts_h), '[1,0,2]', 'a sparsevec assigns to a halfvec column');
INSERT INTO casts_s VALUES ('[0,5,0]'::halfvec);
SELECT is((SELECT v::text FROM casts_s), '{2:5}/3', 'a halfvec assigns to a sparsevec column');
SELECT throws_ok($$INSERT INTO casts_h VALUES ('{1:1}/4'::sparsevec)$$, '22000', 'expected 3 dimensions, not 4', 'the column typmod is checked on assignment');
SELECT throws_ok($$SELECT halfvec_to_float4('{1:1}/3'::sparsevec, -1, false)$$, '42883', NULL, 'sparsevec -> halfvec is not implicit');

-- pgvector README's binary quantization with re-rank, over a halfvec column (halfvec -> bit)
SELECT is((SELECT bool_and(binary_quantize(v::halfvec) = binary_quantize(v)) FROM (SELECT (SELECT array_agg((random() * 200 - 100)::real) FROM generate_series(1, 40) WHERE g > 0)::vector v FROM generate_series(1, 200) g) t),
          true, 'binary_quantize(halfvec) is binary_quantize(vector) of the same values (200 random values)');
CREATE TEMP TABLE casts_items (id bigserial PRIMARY KEY, embedding halfvec(3));
INSERT INTO casts_items (embedding) SELECT ARRAY[random() * 4 - 2, random() * 4 - 2, random() * 4 - 2] FROM generate_series(1, 15);
SELECT is(ARRAY(SELECT id FROM (SELECT * FROM casts_items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::halfvec) LIMIT 20) t ORDER BY embedding <=> '[1,-2,3]', id LIMIT 5),
          ARRAY(SELECT id FROM casts_items ORDER BY embedding <=> '[1,-2,3]', id LIMIT 5),
          'the README re-rank over halfvec: with every row a candidate, the exact cosine order');
SELECT is(ARRAY(SELECT binary_quantize(embedding)::bit(3)::text FROM (SELECT * FROM casts_items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::halfvec), id LIMIT 3) t),
          ARRAY(SELECT b::text FROM (SELECT binary_quantize(embedding)::bit(3) AS b, id FROM casts_items) t ORDER BY length(replace((b # B'101')::text, '0', '')), id LIMIT 3),
          'the Hamming candidates are those with the fewest bits differing from binary_quantize([1,-2,3]) = 101');

SELECT * FROM finish();
ROLLBACK;
