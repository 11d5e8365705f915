-- The GNN model catalog: import of PyG state_dicts for each layer type, export round trips, Glorot
-- creation, the ruvector_gnn_models view, drop and rename, and every import error.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(146);

-- ---- Schema ------------------------------------------------------------------------------------
SELECT has_table('ruvector_gnn_model_catalog');
SELECT has_table('ruvector_gnn_model_layers');
SELECT has_table('ruvector_gnn_model_params');
SELECT has_view('ruvector_gnn_models');
SELECT columns_are('ruvector_gnn_models',
	ARRAY['name', 'activation', 'layers', 'layer_types', 'dims', 'parameters', 'created_at']);
SELECT col_type_is('ruvector_gnn_models', 'dims', 'integer[]');
SELECT col_type_is('ruvector_gnn_models', 'parameters', 'bigint');
SELECT is((SELECT array_agg(c::regclass::text ORDER BY c::regclass::text)
		FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'ruvector' AND c::regclass::text LIKE 'ruvector_gnn_model%'),
	ARRAY['ruvector_gnn_model_catalog', 'ruvector_gnn_model_layers', 'ruvector_gnn_model_params'],
	'the three tables are extension configuration tables (pg_dump keeps user models)');

-- ---- Import: one layer of each type, shaped like PyG 2.x state_dicts ------------------------------
-- GCNConv(2, 3): bias, lin.weight [3, 2]
SELECT lives_ok($$SELECT ruvector_gnn_model_import('gcn1', '{"layers": [{"type": "gcn", "state_dict": {
	"bias": [0.1, -0.2, 0.3], "lin.weight": [[0.5, -1.25], [2.0, 0.75], [-0.125, 1.5]]}}]}')$$, 'gcn: imports');
SELECT is((SELECT (type, in_dim, out_dim) FROM ruvector_gnn_model_layers WHERE model = 'gcn1' AND layer = 0),
	('gcn'::text, 2, 3), 'gcn: type and dimensions');
SELECT is((SELECT options FROM ruvector_gnn_model_layers WHERE model = 'gcn1'),
	'{"add_self_loops": true, "normalize": true}'::jsonb, 'gcn: options default');
SELECT is((SELECT (shape, data) FROM ruvector_gnn_model_params WHERE model = 'gcn1' AND name = 'lin.weight'),
	('{3,2}'::int[], '{0.5,-1.25,2.0,0.75,-0.125,1.5}'::real[]), 'gcn: lin.weight flattened row-major');
SELECT is((SELECT (shape, data) FROM ruvector_gnn_model_params WHERE model = 'gcn1' AND name = 'bias'),
	('{3}'::int[], '{0.1,-0.2,0.3}'::real[]), 'gcn: bias');
SELECT lives_ok($$SELECT ruvector_gnn_model_import('gcn2', '{"layers": [{"type": "gcn", "options": {"normalize": false},
	"state_dict": {"lin.weight": [[1, 2]]}}]}')$$, 'gcn: bias is optional');
SELECT is((SELECT (options, out_dim) FROM ruvector_gnn_model_layers WHERE model = 'gcn2'),
	('{"add_self_loops": true, "normalize": false}'::jsonb, 1), 'gcn: given options are kept, the others filled in');
SELECT is(ARRAY(SELECT name FROM ruvector_gnn_model_params WHERE model = 'gcn2'), ARRAY['lin.weight'], 'gcn: no bias row');

-- SAGEConv(3, 2, aggr='max'): lin_l.weight, lin_l.bias, lin_r.weight
SELECT lives_ok($$SELECT ruvector_gnn_model_import('sage1', '{"layers": [{"type": "sage", "options": {"aggr": "max"},
	"state_dict": {"lin_l.weight": [[1, 2, 3], [4, 5, 6]], "lin_l.bias": [0.5, -0.5],
	"lin_r.weight": [[-1, -2, -3], [-4, -5, -6]]}}]}')$$, 'sage: imports');
SELECT is((SELECT (options, in_dim, out_dim) FROM ruvector_gnn_model_layers WHERE model = 'sage1'),
	('{"aggr": "max", "normalize": false, "root_weight": true, "project": false}'::jsonb, 3, 2), 'sage: options and dimensions');
SELECT is(ARRAY(SELECT name || ':' || shape::text FROM ruvector_gnn_model_params WHERE model = 'sage1' ORDER BY name),
	ARRAY['lin_l.bias:{2}', 'lin_l.weight:{2,3}', 'lin_r.weight:{2,3}'], 'sage: parameters and shapes');
SELECT lives_ok($$SELECT ruvector_gnn_model_import('sage2', '{"layers": [{"type": "sage",
	"options": {"root_weight": false, "normalize": true, "aggr": "sum"}, "state_dict": {"lin_l.weight": [[1, 2]]}}]}')$$,
	'sage: root_weight false needs no lin_r');
