-- Graph construction from vectors and graph-aware queries: hand-checked answers on small graphs,
-- brute-force comparisons, error cases.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(51);

-- Five points on a line and one far away.
CREATE TABLE pts (id bigint PRIMARY KEY, v vector(2));
INSERT INTO pts VALUES (1, '[0,0]'), (2, '[1,0]'), (3, '[3,0]'), (4, '[6,0]'), (5, '[10,0]'), (6, '[100,100]');

-- k-NN graph: edges from each node's k nearest neighbours, weighted by distance.
SELECT is(ruvector_build_knn_graph('pts', 'v', 'knn2', 2), 12::bigint, 'k = 2 over 6 nodes: 12 edges');
SELECT is((SELECT array_agg(src_id ORDER BY weight, src_id) FROM knn2 WHERE dst_id = 3), ARRAY[2, 1]::bigint[],
          'node 3 hears from 2 (distance 2) and 1 (distance 3)');
SELECT is((SELECT weight FROM knn2 WHERE src_id = 4 AND dst_id = 3), NULL::real, 'and not from 4 (3 away, tied with 1: the lower id wins)');
SELECT is((SELECT array_agg(weight ORDER BY weight) FROM knn2 WHERE dst_id = 1), ARRAY[1, 3]::real[], 'weights are the distances');
SELECT is((SELECT count(*) FROM knn2 WHERE src_id = dst_id), 0::bigint, 'no self-loops');

-- Exact mode equals a brute-force SQL answer on random data, for every metric.
SELECT setseed(0.3);
CREATE TABLE rnd (id bigint PRIMARY KEY, v vector(8));
INSERT INTO rnd SELECT i, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 8) d WHERE i > 0)::vector FROM generate_series(1, 300) i;
CREATE FUNCTION brute(op text, k int) RETURNS TABLE (src_id bigint, dst_id bigint) LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT n.id, r.id FROM rnd r, LATERAL (SELECT id FROM rnd o WHERE o.id <> r.id ORDER BY o.v %s r.v, o.id LIMIT %s) n', op, k);
END $$;
SELECT ruvector_build_knn_graph('rnd', 'v', 'g_l2', 5, 'l2');
SELECT ruvector_build_knn_graph('rnd', 'v', 'g_cos', 5, 'cosine');
SELECT ruvector_build_knn_graph('rnd', 'v', 'g_ip', 5, 'ip');
SELECT ruvector_build_knn_graph('rnd', 'v', 'g_l1', 5, 'l1');
SELECT set_eq('SELECT src_id, dst_id FROM g_l2', $$SELECT * FROM brute('<->', 5)$$, 'exact l2 k-NN graph = brute force');
SELECT set_eq('SELECT src_id, dst_id FROM g_cos', $$SELECT * FROM brute('<=>', 5)$$, 'exact cosine k-NN graph = brute force');
SELECT set_eq('SELECT src_id, dst_id FROM g_ip', $$SELECT * FROM brute('<#>', 5)$$, 'exact inner-product k-NN graph = brute force');
SELECT set_eq('SELECT src_id, dst_id FROM g_l1', $$SELECT * FROM brute('<+>', 5)$$, 'exact l1 k-NN graph = brute force');
SELECT ok((SELECT bool_and(abs(g.weight - (a.v <-> b.v)) < 1e-5) FROM g_l2 g JOIN rnd a ON a.id = g.src_id JOIN rnd b ON b.id = g.dst_id),
          'the weights are the <-> distances');

-- Approximate mode goes through the ruivfflat index; its recall against the exact graph is reported.
CREATE INDEX rnd_idx ON rnd USING ruivfflat (v) WITH (lists = 10);
SET ivfflat.probes = 3;
SELECT ruvector_build_knn_graph('rnd', 'v', 'g_approx', 5, exact => false);
CREATE TEMP TABLE approx_recall AS
	SELECT (SELECT count(*) FROM g_approx a JOIN g_l2 e USING (src_id, dst_id))::float8 / (SELECT count(*) FROM g_l2) AS recall;
