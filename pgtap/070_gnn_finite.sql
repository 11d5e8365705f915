-- No GNN function returns or stores NaN or ±Infinity: an overflowing result is 22003 naming the
-- node, GCN refuses a negative degree, NaN/Inf edge weights and model weights are refused on
-- input, and values near FLT_MAX work where double arithmetic gives a finite answer
-- (differentiable search, SAGE's L2 normalisation).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(27);

-- 'SQLSTATE: message / detail' of the error q raises, or 'no error'.
CREATE FUNCTION err_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text;
BEGIN
	EXECUTE 'SELECT count(*) FROM (' || q || ') s';
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	RETURN st || ': ' || msg || ' / ' || det;
END $$;

-- Every component of every vector q returns is finite (and there is at least one row).
CREATE FUNCTION all_finite(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE bad bigint; total bigint;
BEGIN
	EXECUTE 'SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM unnest(s.v::real[]) e WHERE e IN (''NaN'', ''Infinity'', ''-Infinity''))),'
	        ' count(*) FROM (' || q || ') s(id, v)' INTO bad, total;
	RETURN bad = 0 AND total > 0;
END $$;

-- The issue's repro: GCN over an edge weighing -5 gives node 1 the degree 1 - 5 = -4.
CREATE TABLE n (id bigint, embedding vector(2));
INSERT INTO n VALUES (1, '[1,0]'), (2, '[0,1]');
CREATE TABLE e (src_id bigint, dst_id bigint, weight real);
INSERT INTO e VALUES (2, 1, -5);
SELECT ruvector_gnn_model_create('m', 'gcn', ARRAY[2, 2]);
SELECT is(err_of($$SELECT * FROM ruvector_gnn_forward('m', 'n', 'e', weight_column => 'weight')$$),
          '22023: GCN normalisation needs a non-negative weighted in-degree / Node 1 has weighted in-degree -4 (the weights of its in-edges and its self-loop) in GNN layer 0 (gcn).',
          'GCN: a negative degree is refused, naming the node');
CREATE TEMP TABLE kept AS SELECT 1 AS k;
SELECT throws_ok($$INSERT INTO kept SELECT 1 FROM ruvector_gnn_forward('m', 'n', 'e', weight_column => 'weight')$$, '22023', NULL,
                 'nothing is stored from it');

-- Identity-weight GCN (PyG's arithmetic) where negative weights leave degrees non-negative.
SELECT ruvector_gnn_model_import('eye', '{"activation": "none", "layers": [{"type": "gcn", "options": {},
  "state_dict": {"lin.weight": [[1, 0], [0, 1]]}}]}');
UPDATE e SET weight = -0.5;
-- deg(1) = 0.5, deg(2) = 1: out_1 = x_1 / 0.5 - 0.5 x_2 / sqrt(0.5) = [2, -0.70711].
SELECT is((SELECT string_agg(node_id || ':' || (SELECT string_agg(round(x::numeric, 5)::text, ',') FROM unnest(embedding::real[]) x), ' ' ORDER BY node_id)
           FROM ruvector_gnn_forward('eye', 'n', 'e', weight_column => 'weight')),
          '1:2.00000,-0.70711 2:0.00000,1.00000', 'GCN: a negative weight with a positive degree is computed as PyG does');
UPDATE e SET weight = -1;
SELECT is((SELECT embedding::text FROM ruvector_gnn_forward('eye', 'n', 'e', weight_column => 'weight') WHERE node_id = 1),
          '[0,0]', 'GCN: a zero degree gives the node zero (PyG''s inf -> 0)');
SELECT ruvector_gnn_model_import('eye_plain', '{"activation": "none", "layers": [{"type": "gcn", "options": {"normalize": false},
  "state_dict": {"lin.weight": [[1, 0], [0, 1]]}}]}');
UPDATE e SET weight = -5;
SELECT is((SELECT embedding::text FROM ruvector_gnn_forward('eye_plain', 'n', 'e', weight_column => 'weight') WHERE node_id = 1),
          '[0,-5]', 'GCN without normalisation: any finite weight, a plain weighted sum');

-- NaN and infinite edge weights are refused on input, by every reader.
UPDATE e SET weight = 'NaN';
SELECT is(err_of($$SELECT * FROM ruvector_gnn_forward('m', 'n', 'e', weight_column => 'weight')$$),
          '22000: edge 2 -> 1 of public.e has weight NaN / Edge weights must be finite.', 'a NaN edge weight is refused');
