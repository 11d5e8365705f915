-- ruivfflat with quantizer = rabitq (1-bit RaBitQ codes against each list's centroid): options and
-- errors, what the stats and EXPLAIN show, recall against a flat index, that the bound-driven
-- re-rank reads only the candidates that can still be in the result, and that with every list
-- probed the scan answers as the seq scan for l2, ip and cosine (vector and halfvec), after inserts
-- too, and in iterative scans. VACUUM and crash recovery: tests/sh/043_ivfflat_rabitq.sh.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(39);

\set seed 0.43
\ir include/clustered_items.sql

-- Options and errors.
SELECT throws_ok($$CREATE INDEX ON items USING ruivfflat (v vector_l2_ops) WITH (quantizer = rabitq4)$$, '22023',
                 'invalid value for quantizer: "rabitq4"', 'an unknown quantizer is 22023');
SELECT throws_ok($$CREATE INDEX ON items USING ruivfflat (v vector_l1_ops) WITH (quantizer = rabitq)$$, '0A000',
                 'quantizer rabitq is not supported for vector_l1_ops', 'l1 has no rabitq lists');
CREATE TABLE bits (id int, b bit(16));
INSERT INTO bits SELECT i, (i * 2654435761 % 65536)::bit(16) FROM generate_series(1, 100) i;
SELECT throws_ok($$CREATE INDEX ON bits USING ruivfflat (b bit_hamming_ops) WITH (quantizer = rabitq)$$, '0A000',
                 'quantizer rabitq is not supported for bit_hamming_ops', 'bit columns have no rabitq lists');
SELECT lives_ok($$CREATE INDEX items_none ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 10)$$, 'a flat index');
SELECT lives_ok($$CREATE INDEX items_rq ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 10, quantizer = 'RaBitQ')$$,
                'quantizer rabitq (any case)');
SELECT is((SELECT quantizer || ' ' || bytes_per_vector || ' ' || rerank FROM ruvector_ivfflat_stats('items_rq')),
          'rabitq 36 40', 'stats: quantizer rabitq, 8 + 12 + 64 bits (32 dimensions padded to 64) an entry (8-byte aligned) and its line pointer, rerank 40');
SELECT ok(pg_relation_size('items_rq') < 0.5 * pg_relation_size('items_none'), 'the rabitq index is under half the size of the flat one');
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('items_rq')), 3000::bigint, 'every row is in the rabitq index');
SELECT is((SELECT round(drift::numeric, 4) FROM ruvector_index_health('items_rq')), 1.0000,
          'index health reads a fresh rabitq build''s drift as 1 (the residual norms its codes keep)');

-- Recall@10 against the exact answer, the flat index's and the rabitq index's, every list probed.
SET enable_indexscan = off;
CREATE TEMP TABLE truth AS SELECT qid, array(SELECT id FROM items ORDER BY items.v <-> queries.v LIMIT 10) AS ids FROM queries;
RESET enable_indexscan;
SET enable_seqscan = off;
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
DROP INDEX items_rq;
CREATE TEMP TABLE flat AS SELECT recall(10, 0) AS r;
DROP INDEX items_none;
CREATE INDEX items_rq ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 10, quantizer = rabitq);
SELECT cmp_ok(recall(10, 0), '>=', (SELECT r FROM flat) - 0.02, 'every list, the default rerank: recall@10 within 0.02 of the flat index');
SELECT is(recall(10, 3000), 1::double precision, 'every list, rerank above the rows: recall@10 is 1');

SELECT matches(plan_of($$SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 1) LIMIT 10$$),
               'items_rq: probes 1 of 10 lists, [0-9]+ rows scanned in 1 batch; rabitq codes, rerank 40: [0-9]+ candidates re-ranked',
               'EXPLAIN ANALYZE shows the quantizer, rerank and the candidates re-ranked');
-- The bound stops the re-rank early: LIMIT 10 over every list reads from the heap the first
-- rerank candidates and those whose lower bound is under the 10th distance, not all 3000; a larger
-- epsilon trusts the bound less and re-ranks more.
SET ivfflat.probes = 10;
CREATE FUNCTION reranked(eps float8) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SET LOCAL ruvector.ivfflat_rabitq_epsilon = %s', eps);
	RETURN (regexp_match(plan_of($q$SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 1) LIMIT 10$q$),
	                     ': ([0-9]+) candidates re-ranked'))[1]::int;
