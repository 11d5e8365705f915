-- Privileges of named graphs, the shared store listing and the model view; argument checks of the
-- GNN and graph functions (no silent clamping); GIN MLPs of any length the forward pass runs.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(45);

CREATE ROLE rv74_alice;
CREATE ROLE rv74_bob;
CREATE ROLE rv74_stats;
GRANT CREATE ON SCHEMA public TO rv74_alice, rv74_bob;
GRANT pg_read_all_stats TO rv74_stats;

-- The CONTEXT of the error a statement raises (NULL when it succeeds).
CREATE FUNCTION context_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE ctx text;
BEGIN
	EXECUTE q;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
	RETURN ctx;
END $$;
GRANT EXECUTE ON FUNCTION context_of(text) TO PUBLIC;

-- ---- Item: a table owner creates and drops named graphs; others get a clear 42501 ----------------
SET ROLE rv74_alice;
CREATE TABLE an (id bigint, embedding vector(2));
CREATE TABLE ae (src_id bigint, dst_id bigint);
INSERT INTO an VALUES (1, '[1,0]'), (2, '[0,1]');
INSERT INTO ae VALUES (1, 2);
SELECT lives_ok($$SELECT ruvector_graph_create('rv74_g', 'an', 'ae')$$, 'a non-superuser who owns both tables creates a graph');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('an'::regclass, 'ae'::regclass) AND NOT tgisinternal), 2::bigint,
          'with its version triggers on both tables');
SELECT lives_ok($$SELECT ruvector_graph_drop('rv74_g')$$, 'and drops it');
SELECT is((SELECT count(*) FROM ruvector_graph_catalog WHERE name = 'rv74_g'), 0::bigint, 'the registration is gone');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('an'::regclass, 'ae'::regclass) AND NOT tgisinternal), 0::bigint,
          'and so are the triggers');
SELECT ruvector_graph_create('rv74_g', 'an', 'ae');
RESET ROLE;

SET ROLE rv74_bob;
CREATE TABLE bn (id bigint, embedding vector(2));
SELECT throws_ok($$SELECT ruvector_graph_create('rv74_b', 'an', 'ae')$$, '42501', 'must be owner of table an',
                 'another role cannot create a graph over tables it does not own');
SELECT throws_ok($$SELECT ruvector_graph_create('rv74_b', 'bn', 'ae')$$, '42501', 'must be owner of table ae',
                 'nor over one table it owns and one it does not');
SELECT unalike(context_of($$SELECT ruvector_graph_create('rv74_b', 'an', 'ae')$$), '%TRIGGER%',
              'the error does not come from inside the trigger DDL');
SELECT throws_ok($$SELECT ruvector_graph_drop('rv74_g')$$, '42501', 'must be owner of table an',
                 'another role cannot drop the graph');
SELECT unalike(context_of($$SELECT ruvector_graph_drop('rv74_g')$$), '%TRIGGER%', 'again not from the trigger DDL');
SELECT throws_ok($$SELECT ruvector_graph_unregister('rv74_g')$$, '55000', 'graph "rv74_g" still has its version triggers',
                 'nor unregister it directly');
SELECT throws_ok($$SELECT ruvector_graph_register('rv74_b', 'an', 'ae', 'embedding', 'id', 'src_id', 'dst_id', NULL)$$,
                 '55000', 'graph "rv74_b" has no version triggers', 'nor register a graph over them directly');

-- ---- Item: the version trigger only works on the graph's own tables ------------------------------
CREATE TABLE bt (x int);
CREATE TRIGGER evil AFTER INSERT ON bt FOR EACH STATEMENT EXECUTE FUNCTION ruvector_graph_touch('rv74_g');
SELECT throws_ok($$INSERT INTO bt VALUES (1)$$, '42501', 'table bt is not a table of graph "rv74_g"',
                 'ruvector_graph_touch attached to another table refuses to touch the graph');
RESET ROLE;
SELECT is((SELECT version FROM ruvector_graph_catalog WHERE name = 'rv74_g'), 1::bigint, 'whose version did not move');
SET ROLE rv74_alice;
INSERT INTO an VALUES (3, '[1,1]');
RESET ROLE;
SELECT is((SELECT version FROM ruvector_graph_catalog WHERE name = 'rv74_g'), 2::bigint, 'a change to the graph''s own table moves it');

-- ---- Item: ruvector_graphs() and ruvector_store_entries() show what the caller may read ----------
SET ROLE rv74_alice;
CREATE INDEX an_idx ON an USING ruivfflat (embedding) WITH (lists = 1);
SELECT is((SELECT count(*) FROM ruvector_graphs() WHERE name = 'rv74_g'), 1::bigint, 'the owner sees its graph in ruvector_graphs()');
SELECT is((SELECT count(*) FROM ruvector_store_entries() WHERE object = 'an_idx'::regclass AND kind = 1), 1::bigint,
          'and its index''s centroids in ruvector_store_entries()');