SELECT is((SELECT options FROM ruvector_gnn_model_layers WHERE model = 'sage2'),
	'{"aggr": "sum", "normalize": true, "root_weight": false, "project": false}'::jsonb, 'sage: options as given');

-- GINConv(Sequential(Linear(2, 4), ReLU(), Linear(4, 2)), train_eps=True, eps=0.25)
SELECT lives_ok($$SELECT ruvector_gnn_model_import('gin1', '{"layers": [{"type": "gin", "state_dict": {
	"eps": [0.25],
	"nn.0.weight": [[1, 2], [3, 4], [5, 6], [7, 8]], "nn.0.bias": [0.1, 0.2, 0.3, 0.4],
	"nn.2.weight": [[1, 0, 1, 0], [0, 1, 0, 1]], "nn.2.bias": [-1, 1]}}]}')$$, 'gin: imports');
SELECT is((SELECT (options, in_dim, out_dim) FROM ruvector_gnn_model_layers WHERE model = 'gin1'),
	('{"eps": 0.25, "mlp": ["linear", "relu", "linear"]}'::jsonb, 2, 2),
	'gin: eps taken from the state_dict, mlp derived from the keys');
SELECT is(ARRAY(SELECT name FROM ruvector_gnn_model_params WHERE model = 'gin1' ORDER BY name),
	ARRAY['nn.0.bias', 'nn.0.weight', 'nn.2.bias', 'nn.2.weight'], 'gin: eps is not stored as a parameter');
SELECT lives_ok($$SELECT ruvector_gnn_model_import('gin2', '{"layers": [{"type": "gin",
	"options": {"mlp": ["linear", "relu", "linear", "relu"]}, "state_dict": {"eps": 0.0,
	"nn.0.weight": [[1, 2, 3]], "nn.2.weight": [[1], [2]], "nn.2.bias": [0, 0]}}]}')$$,
	'gin: explicit mlp with a trailing relu, a scalar eps, a Linear without bias');
SELECT is((SELECT (options, in_dim, out_dim) FROM ruvector_gnn_model_layers WHERE model = 'gin2'),
	('{"eps": 0, "mlp": ["linear", "relu", "linear", "relu"]}'::jsonb, 3, 2), 'gin: explicit mlp kept');
SELECT lives_ok($$SELECT ruvector_gnn_model_import('gin3', '{"layers": [{"type": "gin", "options": {"eps": -0.5},
	"state_dict": {"nn.1.weight": [[1, 2]]}}]}')$$, 'gin: eps from options, leading relu');
SELECT is((SELECT options FROM ruvector_gnn_model_layers WHERE model = 'gin3'),
	'{"eps": -0.5, "mlp": ["relu", "linear"]}'::jsonb, 'gin: an index without parameters is a relu');

-- GATConv(2, 3, heads=2): att_src, att_dst [1, 2, 3], bias [6], lin.weight [6, 2]
SELECT lives_ok($$SELECT ruvector_gnn_model_import('gat1', '{"layers": [{"type": "gat", "options": {"heads": 2},
	"state_dict": {"att_src": [[[1, 2, 3], [4, 5, 6]]], "att_dst": [[[-1, -2, -3], [-4, -5, -6]]],
	"bias": [0, 0, 0, 1, 1, 1], "lin.weight": [[1, 0], [0, 1], [1, 1], [2, 0], [0, 2], [2, 2]]}}]}')$$, 'gat: imports');
SELECT is((SELECT (options, in_dim, out_dim) FROM ruvector_gnn_model_layers WHERE model = 'gat1'),
	('{"heads": 2, "concat": true, "negative_slope": 0.2, "add_self_loops": true}'::jsonb, 2, 6),
	'gat: options and heads * C output');
SELECT is((SELECT (shape, data) FROM ruvector_gnn_model_params WHERE model = 'gat1' AND name = 'att_src'),
	('{1,2,3}'::int[], '{1,2,3,4,5,6}'::real[]), 'gat: att_src keeps its [1, heads, C] shape');
-- Older PyG: lin_src.weight and lin_dst.weight (the same module); heads read from att_src.
SELECT lives_ok($$SELECT ruvector_gnn_model_import('gat2', '{"layers": [{"type": "gat",
	"options": {"concat": false, "negative_slope": 0.1},
	"state_dict": {"att_src": [[[1], [2]]], "att_dst": [[[3], [4]]], "bias": [0.5],
	"lin_src.weight": [[1, 2, 3], [4, 5, 6]], "lin_dst.weight": [[1, 2, 3], [4, 5, 6]]}}]}')$$,
	'gat: lin_src.weight / lin_dst.weight accepted');
SELECT is((SELECT (options, in_dim, out_dim) FROM ruvector_gnn_model_layers WHERE model = 'gat2'),
	('{"heads": 2, "concat": false, "negative_slope": 0.1, "add_self_loops": true}'::jsonb, 3, 1),
	'gat: heads from att_src, averaged heads give C outputs');
