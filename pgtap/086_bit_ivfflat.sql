-- ruivfflat / ivfflat over bit: bit_hamming_ops (pgvector's ivfflat opclass for bit). Lists store
-- the bit strings and order them by <~> with the popcount kernels; k-means trains on the bits as
-- 0/1 floats and each centroid is the majority of its list, so lists rank by Hamming distance too.
-- An index scan over every list returns exactly the seq scan's order (ties in any order).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(25);

SELECT setseed(0.86);
CREATE FUNCTION rbits(n int) RETURNS text LANGUAGE sql VOLATILE AS
	$$ SELECT string_agg(CASE WHEN random() < 0.5 THEN '1' ELSE '0' END, '') FROM generate_series(1, n) $$;
CREATE TABLE b (id int PRIMARY KEY, v bit(70));
INSERT INTO b SELECT i, rbits(70)::bit(70) FROM generate_series(1, 800) i;
INSERT INTO b VALUES (801, NULL), (802, repeat('0', 70)::bit(70)), (803, repeat('1', 70)::bit(70));
CREATE TABLE q AS SELECT qid, rbits(70)::bit(70) AS v FROM generate_series(1, 6) qid;
ANALYZE b;

CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;

-- For every query: the distances in the order a scan returns them, with the index (every list
-- probed) and without; equal arrays mean the same order up to ties (Hamming distances tie often).
CREATE FUNCTION order_matches(n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE r record; a float8[]; c float8[]; ok boolean := true;
BEGIN
	FOR r IN SELECT * FROM q LOOP
		SET LOCAL enable_seqscan = off;
		SET LOCAL enable_indexscan = on;
		EXECUTE format('SELECT array(SELECT v <~> $1 FROM (SELECT v FROM b ORDER BY v <~> $1 LIMIT %s) s)', n) INTO a USING r.v;
		SET LOCAL enable_seqscan = on;
		SET LOCAL enable_indexscan = off;
		SET LOCAL enable_bitmapscan = off;
		EXECUTE format('SELECT array(SELECT v <~> $1 FROM (SELECT v FROM b ORDER BY v <~> $1 LIMIT %s) s)', n) INTO c USING r.v;
		IF a IS DISTINCT FROM c OR cardinality(a) <> n THEN
			RAISE NOTICE 'order differs for query %: % vs %', r.qid, a, c;
			ok := false;
		END IF;
	END LOOP;
	RESET enable_seqscan; RESET enable_indexscan; RESET enable_bitmapscan;
	RETURN ok;
END $$;

-- With one probe, each row is found from its own value: the build (the worker's assignment), an
-- insert and a scan rank the lists alike, by Hamming distance to the bit centroids.
CREATE FUNCTION self_found(lo int, hi int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; found bigint := 0; d float8; probes text := current_setting('ivfflat.probes');
BEGIN
	PERFORM set_config('ivfflat.probes', '1', true);
	SET LOCAL enable_seqscan = off;
	FOR r IN SELECT id, v FROM b WHERE id BETWEEN lo AND hi AND v IS NOT NULL LOOP
		SELECT v <~> r.v INTO d FROM b ORDER BY v <~> r.v LIMIT 1;
		IF d = 0 THEN found := found + 1; END IF;
	END LOOP;
	PERFORM set_config('ivfflat.probes', probes, true);
	RESET enable_seqscan;
	RETURN found;
END $$;

SET ivfflat.probes = 8;
CREATE INDEX b_ham ON b USING ruivfflat (v bit_hamming_ops) WITH (lists = 8);
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT id FROM b ORDER BY v <~> B'1010' LIMIT 5$$),
	'Index Scan using b_ham', 'bit_hamming_ops: ORDER BY <~> LIMIT uses the index');
RESET enable_seqscan;
SELECT is((SELECT metric FROM ruvector_ivfflat_stats('b_ham')), 'hamming', 'stats name the metric');
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('b_ham')), 802::bigint, 'every non-null row is indexed (all-zero too)');
SELECT is((SELECT lists FROM ruvector_ivfflat_stats('b_ham')), 8, 'eight lists trained');
SELECT cmp_ok((SELECT list_max FROM ruvector_ivfflat_stats('b_ham')), '<', 802::bigint, 'k-means split the rows');
SELECT ok(order_matches(802), 'bit_hamming_ops: index order over every list is the seq scan''s');
SELECT ok(order_matches(10), 'and for the nearest 10');
SELECT is(self_found(1, 100), 100::bigint, 'with one probe, every built row is found from its own value');

