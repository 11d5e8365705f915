-- The GNN layers of issue 23 through SQL: SAGEConv's project and lstm options, the readouts
-- (global pools, AttentionalAggregation, Set2Set) and linear layers in the model format, and graph
-- classification with ruvector_gnn_classify (whole graph, or by a graph id column), with its
-- errors, privileges and row-level security. Values against PyTorch: tests/sh/092_gnn_layers_torch.sh.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(57);

CREATE FUNCTION imp(m text, spec text) RETURNS text LANGUAGE sql AS
	$$SELECT format('SELECT ruvector_gnn_model_import(%L, %L::jsonb)', m, spec)$$;
CREATE FUNCTION opts_of(m text, li integer) RETURNS jsonb LANGUAGE sql AS
	$$SELECT options FROM ruvector_gnn_model_layers WHERE model = m AND layer = li$$;

-- ---- SAGEConv: project, lstm ----------------------------------------------------------------------
SELECT lives_ok(imp('s_lstm', '{"layers": [{"type": "sage", "options": {"aggr": "lstm", "project": true},
	"state_dict": {"lin_l.weight": [[1, 0]], "lin_r.weight": [[0, 1]], "lin.weight": [[1, 0], [0, 1]], "lin.bias": [0, 0],
	"aggr_module.lstm.weight_ih_l0": [[1,0],[0,1],[1,0],[0,1],[1,0],[0,1],[1,0],[0,1]],
	"aggr_module.lstm.weight_hh_l0": [[0,0],[0,0],[0,0],[0,0],[0,0],[0,0],[0,0],[0,0]],
	"aggr_module.lstm.bias_ih_l0": [0,0,0,0,0,0,0,0], "aggr_module.lstm.bias_hh_l0": [0,0,0,0,0,0,0,0]}}]}'),
	'sage with project and an LSTM aggregation imports');
SELECT is(opts_of('s_lstm', 0), '{"aggr": "lstm", "project": true, "normalize": false, "root_weight": true}',
	'its options are normalised');
SELECT is((SELECT array_agg(name ORDER BY name) FROM ruvector_gnn_model_params WHERE model = 's_lstm'),
	'{aggr_module.lstm.bias_hh_l0,aggr_module.lstm.bias_ih_l0,aggr_module.lstm.weight_hh_l0,aggr_module.lstm.weight_ih_l0,lin.bias,lin.weight,lin_l.weight,lin_r.weight}',
	'every state_dict key is kept under its PyG name');
SELECT lives_ok($$SELECT ruvector_gnn_model_import('s_lstm2', ruvector_gnn_model_export('s_lstm'))$$, 'the export imports again');
SELECT is(ruvector_gnn_model_export('s_lstm2'), ruvector_gnn_model_export('s_lstm'), 'and exports the same');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"aggr": "lstm"},
	"state_dict": {"lin_l.weight": [[1, 0]], "lin_r.weight": [[0, 1]]}}]}'), '22023',
	'layer 0 (sage): "aggr_module.lstm.weight_ih_l0" is missing from the state_dict', 'lstm needs its LSTM');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"aggr": "lstm"},
	"state_dict": {"lin_l.weight": [[1, 0]], "lin_r.weight": [[0, 1]], "aggr_module.lstm.weight_ih_l0": [[1, 0]],
	"aggr_module.lstm.weight_hh_l0": [[1, 0]]}}]}'), '22023',
	'layer 0 (sage): "aggr_module.lstm.weight_ih_l0" has shape [1, 2], expected [8, 2]', 'the LSTM is in -> in');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "state_dict": {"lin_l.weight": [[1, 0]], "lin_r.weight": [[0, 1]],
	"lin.weight": [[1, 0], [0, 1]]}}]}'), '22023', 'layer 0 (sage): unknown key "lin.weight"', 'lin without project is refused');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"project": true}, "state_dict": {"lin_l.weight": [[1, 0]],
	"lin_r.weight": [[0, 1]], "lin.weight": [[1, 0]]}}]}'), '22023',
	'layer 0 (sage): "lin.weight" has shape [1, 2], expected [2, 2]', 'project''s lin is [in, in]');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"project": 1}, "state_dict": {"lin_l.weight": [[1, 0]]}}]}'),
	'22023', 'layer 0 (sage): option "project" must be true or false, got 1', 'project is a boolean');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"aggr": "gru"}, "state_dict": {"lin_l.weight": [[1, 0]]}}]}'),
	'22023', 'layer 0 (sage): option "aggr" must be "mean", "max", "sum", "min" or "lstm", or a list of 2 to 64 of "mean", "max", "sum" and "min", got "gru"', 'unknown aggregation');
SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_lstm', 'sage', ARRAY[3, 4], '{"aggr": "lstm", "project": true}')$$,
	'create makes an LSTM sage model');
