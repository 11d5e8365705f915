-- ruivfflat with quantizer = sq8: options and their errors, what the stats and EXPLAIN show, and
-- that the exact re-rank makes a scan of every list with a large enough rerank answer exactly as
-- the seq scan does, for every opclass (vector l2, ip, cosine, l1; halfvec l2, ip, cosine), an
-- expression index, inserts after the build (clamped codes) and iterative scans. VACUUM and crash
-- recovery: tests/sh/042_ivfflat_sq8.sh.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(48);

\set seed 0.19
\ir include/clustered_items.sql

-- The hint of the error a statement raises.
CREATE FUNCTION error_hint(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
	RETURN h;
END $$;

-- Options and errors.
SELECT throws_ok($$CREATE INDEX ON items USING ruivfflat (v vector_l2_ops) WITH (quantizer = pq)$$, '22023',
                 'invalid value for quantizer: "pq"', 'an unknown quantizer is 22023');
SELECT is(error_hint($$CREATE INDEX ON items USING ruivfflat (v vector_l2_ops) WITH (quantizer = 'sq4')$$),
          'Valid values are "none", "sq8" and "rabitq".', 'with a hint naming the valid values');
SELECT throws_ok($$CREATE INDEX ON items USING ruivfflat (v vector_l2_ops) WITH (quantizer = sq8, rerank = 0)$$, '22023',
                 NULL, 'rerank must be at least 1');
SELECT throws_ok($$SET ruvector.ivfflat_rerank = -1$$, '22023', NULL, 'the rerank setting is 0 (the index''s) or more');
CREATE TABLE bits (id int, b bit(16));
INSERT INTO bits SELECT i, (i * 2654435761 % 65536)::bit(16) FROM generate_series(1, 100) i;
SELECT throws_ok($$CREATE INDEX ON bits USING ruivfflat (b bit_hamming_ops) WITH (quantizer = sq8)$$, '0A000',
                 'quantizer sq8 is not supported for bit_hamming_ops', 'bit columns have no sq8 lists');
SELECT lives_ok($$CREATE INDEX items_none ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 10, quantizer = none)$$,
                'quantizer none is today''s lists');
SELECT lives_ok($$CREATE INDEX items_sq8 ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 10, quantizer = 'SQ8')$$,
                'quantizer sq8 (any case)');

SELECT is((SELECT quantizer || ' ' || bytes_per_vector || ' ' || coalesce(rerank::text, '-') FROM ruvector_ivfflat_stats('items_none')),
          'none 140 -', 'stats: quantizer none, 8 + 4 * 32 bytes an entry and its line pointer');
SELECT is((SELECT quantizer || ' ' || bytes_per_vector || ' ' || rerank FROM ruvector_ivfflat_stats('items_sq8')),
          'sq8 52 40', 'stats: quantizer sq8, 8 + 4 + 32 bytes an entry (8-byte aligned) and its line pointer, rerank 40 by default');
SELECT ok(pg_relation_size('items_sq8') < 0.5 * pg_relation_size('items_none'), 'the sq8 index is under half the size (52 bytes a row against 140)');
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('items_sq8')), 3000::bigint, 'every row is in the sq8 index');
ALTER INDEX items_sq8 SET (rerank = 7);
SELECT is((SELECT rerank FROM ruvector_ivfflat_stats('items_sq8')), 7, 'ALTER INDEX sets rerank');
SET ruvector.ivfflat_rerank = 9;
SELECT is((SELECT rerank FROM ruvector_ivfflat_stats('items_sq8')), 9, 'the setting overrides the option');
RESET ruvector.ivfflat_rerank;
ALTER INDEX items_sq8 RESET (rerank);
DROP INDEX items_none;

-- Exact answers (no index).
SET enable_indexscan = off;
CREATE TEMP TABLE truth AS SELECT qid, array(SELECT id FROM items ORDER BY items.v <-> queries.v LIMIT 10) AS ids FROM queries;
RESET enable_indexscan;
SET enable_seqscan = off;