SELECT diag('approximate k-NN graph recall with probes 3 of 10 lists: ' || (SELECT round(recall::numeric, 3) FROM approx_recall));
SELECT cmp_ok((SELECT recall FROM approx_recall), '>=', 0.5::float8, 'approximate mode finds most true neighbours');
SET ivfflat.probes = 10;
SELECT ruvector_build_knn_graph('rnd', 'v', 'g_approx_all', 5, exact => false);
SELECT set_eq('SELECT src_id, dst_id FROM g_approx_all', 'SELECT src_id, dst_id FROM g_l2', 'approximate mode with probes = lists is exact');
RESET ivfflat.probes;

-- Epsilon graph.
SELECT is(ruvector_build_eps_graph('pts', 'v', 'eps2', 2), 4::bigint, 'epsilon 2: 1-2 and 2-3 both ways');
SELECT set_eq('SELECT src_id, dst_id FROM eps2', 'VALUES (1::bigint, 2::bigint), (2, 1), (2, 3), (3, 2)', 'the right pairs');
SELECT ruvector_build_eps_graph('rnd', 'v', 'eps_rnd', 0.6);
SELECT set_eq('SELECT src_id, dst_id FROM eps_rnd',
              'SELECT a.id AS s, b.id AS d FROM rnd a, rnd b WHERE a.id <> b.id AND a.v <-> b.v <= 0.6', 'epsilon graph = brute force');
SELECT throws_ok($$SELECT ruvector_build_eps_graph('rnd', 'v', 'eps_big', 10, max_edges => 1000)$$, '54000',
                 'more pairs are within epsilon than max_edges allows', 'the max_edges guard');
SELECT hasnt_table('eps_big', 'and no table is left behind');

-- Errors.
SELECT throws_ok($$SELECT ruvector_build_knn_graph('pts', 'v', 'knn2', 2)$$, '42P07', 'relation "knn2" already exists', 'never overwrites a table');
SELECT is((SELECT count(*) FROM knn2), 12::bigint, 'which keeps its rows');
SELECT throws_ok($$SELECT ruvector_build_knn_graph('pts', 'v', 'k0', 0)$$, '22023', 'k must be between 1 and 10000', 'k = 0');
SELECT throws_ok($$SELECT ruvector_build_eps_graph('pts', 'v', 'e0', -1)$$, '22023', NULL, 'epsilon < 0');
SELECT throws_ok($$SELECT ruvector_build_knn_graph('pts', 'v', 'k1', 1, 'hamming')$$, '22023', 'unknown distance metric "hamming"', 'unknown metric');

-- Graph-aware queries on a named graph: a path 1 - 2 - 3 - 4, node 5 and 6 unconnected.
CREATE TABLE path_edges (src_id bigint, dst_id bigint);
INSERT INTO path_edges VALUES (1, 2), (2, 3), (3, 4);
SELECT ruvector_graph_create('path', 'pts', 'path_edges', embedding_column => 'v');
SELECT results_eq($$SELECT node_id, hops FROM ruvector_subgraph_search(1, '[6,0]', 'path', 2, 10)$$,
                  $$VALUES (3::bigint, 2), (2::bigint, 1), (1::bigint, 0)$$, 'subgraph search: nodes within 2 hops, closest first');
SELECT results_eq($$SELECT node_id, hops, distance FROM ruvector_subgraph_search(4, '[6,0]', 'path', 3, 2)$$,
                  $$VALUES (4::bigint, 0, 0::float8), (3::bigint, 1, 3::float8)$$, 'edges are followed both ways; k limits');
SELECT throws_ok($$SELECT * FROM ruvector_subgraph_search(77, '[0,0]', graph => 'path')$$, 'P0002', 'node 77 is not in graph "path"', 'center node missing');
SELECT throws_ok($$SELECT * FROM ruvector_subgraph_search(1, '[0,0]', graph => 'nope')$$, '42704', 'graph "nope" does not exist', 'unknown graph');
SELECT throws_ok($$SELECT * FROM ruvector_subgraph_search(1, '[0,0,0]', graph => 'path')$$, '22000', 'different vector dimensions 2 and 3', 'wrong dimensions');
SELECT throws_ok($$SELECT * FROM ruvector_subgraph_search(1, '[0,0]', k => 0, graph => 'path')$$, '22023', 'k must be at least 1', 'k <= 0');