SELECT is((SELECT array_agg(name || ':' || _ruvector_gnn_shape_text(shape) ORDER BY name) FROM ruvector_gnn_model_params WHERE model = 'c_lstm'),
	'{"aggr_module.lstm.bias_hh_l0:[12]","aggr_module.lstm.bias_ih_l0:[12]","aggr_module.lstm.weight_hh_l0:[12, 3]","aggr_module.lstm.weight_ih_l0:[12, 3]","lin.bias:[3]","lin.weight:[3, 3]","lin_l.bias:[4]","lin_l.weight:[4, 3]","lin_r.weight:[4, 3]"}',
	'with every parameter in its PyG shape');

-- MultiAggregation: a list in "aggr", combined by "cat" (default) or "attn".
SELECT lives_ok(imp('s_multi', '{"layers": [{"type": "sage", "options": {"aggr": ["mean", "max"]},
	"state_dict": {"lin_l.weight": [[1, 0, 0, 1]], "lin_r.weight": [[0, 1]]}}]}'), 'a list of aggregations imports');
SELECT is(opts_of('s_multi', 0), '{"aggr": ["mean", "max"], "mode": "cat", "project": false, "normalize": false, "root_weight": true}',
	'mode "cat" filled in');
SELECT lives_ok(imp('s_attn', '{"layers": [{"type": "sage", "options": {"aggr": ["sum", "min"], "mode": "attn"},
	"state_dict": {"lin_l.weight": [[1, 0]], "lin_r.weight": [[0, 1]],
	"aggr_module.lin_heads.lins.0.weight": [[1, 0], [0, 1]], "aggr_module.lin_heads.lins.1.weight": [[1, 1], [0, 1]],
	"aggr_module.multihead_attn.in_proj_weight": [[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1]],
	"aggr_module.multihead_attn.out_proj.weight": [[1, 0], [0, 1]]}}]}'), 'mode "attn" imports');
SELECT is(opts_of('s_attn', 0) ->> 'num_heads', '1', 'num_heads filled in');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"aggr": ["mean", "max"]},
	"state_dict": {"lin_l.weight": [[1, 0, 0]], "lin_r.weight": [[0, 1]]}}]}'), '22023',
	'layer 0 (sage): "lin_l.weight" has shape [1, 3], expected [out, 2 * in] (2 aggregations, "cat")', 'cat: lin_l reads A x in');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"aggr": ["mean", "lstm"]}, "state_dict": {}}]}'), '22023',
	'layer 0 (sage): option "aggr" must be "mean", "max", "sum", "min" or "lstm", or a list of 2 to 64 of "mean", "max", "sum" and "min", got ["mean", "lstm"]',
	'no lstm in a list');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"mode": "attn"}, "state_dict": {}}]}'), '22023',
	'layer 0 (sage): option "mode" needs a list of aggregations in "aggr"', 'mode needs a list');
SELECT throws_ok(imp('x', '{"layers": [{"type": "sage", "options": {"aggr": ["sum", "min"], "mode": "attn", "num_heads": 3},
	"state_dict": {"lin_l.weight": [[1, 0]], "lin_r.weight": [[0, 1]],
	"aggr_module.lin_heads.lins.0.weight": [[1, 0], [0, 1]], "aggr_module.lin_heads.lins.1.weight": [[1, 1], [0, 1]],
	"aggr_module.multihead_attn.in_proj_weight": [[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1]],
	"aggr_module.multihead_attn.out_proj.weight": [[1, 0], [0, 1]]}}]}'), '22023',
	'layer 0 (sage): the attention is 2 wide, not a multiple of num_heads 3', 'heads divide the attention width');

