-- pgvector beside ruvector: CREATE EXTENSION vector, LOAD of pgvector's library and CREATE EXTENSION
-- ruvector in a database with pgvector fail with one clear error before anything of the other runs;
-- CREATE EXTENSION IF NOT EXISTS vector (what pgvector applications and migrations run) is a no-op.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(19);

-- SQLSTATE, message, detail and hint of the error a statement raises
CREATE FUNCTION pg_temp.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
	RETURN concat_ws(E'\n', s, m, d, h);
END $$;

SELECT is(pg_temp.error_of('CREATE EXTENSION vector'),
	E'42710\nextension "vector" cannot be installed alongside ruvector\n'
	'ruvector already provides pgvector''s types, operators, functions and index methods (vector, halfvec, sparsevec, ivfflat).\n'
	'Use the ruvector extension; pgvector applications run on it unchanged.',
	'CREATE EXTENSION vector: 42710, message, detail, hint');
SELECT throws_ok($$CREATE EXTENSION vector SCHEMA public VERSION '0.8.0' CASCADE$$, '42710',
	'extension "vector" cannot be installed alongside ruvector', 'with schema, version and cascade');
SELECT throws_ok($$CREATE EXTENSION "vector" WITH VERSION '0.5.1'$$, '42710',
	'extension "vector" cannot be installed alongside ruvector', 'quoted name, older version');

-- IF NOT EXISTS: ruvector provides it, so nothing happens (a NOTICE says so)
SELECT lives_ok('CREATE EXTENSION IF NOT EXISTS vector', 'CREATE EXTENSION IF NOT EXISTS vector succeeds');
SELECT lives_ok($$CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public VERSION '0.8.0' CASCADE$$,
	'IF NOT EXISTS with schema, version and cascade succeeds');
-- and so does the comment a pg_dump of a pgvector database puts after it
SELECT lives_ok($$COMMENT ON EXTENSION vector IS 'vector data type and ivfflat and hnsw access methods'$$,
	'COMMENT ON EXTENSION vector (from a pgvector dump) succeeds');
SELECT is((SELECT count(*) FROM pg_extension WHERE extname = 'vector'), 0::bigint, 'and installs nothing');
SELECT is(obj_description((SELECT oid FROM pg_extension WHERE extname = 'ruvector'), 'pg_extension'),
	'vector type, ruivfflat index and GNN layers (pgvector-compatible)', 'ruvector''s comment is unchanged');
SELECT is((SELECT e.extname::text FROM pg_type t JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid
	JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e'
	WHERE t.typname = 'vector'), 'ruvector', 'the type vector stays ruvector''s');
SELECT is(('[1,2,3]'::vector <-> '[1,2,4]')::float8, 1::float8, 'and works');

-- other extensions are untouched
SELECT lives_ok('CREATE EXTENSION IF NOT EXISTS ruvector', 'CREATE EXTENSION IF NOT EXISTS ruvector still works');
SELECT ok(e LIKE '%vectors%' AND e NOT LIKE '%ruvector%', 'another name gets PostgreSQL''s error: ' || e)
	FROM pg_temp.error_of('CREATE EXTENSION vectors') e;

-- pgvector's library would redefine the ivfflat.* settings
SELECT is(pg_temp.error_of($$LOAD 'vector'$$),
	E'42710\npgvector''s library cannot be loaded where ruvector is loaded\n'
	'ruvector already provides pgvector''s types, operators, functions and index methods (vector, halfvec, sparsevec, ivfflat). '
	'pgvector''s library would redefine the ivfflat.* settings ruvector defines.\n'
	'Use the ruvector extension; pgvector applications run on it unchanged.',
	'LOAD ''vector'': 42710, message, detail, hint');
SELECT throws_ok($$LOAD '$libdir/vector'$$, '42710', 'pgvector''s library cannot be loaded where ruvector is loaded',
	'LOAD ''$libdir/vector''');

-- A database without ruvector, in a backend where ruvector is loaded: pgvector's library cannot load.
DROP EXTENSION ruvector CASCADE;
SELECT is(pg_temp.error_of('CREATE EXTENSION IF NOT EXISTS vector'),
	E'42710\nextension "vector" cannot be installed where ruvector is loaded\n'
	'ruvector already provides pgvector''s types, operators, functions and index methods (vector, halfvec, sparsevec, ivfflat). '
	'pgvector''s library would redefine the ivfflat.* settings ruvector defines.\n'
	'Use CREATE EXTENSION ruvector; pgvector applications run on it unchanged.',
	'without ruvector in the database: CREATE EXTENSION IF NOT EXISTS vector fails (42710, message, detail, hint)');
SELECT throws_ok($$COMMENT ON EXTENSION vector IS 'x'$$, '42704', 'extension "vector" does not exist',
	'without ruvector in the database, COMMENT ON EXTENSION vector is PostgreSQL''s error');

-- The reverse: a database with pgvector (its pg_extension row; this transaction is rolled back).
INSERT INTO pg_extension (oid, extname, extowner, extnamespace, extrelocatable, extversion)
	VALUES ((SELECT max(oid::text::bigint) + 1 FROM pg_extension)::text::oid, 'vector', 10, 'public'::regnamespace, false, '0.8.0');
SELECT is(pg_temp.error_of('CREATE EXTENSION ruvector'),
	E'42710\nextension "ruvector" cannot be installed alongside extension "vector" (pgvector)\n'
	'Both define the types vector, halfvec and sparsevec, their operators and the ivfflat access method.\n'
	'Install ruvector in another database and restore a pg_dump of this one into it; pgvector applications run on ruvector unchanged.',
	'CREATE EXTENSION ruvector with pgvector installed: 42710, message, detail, hint');
SELECT throws_ok('CREATE EXTENSION IF NOT EXISTS ruvector', '42710',
	'extension "ruvector" cannot be installed alongside extension "vector" (pgvector)', 'also with IF NOT EXISTS');
DELETE FROM pg_extension WHERE extname = 'vector';
SELECT lives_ok('CREATE EXTENSION ruvector', 'without pgvector it installs');

SELECT * FROM finish();
ROLLBACK;