SELECT is(ARRAY(SELECT name FROM ruvector_gnn_model_params WHERE model = 'gat2' ORDER BY name),
	ARRAY['att_dst', 'att_src', 'bias', 'lin.weight'], 'gat: lin_src.weight stored as lin.weight, lin_dst.weight dropped');

-- ---- A four-layer model, the view, the export round trip ---------------------------------------
CREATE TEMP TABLE spec AS SELECT $${"activation": "none", "layers": [
	{"type": "gcn", "options": {"add_self_loops": false}, "state_dict": {"bias": [0.10000000149011612, -2.5e-08, 1e-40],
		"lin.weight": [[0.30000001192092896, 3.4028234663852886e38], [-1.401298464324817e-45, 7], [1e-46, -0.333333343267]]}},
	{"type": "sage", "state_dict": {"lin_l.weight": [[1, 2, 3], [4, 5, 6]], "lin_l.bias": [0.5, -0.5],
		"lin_r.weight": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]}},
	{"type": "gin", "state_dict": {"eps": [0.1], "nn.0.weight": [[1, 2], [3, 4], [5, 6], [7, 8]],
		"nn.0.bias": [1, 2, 3, 4], "nn.2.weight": [[1, 0, 1, 0], [0, 1, 0, 1]], "nn.2.bias": [0.7, 0.8]}},
	{"type": "gat", "options": {"heads": 2}, "state_dict": {"att_src": [[[1, 2, 3], [4, 5, 6]]],
		"att_dst": [[[0.25, 0.5, 0.75], [1, 1.25, 1.5]]], "bias": [1, 2, 3, 4, 5, 6],
		"lin.weight": [[1, 0], [0, 1], [1, 1], [2, 0], [0, 2], [2, 2]]}}]}$$::jsonb AS j;
SELECT lives_ok($$SELECT ruvector_gnn_model_import('pyg', (SELECT j FROM spec))$$, 'a four-layer model imports');
SELECT is((SELECT (activation, layers, layer_types, dims, parameters) FROM ruvector_gnn_models WHERE name = 'pyg'),
	('none'::text, 4, '{gcn,sage,gin,gat}'::text[], '{2,3,2,2,6}'::int[], 75::bigint),
	'the view: activation, layer count, types, widths, parameter count');
SELECT ok((SELECT created_at = now() FROM ruvector_gnn_models WHERE name = 'pyg'), 'the view: created_at');
SELECT is((SELECT data FROM ruvector_gnn_model_params WHERE model = 'pyg' AND layer = 0 AND name = 'lin.weight'),
	ARRAY[0.3::real, 3.4028235e38::real, -1.4e-45::real, 7, 0, -0.33333334::real],
	'values are read as float32 (a value below the subnormal range is 0)');

CREATE TEMP TABLE exported AS SELECT ruvector_gnn_model_export('pyg') AS j;
SELECT is((SELECT j -> 'activation' FROM exported), '"none"'::jsonb, 'export: activation');
SELECT is((SELECT array_agg(l ->> 'type') FROM exported, jsonb_array_elements(j -> 'layers') l),
	'{gcn,sage,gin,gat}'::text[], 'export: layer types in order');
SELECT is((SELECT j -> 'layers' -> 3 -> 'options' FROM exported),
	'{"heads": 2, "concat": true, "negative_slope": 0.2, "add_self_loops": true}'::jsonb, 'export: options normalised');
SELECT is((SELECT j -> 'layers' -> 1 -> 'state_dict' -> 'lin_l.weight' FROM exported),
	'[[1, 2, 3], [4, 5, 6]]'::jsonb, 'export: nested arrays in the stored shape');
SELECT is((SELECT j -> 'layers' -> 3 -> 'state_dict' -> 'att_src' FROM exported),
	'[[[1, 2, 3], [4, 5, 6]]]'::jsonb, 'export: three-dimensional tensors too');
SELECT is((SELECT j -> 'layers' -> 2 -> 'options' -> 'eps' FROM exported), '0.1'::jsonb,
	'export: gin eps is an option (shortest float32 text)');
SELECT lives_ok($$SELECT ruvector_gnn_model_import('pyg_copy', (SELECT j FROM exported))$$, 'the export imports again');
SELECT is((SELECT count(*) FROM ruvector_gnn_model_params a JOIN ruvector_gnn_model_params b USING (layer, name)
		WHERE a.model = 'pyg' AND b.model = 'pyg_copy' AND a.shape = b.shape AND a.data::real[] = b.data::real[]),
	(SELECT count(*) FROM ruvector_gnn_model_params WHERE model = 'pyg'),
	'round trip: every parameter has the same shape and float32 values');
SELECT is((SELECT count(*) FROM ruvector_gnn_model_params WHERE model = 'pyg_copy'), 13::bigint,
	'round trip: and no extra parameters');