-- ---- Readouts and linear layers in the format ------------------------------------------------------
SELECT lives_ok(imp('clf', '{"layers": [
	{"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}},
	{"type": "attentional_aggregation", "state_dict": {"gate_nn.0.weight": [[1, 1]], "nn.0.weight": [[1, 0], [0, 1], [1, 1]]}},
	{"type": "linear", "state_dict": {"weight": [[1, 0, 0], [0, 1, 0]], "bias": [0, 0.5]}}]}'), 'a classifier imports');
SELECT is(ARRAY(SELECT opts_of('clf', g) FROM generate_series(1, 2) g),
	ARRAY['{"nn": ["linear"], "gate_nn": ["linear"]}'::jsonb, '{}'], 'gate_nn and nn derived from the keys');
SELECT is((SELECT dims FROM ruvector_gnn_models WHERE name = 'clf'), '{2,2,3,2}', 'widths: nn makes the readout 3 wide');
SELECT lives_ok($$SELECT ruvector_gnn_model_import('clf2', ruvector_gnn_model_export('clf'))$$, 'the classifier''s export imports again');
SELECT is(ruvector_gnn_model_export('clf2'), ruvector_gnn_model_export('clf'), 'and exports the same');
SELECT lives_ok(imp('s2s', '{"layers": [{"type": "gin", "state_dict": {"nn.0.weight": [[1, 0], [0, 1]]}},
	{"type": "set2set", "options": {"processing_steps": 2}, "state_dict": {"lstm.weight_ih_l0": '
	|| (SELECT json_agg(json_build_array(0.1, 0, 0.2, 0)) FROM generate_series(1, 8)) || ', "lstm.weight_hh_l0": '
	|| (SELECT json_agg(json_build_array(0, 0.1)) FROM generate_series(1, 8)) || '}},
	{"type": "linear", "state_dict": {"weight": [[1, 1, 1, 1]]}}]}'), 'gin, set2set, linear imports');
SELECT is((SELECT dims FROM ruvector_gnn_models WHERE name = 's2s'), '{2,2,4,1}', 'set2set doubles the width');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gin", "state_dict": {"nn.0.weight": [[1, 0], [0, 1]]}},
	{"type": "set2set", "state_dict": {}}]}'), '22023', 'layer 1 (set2set): option "processing_steps" is required',
	'Set2Set has no default processing_steps');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gin", "state_dict": {"nn.0.weight": [[1, 0], [0, 1]]}},
	{"type": "set2set", "options": {"processing_steps": 0}, "state_dict": {}}]}'), '22023',
	'layer 1 (set2set): option "processing_steps" must be an integer from 1 to 1024, got 0', 'processing_steps range');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gin", "state_dict": {"nn.0.weight": [[1, 0], [0, 1]]}},
	{"type": "set2set", "options": {"processing_steps": 1}, "state_dict": {"lstm.weight_hh_l0": [[1, 0]]}}]}'), '22023',
	'layer 1 (set2set): "lstm.weight_hh_l0" has shape [1, 2], expected [8, 2]', 'the LSTM''s shape');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}},
	{"type": "global_mean_pool", "state_dict": {}}, {"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}}]}'),
	'22023', 'layer 2 (gcn): only linear layers may follow a readout', 'no convolution after a readout');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}},
	{"type": "global_mean_pool", "state_dict": {}}, {"type": "global_max_pool", "state_dict": {}}]}'),
	'22023', 'layer 2 (global_max_pool): only linear layers may follow a readout', 'at most one readout');
SELECT throws_ok(imp('x', '{"layers": [{"type": "global_add_pool", "state_dict": {}}]}'), '22023',
	'layer 0 (global_add_pool): a global pool cannot be the first layer', 'a pool needs a layer before it');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}},
	{"type": "global_add_pool", "state_dict": {"weight": [1]}}]}'), '22023', 'layer 1 (global_add_pool): unknown key "weight"',
	'pools have no parameters');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}},
	{"type": "global_add_pool", "options": {"aggr": "sum"}, "state_dict": {}}]}'), '22023',
	'layer 1 (global_add_pool): unknown option "aggr"', 'nor options');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}},
	{"type": "attentional_aggregation", "state_dict": {"gate_nn.0.weight": [[1, 1], [1, 0], [0, 0]]}}]}'), '22023',
	'layer 1 (attentional_aggregation): gate_nn gives 3 columns, expected 1 or 2', 'one gate per node or per channel');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}},
	{"type": "attentional_aggregation", "state_dict": {"gate.0.weight": [[1, 1]]}}]}'), '22023',
	'layer 1 (attentional_aggregation): unknown key "gate.0.weight"', 'attentional keys are gate_nn.K and nn.K');
SELECT throws_ok(imp('x', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1, 0], [0, 1]]}},
	{"type": "attentional_aggregation", "state_dict": {"nn.0.weight": [[1, 1]]}}]}'), '22023',
	'layer 1 (attentional_aggregation): the state_dict has no Linear weights ("gate_nn.K.weight")', 'gate_nn is required');
SELECT throws_ok(imp('x', '{"layers": [{"type": "linear", "state_dict": {"weight": [[1, 1]], "bias": [1, 2]}}]}'), '22023',
	'layer 0 (linear): "bias" has shape [2], expected [1]', 'linear''s bias');
SELECT is((SELECT count(*) FROM ruvector_gnn_model_catalog WHERE name = 'x'), 0::bigint, 'failed imports store nothing');

