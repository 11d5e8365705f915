-- GNN forward passes through SQL: hand-checked outputs on a small graph, named graphs and their
-- freshness, privileges and row-level security, bad graphs.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(49);

-- A path 10 -> 20 -> 30 (ids need not be dense) plus an isolated node 40.
CREATE TABLE nodes (id bigint PRIMARY KEY, embedding vector(2), secret boolean DEFAULT false);
CREATE TABLE edges (src_id bigint, dst_id bigint, w real);
INSERT INTO nodes (id, embedding) VALUES (10, '[1,0]'), (20, '[0,1]'), (30, '[1,1]'), (40, '[2,2]');
INSERT INTO edges VALUES (10, 20, 2), (20, 30, 1);

CREATE FUNCTION rows_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; out text := '';
BEGIN
	-- values rounded to 5 decimals: float32 results differ from the decimal ones in the last bits
	FOR r IN EXECUTE q LOOP
		out := out || r.node_id || ':[' || (SELECT string_agg(rtrim(rtrim(round(e::numeric, 5)::text, '0'), '.'), ',' ORDER BY i)
		                                    FROM unnest(r.v::real[]) WITH ORDINALITY u(e, i)) || '] ';
	END LOOP;
	RETURN rtrim(out);
END $$;

-- Message passing with identity weights (hand-checked).
-- GCN: deg(10) = 1 (its loop), deg(20) = deg(30) = 2; out_20 = x_10 / sqrt(2) + x_20 / 2.
SELECT is(rows_of($$SELECT node_id, updated_embedding AS v FROM ruvector_message_pass('nodes', 'edges', num_hops => 1) ORDER BY 1$$),
          '10:[1,0] 20:[0.70711,0.5] 30:[0.5,1] 40:[2,2]', 'gcn propagation, one hop');
SELECT is(rows_of($$SELECT node_id, updated_embedding AS v FROM ruvector_message_pass('nodes', 'edges', num_hops => 1, layer_type => 'sage') ORDER BY 1$$),
          '10:[1,0] 20:[1,1] 30:[1,2] 40:[2,2]', 'sage: x_i + mean of in-neighbours');
SELECT is(rows_of($$SELECT node_id, updated_embedding AS v FROM ruvector_message_pass('nodes', 'edges', num_hops => 1, layer_type => 'gin') ORDER BY 1$$),
          '10:[1,0] 20:[1,1] 30:[1,2] 40:[2,2]', 'gin: x_i + sum of in-neighbours');
SELECT is(rows_of($$SELECT node_id, updated_embedding AS v FROM ruvector_message_pass('nodes', 'edges', num_hops => 1, layer_type => 'gat') ORDER BY 1$$),
          '10:[1,0] 20:[0.5,0.5] 30:[0.5,1] 40:[2,2]', 'gat: uniform attention over in-neighbours and self');
-- Two hops of sage: 30 = [1,2] + [1,1] = [2,3].
SELECT is(rows_of($$SELECT node_id, updated_embedding AS v FROM ruvector_message_pass('nodes', 'edges', num_hops => 2, layer_type => 'sage') ORDER BY 1$$),
          '10:[1,0] 20:[2,1] 30:[2,3] 40:[2,2]', 'two hops');

-- Models from PyG state_dicts.
SELECT ruvector_gnn_model_import('gcn_w', '{"activation": "relu", "layers": [{"type": "gcn", "options": {},
	"state_dict": {"lin.weight": [[2, 0], [0, 3]], "bias": [0.5, -1]}}]}');
-- With weights diag(2,3) and bias (0.5,-1): out_20 = [2/sqrt(2), 3/2] + b.
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('gcn_w', 'nodes', 'edges') ORDER BY 1$$),
          '10:[2.5,-1] 20:[1.91421,0.5] 30:[1.5,2] 40:[4.5,5]', 'a GCN model over tables');