SELECT is((SELECT array_agg((type, options, in_dim, out_dim)::text ORDER BY layer) FROM ruvector_gnn_model_layers WHERE model = 'pyg_copy'),
	(SELECT array_agg((type, options, in_dim, out_dim)::text ORDER BY layer) FROM ruvector_gnn_model_layers WHERE model = 'pyg'),
	'round trip: same types, options and dimensions');
SELECT is(ruvector_gnn_model_export('pyg_copy'), (SELECT j FROM exported), 'round trip: the same export');
SELECT is((SELECT data FROM ruvector_gnn_model_params WHERE model = 'pyg_copy' AND layer = 0 AND name = 'bias'),
	ARRAY[0.1::real, -2.5e-08::real, 1e-40::real], 'round trip: subnormal and small values survive');
SELECT lives_ok($$SELECT ruvector_gnn_model_import(n || '_copy', ruvector_gnn_model_export(n))
	FROM unnest(ARRAY['gcn1', 'gcn2', 'sage1', 'sage2', 'gin1', 'gin2', 'gin3', 'gat1', 'gat2']) n$$,
	'every single-layer model exports and imports again');
SELECT is((SELECT jsonb_agg(ruvector_gnn_model_export(n || '_copy') ORDER BY n)
		FROM unnest(ARRAY['gcn1', 'gcn2', 'sage1', 'sage2', 'gin1', 'gin2', 'gin3', 'gat1', 'gat2']) n),
	(SELECT jsonb_agg(ruvector_gnn_model_export(n) ORDER BY n)
		FROM unnest(ARRAY['gcn1', 'gcn2', 'sage1', 'sage2', 'gin1', 'gin2', 'gin3', 'gat1', 'gat2']) n),
	'and exports the same');

-- Tensor helpers
SELECT is((SELECT (shape, data) FROM ruvector_gnn_tensor_from_jsonb('[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]')),
	('{2,2,2}'::int[], '{1,2,3,4,5,6,7,8}'::real[]), 'tensor_from_jsonb: three levels, row-major');
SELECT is((SELECT (shape, data) FROM ruvector_gnn_tensor_from_jsonb('2.5')), ('{}'::int[], '{2.5}'::real[]),
	'tensor_from_jsonb: a bare number is a 0-d tensor');
SELECT is(ruvector_gnn_tensor_to_jsonb('{2,1,3}', '{1,2,3,4,5,6}'), '[[[1, 2, 3]], [[4, 5, 6]]]'::jsonb,
	'tensor_to_jsonb nests by shape');
SELECT is(ruvector_gnn_tensor_to_jsonb('{}', '{0.1}'), '0.1'::jsonb, 'tensor_to_jsonb: 0-d');

-- ---- Create: Glorot weights, zero biases, deterministic in the seed ------------------------------
SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_gcn', 'gcn', ARRAY[4, 8, 3], '{}', 7)$$, 'create gcn');
SELECT is((SELECT (activation, layers, layer_types, dims, parameters) FROM ruvector_gnn_models WHERE name = 'c_gcn'),
	('relu'::text, 2, '{gcn,gcn}'::text[], '{4,8,3}'::int[], 67::bigint), 'create gcn: the view');
SELECT is(ARRAY(SELECT format('%s %s %s', layer, name, shape) FROM ruvector_gnn_model_params WHERE model = 'c_gcn' ORDER BY layer, name),
	ARRAY['0 bias {8}', '0 lin.weight {8,4}', '1 bias {3}', '1 lin.weight {3,8}'], 'create gcn: shapes');
SELECT is((SELECT data FROM ruvector_gnn_model_params WHERE model = 'c_gcn' AND layer = 1 AND name = 'lin.weight'),
	ruvector_gnn_glorot(3, 8, 7 * 1048576 + 16), 'create: parameter k of layer l uses seed * 2^20 + 16 l + k');
SELECT is((SELECT data FROM ruvector_gnn_model_params WHERE model = 'c_gcn' AND layer = 0 AND name = 'bias'),
	array_fill(0::real, ARRAY[8]), 'create: zero biases');
SELECT ok((SELECT bool_and(abs(x) <= sqrt(6.0 / 12)) AND count(DISTINCT x) = 32
		FROM ruvector_gnn_model_params, unnest(data) x WHERE model = 'c_gcn' AND layer = 0 AND name = 'lin.weight'),
	'create: weights within the Glorot bound, all distinct');
SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_gcn_same', 'gcn', ARRAY[4, 8, 3], '{}', 7)$$, 'create again, same seed');
SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_gcn_other', 'gcn', ARRAY[4, 8, 3], '{}', 8)$$, 'create again, another seed');
SELECT is((SELECT array_agg(data ORDER BY layer, name) FROM ruvector_gnn_model_params WHERE model = 'c_gcn_same' AND name = 'lin.weight' AND layer = 0),
	(SELECT array_agg(data ORDER BY layer, name) FROM ruvector_gnn_model_params WHERE model = 'c_gcn' AND name = 'lin.weight' AND layer = 0),
	'same seed, same weights (layer 0)');