SELECT matches(plan_of($$SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 1) LIMIT 10$$),
               'items_sq8: probes 1 of 10 lists, [0-9]+ rows scanned in 1 batch; sq8 codes, rerank 40: [0-9]+ candidates re-ranked',
               'EXPLAIN ANALYZE shows the quantizer, rerank and the candidates re-ranked');

-- (SET clauses: the settings the function changes are restored when it returns.)
CREATE FUNCTION recall(probes int, rerank int) RETURNS double precision LANGUAGE plpgsql
	SET ivfflat.probes = 1 SET ruvector.ivfflat_rerank = 0 AS $$
DECLARE r double precision;
BEGIN
	EXECUTE format('SET LOCAL ivfflat.probes = %s', probes);
	EXECUTE format('SET LOCAL ruvector.ivfflat_rerank = %s', rerank);
	SELECT sum((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)))::double precision / (10 * count(*))
	INTO r
	FROM (SELECT qid, array(SELECT id FROM items ORDER BY items.v <-> queries.v LIMIT 10) AS ids FROM queries) g
	JOIN truth t USING (qid);
	RETURN r;
END $$;
SELECT cmp_ok(recall(10, 0), '>=', 0.99::double precision, 'every list, the default rerank: recall@10 of at least 0.99');
SELECT is(recall(10, 3000), 1::double precision, 'every list, every row re-ranked: recall@10 is 1');
SELECT cmp_ok(recall(10, 10), '<=', recall(10, 40), 're-ranking fewer candidates never finds more');

-- Order: with every list probed and every row re-ranked, the scan returns the seq scan's rows in its
-- order (order_matches, compared by distances, to be independent of exact ties), for every opclass.

SELECT ok(order_matches('items', '<->', 50), 'vector_l2_ops: the seq scan''s order');
DROP INDEX items_sq8;
CREATE INDEX items_ip ON items USING ruivfflat (v vector_ip_ops) WITH (lists = 10, quantizer = sq8);
SELECT ok(order_matches('items', '<#>', 50), 'vector_ip_ops: the seq scan''s order');
DROP INDEX items_ip;
CREATE INDEX items_cos ON items USING ivfflat (v vector_cosine_ops) WITH (lists = 10, quantizer = sq8);
SELECT ok(order_matches('items', '<=>', 50), 'vector_cosine_ops (ivfflat): the seq scan''s order');
DROP INDEX items_cos;
CREATE INDEX items_l1 ON items USING ruivfflat (v vector_l1_ops) WITH (lists = 10, quantizer = sq8);
SELECT ok(order_matches('items', '<+>', 50), 'vector_l1_ops: the seq scan''s order');
DROP INDEX items_l1;

CREATE TABLE hitems AS SELECT id, v::halfvec(32) AS v FROM items;
ANALYZE hitems;
CREATE INDEX h_l2 ON hitems USING ruivfflat (v halfvec_l2_ops) WITH (lists = 10, quantizer = sq8);
SELECT is((SELECT bytes_per_vector FROM ruvector_ivfflat_stats('h_l2')), 52, 'halfvec: one byte a dimension too');
SELECT ok(order_matches('hitems', '<->', 50, '::halfvec(32)'), 'halfvec_l2_ops: the seq scan''s order');
DROP INDEX h_l2;
CREATE INDEX h_ip ON hitems USING ruivfflat (v halfvec_ip_ops) WITH (lists = 10, quantizer = sq8);
SELECT ok(order_matches('hitems', '<#>', 50, '::halfvec(32)'), 'halfvec_ip_ops: the seq scan''s order');
DROP INDEX h_ip;
CREATE INDEX h_cos ON hitems USING ruivfflat (v halfvec_cosine_ops) WITH (lists = 10, quantizer = sq8);
SELECT ok(order_matches('hitems', '<=>', 50, '::halfvec(32)'), 'halfvec_cosine_ops: the seq scan''s order');
DROP INDEX h_cos;