END $$;
SELECT cmp_ok(reranked(1.9), '<', 600, 'LIMIT 10 over 3000 rows re-ranks a fraction of them (the bound decides)');
SELECT cmp_ok(reranked(1.9), '<', reranked(4), 'a larger epsilon re-ranks more');
RESET ivfflat.probes;

-- Order: with every list probed and rerank above the rows, the scan returns the seq scan's rows in
-- its order (order_matches, compared by distances, to be independent of exact ties).

SELECT ok(order_matches('items', '<->', 50), 'vector_l2_ops: the seq scan''s order');
DROP INDEX items_rq;
CREATE INDEX items_ip ON items USING ruivfflat (v vector_ip_ops) WITH (lists = 10, quantizer = rabitq);
SELECT ok(order_matches('items', '<#>', 50), 'vector_ip_ops: the seq scan''s order');
DROP INDEX items_ip;
CREATE INDEX items_cos ON items USING ivfflat (v vector_cosine_ops) WITH (lists = 10, quantizer = rabitq);
SELECT ok(order_matches('items', '<=>', 50), 'vector_cosine_ops (ivfflat): the seq scan''s order');
DROP INDEX items_cos;
CREATE TABLE hitems AS SELECT id, v::halfvec(32) AS v FROM items;
ANALYZE hitems;
CREATE INDEX h_l2 ON hitems USING ruivfflat (v halfvec_l2_ops) WITH (lists = 10, quantizer = rabitq);
SELECT ok(order_matches('hitems', '<->', 50, '::halfvec(32)'), 'halfvec_l2_ops: the seq scan''s order');
DROP INDEX h_l2;
CREATE INDEX h_cos ON hitems USING ruivfflat (v halfvec_cosine_ops) WITH (lists = 10, quantizer = rabitq);
SELECT ok(order_matches('hitems', '<=>', 50, '::halfvec(32)'), 'halfvec_cosine_ops: the seq scan''s order');
DROP INDEX h_cos;

-- A small rerank: rows still come once each, as many as asked for, and past the first batch's bound.
CREATE INDEX items_rq ON items USING ruivfflat (v vector_l2_ops) WITH (lists = 10, quantizer = rabitq, rerank = 5);
SET ivfflat.probes = 10;
SELECT is((SELECT count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 23) s),
          23::bigint, 'rerank 5: LIMIT 23 gets 23 distinct rows');
SELECT is((SELECT count(DISTINCT id) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries WHERE qid = 2) LIMIT 400) s),
          400::bigint, 'past the first batch''s bound the lists are scanned again for more');
RESET ivfflat.probes;

-- Inserts: coded against the centroid of the list they join.
INSERT INTO items SELECT 20000 + i, (SELECT array_agg(x[d] + ((random() - 0.5) * 4)::real) FROM generate_series(1, 32) d)::vector(32)
	FROM generate_series(1, 500) i JOIN centers ON c = 1 + i % 20;
INSERT INTO items SELECT 10000 + i, (SELECT array_agg(CASE WHEN d = i THEN 1000 ELSE 0 END::real) FROM generate_series(1, 32) d)::vector(32)
	FROM generate_series(1, 32) i;
SELECT is((SELECT vectors FROM ruvector_ivfflat_stats('items_rq')), 3532::bigint, 'inserted rows are in the index');
SET ivfflat.probes = 10;
SET ruvector.ivfflat_rerank = 100000;
SELECT is((SELECT id FROM items ORDER BY v <-> (SELECT array_agg(CASE WHEN d = 7 THEN 990 ELSE 0 END::real) FROM generate_series(1, 32) d)::vector(32) LIMIT 1),
          10007, 'a row far from every centroid is found');