-- Edge weights: w(10->20) = 2, so deg(20) = 3 and out_20 = 2 / sqrt(3) x_10 W + x_20 W / 3 + b.
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('gcn_w', 'nodes', 'edges', weight_column => 'w') ORDER BY 1$$),
          '10:[2.5,-1] 20:[2.8094,0] 30:[1.5,1.72474] 40:[4.5,5]', 'weighted edges');
SELECT ruvector_gnn_model_import('two', '{"activation": "relu", "layers": [
	{"type": "sage", "options": {"aggr": "max"}, "state_dict": {"lin_l.weight": [[1, 0], [0, 1]], "lin_l.bias": [0, -5], "lin_r.weight": [[1, 0], [0, 1]]}},
	{"type": "gin", "state_dict": {"nn.0.weight": [[1, 1]], "nn.0.bias": [0]}}]}');
-- sage max then relu: 10 [1,0]->[1,0]; 20: [1,0]+[0,1]+[0,-5] -> relu [1,0]; 30: [0,1]+[1,1]-[0,5] -> [1,0]; 40: [2,-3] -> [2,0]
-- gin sum then Linear [1,1]: 10: 1; 20: 1+1 = 2; 30: 1+1 = 2; 40: 2.
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('two', 'nodes', 'edges') ORDER BY 1$$),
          '10:[1] 20:[2] 30:[2] 40:[2]', 'a two-layer model with ReLU between the layers');

-- Array forms: node i is row i; the same numbers.
SELECT is((SELECT array_agg(round(e::numeric, 5)) FROM unnest(ruvector_gcn_forward(ARRAY[[1,0],[0,1],[1,1]]::real[], ARRAY[0,1]::bigint[], ARRAY[1,2]::bigint[], model => 'gcn_w')) e),
          ARRAY[2.5,-1,1.91421,0.5,1.5,2]::numeric[], 'ruvector_gcn_forward with a model');
SELECT is(array_dims(ruvector_gcn_forward(ARRAY[[1,0],[0,1],[1,1]]::real[], ARRAY[0,1]::bigint[], ARRAY[1,2]::bigint[], out_features => 5)),
          '[1:3][1:5]', 'without a model: Glorot weights of the requested width');
SELECT is(ruvector_gcn_forward(ARRAY[[1,0],[0,1],[1,1]]::real[], ARRAY[0,1]::bigint[], ARRAY[1,2]::bigint[]),
          ruvector_gcn_forward(ARRAY[[1,0],[0,1],[1,1]]::real[], ARRAY[0,1]::bigint[], ARRAY[1,2]::bigint[]), 'and deterministic');
SELECT is(array_dims(ruvector_gat_forward(ARRAY[[1,0],[0,1],[1,1]]::real[], ARRAY[0,1]::bigint[], ARRAY[1,2]::bigint[], out_features => 8, heads => 4)),
          '[1:3][1:8]', 'ruvector_gat_forward, 4 heads');
SELECT is(array_dims(ruvector_gin_forward(ARRAY[[1,0],[0,1],[1,1]]::real[], ARRAY[0,1]::bigint[], ARRAY[1,2]::bigint[])), '[1:3][1:2]', 'ruvector_gin_forward');
SELECT is(array_dims(ruvector_graphsage_forward(ARRAY[[1,0],[0,1],[1,1]]::real[], ARRAY[0,1]::bigint[], ARRAY[1,2]::bigint[], out_features => 3)),
          '[1:3][1:3]', 'ruvector_graphsage_forward');
SELECT throws_ok($$SELECT ruvector_gcn_forward(ARRAY[[1,0]]::real[], ARRAY[0]::bigint[], ARRAY[1]::bigint[])$$, '23503',
          'edge 0 -> 1 has a dangling endpoint', 'array form: dangling edge');
SELECT throws_ok($$SELECT ruvector_gcn_forward(ARRAY[[1,0]]::real[], ARRAY[0]::bigint[], ARRAY[0]::bigint[], model => 'two')$$, '22023',
          'gnn model "two" has a sage layer, this function runs gcn layers', 'array form: a model of another layer type');