-- An expression index: the re-rank evaluates the expression on the heap row.
CREATE INDEX items_expr ON items USING ruivfflat ((v::halfvec(32)) halfvec_l2_ops) WITH (lists = 10, quantizer = sq8);
SELECT matches(plan_of($$SELECT id FROM items ORDER BY v::halfvec(32) <-> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32]' LIMIT 5$$),
               'Index Scan using "items_expr', 'the expression index is used');
SET ivfflat.probes = 10;
SET ruvector.ivfflat_rerank = 100000;
SELECT is(array(SELECT id FROM items ORDER BY v::halfvec(32) <-> (SELECT v::halfvec(32) FROM queries WHERE qid = 3) LIMIT 20),
          (SELECT ids FROM (SELECT array(SELECT id FROM hitems ORDER BY v <-> (SELECT v::halfvec(32) FROM queries WHERE qid = 3) LIMIT 20) AS ids) s),
          'the expression index answers as the seq scan');
RESET ivfflat.probes;
RESET ruvector.ivfflat_rerank;
DROP INDEX items_expr;

-- Groups: with rerank 5, a LIMIT of 23 gets 23 distinct rows, the first 5 in exact order among the
-- rerank best candidates.
CREATE INDEX items_sq8 ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 10, quantizer = sq8, rerank = 5);
SET ivfflat.probes = 10;
SELECT is((SELECT count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 23) s),
          23::bigint, 'rows beyond the first group come a group at a time, none twice');
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 400) s),
          400::bigint, 'past the first batch''s bound the lists are scanned again for more');
SELECT is(array(SELECT v <-> (SELECT v FROM queries WHERE qid = 2) FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 5),
          array(SELECT d FROM (SELECT v <-> (SELECT v FROM queries WHERE qid = 2) AS d FROM items) s ORDER BY d LIMIT 5),
          'a group is in exact distance order (here the 5 nearest rows: sq8 ranks them first)');
SELECT matches(plan_of($$SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 3$$),
               'rerank 5: 5 candidates re-ranked', 'a LIMIT within the first group re-ranks one group');
RESET ivfflat.probes;

-- Inserts: coded with the build's ranges, values outside them clamped; the re-rank still sees the
-- exact vectors.
INSERT INTO items SELECT 10000 + i, (SELECT array_agg(CASE WHEN d = i THEN 1000 ELSE 0 END::real) FROM generate_series(1, 32) d)::vector(32)
	FROM generate_series(1, 32) i;
INSERT INTO items SELECT 20000 + i, (SELECT array_agg(x[d] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 32) d)::vector(32)
	FROM generate_series(1, 500) i JOIN centers ON c = 1 + i % 20;
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('items_sq8')), 3532::bigint, 'inserted rows are in the index');
SET ivfflat.probes = 10;
SET ruvector.ivfflat_rerank = 100000;
SELECT is((SELECT id FROM items ORDER BY v <-> (SELECT array_agg(CASE WHEN d = 7 THEN 990 ELSE 0 END::real) FROM generate_series(1, 32) d)::vector(32) LIMIT 1),
          10007, 'a row far outside the trained ranges is found by its exact distance');
SELECT ok(order_matches('items', '<->', 100), 'after inserts the index still answers as the seq scan');
RESET ruvector.ivfflat_rerank;
SET enable_indexscan = off;
SET enable_seqscan = on;
DELETE FROM truth;
INSERT INTO truth SELECT qid, array(SELECT id FROM items ORDER BY items.v <-> queries.v LIMIT 10) FROM queries;
SET enable_indexscan = on;
SET enable_seqscan = off;
SELECT cmp_ok(recall(10, 0), '>=', 0.99::double precision, 'after inserts, default rerank: recall@10 of at least 0.99 (of the new truth)');
DELETE FROM items WHERE id = 10007;
SELECT isnt((SELECT id FROM items ORDER BY v <-> (SELECT array_agg(CASE WHEN d = 7 THEN 990 ELSE 0 END::real) FROM generate_series(1, 32) d)::vector(32) LIMIT 1),
            10007, 'a deleted row is not returned (its heap row is not visible)');
RESET ivfflat.probes;