SELECT is((SELECT array_agg(data ORDER BY layer, name) FROM ruvector_gnn_model_params WHERE model = 'c_gcn_same' AND name = 'lin.weight' AND layer = 1),
	(SELECT array_agg(data ORDER BY layer, name) FROM ruvector_gnn_model_params WHERE model = 'c_gcn' AND name = 'lin.weight' AND layer = 1),
	'same seed, same weights (layer 1)');
SELECT isnt((SELECT data FROM ruvector_gnn_model_params WHERE model = 'c_gcn_other' AND name = 'lin.weight' AND layer = 0),
	(SELECT data FROM ruvector_gnn_model_params WHERE model = 'c_gcn' AND name = 'lin.weight' AND layer = 0),
	'another seed, other weights');
SELECT isnt((SELECT data FROM ruvector_gnn_model_params WHERE model = 'c_gcn' AND name = 'lin.weight' AND layer = 1),
	ruvector_gnn_glorot(3, 8, 7 * 1048576), 'each layer draws its own weights');
SELECT is(ruvector_gnn_glorot(3, 5, 11), ruvector_gnn_glorot(3, 5, 11), 'glorot is deterministic');
SELECT is(cardinality(ruvector_gnn_glorot(3, 5, 11)), 15, 'glorot: out * in values');

SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_sage', 'sage', ARRAY[5, 4], '{"aggr": "max"}')$$, 'create sage');
SELECT is(ARRAY(SELECT format('%s %s', name, shape) FROM ruvector_gnn_model_params WHERE model = 'c_sage' ORDER BY name),
	ARRAY['lin_l.bias {4}', 'lin_l.weight {4,5}', 'lin_r.weight {4,5}'], 'create sage: shapes');
SELECT isnt((SELECT data FROM ruvector_gnn_model_params WHERE model = 'c_sage' AND name = 'lin_l.weight'),
	(SELECT data FROM ruvector_gnn_model_params WHERE model = 'c_sage' AND name = 'lin_r.weight'), 'create sage: lin_l and lin_r differ');
SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_sage2', 'sage', ARRAY[5, 4], '{"root_weight": false}')$$,
	'create sage without root weight');
SELECT is(ARRAY(SELECT name FROM ruvector_gnn_model_params WHERE model = 'c_sage2' ORDER BY name),
	ARRAY['lin_l.bias', 'lin_l.weight'], 'create sage without root weight: no lin_r');
SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_gin', 'gin', ARRAY[3, 6, 2], '{"eps": 0.5}')$$, 'create gin');
SELECT is((SELECT options FROM ruvector_gnn_model_layers WHERE model = 'c_gin' AND layer = 1),
	'{"eps": 0.5, "mlp": ["linear", "relu", "linear"]}'::jsonb, 'create gin: options');
SELECT is(ARRAY(SELECT format('%s %s %s', layer, name, shape) FROM ruvector_gnn_model_params WHERE model = 'c_gin' ORDER BY layer, name),
	ARRAY['0 nn.0.bias {6}', '0 nn.0.weight {6,3}', '0 nn.2.bias {6}', '0 nn.2.weight {6,6}',
	      '1 nn.0.bias {2}', '1 nn.0.weight {2,6}', '1 nn.2.bias {2}', '1 nn.2.weight {2,2}'], 'create gin: Linear-ReLU-Linear shapes');
SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_gat', 'gat', ARRAY[4, 8, 6], '{"heads": 2}', 1)$$,
	'create gat (concat: 8 = 2 heads x 4, 6 = 2 x 3)');
SELECT throws_ok($$SELECT ruvector_gnn_model_create('c_gat_bad', 'gat', ARRAY[4, 8, 3], '{"heads": 3}')$$, '22023',
	'layer 0 (gat): layer width 8 is not divisible by heads 3', 'create gat: width must be divisible by heads');
SELECT lives_ok($$SELECT ruvector_gnn_model_create('c_gat2', 'gat', ARRAY[4, 3], '{"heads": 2, "concat": false}', 1)$$,
	'create gat without concat');
SELECT is(ARRAY(SELECT format('%s %s %s', layer, name, shape) FROM ruvector_gnn_model_params WHERE model IN ('c_gat', 'c_gat2') ORDER BY model, layer, name),
	ARRAY['0 att_dst {1,2,4}', '0 att_src {1,2,4}', '0 bias {8}', '0 lin.weight {8,4}',
	      '1 att_dst {1,2,3}', '1 att_src {1,2,3}', '1 bias {6}', '1 lin.weight {6,8}',
	      '0 att_dst {1,2,3}', '0 att_src {1,2,3}', '0 bias {3}', '0 lin.weight {6,4}'],
	'create gat: shapes with and without concat');
SELECT is((SELECT data FROM ruvector_gnn_model_params WHERE model = 'c_gat' AND layer = 0 AND name = 'att_dst'),
	ruvector_gnn_glorot(2, 4, 1048576 + 2), 'create gat: attention vectors are Glorot [heads, C] too');
