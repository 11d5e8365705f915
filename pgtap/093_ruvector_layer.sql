-- The RuVector layer (issue 23): ruvector_differentiable_search over a ruhnsw index, whose layer-0
-- neighbour lists are the graph it follows, and with a model of type "ruvector" (multi-head
-- attention and an out transform); rows read back under the caller's snapshot, privileges and
-- row-level security. Values against PyTorch: tests/sh/092_gnn_layers_torch.sh.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(27);

CREATE FUNCTION imp(m text, spec text) RETURNS text LANGUAGE sql AS
	$$SELECT format('SELECT ruvector_gnn_model_import(%L, %L::jsonb)', m, spec)$$;

-- 30 rows with distinct distances to the queries below; at m 16 a layer-0 list holds 32 links,
-- so every element links to every other one.
CREATE TABLE rl (id bigint PRIMARY KEY, v vector(3), tenant integer);
INSERT INTO rl SELECT i, ARRAY[i * 0.37, sin(i) * 3, cos(i * 1.3) * 2]::real[]::vector, i % 3 FROM generate_series(1, 30) i;
CREATE INDEX rl_hnsw ON rl USING hnsw (v vector_l2_ops);
CREATE INDEX rl_ivf ON rl USING ivfflat (v vector_l2_ops) WITH (lists = 1);

-- ---- the graph ------------------------------------------------------------------------------------
SELECT is(cardinality(_ruvector_hnsw_candidates('rl_hnsw', '[3,1,2]', 4, 0)), 4, 'hops 0: the k nearest elements');
SELECT set_eq($$SELECT id FROM rl WHERE ctid = ANY (_ruvector_hnsw_candidates('rl_hnsw', '[3,1,2]', 4, 0))$$,
	$$SELECT id FROM rl ORDER BY v <-> '[3,1,2]' LIMIT 4$$, 'hops 0: they are the 4 nearest rows');
SELECT is(cardinality(_ruvector_hnsw_candidates('rl_hnsw', '[3,1,2]', 1, 1)), 30,
	'hops 1 from one element: its layer-0 neighbours, here every row');
SELECT is((SELECT enhanced_embedding FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 0, 1)),
	_ruvector_attention_query('[3,1,2]', ARRAY(SELECT v FROM rl ORDER BY v <-> '[3,1,2]' LIMIT 1)),
	'ruhnsw, hops 0, k 1: the enhanced query is made of the nearest row alone');
SELECT is((SELECT enhanced_embedding FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 1)),
	_ruvector_attention_query('[3,1,2]', ARRAY(SELECT v FROM rl)),
	'ruhnsw, hops 1, k 1: of every row (the nearest one''s neighbours)');
SELECT results_eq($$SELECT id FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 5)$$,
	$$SELECT id FROM rl ORDER BY _ruvector_cosine_similarity(v, _ruvector_attention_query('[3,1,2]', ARRAY(SELECT v FROM rl))) DESC, id LIMIT 5$$,
	'the k best candidates by cosine to the enhanced query');

-- A sparser graph: m 2 (4 links at layer 0) over 200 rows.
CREATE TABLE rl_big AS SELECT i::bigint AS id, ARRAY[sin(i) * 5, cos(i * 0.7) * 5, (i % 17) * 0.3]::real[]::vector(3) AS v
	FROM generate_series(1, 200) i;
CREATE INDEX rl_big_hnsw ON rl_big USING hnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 8);
SELECT ok(cardinality(_ruvector_hnsw_candidates('rl_big_hnsw', '[1,1,1]', 3, 1)) BETWEEN 4 AND 3 + 3 * 4,
	'hops 1: at most 2m new elements per element, some');
SELECT ok(cardinality(_ruvector_hnsw_candidates('rl_big_hnsw', '[1,1,1]', 3, 2)) > cardinality(_ruvector_hnsw_candidates('rl_big_hnsw', '[1,1,1]', 3, 1)),
	'hops 2 reach further than hops 1');
SELECT is((SELECT count(DISTINCT t) FROM unnest(_ruvector_hnsw_candidates('rl_big_hnsw', '[1,1,1]', 3, 3)) t),
	(SELECT cardinality(_ruvector_hnsw_candidates('rl_big_hnsw', '[1,1,1]', 3, 3)))::bigint, 'no row comes twice');

-- ---- snapshot, privileges, row-level security -----------------------------------------------------
DELETE FROM rl WHERE id = (SELECT id FROM rl ORDER BY v <-> '[3,1,2]' LIMIT 1) RETURNING id AS gone \gset
SELECT ok(NOT EXISTS (SELECT 1 FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 30) WHERE id = :gone),
	'a deleted row (still in the index) does not come back');
SELECT is((SELECT enhanced_embedding FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 1)),
	_ruvector_attention_query('[3,1,2]', ARRAY(SELECT v FROM rl)), 'nor does it take part in the attention');
CREATE ROLE rl_reader;
CREATE ROLE rl_none;
GRANT SELECT ON rl TO rl_reader;
ALTER TABLE rl ENABLE ROW LEVEL SECURITY;
CREATE POLICY rl_tenant ON rl FOR SELECT TO rl_reader USING (tenant = 1);
SET ROLE rl_reader;
SELECT ok(NOT EXISTS (SELECT 1 FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 30) WHERE id % 3 <> 1),
	'row-level security: only the rows the policy shows come back');
SELECT is((SELECT enhanced_embedding FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 2, 1)),
	_ruvector_attention_query('[3,1,2]', ARRAY(SELECT v FROM rl)), 'and only they take part in the attention');
RESET ROLE;
SET ROLE rl_none;
SELECT throws_ok($$SELECT * FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 3)$$, '42501', NULL,
	'no SELECT on the table: permission denied');