RESET ROLE;
SET ROLE rv74_bob;
SELECT is((SELECT count(*) FROM ruvector_graphs() WHERE name = 'rv74_g'), 0::bigint,
          'a role without SELECT on the tables does not see the graph in ruvector_graphs()');
SELECT is((SELECT count(*) FROM ruvector_graph_cache((SELECT graph_id FROM ruvector_graph_catalog WHERE name = 'rv74_g'))),
          0::bigint, 'nor its cached copy through ruvector_graph_cache()');
SELECT is((SELECT count(*) FROM ruvector_store_entries() WHERE object = 'an_idx'::regclass), 0::bigint,
          'nor the centroids of an index on a table it cannot read');
RESET ROLE;
GRANT SELECT ON an, ae TO rv74_bob;
SET ROLE rv74_bob;
SELECT is((SELECT count(*) FROM ruvector_graphs() WHERE name = 'rv74_g'), 1::bigint, 'with SELECT on both tables it sees the graph');
SELECT is((SELECT count(*) FROM ruvector_store_entries() WHERE object = 'an_idx'::regclass), 1::bigint, 'and the index''s centroids');
RESET ROLE;
REVOKE SELECT ON ae FROM rv74_bob;
GRANT SELECT (src_id) ON ae TO rv74_bob;
SET ROLE rv74_bob;
SELECT is((SELECT count(*) FROM ruvector_graphs() WHERE name = 'rv74_g'), 0::bigint, 'SELECT on some of the columns used is not enough');
RESET ROLE;
-- Entries of the other kinds, published by hand: the graph's (kind 2, by graph_id), a graph
-- build's scratch space (kind 3, by backend pid) and a kind ruvector does not use.
CREATE TEMP TABLE rv74_keys AS
	SELECT (SELECT graph_id FROM ruvector_graph_catalog WHERE name = 'rv74_g')::oid AS graph,
	       pg_backend_pid()::oid AS mine, (pg_backend_pid() + 100000)::oid AS other;
GRANT SELECT ON rv74_keys TO PUBLIC;
SELECT ruvector_store_put(graph, 2, 0, '\x00'), ruvector_store_put(mine, 3, 0, '\x00'),
       ruvector_store_put(other, 3, 0, '\x00'), ruvector_store_put(other, 77, 0, '\x00') FROM rv74_keys;
CREATE FUNCTION rv74_seen() RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(CASE WHEN e.object = k.graph AND e.kind = 2 THEN 'graph' WHEN e.object = k.mine THEN 'mine'
	                       WHEN e.kind = 3 THEN 'other' ELSE 'unknown' END, ',' ORDER BY e.kind, e.object = k.other)
	FROM ruvector_store_entries() e, rv74_keys k
	WHERE (e.object, e.kind) IN ((k.graph, 2), (k.mine, 3), (k.other, 3), (k.other, 77)) $$;
SELECT is(rv74_seen(), 'graph,mine,other,unknown', 'superusers see every entry');
SET ROLE rv74_bob;
SELECT is(rv74_seen(), 'mine', 'a role sees its own backend''s scratch space only, not a graph it may not read');
RESET ROLE;
SET ROLE rv74_alice;
SELECT is(rv74_seen(), 'graph,mine', 'the graph''s owner sees its graph''s entry');
RESET ROLE;
SET ROLE rv74_stats;
SELECT is(rv74_seen(), 'graph,mine,other,unknown', 'members of pg_read_all_stats see every entry');
SELECT is((SELECT count(*) FROM ruvector_store_entries() WHERE object = 'an_idx'::regclass), 1::bigint,
          'centroids included');
RESET ROLE;
SELECT ruvector_store_drop(graph, 2), ruvector_store_drop(mine, 3), ruvector_store_drop(other, 3), ruvector_store_drop(other, 77)
FROM rv74_keys;
SELECT is((SELECT count(*) FROM ruvector_graphs() WHERE name = 'rv74_g'), 1::bigint, 'superusers see every graph');
SET ROLE rv74_alice;
DROP INDEX an_idx;  -- forgets the shared centroids (a rollback would not)
RESET ROLE;

-- ---- Item: every role can read the model view -----------------------------------------------------
SELECT ruvector_gnn_model_create('rv74_m', 'gcn', ARRAY[2, 2]);
SET ROLE rv74_bob;
SELECT is((SELECT layer_types FROM ruvector_gnn_models WHERE name = 'rv74_m'), ARRAY['gcn'], 'every role can read ruvector_gnn_models');
RESET ROLE;