SELECT is((SELECT dims FROM ruvector_gnn_models WHERE name = 'c_gat'), '{4,8,6}'::int[], 'create gat: the view');
SELECT lives_ok($$SELECT ruvector_gnn_model_import('c_gat_copy', ruvector_gnn_model_export('c_gat'))$$,
	'a created model exports and imports');

-- ---- Errors ------------------------------------------------------------------------------------
CREATE FUNCTION one_layer(t text, sd text, opts text DEFAULT '{}') RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT ruvector_gnn_model_import(''bad'', %L::jsonb)',
		format('{"layers": [{"type": "%s", "options": %s, "state_dict": %s}]}', t, opts, sd))
$$;
SELECT throws_ok(one_layer('sage', '{"lin_l.weight": [[1, 2], [3, 4], [5, 6], [7, 8]], "lin_r.weight": [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 2, 3]]}'),
	'22023', 'layer 0 (sage): "lin_r.weight" has shape [4, 3], expected [4, 2]', 'a shape mismatch names the layer, key and shapes');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2], [3, 4], [5, 6]], "bias": [1, 2]}'),
	'22023', 'layer 0 (gcn): "bias" has shape [2], expected [3]', 'gcn: bias shape');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [1, 2, 3]}'),
	'22023', 'layer 0 (gcn): "lin.weight" has shape [3], expected [out, in]', 'a weight must be a matrix');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('bad', '{"layers": [
	{"type": "gcn", "state_dict": {"lin.weight": [[1, 2], [3, 4]]}},
	{"type": "sage", "state_dict": {"lin_l.weight": [[1, 2]], "lin_r.weight": [[1, 2]], "foo": [1]}}]}')$$,
	'22023', 'layer 1 (sage): unknown key "foo"', 'unknown state_dict key');
SELECT throws_ok(one_layer('sage', '{"lin_l.weight": [[1, 2]], "lin_r.weight": [[1, 2]]}', '{"root_weight": false}'),
	'22023', 'layer 0 (sage): unknown key "lin_r.weight"', 'sage: lin_r.weight is unknown without root_weight');
SELECT throws_ok(one_layer('sage', '{"lin_l.weight": [[1, 2]]}'),
	'22023', 'layer 0 (sage): "lin_r.weight" is missing from the state_dict', 'sage: lin_r.weight required with root_weight');
SELECT throws_ok(one_layer('gcn', '{"bias": [1]}'),
	'22023', 'layer 0 (gcn): "lin.weight" is missing from the state_dict', 'a required key is missing');
SELECT throws_ok(one_layer('cheb', '{}'), '22023', 'layer 0: unknown layer type "cheb"', 'unknown layer type');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('bad', '{"layers": [
	{"type": "gcn", "state_dict": {"lin.weight": [[1, 2], [3, 4], [5, 6], [7, 8]]}},
	{"type": "gcn", "state_dict": {"lin.weight": [[1, 2, 3, 4, 5, 6, 7, 8]]}}]}')$$,
	'22023', 'layer 1 (gcn): input dimension 8 does not match the previous layer''s output 4', 'layer dimensions must chain');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2], [3]]}'), '22023',
	'layer 0 (gcn): "lin.weight" is a ragged array: every sub-array at depth 2 must have 2 elements, like the first',
	'ragged array (lengths)');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2], [3, [4]]]}'), '22023',
	'layer 0 (gcn): "lin.weight" is a ragged array: its elements are nested to different depths', 'ragged array (depths)');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2], 3]}'), '22023',
	'layer 0 (gcn): "lin.weight" is a ragged array: every sub-array at depth 2 must have 2 elements, like the first',
	'ragged array (a number among rows)');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2], [3, "NaN"]]}'), '22023',
	'layer 0 (gcn): "lin.weight" must be a number or a nested array of numbers, found a string value', 'non-numeric value');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2], [3, null]]}'), '22023',
	'layer 0 (gcn): "lin.weight" must be a number or a nested array of numbers, found a null value', 'null value');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2], [3, 1e39]]}'), '22023',
	'layer 0 (gcn): "lin.weight" has a value out of range for real (float32)', 'a value beyond float32 (non-finite as real)');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[-3.4028235677973367e38]]}'), '22023',
	'layer 0 (gcn): "lin.weight" has a value out of range for real (float32)', 'the first values that round to infinity');
SELECT lives_ok(one_layer('gcn', '{"lin.weight": [[3.4028235677973365e38, 7.006492321624086e-46, -7.006492321624085e-46]]}'),
	'values at the float32 rounding limits');
SELECT is((SELECT data FROM ruvector_gnn_model_params WHERE model = 'bad'), ARRAY[3.4028235e38::real, 1.4e-45::real, 0],
	'round to the largest float32, the smallest subnormal and zero');