-- ---- Classification --------------------------------------------------------------------------------
-- Graph 7: nodes 1 [1,0] and 2 [0,1]; graph 3: node 3 [3,1]. No edges, so GCN (self-loops only) is
-- the identity; attention gate x0 + x1; nn = [x0, x1, x0 + x1]; linear [a, b + 0.5].
-- Graph 7: gates 1, 1 -> [0.5, 0.5, 1] -> [0.5, 1.0]: class 1, p = sigmoid(0.5) = 0.62246.
-- Graph 3: [3, 1, 4] -> [3, 1.5]: class 0, p = sigmoid(1.5) = 0.81757.
CREATE TABLE cn (id bigint PRIMARY KEY, embedding vector(2), g integer, label text, secret boolean DEFAULT false);
CREATE TABLE ce (src_id bigint, dst_id bigint);
INSERT INTO cn (id, embedding, g, label) VALUES (1, '[1,0]', 7, 'a'), (2, '[0,1]', 7, 'b'), (3, '[3,1]', 3, 'c');
SELECT ruvector_graph_create('cg', 'cn', 'ce');
CREATE FUNCTION classes(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; out text := '';
BEGIN
	FOR r IN EXECUTE q LOOP
		out := out || coalesce(r.graph_id::text, 'null') || ':' || r.class || ':' || round(r.score::numeric, 5) || ' ';
	END LOOP;
	RETURN rtrim(out);
END $$;
SELECT is(classes($$SELECT graph_id, class, score FROM ruvector_gnn_classify('cg', 'clf', 'g') ORDER BY 1$$),
	'3:0:0.81757 7:1:0.62246', 'one row per graph id: the argmax and its probability');
SELECT is((SELECT array_agg(logits::text ORDER BY graph_id) FROM ruvector_gnn_classify('cg', 'clf', 'g')),
	'{"[3,1.5]","[0.5,1]"}', 'and the model''s outputs');
SELECT is(classes($$SELECT node_id AS graph_id, class, score FROM ruvector_gnn_classify('cg', 'clf')$$),
	'null:0:0.78900', 'the two-argument form: the whole graph, node_id NULL');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('clf', 'cg')$$, '22023',
	'gnn model ends with a readout, so it gives one row per graph', 'a node-level function refuses a readout model');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_classify(1, 'cg', 'clf')$$, '22023',
	'gnn model ends with a readout, so it gives one row per graph', 'so does classifying one node');
SELECT lives_ok($$SELECT ruvector_gnn_model_create('plain', 'gcn', ARRAY[2, 2])$$, 'a node-level model');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_classify('cg', 'plain', 'g')$$, '22023', 'gnn model has no readout layer',
	'a graph id column needs a readout');
SELECT is((SELECT count(*) FROM ruvector_gnn_classify('cg', 'plain')), 3::bigint, 'without one, every node is classified as before');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_classify('cg', 'clf', 'nope')$$, '42703',
	'column "nope" of relation public.cn does not exist', 'unknown graph id column');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_classify('cg', 'clf', 'label')$$, '42804',
	'graph id column "label" of relation public.cn must be an integer', 'a graph id column of another type');
UPDATE cn SET g = NULL WHERE id = 2;
SELECT throws_ok($$SELECT * FROM ruvector_gnn_classify('cg', 'clf', 'g')$$, '23502', 'node 2 of public.cn has a NULL graph id',
	'a node without a graph');
UPDATE cn SET g = 7 WHERE id = 2;
INSERT INTO cn (id, embedding, g) VALUES (4, '[1,1]', 3);
INSERT INTO ce VALUES (4, 3);
SELECT is((SELECT array_agg(graph_id ORDER BY graph_id) FROM ruvector_gnn_classify('cg', 'clf', 'g')), '{3,7}',
	'a new node joins its graph');

-- Privileges and row-level security: the graph id column is read as the caller.
CREATE ROLE gnn92_cols;
CREATE ROLE gnn92_rls;
GRANT SELECT (id, embedding) ON cn TO gnn92_cols;
GRANT SELECT ON ce TO gnn92_cols;
GRANT SELECT ON cn, ce TO gnn92_rls;
ALTER TABLE cn ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON cn FOR SELECT TO gnn92_rls, gnn92_cols USING (NOT secret);
UPDATE cn SET secret = true WHERE id IN (3, 4);
DELETE FROM ce;
SET ROLE gnn92_cols;
SELECT throws_ok($$SELECT * FROM ruvector_gnn_classify('cg', 'clf', 'g')$$, '42501', 'permission denied for table cn',
	'a role that may not read the graph id column gets a permission error');
SELECT is((SELECT count(*) FROM ruvector_gnn_classify('cg', 'clf')), 1::bigint, 'it may still classify the whole graph');
RESET ROLE;
SET ROLE gnn92_rls;
SELECT is(classes($$SELECT graph_id, class, score FROM ruvector_gnn_classify('cg', 'clf', 'g') ORDER BY 1$$),
	'7:1:0.62246', 'under an RLS policy only the graphs of visible nodes come back');
RESET ROLE;
SELECT is((SELECT count(*) FROM ruvector_gnn_classify('cg', 'clf', 'g')), 2::bigint, 'the owner sees both graphs');

SELECT * FROM finish();
ROLLBACK;