-- GraphSAGE sampling: with sample_size >= the largest in-degree the result is the full one.
INSERT INTO edges VALUES (30, 20, 1), (40, 20, 1);
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('two', 'nodes', 'edges', sample_size => 3) ORDER BY 1$$),
          rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('two', 'nodes', 'edges') ORDER BY 1$$),
          'sample_size >= max in-degree equals the full computation');
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('two', 'nodes', 'edges', sample_size => 1, seed => 7) ORDER BY 1$$),
          rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('two', 'nodes', 'edges', sample_size => 1, seed => 7) ORDER BY 1$$),
          'sampling is reproducible for a seed');
DELETE FROM edges WHERE (src_id, dst_id) IN ((30, 20), (40, 20));

-- Named graphs need ordinary tables: a write to a partition does not fire the parent's statement
-- trigger that keeps the cached graph current. The table form reads a partitioned table on
-- every call, and gives what the same rows in an ordinary table give.
CREATE TABLE pnodes (id bigint, embedding vector(2)) PARTITION BY RANGE (id);
CREATE TABLE pnodes_low PARTITION OF pnodes FOR VALUES FROM (0) TO (25);
CREATE TABLE pnodes_high PARTITION OF pnodes FOR VALUES FROM (25) TO (1000);
INSERT INTO pnodes SELECT id, embedding FROM nodes;
CREATE VIEW edges_view AS SELECT * FROM edges;
SELECT throws_ok($$SELECT ruvector_graph_create('pg', 'pnodes', 'edges')$$, '0A000',
          'named graphs need ordinary tables, and pnodes is a partitioned table', 'a named graph over a partitioned table: refused');
SELECT throws_ok($$SELECT ruvector_graph_create('vg', 'nodes', 'edges_view')$$, '0A000',
          'named graphs need ordinary tables, and edges_view is a view', 'over a view: refused');
CREATE TABLE inodes (id bigint, embedding vector(2));
CREATE TABLE inodes_child () INHERITS (inodes);
SELECT throws_ok($$SELECT ruvector_graph_create('ig', 'inodes', 'edges')$$, '0A000',
          'named graphs need ordinary tables, and inodes is a table with inheritance children', 'over an inheritance parent: refused');
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('gcn_w', 'pnodes', 'edges', weight_column => 'w') ORDER BY 1$$),
          rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('gcn_w', 'nodes', 'edges', weight_column => 'w') ORDER BY 1$$),
          'the table form over a partitioned node table: the same as over the ordinary table');

-- Named graphs: cached, and never older than what the query's snapshot sees.
SELECT lives_ok($$SELECT ruvector_graph_create('g', 'nodes', 'edges')$$, 'ruvector_graph_create');
SELECT throws_ok($$SELECT ruvector_graph_create('g', 'nodes', 'edges')$$, '42710', 'graph "g" already exists', 'the name is taken');
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('gcn_w', 'g') ORDER BY 1$$),
          '10:[2.5,-1] 20:[1.91421,0.5] 30:[1.5,2] 40:[4.5,5]', 'forward over a named graph');
SELECT ok((SELECT nodes IS NULL AND version IS NOT NULL FROM ruvector_graphs() WHERE name = 'g'),
          'created in this transaction: not cached for others (the cache is for committed versions)');
INSERT INTO edges VALUES (40, 10, 1);
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('gcn_w', 'g') ORDER BY 1 LIMIT 1$$),
          '10:[4.32843,3.24264]', 'an insert is seen by the next query (10 now hears from 40)');
DELETE FROM edges WHERE src_id = 40;
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('gcn_w', 'g') ORDER BY 1 LIMIT 1$$),
          '10:[2.5,-1]', 'and a delete');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('gcn_w', 'nope')$$, '42704', 'graph "nope" does not exist', 'unknown graph');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('nope', 'g')$$, '42704', 'gnn model "nope" does not exist', 'unknown model');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('two', 'nodes', 'edges', sample_size => 0)$$, '22023', 'sample_size must be at least 1', 'sample_size 0');