-- Iterative scans: a filter that few rows pass still gets its rows.
SET ivfflat.iterative_scan = relaxed_order;
SET ivfflat.probes = 1;
SELECT is((SELECT count(*) FROM (SELECT id FROM items WHERE id % 97 = 0 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 10) s),
          10::bigint, 'relaxed_order: probes more lists until the filter has its rows');
SET ivfflat.iterative_scan = strict_order;
SET ivfflat.max_probes = 10;
SELECT is((SELECT count(*) FROM (SELECT id FROM items WHERE id % 97 = 0 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 10) s),
          10::bigint, 'strict_order: as many rows');
SET ruvector.ivfflat_rerank = 100000;
SELECT is(array(SELECT id FROM items WHERE id % 97 = 0 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 10),
          array(SELECT id FROM (SELECT id, v <-> (SELECT v FROM queries WHERE qid = 4) AS d FROM items WHERE id % 97 = 0) s ORDER BY d LIMIT 10),
          'strict_order over every list with every row re-ranked: the exact answer');
SET ruvector.ivfflat_rerank = 5;
SELECT is((SELECT bool_and(d >= prev) FROM (SELECT d, lag(d, 1, 0::float8) OVER (ORDER BY n) AS prev
                                          FROM (SELECT row_number() OVER () AS n, d FROM
                                                  (SELECT v <-> (SELECT v FROM queries WHERE qid = 4) AS d FROM items
                                                   ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 60) r) s) t),
          true, 'strict_order with groups of 5: never a row closer than one already returned');
SET ivfflat.iterative_scan = relaxed_order;
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 60) s),
          60::bigint, 'relaxed_order with groups of 5: every row');
RESET ruvector.ivfflat_rerank;
RESET ivfflat.iterative_scan;
RESET ivfflat.max_probes;
RESET ivfflat.probes;

-- No query value: rows, unordered (as with quantizer none).
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> NULL LIMIT 5) s), 5::bigint, 'a NULL query still returns rows');

-- Cosine zero query: NaN distances sort last, as in the seq scan; zero rows are not indexed.
CREATE INDEX items_cos2 ON items USING ruivfflat (v vector_cosine_ops) WITH (lists = 10, quantizer = sq8);
SET ivfflat.probes = 10;
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <=> array_fill(0, ARRAY[32])::vector(32) LIMIT 5) s), 5::bigint,
          'a zero cosine query returns rows');
RESET ivfflat.probes;

-- An unlogged table's empty index (the init fork) holds sq8 lists too.
CREATE UNLOGGED TABLE u (id int, v vector(3));
CREATE INDEX u_idx ON u USING ruivfflat (v vector_l2_ops) WITH (quantizer = sq8);
SELECT is((SELECT quantizer FROM ruvector_ivfflat_stats('u_idx')), 'sq8', 'an empty sq8 index');
INSERT INTO u VALUES (1, '[0.5,0.5,0.5]'), (2, '[5,5,5]'), (3, '[-0.25,0,0.25]');
SELECT is(array(SELECT id FROM u ORDER BY v <-> '[5,5,4]' LIMIT 3), ARRAY[2, 1, 3], 'rows inserted into an empty sq8 index are found in exact order');

-- Wider than a float entry may be: sq8 entries hold a byte a dimension.
CREATE TABLE wide (id int, v vector(3000));
INSERT INTO wide SELECT i, array_fill(i::real, ARRAY[3000])::vector(3000) FROM generate_series(1, 20) i;
SELECT throws_ok($$CREATE INDEX ON wide USING ruivfflat (v vector_l2_ops) WITH (lists = 2)$$, '54000', NULL,
                 '3000 float dimensions do not fit a list entry');
SELECT lives_ok($$CREATE INDEX wide_sq8 ON wide USING ruivfflat (v vector_l2_ops) WITH (lists = 2, quantizer = sq8)$$,
                '3000 dimensions of sq8 codes do');
SELECT is((SELECT id FROM wide ORDER BY v <-> array_fill(7.2::real, ARRAY[3000])::vector(3000) LIMIT 1), 7, 'and are searched');

SELECT * FROM finish();
ROLLBACK;
