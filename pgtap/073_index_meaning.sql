-- An index never changes what a query means, and the planner picks the index a pgvector user expects.
-- ruvector_gnn: the plain operators keep their meaning (the index holds graph-enhanced embeddings,
-- so it claims none of them); graph-enhanced search is ruvector_gnn_search.
-- Partial ruivfflat indexes: chosen for the filter they were built for, as in pgvector.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(19);

CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;

-- ---- ruvector_gnn ----------------------------------------------------------------------------------
CREATE TABLE gn (id bigint PRIMARY KEY, embedding vector(2));
CREATE TABLE ge (src_id bigint, dst_id bigint);
-- Raw cosine distances to [0,1] all differ; one GraphSAGE hop (x_i + mean of in-neighbours) moves
-- node 5 ([-1,0.1] + [1,1] = [0,1.1]) to the front and leaves node 1 ([1,0] + [0,1] = [1,1]) mid-way.
INSERT INTO gn VALUES (1, '[1,0]'), (2, '[0.1,1]'), (3, '[1,1.5]'), (4, '[1,0.5]'), (5, '[-1,0.1]');
INSERT INTO ge VALUES (2, 1), (3, 5);
CREATE INDEX gn_cos ON gn USING ruvector_gnn (embedding) WITH (edge_table = 'ge', num_layers = 1, lists = 1);
CREATE INDEX gn_l2 ON gn USING ruvector_gnn (embedding vector_l2_ops) WITH (edge_table = 'ge', num_layers = 1, lists = 1);
CREATE INDEX gn_ip ON gn USING ruvector_gnn (embedding vector_ip_ops) WITH (edge_table = 'ge', num_layers = 1, lists = 1);
CREATE TEMP TABLE raw_order AS
	SELECT op, array_agg(id ORDER BY d) AS ids, array_agg(d ORDER BY d) AS ds FROM (
		SELECT '<=>' AS op, id, embedding <=> '[0,1]' AS d FROM gn UNION ALL
		SELECT '<->', id, embedding <-> '[0,1]' FROM gn UNION ALL
		SELECT '<#>', id, embedding <#> '[0,1]' FROM gn) s GROUP BY op;
SET enable_seqscan = off;
SELECT doesnt_match(pg_temp.plan_of($$SELECT id FROM gn ORDER BY embedding <=> '[0,1]' LIMIT 3$$), 'gn_',
                    'ORDER BY <=> LIMIT does not use a ruvector_gnn index, even with seq scans disabled');
SELECT doesnt_match(pg_temp.plan_of($$SELECT id FROM gn ORDER BY embedding <-> '[0,1]' LIMIT 3$$), 'gn_', 'nor <-> (vector_l2_ops)');
SELECT doesnt_match(pg_temp.plan_of($$SELECT id FROM gn ORDER BY embedding <#> '[0,1]' LIMIT 3$$), 'gn_', 'nor <#> (vector_ip_ops)');
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM gn ORDER BY embedding <=> '[0,1]' LIMIT 5) s),
          (SELECT ids FROM raw_order WHERE op = '<=>'), 'ORDER BY <=> gives the order of the column''s own cosine distances');
SELECT is((SELECT array_agg(d) FROM (SELECT embedding <=> '[0,1]' AS d FROM gn ORDER BY embedding <=> '[0,1]' LIMIT 5) s),
          (SELECT ds FROM raw_order WHERE op = '<=>'), 'and the distances it shows are sorted');
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM gn ORDER BY embedding <-> '[0,1]' LIMIT 5) s),
          (SELECT ids FROM raw_order WHERE op = '<->'), 'ORDER BY <-> likewise');

-- Graph-enhanced search has its own form, for each opclass.
SELECT is((SELECT array_agg(id) FROM ruvector_gnn_search('gn_cos', '[0,1]', 5)),
          (SELECT array_agg(node_id ORDER BY updated_embedding <=> '[0,1]', node_id)
           FROM ruvector_message_pass('gn', 'ge', num_hops => 1, layer_type => 'sage')),
          'ruvector_gnn_search ranks by the enhanced embeddings (cosine)');