SELECT lives_ok($$SELECT ruvector_gnn_model_drop('bad')$$, 'and drop it again');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[]]}'), '22023',
	'layer 0 (gcn): "lin.weight" has an empty dimension', 'empty arrays');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2]]}', '{"improved": true}'), '22023',
	'layer 0 (gcn): unknown option "improved"', 'unknown option');
SELECT throws_ok(one_layer('gcn', '{"lin.weight": [[1, 2]]}', '{"normalize": "yes"}'), '22023',
	'layer 0 (gcn): option "normalize" must be true or false, got "yes"', 'boolean option of the wrong type');
SELECT throws_ok(one_layer('sage', '{"lin_l.weight": [[1, 2]], "lin_r.weight": [[1, 2]]}', '{"aggr": "gru"}'), '22023',
	'layer 0 (sage): option "aggr" must be "mean", "max", "sum", "min" or "lstm", or a list of 2 to 64 of "mean", "max", "sum" and "min", got "gru"', 'unsupported aggregation');
SELECT throws_ok(one_layer('gat', '{}', '{"heads": 1.5}'), '22023',
	'layer 0 (gat): option "heads" must be an integer from 1 to 65536, got 1.5', 'heads must be a positive integer');
SELECT throws_ok(one_layer('gin', '{"nn.0.weight": [[1, 2]]}', '{"mlp": ["linear", "tanh"]}'), '22023',
	'layer 0 (gin): option "mlp" must be a non-empty array of "linear" and "relu", got ["linear", "tanh"]', 'mlp steps');
SELECT throws_ok(one_layer('gin', '{"nn.0.weight": [[1, 2], [3, 4], [5, 6]], "nn.2.weight": [[1, 2]]}'), '22023',
	'layer 0 (gin): "nn.2.weight" has shape [1, 2], expected [1, 3]', 'gin: the MLP dimensions must chain');
SELECT throws_ok(one_layer('gin', '{"nn.0.weight": [[1, 2]], "nn.2.weight": [[1]]}', '{"mlp": ["linear", "relu"]}'), '22023',
	'layer 0 (gin): "nn.2.weight" does not fit option "mlp", which has 2 steps', 'gin: keys must match an explicit mlp');
SELECT throws_ok(one_layer('gin', '{"nn.0.weight": [[1, 2]]}', '{"mlp": ["linear", "relu", "linear"]}'), '22023',
	'layer 0 (gin): option "mlp" has a Linear at index 2 but "nn.2.weight" is missing', 'gin: an explicit mlp needs its weights');
SELECT throws_ok(one_layer('gin', '{"nn.0.weight": [[1, 2]], "nn.1.bias": [1]}'), '22023',
	'layer 0 (gin): "nn.1.bias" has no matching "nn.1.weight"', 'gin: a bias needs its weight');
SELECT throws_ok(one_layer('gin', '{"eps": [0.2], "nn.0.weight": [[1, 2]]}', '{"eps": 0.1}'), '22023',
	'layer 0 (gin): option "eps" (0.1) does not match the state_dict''s "eps" (0.2)', 'gin: eps given twice, differently');
SELECT throws_ok(one_layer('gin', '{"eps": [0.2, 0.3], "nn.0.weight": [[1, 2]]}'), '22023',
	'layer 0 (gin): "eps" has shape [2], expected [1]', 'gin: eps is one number');
SELECT throws_ok(one_layer('gin', '{"nn.lins.0.weight": [[1, 2]]}'), '22023',
	'layer 0 (gin): unknown key "nn.lins.0.weight"', 'gin: only Sequential of Linear and ReLU');
SELECT throws_ok(one_layer('gat', '{"lin.weight": [[1, 2], [3, 4], [5, 6]], "att_src": [[[1], [2], [3]]], "att_dst": [[[1], [2], [3]]]}', '{"heads": 2}'), '22023',
	'layer 0 (gat): "lin.weight" has shape [3, 2], expected [2 * C, 2] (heads = 2)', 'gat: weight rows are heads * C');
SELECT throws_ok(one_layer('gat', '{"lin.weight": [[1, 2], [3, 4], [5, 6]], "att_src": [[[1, 2, 3]]], "att_dst": [[[1, 2]]]}'), '22023',
	'layer 0 (gat): "att_dst" has shape [1, 1, 2], expected [1, 1, 3]', 'gat: att_dst shape');
SELECT throws_ok(one_layer('gat', '{"lin_src.weight": [[1, 2]], "lin_dst.weight": [[1, 3]], "att_src": [[[1]]], "att_dst": [[[1]]]}'), '22023',
	'layer 0 (gat): "lin_dst.weight" differs from "lin_src.weight"', 'gat: bipartite weights are rejected');