-- On a random graph (25 of 200 nodes within 4 hops of node 5), the breadth-first search equals
-- hop counts computed in SQL.
CREATE TABLE rg_nodes (id bigint PRIMARY KEY, v vector(3));
INSERT INTO rg_nodes SELECT i, ARRAY[(i * 37) % 11, (i * 13) % 7, i % 5]::real[]::vector FROM generate_series(1, 200) i;
CREATE TABLE rg_edges (src_id bigint, dst_id bigint);
INSERT INTO rg_edges SELECT 1 + abs(hashint4(i)) % 200, 1 + abs(hashint4(-i)) % 200 FROM generate_series(1, 300) i;
SELECT ruvector_graph_create('rg', 'rg_nodes', 'rg_edges', embedding_column => 'v');
CREATE TEMP TABLE rg_hops AS
	WITH RECURSIVE walk(id, h) AS (
		SELECT 5::bigint, 0
		UNION
		SELECT CASE WHEN e.src_id = w.id THEN e.dst_id ELSE e.src_id END, w.h + 1
		FROM walk w JOIN rg_edges e ON w.id IN (e.src_id, e.dst_id) WHERE w.h < 4)
	SELECT id, min(h) AS hops FROM walk GROUP BY id;
SELECT set_eq($$SELECT node_id, hops FROM ruvector_subgraph_search(5, '[1,2,3]', 'rg', 4, 1000)$$,
              'SELECT id, hops FROM rg_hops', 'subgraph search on a random graph: the nodes and hop counts of a SQL breadth-first walk');
SELECT results_eq($$SELECT node_id FROM ruvector_subgraph_search(5, '[1,2,3]', 'rg', 4, 7, distance_metric => 'l1')$$,
                  $$SELECT h.id FROM rg_hops h JOIN rg_nodes n USING (id) ORDER BY n.v <+> '[1,2,3]', h.id LIMIT 7$$,
                  'and its k nearest by the chosen metric, ties by id');

-- gnn_score: parameter-free GCN propagation; isolated nodes keep their own direction.
SELECT is((SELECT round(ruvector_gnn_score(5, '[1,0]', 'path', 1)::numeric, 6)), 1.000000, 'gnn_score of an isolated node = cosine with itself');
SELECT is((SELECT round(ruvector_gnn_score(6, '[1,0]', 'path', 1)::numeric, 6)), 0.707107, 'gnn_score of [100,100] against [1,0]');
SELECT is((SELECT array_agg(id ORDER BY s DESC, id) FROM (SELECT id, ruvector_gnn_score(id, '[0,1]', 'path', 2) s FROM pts WHERE id IN (5, 6)) x),
          ARRAY[6, 5]::bigint[], 'usable per row in ORDER BY');
SELECT throws_ok($$SELECT ruvector_gnn_score(99, '[1,0]', 'path')$$, 'P0002', 'node 99 is not in graph "path"', 'gnn_score: unknown node');

-- Classification: a 2-class GCN (plain sum over in-edges) whose logits are (-x, x) of the aggregate.
SELECT ruvector_gnn_model_import('coords', '{"layers": [{"type": "gcn", "options": {"normalize": false},
	"state_dict": {"lin.weight": [[-1, 0], [1, 0]]}}]}');
SELECT results_eq($$SELECT node_id, class FROM ruvector_gnn_classify('path', 'coords') WHERE node_id IN (2, 3, 6) ORDER BY 1$$,
                  $$VALUES (2::bigint, 0), (3::bigint, 1), (6::bigint, 0)$$, 'whole-graph classification (a tie goes to the lower class)');
SELECT is((SELECT class FROM ruvector_gnn_classify(4, 'path', 'coords')), 1, 'per-node classification');
SELECT is((SELECT round(score::numeric, 4) FROM ruvector_gnn_classify(3, 'path', 'coords')), 0.8808, 'score = softmax probability of the class');