SELECT ok(order_matches('items', '<->', 100), 'after inserts the index still answers as the seq scan');
RESET ruvector.ivfflat_rerank;
SET enable_indexscan = off;
SET enable_seqscan = on;
DELETE FROM truth;
INSERT INTO truth SELECT qid, array(SELECT id FROM items ORDER BY items.v <-> queries.v LIMIT 10) FROM queries;
SET enable_indexscan = on;
SET enable_seqscan = off;
ALTER INDEX items_rq RESET (rerank);
SELECT cmp_ok(recall(10, 0), '>=', 0.98::double precision, 'after inserts, default rerank: recall@10 of at least 0.98 (of the new truth)');
DELETE FROM items WHERE id = 10007;
SELECT isnt((SELECT id FROM items ORDER BY v <-> (SELECT array_agg(CASE WHEN d = 7 THEN 990 ELSE 0 END::real) FROM generate_series(1, 32) d)::vector(32) LIMIT 1),
            10007, 'a deleted row is not returned (its heap row is not visible)');
RESET ivfflat.probes;

-- Iterative scans.
SET ivfflat.iterative_scan = relaxed_order;
SET ivfflat.probes = 1;
SELECT is((SELECT count(*) FROM (SELECT id FROM items WHERE id % 97 = 0 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 10) s),
          10::bigint, 'relaxed_order: probes more lists until the filter has its rows');
SET ivfflat.iterative_scan = strict_order;
SET ivfflat.max_probes = 10;
SELECT is(array(SELECT id FROM items WHERE id % 97 = 0 ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 10),
          array(SELECT id FROM (SELECT id, v <-> (SELECT v FROM queries WHERE qid = 4) AS d FROM items WHERE id % 97 = 0) s ORDER BY d LIMIT 10),
          'strict_order over every list: the exact answer');
SELECT is((SELECT bool_and(d >= prev) FROM (SELECT d, lag(d, 1, 0::float8) OVER (ORDER BY n) AS prev
                                          FROM (SELECT row_number() OVER () AS n, d FROM
                                                  (SELECT v <-> (SELECT v FROM queries WHERE qid = 4) AS d FROM items
                                                   ORDER BY v <-> (SELECT v FROM queries WHERE qid = 4) LIMIT 60) r) s) t),
          true, 'strict_order: never a row closer than one already returned');
RESET ivfflat.iterative_scan;
RESET ivfflat.max_probes;
RESET ivfflat.probes;

-- No query value: rows, unordered (as with quantizer none).
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> NULL LIMIT 5) s), 5::bigint, 'a NULL query still returns rows');

-- Cosine zero query: NaN distances sort last, as in the seq scan.
CREATE INDEX items_cos2 ON items USING ruivfflat (v vector_cosine_ops) WITH (lists = 10, quantizer = rabitq);
SET ivfflat.probes = 10;
SELECT is((SELECT count(*) FROM (SELECT id FROM items ORDER BY v <=> array_fill(0, ARRAY[32])::vector(32) LIMIT 5) s), 5::bigint,
          'a zero cosine query returns rows');
RESET ivfflat.probes;
DROP INDEX items_cos2;

-- An unlogged table's empty index (the init fork) holds rabitq lists too.
CREATE UNLOGGED TABLE u (id int, v vector(3));
CREATE INDEX u_idx ON u USING ruivfflat (v vector_l2_ops) WITH (quantizer = rabitq);
SELECT is((SELECT quantizer FROM ruvector_ivfflat_stats('u_idx')), 'rabitq', 'an empty rabitq index');
INSERT INTO u VALUES (1, '[0.5,0.5,0.5]'), (2, '[5,5,5]'), (3, '[-0.25,0,0.25]');
SELECT is(array(SELECT id FROM u ORDER BY v <-> '[5,5,4]' LIMIT 3), ARRAY[2, 1, 3], 'rows inserted into an empty rabitq index are found in exact order');

-- Wider than a float entry may be: rabitq entries hold a bit a dimension.
CREATE TABLE wide (id int, v vector(3000));
INSERT INTO wide SELECT i, array_fill(i::real, ARRAY[3000])::vector(3000) FROM generate_series(1, 20) i;
SELECT lives_ok($$CREATE INDEX wide_rq ON wide USING ruivfflat (v vector_l2_ops) WITH (lists = 2, quantizer = rabitq)$$,
                '3000 dimensions of rabitq codes fit a list entry');