UPDATE e SET weight = '-Infinity';
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('m', 'n', 'e', weight_column => 'weight')$$, '22000',
                 'edge 2 -> 1 of public.e has weight -Infinity', 'an infinite edge weight is refused');
SELECT throws_ok($$SELECT ruvector_gcn_forward(ARRAY[[1,0],[0,1]]::real[], ARRAY[1]::bigint[], ARRAY[0]::bigint[], ARRAY['Infinity']::real[])$$,
                 '22000', 'edge 1 -> 0 has weight Infinity', 'the array form refuses it too');
SELECT ruvector_graph_create('gw', 'n', 'e', weight_column => 'weight');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('m', 'gw')$$, '22000', 'edge 2 -> 1 of public.e has weight -Infinity',
                 'and a named graph');
SELECT ruvector_graph_drop('gw');
UPDATE e SET weight = 1;

-- Model weights: NaN and infinities are refused where they are written...
SELECT throws_ok($$UPDATE ruvector_gnn_model_params SET data[1] = 'NaN' WHERE model = 'm' AND name = 'lin.weight'$$, '22023',
                 'gnn model "m": parameter "lin.weight" of layer 0 has a NaN or infinite value', 'a NaN weight is refused on input');
SELECT throws_ok($$INSERT INTO ruvector_gnn_model_params SELECT model, layer, 'bias2', shape, ARRAY['Infinity', 0]::real[]
                   FROM ruvector_gnn_model_params WHERE model = 'm' AND name = 'bias'$$, '22023', NULL, 'an infinite weight too');
-- ...and what got past that (the trigger disabled, an option edited by hand) is refused when read.
ALTER TABLE ruvector_gnn_model_params DISABLE TRIGGER ruvector_gnn_params_finite;
UPDATE ruvector_gnn_model_params SET data[1] = 'Infinity' WHERE model = 'm' AND name = 'lin.weight';
ALTER TABLE ruvector_gnn_model_params ENABLE TRIGGER ruvector_gnn_params_finite;
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('m', 'n', 'e')$$, '22000',
                 'gnn model "m" has a NaN or infinite value in "lin.weight" of layer 0', 'a stored infinite weight is refused on read');
SELECT ruvector_gnn_model_import('g1', '{"layers": [{"type": "gin", "options": {}, "state_dict": {"nn.0.weight": [[1, 0], [0, 1]]}}]}');
UPDATE ruvector_gnn_model_layers SET options = options || '{"eps": "NaN"}' WHERE model = 'g1';
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('g1', 'n', 'e')$$, '22000',
                 'gnn model "g1" has a NaN or infinite value in "eps" of layer 0', 'a NaN option is refused on read');

-- Overflow: 3 and 4 both send [3e38, 3e38] to 1.
CREATE TABLE big (id bigint, embedding vector(2));
INSERT INTO big VALUES (1, '[1,0]'), (2, '[0,1]'), (3, '[3e38,3e38]'), (4, '[3e38,3e38]');
CREATE TABLE bige (src_id bigint, dst_id bigint);
INSERT INTO bige VALUES (3, 1), (4, 1), (1, 2);
SELECT is(err_of($$SELECT * FROM ruvector_message_pass('big', 'bige', num_hops => 1, layer_type => 'gin')$$),
          '22003: value out of range: overflow / The output of GNN layer 0 (gin) for node 1 does not fit in real (float4).',
          'message passing: an overflow is 22003 naming the node and layer');
-- GCN: out_1 = 3e38 / sqrt(3) * 2 + x_1 / 3 = 3.5e38.
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('big', 'bige', num_hops => 1)$$, '22003', 'value out of range: overflow',
                 'GCN propagation overflows too');
SELECT ruvector_gnn_model_import('g1x', '{"activation": "none", "layers": [{"type": "gin", "options": {}, "state_dict": {"nn.0.weight": [[1, 0], [0, 1]]}}]}');
SELECT is(err_of($$SELECT ruvector_gin_forward(ARRAY[[1,0],[0,1],[3e38,3e38],[3e38,3e38]]::real[], ARRAY[2,3]::bigint[], ARRAY[0,0]::bigint[], model => 'g1x')$$),
          '22003: value out of range: overflow / The output of GNN layer 0 (gin) for node 0 does not fit in real (float4).',
          'the array forms: 22003 naming the row');