-- Privileges and row-level security.
CREATE ROLE gnn_reader;
CREATE ROLE gnn_outsider;
GRANT SELECT ON nodes, edges TO gnn_reader;

ALTER TABLE nodes ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON nodes FOR SELECT TO gnn_reader USING (NOT secret);
UPDATE nodes SET secret = true WHERE id = 40;
DELETE FROM edges WHERE src_id = 40 OR dst_id = 40;
SET ROLE gnn_outsider;
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('gcn_w', 'g')$$, '42501', 'permission denied for table nodes',
                 'a role without SELECT gets a permission error');
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('nodes', 'edges')$$, '42501', NULL, 'also through the table form');
RESET ROLE;
SET ROLE gnn_reader;
SELECT is(rows_of($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('gcn_w', 'g') ORDER BY 1$$),
          '10:[2.5,-1] 20:[1.91421,0.5] 30:[1.5,2]', 'a role under an RLS policy gets results from the rows it can see only');
RESET ROLE;
SELECT is((SELECT count(*) FROM ruvector_gnn_forward('gcn_w', 'g')), 4::bigint, 'the table owner sees all four nodes');

-- Bad graphs.
CREATE TABLE n2 (id bigint, embedding vector);
CREATE TABLE e2 (src_id bigint, dst_id bigint);
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('n2', 'e2')$$, '22000', 'node table public.n2 has no rows', 'an empty node table');
INSERT INTO n2 VALUES (1, '[1,2]'), (2, '[3,4]');
SELECT is((SELECT count(*) FROM ruvector_message_pass('n2', 'e2')), 2::bigint, 'no edges: every node keeps its own features');
INSERT INTO e2 VALUES (1, 3);
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('n2', 'e2')$$, '23503', 'edge 1 -> 3 of public.e2 has a dangling endpoint', 'a dangling edge');
DELETE FROM e2;
INSERT INTO e2 VALUES (1, NULL);
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('n2', 'e2')$$, '23502', 'edge table public.e2 has a NULL endpoint', 'a NULL endpoint');
DELETE FROM e2;
INSERT INTO n2 VALUES (2, '[5,6]');
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('n2', 'e2')$$, '23505', 'node id 2 appears more than once in public.n2', 'duplicate node ids');
DELETE FROM n2 WHERE embedding = '[5,6]';
INSERT INTO n2 VALUES (3, NULL);
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('n2', 'e2')$$, '23502', 'node 3 of public.n2 has a NULL embedding', 'a NULL embedding');
UPDATE n2 SET embedding = '[1,2,3]' WHERE id = 3;
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('n2', 'e2')$$, '22000', 'node 3 of public.n2 has 3 dimensions, the others 2', 'mixed dimensions');
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('n2', 'e2', embedding_column => 'nope')$$, '42703', NULL, 'a missing column');
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('n2', 'e2', layer_type => 'cheb')$$, '22023', 'unknown layer type "cheb"', 'an unknown layer type');
CREATE TABLE n3 (id bigint, embedding vector(3));
INSERT INTO n3 VALUES (1, '[1,2,3]');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('gcn_w', 'n3', 'e2')$$, '22023',
                 'layer 0 (gcn): expects 2 input features, but the graph''s embeddings have 3', 'a model whose input width does not match the embeddings');
SELECT is((SELECT count(*) FROM n2), 3::bigint, 'failed calls left the tables intact');

SELECT lives_ok($$SELECT ruvector_graph_drop('g')$$, 'ruvector_graph_drop');
SELECT is((SELECT count(*) FROM ruvector_graphs()), 0::bigint, 'the graph is gone');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'edges'::regclass AND NOT tgisinternal), 0::bigint, 'with its triggers');

SELECT * FROM finish();
ROLLBACK;