SELECT is((SELECT bytes_per_vector FROM ruvector_ivfflat_stats('wide_rq')), 400 + 4, 'of 8 + 12 + 376 bytes (8-byte aligned)');
SELECT is((SELECT id FROM wide ORDER BY v <-> array_fill(7.2::real, ARRAY[3000])::vector(3000) LIMIT 1), 7, 'and are searched');

-- 128 dimensions, rows in tight groups (the paper's regime: estimates fine enough that the bound,
-- not rerank, decides). With rerank 10 a LIMIT 10 query re-ranks a few dozen candidates of the
-- probed lists' rows, and recall@10 stays within 0.02 of the flat index's at the same probes.
CREATE TABLE c128 AS SELECT c, (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 128) d WHERE c > 0) AS x
	FROM generate_series(1, 25) c;
CREATE TABLE g128 AS SELECT s, (SELECT array_agg(x[d] + ((random() - 0.5) * 0.6)::real) FROM generate_series(1, 128) d WHERE s > 0) AS y
	FROM generate_series(1, 250) s JOIN c128 ON c = 1 + s % 25;
CREATE TABLE items128 (id int PRIMARY KEY, v vector(128));
INSERT INTO items128 SELECT i, (SELECT array_agg(y[d] + ((random() - 0.5) * 0.2)::real) FROM generate_series(1, 128) d)::vector(128)
	FROM generate_series(1, 5000) i JOIN g128 ON s = 1 + i % 250;
CREATE TABLE queries128 AS SELECT q AS qid, (SELECT array_agg(y[d] + ((random() - 0.5) * 0.2)::real) FROM generate_series(1, 128) d)::vector(128) AS v
	FROM generate_series(1, 20) q JOIN g128 ON s = 1 + (q * 37) % 250;
SET enable_seqscan = on;
SET enable_indexscan = off;
CREATE TEMP TABLE truth128 AS SELECT qid, array(SELECT id FROM items128 ORDER BY items128.v <-> queries128.v LIMIT 10) AS ids FROM queries128;
SET enable_indexscan = on;
SET enable_seqscan = off;
CREATE FUNCTION recall128() RETURNS double precision LANGUAGE sql AS $$
	SELECT sum((SELECT count(*) FROM unnest(g.ids) x WHERE x = ANY (t.ids)))::double precision / (10 * count(*))
	FROM (SELECT qid, array(SELECT id FROM items128 ORDER BY items128.v <-> queries128.v LIMIT 10) AS ids FROM queries128) g
	JOIN truth128 t USING (qid) $$;
SET ivfflat.probes = 5;
CREATE INDEX i128_flat ON items128 USING ruivfflat (v vector_l2_ops) WITH (lists = 25);
CREATE TEMP TABLE flat128 AS SELECT recall128() AS r;
DROP INDEX i128_flat;
CREATE INDEX i128_rq ON items128 USING ruivfflat (v vector_l2_ops) WITH (lists = 25, quantizer = rabitq, rerank = 10);
SELECT cmp_ok(recall128(), '>=', (SELECT r FROM flat128) - 0.02, '128 dimensions, rerank 10: recall@10 within 0.02 of the flat index at probes 5');
CREATE TEMP TABLE plans128 AS
	SELECT (regexp_match(p, ': ([0-9]+) candidates re-ranked'))[1]::int AS reranked, (regexp_match(p, '([0-9]+) rows scanned'))[1]::int AS scanned
	FROM (SELECT plan_of(format('SELECT id FROM items128 ORDER BY v <-> %L::vector(128) LIMIT 10', v)) AS p FROM queries128) x;
SELECT cmp_ok((SELECT avg(reranked) FROM plans128), '<', (SELECT 0.2 * avg(scanned) FROM plans128),
              '128 dimensions, rerank 10: LIMIT 10 re-ranks on average under a fifth of the rows scanned (the bound stops it)');
SELECT cmp_ok((SELECT min(reranked) FROM plans128), '>=', 10, 'and never fewer than rerank');
RESET ivfflat.probes;
RESET enable_seqscan;

SELECT * FROM finish();