-- ---- Item: a GIN MLP with a Linear at any position the forward pass runs ---------------------------
SELECT lives_ok($$SELECT ruvector_gnn_model_import('rv74_gin64', jsonb_build_object('layers', jsonb_build_array(jsonb_build_object(
	'type', 'gin', 'state_dict', jsonb_build_object('nn.0.weight', '[[1,0],[0,1]]'::jsonb, 'nn.64.weight', '[[2,0],[0,2]]'::jsonb)))))$$,
	'a GIN MLP with a Linear at position 64 imports');
-- GIN: (x_i + sum_j x_j), then nn.0 (identity), ReLUs, nn.64 (doubling): node 0 -> [2,0], node 1 -> [2,2].
SELECT is(ruvector_gin_forward('{{1,0},{0,1}}', '{0}', '{1}', model => 'rv74_gin64'), '{{2,0},{2,2}}'::real[],
          'and the forward pass applies that Linear');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('rv74_gin1024', jsonb_build_object('layers', jsonb_build_array(jsonb_build_object(
	'type', 'gin', 'state_dict', jsonb_build_object('nn.0.weight', '[[1,0],[0,1]]'::jsonb, 'nn.1024.weight', '[[2,0],[0,2]]'::jsonb)))))$$,
	'22023', 'layer 0 (gin): "nn.1024.weight" is at MLP position 1024, the MLP may have at most 1024 steps (positions 0 to 1023)',
	'a Linear beyond the longest MLP the forward pass runs is refused at import');
SELECT throws_ok($$SELECT ruvector_gnn_model_import('rv74_gin_long', jsonb_build_object('layers', jsonb_build_array(jsonb_build_object(
	'type', 'gin', 'options', jsonb_build_object('mlp', '["linear"]'::jsonb || (SELECT jsonb_agg('relu'::text) FROM generate_series(1, 1024))),
	'state_dict', jsonb_build_object('nn.0.weight', '[[1,0],[0,1]]'::jsonb)))))$$,
	'22023', 'layer 0 (gin): option "mlp" has 1025 steps, at most 1024 are supported', 'so is an "mlp" option of more than 1024 steps');

-- ---- Item: option arguments are checked, never clamped ---------------------------------------------
SELECT throws_ok($$SELECT ruvector_gat_forward('{{1,0},{0,1}}', '{0}', '{1}', heads => 0)$$, '22023',
                 'heads must be between 1 and 65536', 'heads => 0');
SELECT throws_ok($$SELECT ruvector_gat_forward('{{1,0},{0,1}}', '{0}', '{1}', heads => -2)$$, '22023',
                 'heads must be between 1 and 65536', 'heads => -2');
SELECT is(array_length(ruvector_gat_forward('{{1,0},{0,1}}', '{0}', '{1}', out_features => 4, heads => 2), 2), 4,
          'heads => 2 runs two heads');
SELECT throws_ok($$SELECT ruvector_graphsage_forward('{{1,0},{0,1}}', '{0}', '{1}', sample_size => 0)$$, '22023',
                 'sample_size must be at least 1', 'sample_size => 0 in the array form');
SELECT throws_ok($$SELECT ruvector_graphsage_forward('{{1,0},{0,1}}', '{0}', '{1}', sample_size => -1)$$, '22023',
                 'sample_size must be at least 1', 'sample_size => -1 in the array form');
SELECT throws_ok($$SELECT ruvector_gcn_forward('{{1,0},{0,1}}', '{0}', '{1}', out_features => 0)$$, '22023',
                 'out_features must be between 1 and 65536', 'out_features => 0');
SELECT ruvector_gnn_model_create('rv74_gat2', 'gat', ARRAY[2, 4], '{"heads": 2}');
SELECT throws_ok($$SELECT ruvector_gat_forward('{{1,0},{0,1}}', '{0}', '{1}', model => 'rv74_gat2', heads => 3)$$, '22023',
                 'heads is 3, but layer 0 of gnn model "rv74_gat2" has 2', 'heads that disagree with the model');
SELECT throws_ok($$SELECT ruvector_gcn_forward('{{1,0},{0,1}}', '{0}', '{1}', model => 'rv74_m', out_features => 3)$$, '22023',
                 'out_features is 3, but gnn model "rv74_m" outputs 2 features', 'out_features that disagree with the model');
SELECT is(array_length(ruvector_gat_forward('{{1,0},{0,1}}', '{0}', '{1}', model => 'rv74_gat2'), 2), 4,
          'without heads the model runs as it is');
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('an', 'ae', num_hops => 0, model => 'rv74_m')$$, '22023',
                 'num_hops must be between 1 and 64', 'num_hops is checked with a model too');
SELECT throws_ok($$SELECT ruvector_graph_create('', 'an', 'ae')$$, '22023', 'graph name must not be null or empty',
                 'an empty graph name');

SELECT * FROM finish();
ROLLBACK;