-- Inserts after the build, and REINDEX.
INSERT INTO b SELECT i, rbits(70)::bit(70) FROM generate_series(1001, 1100) i;
SELECT ok(order_matches(902), 'rows inserted after the build are found in order');
SELECT is(self_found(1001, 1100), 100::bigint, 'with one probe, every inserted row is found from its own value');
REINDEX INDEX b_ham;
SELECT ok(order_matches(902), 'and after REINDEX');
SELECT is(self_found(1001, 1100), 100::bigint, 'and found from their own values after REINDEX');
DELETE FROM b WHERE id BETWEEN 1001 AND 1050;
SELECT ok(order_matches(852), 'and after DELETE');

-- A query of another length: pgvector's error (the operator's).
SET enable_seqscan = off;
SELECT throws_ok($$SELECT id FROM b ORDER BY v <~> B'101' LIMIT 1$$, '22000',
	'different bit lengths 70 and 3', 'a query of another length is refused');
RESET enable_seqscan;
DROP INDEX b_ham;

-- pgvector's access method name; a build whose rows do not fit in maintenance_work_mem (second
-- heap scan and sort) gives the same order.
SET maintenance_work_mem = '1MB';
CREATE TABLE bw (id int, v bit(4000));
INSERT INTO bw SELECT i, rbits(4000)::bit(4000) FROM generate_series(1, 150) i;
CREATE INDEX bw_idx ON bw USING ivfflat (v bit_hamming_ops) WITH (lists = 3);
RESET maintenance_work_mem;
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT id FROM bw ORDER BY v <~> (SELECT v FROM bw WHERE id = 1) LIMIT 5$$),
	'Index Scan using bw_idx', 'ivfflat bit_hamming_ops is used');
SET ivfflat.probes = 3;
SELECT is(array(SELECT v <~> (SELECT v FROM bw WHERE id = 9) FROM bw ORDER BY v <~> (SELECT v FROM bw WHERE id = 9)),
	array(SELECT v <~> (SELECT v FROM bw WHERE id = 9) d FROM bw ORDER BY d), 'and returns the seq scan''s order');
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('bw_idx')), 150::bigint, 'the sorted build holds every row');
RESET enable_seqscan;

-- Errors: a vector opclass on a bit column; a column with no length.
SELECT throws_ok($$CREATE INDEX ON b USING ivfflat (v vector_l2_ops)$$, '42804', NULL,
	'a vector opclass does not apply to a bit column');
CREATE TABLE vb (v varbit);
SELECT throws_ok($$CREATE INDEX ON vb USING ivfflat (v bit_hamming_ops)$$, '22023', 'column does not have dimensions',
	'a bit varying column with no length: pgvector''s message');

-- The widest bit string an entry page holds: 65152 bits (8144 bytes); pgvector stops at 64000.
CREATE TABLE wide (v bit(65152));
INSERT INTO wide SELECT rbits(65152)::bit(65152) FROM generate_series(1, 3);
SELECT lives_ok($$CREATE INDEX wide_idx ON wide USING ivfflat (v bit_hamming_ops) WITH (lists = 2)$$,
	'bit index over 65152 bits');
SELECT lives_ok($$INSERT INTO wide SELECT rbits(65152)::bit(65152)$$, 'and an insert into it');
CREATE TABLE wider (v bit(65153));
SELECT throws_ok($$CREATE INDEX ON wider USING ivfflat (v bit_hamming_ops) WITH (lists = 1)$$, '54000',
	'column cannot have more than 65152 dimensions for ruivfflat index', 'past one entry page of bits: refused');

-- pgvector's README: binary quantization into an expression index, and the re-rank query.
CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3));
INSERT INTO items (embedding) SELECT ARRAY[random() * 2 - 1, random() * 2 - 1, random() * 2 - 1]::vector(3)
	FROM generate_series(1, 300);
CREATE INDEX items_bq ON items USING ivfflat ((binary_quantize(embedding)::bit(3)) bit_hamming_ops) WITH (lists = 1);
SET enable_seqscan = off;
SELECT matches(plan_of($$SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 5$$),
	'Index Scan using items_bq', 'the binary_quantize expression index is used');
SELECT matches(plan_of($$SELECT * FROM (SELECT * FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 20) t ORDER BY embedding <=> '[1,-2,3]' LIMIT 5$$),
	'Index Scan using items_bq', 'the re-rank query reads its candidates through it');
SELECT is(array(SELECT binary_quantize(embedding)::bit(3) <~> B'101' FROM items ORDER BY binary_quantize(embedding)::bit(3) <~> binary_quantize('[1,-2,3]'::vector) LIMIT 20),
	array(SELECT d FROM (SELECT binary_quantize(embedding)::bit(3) <~> B'101' d FROM items) s ORDER BY d LIMIT 20),
	'the index returns the nearest bit strings');
RESET enable_seqscan;

SELECT * FROM finish();
ROLLBACK;
