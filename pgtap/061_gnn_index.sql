-- The ruvector_gnn index: ruvector_gnn_search ranks by graph-enhanced similarity; the index reports
-- itself stale when the edges change, REINDEX refreshes it. (pgtap/073_index_meaning.sql: the plain
-- operator keeps its meaning.)
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(13);

CREATE TABLE nodes (id bigint PRIMARY KEY, embedding vector(2));
CREATE TABLE edges (src_id bigint, dst_id bigint);
INSERT INTO nodes VALUES (1, '[1,0]'), (2, '[0,1]'), (3, '[1,1]'), (4, '[-1,0.2]');
INSERT INTO edges VALUES (2, 1), (2, 1), (3, 4);
-- One GraphSAGE hop (x_i + mean of in-neighbours): 1 -> [1,1], 2 -> [0,1], 3 -> [1,1], 4 -> [0,1.2].
CREATE INDEX ng ON nodes USING ruvector_gnn (embedding) WITH (edge_table = 'edges', layer_type = 'graphsage', num_layers = 1, lists = 1);
SET enable_seqscan = off;
CREATE FUNCTION plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
	RETURN out;
END $$;
SELECT doesnt_match(plan_of($$SELECT id FROM nodes ORDER BY embedding <=> '[0,1]' LIMIT 4$$), 'Index Scan using ng',
                    'the index does not serve ORDER BY <=> on the column (it holds other vectors)');
SELECT results_eq($$SELECT id FROM ruvector_gnn_search('ng', '[0,1]', 4)$$, $$VALUES (2::bigint), (4::bigint), (1::bigint), (3::bigint)$$,
                  'ruvector_gnn_search ranks rows by their enhanced embeddings (4 moved up, 1 did not move down)');
SELECT results_eq($$SELECT id, round(distance::numeric, 6) FROM ruvector_gnn_search('ng', '[0,1]', 4)$$,
                  $$SELECT node_id, round((updated_embedding <=> '[0,1]')::numeric, 6) FROM ruvector_message_pass('nodes', 'edges', num_hops => 1, layer_type => 'sage') ORDER BY updated_embedding <=> '[0,1]', node_id$$,
                  'the same ids and distances as ruvector_message_pass then sorting');
SELECT is((SELECT (edge_table, layer_type, num_layers, built_edges, current_edges, stale) FROM ruvector_gnn_index_stats('ng')),
          ('public.edges'::text, 'graphsage'::text, 2 - 1, 3::bigint, 3::bigint, false), 'stats after the build: fresh (the edge table as stored: schema-qualified)');
INSERT INTO edges VALUES (1, 2);
SELECT is((SELECT stale FROM ruvector_gnn_index_stats('ng')), true, 'a new edge makes the index stale');
SELECT results_eq($$SELECT id FROM ruvector_gnn_search('ng', '[0,1]', 4)$$, $$VALUES (2::bigint), (4::bigint), (1::bigint), (3::bigint)$$,
                  'a stale index keeps answering from its build');
REINDEX INDEX ng;
SELECT is((SELECT stale FROM ruvector_gnn_index_stats('ng')), false, 'REINDEX refreshes it');
SELECT results_eq($$SELECT id FROM ruvector_gnn_search('ng', '[0,1]', 4)$$, $$VALUES (4::bigint), (1::bigint), (2::bigint), (3::bigint)$$,
                  'and the order follows the new graph (2 now hears from 1)');
UPDATE edges SET dst_id = 3 WHERE src_id = 1;
SELECT is((SELECT stale FROM ruvector_gnn_index_stats('ng')), true, 'changing an edge (same count) is detected too');

SELECT throws_ok($$CREATE INDEX ON nodes USING ruvector_gnn (embedding)$$, '22023', 'a ruvector_gnn index needs the edge_table option', 'edge_table is required');
SELECT throws_ok($$CREATE INDEX ON nodes USING ruvector_gnn (embedding) WITH (edge_table = 'edges', hidden_dim = 8)$$, '22023',
                 'hidden_dim must be 2 (the embedding width) without a model', 'hidden_dim without a model');
SELECT throws_ok($$CREATE INDEX ON nodes USING ruvector_gnn (embedding) WITH (edge_table = 'nope')$$, '42P01', NULL, 'an unknown edge table');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_index_stats('nodes_pkey')$$, '42809', NULL, 'stats of another index');

SELECT * FROM finish();
ROLLBACK;