RESET ROLE;
ALTER TABLE rl DISABLE ROW LEVEL SECURITY;

-- ---- the model --------------------------------------------------------------------------------------
-- heads 1, zero q and k: uniform attention; v = I and out = [I | I]: q' = q + mean of the candidates.
SELECT lives_ok(imp('rl_mean', '{"layers": [{"type": "ruvector", "options": {"heads": 1}, "state_dict": {
	"q.weight": [[0,0,0],[0,0,0],[0,0,0]], "k.weight": [[0,0,0],[0,0,0],[0,0,0]], "v.weight": [[1,0,0],[0,1,0],[0,0,1]],
	"out.weight": [[1,0,0,1,0,0],[0,1,0,0,1,0],[0,0,1,0,0,1]]}}]}'), 'import a RuVector layer');
SELECT is((SELECT options FROM ruvector_gnn_model_layers WHERE model = 'rl_mean'), '{"heads": 1}', 'its options');
SELECT is((SELECT round_vec FROM (SELECT ARRAY(SELECT round(x::numeric, 4) FROM unnest(enhanced_embedding::real[]) x) AS round_vec
		FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 1, model => 'rl_mean') LIMIT 1) s),
	(SELECT ARRAY(SELECT round(x::numeric, 4) FROM unnest(('[3,1,2]'::vector + avg(v))::real[]) x) FROM rl),
	'uniform attention: q'' = q + the candidates'' mean (every row at hops 1)');
SELECT is((SELECT round_vec FROM (SELECT ARRAY(SELECT round(x::numeric, 4) FROM unnest(enhanced_embedding::real[]) x) AS round_vec
		FROM ruvector_differentiable_search('[3,1,2]', 'rl_ivf', 0, 30, model => 'rl_mean') LIMIT 1) s),
	(SELECT ARRAY(SELECT round(x::numeric, 4) FROM unnest(('[3,1,2]'::vector + avg(v))::real[]) x) FROM rl),
	'the same model through a ruivfflat index');
SELECT throws_ok(imp('rl_bad', '{"layers": [{"type": "ruvector", "options": {"heads": 2}, "state_dict": {
	"q.weight": [[0,0,0],[0,0,0],[0,0,0]], "k.weight": [[0,0,0],[0,0,0],[0,0,0]], "v.weight": [[1,0,0],[0,1,0],[0,0,1]],
	"out.weight": [[1,0,0,1,0,0],[0,1,0,0,1,0],[0,0,1,0,0,1]]}}]}'), '22023',
	'layer 0 (ruvector): "q.weight" has 3 rows, not a multiple of heads 2', 'heads must divide the width');
SELECT throws_ok(imp('rl_bad', '{"layers": [{"type": "ruvector", "state_dict": {
	"q.weight": [[0,0,0]], "k.weight": [[0,0,0]], "v.weight": [[1,0,0]], "out.weight": [[1,0,0,1]], "o.bias": [1]}}]}'), '22023',
	'layer 0 (ruvector): unknown key "o.bias"', 'unknown keys are refused');
SELECT throws_ok(imp('rl_bad', '{"layers": [{"type": "ruvector", "state_dict": {
	"q.weight": [[0,0,0]], "k.weight": [[0,0,0]], "v.weight": [[1,0,0]], "out.weight": [[1,0,0]]}}]}'), '22023',
	'layer 0 (ruvector): "out.weight" has shape [1, 3], expected [3, 4]', 'out reads [q ; message]');
SELECT throws_ok(imp('rl_bad', '{"layers": [{"type": "ruvector", "state_dict": {
	"q.weight": [[0,0,0]], "k.weight": [[0,0,0]], "v.weight": [[1,0,0]], "out.weight": [[1,0,0,1],[0,1,0,0],[0,0,1,0]]}},
	{"type": "linear", "state_dict": {"weight": [[1,0,0]]}}]}'), '22023',
	'a ruvector layer must be the only layer of its model', 'a RuVector layer is a model of its own');
SELECT ruvector_gnn_model_create('rl_gcn', 'gcn', ARRAY[3, 3]);
SELECT throws_ok($$SELECT * FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 3, model => 'rl_gcn')$$, '42809',
	'gnn model "rl_gcn" is not a RuVector layer', 'a model of other layers is refused');
SELECT throws_ok($$SELECT * FROM ruvector_differentiable_search('[3,1,2]', 'rl_hnsw', 1, 3, model => 'nope')$$, '42704',
	'gnn model "nope" does not exist', 'an unknown model');
SELECT throws_ok($$SELECT _ruvector_attention_query('[3,1,2,4]', ARRAY['[1,2,3,4]'::vector], 'rl_mean')$$, '22000',
	'gnn model "rl_mean" takes 3 dimensions, the vectors have 4', 'a query of other dimensions');
CREATE TABLE rl_n AS SELECT id, v AS embedding FROM rl_big;
CREATE TABLE rl_e AS SELECT id AS src_id, id % 200 + 1 AS dst_id FROM rl_big;
SELECT ruvector_graph_create('rl_g', 'rl_n', 'rl_e');
SELECT throws_like($$SELECT * FROM ruvector_gnn_forward('rl_mean', 'rl_g')$$,
	'%is a RuVector layer: use the model with ruvector_differentiable_search%', 'forward functions refuse it clearly');

-- ---- other indexes ----------------------------------------------------------------------------------
CREATE INDEX rl_half ON rl USING hnsw ((v::halfvec(3)) halfvec_l2_ops);
SELECT throws_ok($$SELECT * FROM ruvector_differentiable_search('[3,1,2]', 'rl_half', 1, 3)$$, '42809',
	'"rl_half" is not a ruivfflat or ruhnsw index on a vector column', 'an expression or halfvec index is refused');

SELECT * FROM finish();
ROLLBACK;