SELECT isnt((SELECT array_agg(id) FROM ruvector_gnn_search('gn_cos', '[0,1]', 5)), (SELECT ids FROM raw_order WHERE op = '<=>'),
            'which is not the column''s own order');
SELECT results_eq($$SELECT id, round(distance::numeric, 5) FROM ruvector_gnn_search('gn_l2', '[0,1]', 3)$$,
                  $$SELECT node_id, round((updated_embedding <-> '[0,1]')::numeric, 5) FROM ruvector_message_pass('gn', 'ge', num_hops => 1, layer_type => 'sage')
                    ORDER BY updated_embedding <-> '[0,1]', node_id LIMIT 3$$,
                  'vector_l2_ops: the k nearest by L2 to the enhanced embeddings, with that distance');
SELECT results_eq($$SELECT id, round(distance::numeric, 5) FROM ruvector_gnn_search('gn_ip', '[0,1]', 5)$$,
                  $$SELECT node_id, round((updated_embedding <#> '[0,1]')::numeric, 5) FROM ruvector_message_pass('gn', 'ge', num_hops => 1, layer_type => 'sage')
                    ORDER BY updated_embedding <#> '[0,1]', node_id$$,
                  'vector_ip_ops: negative inner product');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_search('gn_cos', '[0,1]', 0)$$, '22023', 'k must be at least 1, got 0', 'k < 1');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_search('gn_cos', '[0,1,2]', 3)$$, '22000', NULL, 'a query of another width');
CREATE INDEX gn_ivf ON gn USING ruivfflat (embedding) WITH (lists = 1);
SELECT throws_ok($$SELECT * FROM ruvector_gnn_search('gn_ivf', '[0,1]', 3)$$, '42809', '"gn_ivf" is not a ruvector_gnn index', 'a ruivfflat index');
CREATE ROLE rv073_reader;
SET LOCAL ROLE rv073_reader;
SELECT throws_ok($$SELECT * FROM ruvector_gnn_search('gn_cos', '[0,1]', 3)$$, '42501', NULL, 'without SELECT on the table');
RESET ROLE;
GRANT SELECT ON gn TO rv073_reader;
ALTER TABLE gn ENABLE ROW LEVEL SECURITY;
CREATE POLICY gn_some ON gn TO rv073_reader USING (id < 3);
SET LOCAL ROLE rv073_reader;
SELECT throws_ok($$SELECT * FROM ruvector_gnn_search('gn_cos', '[0,1]', 3)$$, '0A000', NULL,
                 'a table with row-level security (the scan would bypass the policies)');
RESET ROLE;
RESET enable_seqscan;

-- ---- a partial index for a filter (pgvector: "Filtering") -------------------------------------
CREATE TABLE cat_items (id bigint, c int, v vector(8));
INSERT INTO cat_items SELECT i, i % 15, ARRAY(SELECT sin(i * d + d * d) FROM generate_series(1, 8) d)::vector
	FROM generate_series(1, 10000) i;
CREATE INDEX cat_full ON cat_items USING ruivfflat (v vector_l2_ops) WITH (lists = 100);
CREATE INDEX cat_c2 ON cat_items USING ivfflat (v vector_l2_ops) WITH (lists = 5) WHERE c = 2;
ANALYZE cat_items;
SELECT matches(pg_temp.plan_of($$SELECT id FROM cat_items WHERE c = 2 ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10$$),
               'Index Scan using cat_c2', 'WHERE c = 2 ORDER BY <-> LIMIT uses the partial index (both indexes present)');
SELECT matches(pg_temp.plan_of($$SELECT id FROM cat_items WHERE c = 3 ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10$$),
               'Index Scan using cat_full', 'another category uses the full index');
SELECT matches(pg_temp.plan_of($$SELECT id FROM cat_items ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10$$),
               'Index Scan using cat_full', 'and so does a query without the filter');
SELECT is((SELECT count(*) FILTER (WHERE c = 2) FROM (SELECT c FROM cat_items WHERE c = 2 ORDER BY v <-> '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]' LIMIT 10) s),
          10::bigint, 'the partial index gives the query its 10 rows');

SELECT * FROM finish();
ROLLBACK;