SELECT throws_ok($$CREATE TABLE stored AS SELECT * FROM ruvector_message_pass('big', 'bige', num_hops => 1, layer_type => 'gin')$$, '22003', NULL,
                 'nothing is stored');
SELECT ruvector_graph_create('bg', 'big', 'bige');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('g1x', 'bg')$$, '22003', 'value out of range: overflow', 'a named graph''s forward pass');
SELECT is(err_of($$SELECT * FROM ruvector_gnn_classify('bg', 'g1x')$$),
          '22003: value out of range: overflow / The output of GNN layer 0 (gin) for node 1 does not fit in real (float4).',
          'classify: 22003, not class 0 with score NaN');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_classify(2, 'bg', 'g1x')$$, '22003', 'value out of range: overflow', 'classify of one node');
SELECT throws_ok($$SELECT ruvector_gnn_score(2, '[1,0]', 'bg', 1)$$, '22003', 'value out of range: overflow', 'gnn_score');
SELECT throws_ok($$CREATE INDEX ON big USING ruvector_gnn (embedding) WITH (edge_table = 'bige', layer_type = 'gin', num_layers = 1, lists = 1)$$,
                 '22003', 'value out of range: overflow', 'a ruvector_gnn index build');
-- Without overflow, values near FLT_MAX go through (node 2 gets x_2 + x_1 only).
SELECT ok(all_finite($$SELECT node_id, updated_embedding FROM ruvector_message_pass('big', 'bige', num_hops => 1, layer_type => 'gat')$$),
          'GAT over the same graph: means of huge values fit, all finite');

-- SAGE's L2 normalisation of a row near FLT_MAX: the norm overflows float, not the result.
SELECT ruvector_gnn_model_import('sn', '{"activation": "none", "layers": [{"type": "sage", "options": {"normalize": true},
  "state_dict": {"lin_l.weight": [[0, 0], [0, 0]], "lin_r.weight": [[1, 0], [0, 1]]}}]}');
CREATE TABLE bige2 (src_id bigint, dst_id bigint);
INSERT INTO bige2 VALUES (1, 2);
SELECT is((SELECT (SELECT string_agg(round(x::numeric, 5)::text, ',') FROM unnest(embedding::real[]) x)
           FROM ruvector_gnn_forward('sn', 'big', 'bige2') WHERE node_id = 3),
          '0.70711,0.70711', 'SAGE normalize: [3e38, 3e38] becomes [0.70711, 0.70711], not [0, 0]');

-- Differentiable search with a query near FLT_MAX: attention and cosine are computed in double.
CREATE TABLE d (id bigint, v vector(3));
INSERT INTO d SELECT i, ARRAY[i, i % 3, 1]::real[]::vector FROM generate_series(1, 20) i;
CREATE INDEX d_idx ON d USING ruivfflat (v vector_l2_ops) WITH (lists = 1);
-- The softmax puts all weight on the candidate with the largest component sum, so q' = (q + x) / 2.
SELECT is((SELECT DISTINCT enhanced_embedding::text FROM ruvector_differentiable_search('[3e38,3e38,3e38]', 'd_idx', 0, 3)),
          '[1.5e+38,1.5e+38,1.5e+38]', 'differentiable search: a query near FLT_MAX works');
SELECT is((SELECT array_agg(round(score::numeric, 6) ORDER BY score DESC) FROM ruvector_differentiable_search('[3e38,3e38,3e38]', 'd_idx', 0, 20)),
          (SELECT array_agg(round(s::numeric, 6) ORDER BY s DESC) FROM (SELECT (v[1] + v[2] + v[3]) / sqrt(3 * (v[1]^2 + v[2]^2 + v[3]^2)) AS s
                                                                           FROM (SELECT v::real[] AS v FROM d) x) y),
          'scores are the cosines with the enhanced query');
SELECT is((SELECT array_agg(id ORDER BY score DESC, id) FROM ruvector_differentiable_search('[1,0.5,0.25]', 'd_idx', 0, 20)),
          (SELECT array_agg(id ORDER BY 1 - (v <=> q) DESC, id) FROM d, (SELECT enhanced_embedding AS q
              FROM ruvector_differentiable_search('[1,0.5,0.25]', 'd_idx', 0, 20) LIMIT 1) s),
          'ordinary queries rank by the cosine with the enhanced query, as before');

SELECT * FROM finish();
ROLLBACK;