-- GraphSAGE search and the RuVector layer.
CREATE TABLE gn (id bigint PRIMARY KEY, embedding vector(2));
INSERT INTO gn SELECT id, v FROM pts;
SELECT results_eq($$SELECT id FROM ruvector_graphsage_search('gn', 'path_edges', '[1,0]', 1, 10, 3)$$,
                  $$VALUES (2::bigint), (3::bigint), (4::bigint)$$, 'graphsage_search ranks enhanced embeddings');
CREATE INDEX gn_idx ON gn USING ruivfflat (embedding) WITH (lists = 1);
SELECT results_eq($$SELECT id FROM ruvector_differentiable_search('[1,0.1]', 'gn_idx', 1, 3)$$, $$VALUES (2::bigint), (3::bigint)$$,
                  'differentiable search: candidates {2, 1, 3} (hop 1 adds nothing new), the zero vector 1 is not ranked');
SELECT set_eq($$SELECT id FROM ruvector_differentiable_search('[6,0.1]', 'gn_idx', 1, 5)$$, $$VALUES (4::bigint), (3::bigint), (5::bigint), (2::bigint)$$,
                  'one hop adds the neighbours of the neighbours (2 comes from 3)');
SELECT is((SELECT enhanced_embedding FROM ruvector_differentiable_search('[1,0.1]', 'gn_idx', 0, 2) LIMIT 1)::text, '[0.83488077,0.05]',
          'the enhanced query: (q + softmax-attention over the 2 nearest) / 2');

-- Dropping a graph's table drops the graph, its trigger on the other table and its cached copy.
CREATE TABLE dn (id bigint PRIMARY KEY, embedding vector(2));
INSERT INTO dn VALUES (1, '[1,0]'), (2, '[0,1]');
CREATE TABLE de (src_id bigint, dst_id bigint);
INSERT INTO de VALUES (1, 2);
SELECT ruvector_graph_create('doomed', 'dn', 'de');
SELECT is((SELECT count(*) FROM ruvector_subgraph_search(1, '[0,0]', graph => 'doomed')), 2::bigint, 'a graph over dn and de');
SELECT lives_ok('DROP TABLE de', 'its edge table can be dropped');
SELECT is((SELECT count(*) FROM ruvector_graphs() WHERE name = 'doomed'), 0::bigint, 'which drops the graph');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'dn'::regclass AND NOT tgisinternal), 0::bigint,
          'and its version trigger on the node table');
SELECT throws_ok($$SELECT * FROM ruvector_subgraph_search(1, '[0,0]', graph => 'doomed')$$, '42704',
                 'graph "doomed" does not exist', 'the graph is gone');

SELECT throws_ok($$SELECT * FROM ruvector_subgraph_search(1, '[0,0]', NULL)$$, '22004', 'graph must be given', 'subgraph search with a NULL graph');
SELECT throws_ok($$SELECT * FROM ruvector_subgraph_search(1, '[0,0]', 'path', -1)$$, '22023', 'max_hops must be at least 0', 'max_hops < 0');

-- With the drop event trigger disabled, a graph can outlive its table: a clear error, and drop works.
CREATE TABLE dn2 (id bigint PRIMARY KEY, embedding vector(2));
INSERT INTO dn2 VALUES (1, '[1,0]');
CREATE TABLE de2 (src_id bigint, dst_id bigint);
SELECT ruvector_graph_create('orphan', 'dn2', 'de2');
ALTER EVENT TRIGGER ruvector_graph_on_drop DISABLE;
DROP TABLE de2;
ALTER EVENT TRIGGER ruvector_graph_on_drop ENABLE;
SELECT throws_ok($$SELECT * FROM ruvector_subgraph_search(1, '[0,0]', graph => 'orphan')$$, '42P01',
                 'a table of graph "orphan" no longer exists', 'a graph whose table is gone: clear error');
SELECT lives_ok($$SELECT ruvector_graph_drop('orphan')$$, 'ruvector_graph_drop still removes it');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = 'dn2'::regclass AND NOT tgisinternal), 0::bigint,
          'with its trigger on the remaining table');

SELECT * FROM finish();
ROLLBACK;