SELECT throws_ok(one_layer('gat', '{"lin.weight": [[1, 2], [3, 4]], "att_src": [[[1], [2]]], "att_dst": [[[1], [2]]], "bias": [1, 2]}', '{"concat": false}'), '22023',
	'layer 0 (gat): "bias" has shape [2], expected [1]', 'gat: bias is [C] without concat');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('bad', '{"layers": []}')$$, '22023',
	'"layers" must be a non-empty array', 'no layers');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('bad', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1]]}}], "activation": "tanh"}')$$,
	'22023', '"activation" must be "relu" or "none", got "tanh"', 'unknown activation');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('bad', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1]]}}], "dropout": 0.5}')$$,
	'22023', 'unknown top-level key "dropout" in the gnn model spec', 'unknown top-level key');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('bad', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1]]}, "bias": true}]}')$$,
	'22023', 'layer 0 (gcn): unknown layer field "bias"', 'unknown layer field');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('bad', '{"layers": [{"type": "gcn"}]}')$$,
	'22023', 'layer 0 (gcn): "state_dict" is missing', 'missing state_dict');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('bad', '[1, 2]')$$, '22023',
	'gnn model spec must be a JSON object with "layers" and optionally "activation"', 'the spec must be an object');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('', '{}')$$, '22023',
	'gnn model name must not be null or empty', 'a model needs a name');
SELECT is((SELECT count(*) FROM ruvector_gnn_model_catalog WHERE name = 'bad'), 0::bigint, 'failed imports leave nothing behind');
SELECT is((SELECT count(*) FROM ruvector_gnn_model_layers WHERE model = 'bad'), 0::bigint, 'not even layers');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('gcn1', '{"layers": [{"type": "gcn", "state_dict": {"lin.weight": [[1]]}}]}')$$,
	'42710', 'gnn model "gcn1" already exists', 'import does not replace a model');
SELECT throws_ok($$SELECT ruvector_gnn_model_create('gcn1', 'gcn', ARRAY[1, 1])$$,
	'42710', 'gnn model "gcn1" already exists', 'nor does create');
SELECT throws_ok($$SELECT ruvector_gnn_model_export('nope')$$, '42704', 'gnn model "nope" does not exist', 'export of an unknown model');
SELECT throws_ok($$SELECT ruvector_gnn_model_drop('nope')$$, '42704', 'gnn model "nope" does not exist', 'drop of an unknown model');
SELECT throws_ok($$SELECT ruvector_gnn_model_create('c_bad', 'cheb', ARRAY[2, 2])$$, '22023',
	'unknown layer type "cheb"', 'create: unknown layer type');
SELECT throws_ok($$SELECT ruvector_gnn_model_create('c_bad', 'gcn', ARRAY[4])$$, '22023',
	'dims must list the input width and each layer''s output width, e.g. ARRAY[16, 32, 8], got {4}', 'create: dims too short');
SELECT throws_ok($$SELECT ruvector_gnn_model_create('c_bad', 'gcn', ARRAY[4, 0])$$, '22023',
	'dims must be positive, got {4,0}', 'create: dims must be positive');
SELECT throws_ok($$SELECT ruvector_gnn_model_create('c_bad', 'gin', ARRAY[4, 2], '{"mlp": ["linear"]}')$$, '22023',
	'layer 0 (gin): ruvector_gnn_model_create builds a Linear-ReLU-Linear MLP; option "mlp" must be ["linear", "relu", "linear"] or absent',
	'create: gin mlp is fixed');
SELECT throws_ok($$SELECT ruvector_gnn_model_create('c_bad', 'sage', ARRAY[4, 2], '{"bias": false}')$$, '22023',
	'layer 0 (sage): unknown option "bias"', 'create: options are checked');
SELECT throws_ok($$SELECT ruvector_gnn_glorot(0, 3, 1)$$, '22023',
	'ruvector_gnn_glorot: dimensions must be at least 1, got out_dim 0 and in_dim 3', 'glorot: dimensions >= 1');
SELECT throws_ok($$SELECT ruvector_gnn_glorot(100000, 100000, 1)$$, '54000', NULL, 'glorot: too many values');

-- ---- Drop and rename -----------------------------------------------------------------------------
SELECT lives_ok($$SELECT ruvector_gnn_model_drop('pyg')$$, 'drop');
SELECT is((SELECT count(*) FROM ruvector_gnn_model_catalog WHERE name = 'pyg')
	+ (SELECT count(*) FROM ruvector_gnn_model_layers WHERE model = 'pyg')
	+ (SELECT count(*) FROM ruvector_gnn_model_params WHERE model = 'pyg'), 0::bigint, 'drop removes layers and parameters');
SELECT is((SELECT count(*) FROM ruvector_gnn_model_params WHERE model = 'pyg_copy'), 13::bigint, 'other models are untouched');
UPDATE ruvector_gnn_model_catalog SET name = 'renamed' WHERE name = 'pyg_copy';
SELECT is((SELECT count(*) FROM ruvector_gnn_model_params WHERE model = 'renamed'), 13::bigint, 'a rename cascades to the parameters');
SELECT is((SELECT dims FROM ruvector_gnn_models WHERE name = 'renamed'), '{2,3,2,2,6}'::int[], 'and the view follows');

SELECT * FROM finish();
ROLLBACK;
