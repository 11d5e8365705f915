-- GNN input and output paths: graphs read by a direct heap scan (same rows as SQL would give,
-- privileges, column privileges, row-level security and inheritance as for SELECT), rows streamed
-- value-per-call, and ruvector_gnn_forward_into (INSERT as the caller, with clear errors).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(37);

-- The path 10 -> 20 -> 30 plus an isolated 40 (as in 051), inserted out of id order, so the
-- direct reader must sort what the SQL path got from ORDER BY.
CREATE TABLE io_nodes (id bigint, embedding vector(2), secret boolean DEFAULT false);
CREATE TABLE io_edges (src_id bigint, dst_id bigint, w real);
INSERT INTO io_nodes (id, embedding) VALUES (30, '[1,1]'), (10, '[1,0]'), (40, '[2,2]'), (20, '[0,1]');
INSERT INTO io_edges VALUES (20, 30, 1), (10, 20, 2);

CREATE FUNCTION io_rows(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; out text := '';
BEGIN
	FOR r IN EXECUTE q LOOP
		out := out || r.node_id || ':[' || (SELECT string_agg(rtrim(rtrim(round(e::numeric, 5)::text, '0'), '.'), ',' ORDER BY i)
		                                    FROM unnest(r.v::real[]) WITH ORDINALITY u(e, i)) || '] ';
	END LOOP;
	RETURN rtrim(out);
END $$;

-- Direct reads give the hand-checked values of 051 (GCN: out_20 = x_10 / sqrt(2) + x_20 / 2).
SELECT is(io_rows($$SELECT node_id, updated_embedding AS v FROM ruvector_message_pass('io_nodes', 'io_edges', num_hops => 1) ORDER BY 1$$),
          '10:[1,0] 20:[0.70711,0.5] 30:[0.5,1] 40:[2,2]', 'nodes stored out of id order are read in id order');
-- Weighted GCN through a model: the weight column's type is read as ::real would read it.
SELECT ruvector_gnn_model_import('io_gcn', '{"activation": "relu", "layers": [{"type": "gcn", "options": {},
	"state_dict": {"lin.weight": [[2, 0], [0, 3]], "bias": [0.5, -1]}}]}');
CREATE TABLE io_edges_f8 (src_id int, dst_id smallint, w double precision);
INSERT INTO io_edges_f8 SELECT src_id, dst_id, w FROM io_edges;
CREATE TABLE io_edges_num (src_id bigint, dst_id bigint, w numeric);
INSERT INTO io_edges_num SELECT src_id, dst_id, w FROM io_edges;
CREATE TABLE io_edges_text (src_id bigint, dst_id bigint, w text);
INSERT INTO io_edges_text SELECT src_id, dst_id, w FROM io_edges;
SELECT is(io_rows($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_nodes', 'io_edges_f8', weight_column => 'w') ORDER BY 1$$),
          io_rows($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_nodes', 'io_edges', weight_column => 'w') ORDER BY 1$$),
          'integer endpoints and a double precision weight read directly = real weights');
SELECT is(io_rows($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_nodes', 'io_edges_num', weight_column => 'w') ORDER BY 1$$),
          io_rows($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_nodes', 'io_edges', weight_column => 'w') ORDER BY 1$$),
          'a numeric weight too');
SELECT is(io_rows($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_nodes', 'io_edges_text', weight_column => 'w') ORDER BY 1$$),
          io_rows($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_nodes', 'io_edges', weight_column => 'w') ORDER BY 1$$),
          'a text weight goes through SQL''s ::real cast');
UPDATE io_edges_f8 SET w = 1e300 WHERE src_id = 10;
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('io_gcn', 'io_nodes', 'io_edges_f8', weight_column => 'w')$$,
                 '22003', 'value out of range: overflow', 'a double weight beyond real fails as the ::real cast does');
-- Ids at both ends of bigint (no gaps in 1..3 below, huge ones here): edges find their nodes.
CREATE TABLE io_far (id bigint, embedding vector(1));
CREATE TABLE io_far_edges (src_id bigint, dst_id bigint);
INSERT INTO io_far VALUES (-9223372036854775808, '[1]'), (9223372036854775807, '[2]'), (0, '[4]');
INSERT INTO io_far_edges VALUES (-9223372036854775808, 9223372036854775807), (0, -9223372036854775808);
SELECT is((SELECT string_agg(node_id || ':' || updated_embedding::text, ' ' ORDER BY node_id)
           FROM ruvector_message_pass('io_far', 'io_far_edges', num_hops => 1, layer_type => 'gin')),
          '-9223372036854775808:[5] 0:[4] 9223372036854775807:[3]', 'ids at the ends of bigint');
-- Checks made while reading.
INSERT INTO io_nodes (id, embedding) VALUES (20, '[5,5]');
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('io_nodes', 'io_edges')$$, '23505',
                 'node id 20 appears more than once in public.io_nodes', 'duplicate ids');
DELETE FROM io_nodes WHERE embedding = '[5,5]';
INSERT INTO io_edges VALUES (10, 99, 1);
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('io_nodes', 'io_edges')$$, '23503',
                 'edge 10 -> 99 of public.io_edges has a dangling endpoint', 'dangling edges');
DELETE FROM io_edges WHERE dst_id = 99;
-- The caller's snapshot: rows deleted in this transaction are gone, rows added are there.
SAVEPOINT s;
DELETE FROM io_nodes WHERE id = 40;
SELECT is((SELECT count(*) FROM ruvector_message_pass('io_nodes', 'io_edges')), 3::bigint, 'the caller''s snapshot');
ROLLBACK TO s;
-- Inheritance: SELECT from a parent reads its children, so must the graph.
CREATE TABLE io_more_nodes () INHERITS (io_nodes);
INSERT INTO io_more_nodes (id, embedding) VALUES (50, '[3,3]');
SELECT is((SELECT count(*) FROM ruvector_message_pass('io_nodes', 'io_edges')), 5::bigint, 'a parent table''s children are read');
DROP TABLE io_more_nodes;
-- A view as the node table.
CREATE VIEW io_nodes_view AS SELECT id, embedding FROM io_nodes WHERE id < 40;
SELECT is((SELECT count(*) FROM ruvector_message_pass('io_nodes_view', 'io_edges')), 3::bigint, 'a view as the node table');

-- Value-per-call: in a SELECT list the rows stream.
SELECT is((SELECT count(*) FROM (SELECT ruvector_message_pass('io_nodes', 'io_edges')) s), 4::bigint, 'in a SELECT list');
SELECT is((SELECT string_agg((r).node_id::text, ',' ORDER BY (r).node_id) FROM (SELECT ruvector_message_pass('io_nodes', 'io_edges') AS r) s),
          '10,20,30,40', 'every node once');
SELECT is((SELECT count(*) FROM (SELECT ruvector_message_pass('io_nodes', 'io_edges') LIMIT 1) s), 1::bigint, 'stopped early');

-- Privileges as the executor checks them for SELECT: the table or each column used.
CREATE ROLE io_reader;
CREATE ROLE io_cols;
GRANT SELECT ON io_nodes, io_edges TO io_reader;
GRANT SELECT (id, embedding) ON io_nodes TO io_cols;
GRANT SELECT (src_id) ON io_edges TO io_cols;
SET ROLE io_cols;
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('io_nodes', 'io_edges')$$, '42501', 'permission denied for table io_edges',
                 'without SELECT on a column used');
RESET ROLE;
GRANT SELECT (dst_id) ON io_edges TO io_cols;
SET ROLE io_cols;
SELECT is((SELECT count(*) FROM ruvector_message_pass('io_nodes', 'io_edges')), 4::bigint, 'SELECT on the columns used is enough');
RESET ROLE;
-- Row-level security: the rows the policy shows, as SQL would (the table is then read through SQL).
ALTER TABLE io_nodes ENABLE ROW LEVEL SECURITY;
CREATE POLICY io_visible ON io_nodes FOR SELECT TO io_reader USING (NOT secret);
UPDATE io_nodes SET secret = true WHERE id = 40;
SET ROLE io_reader;
SELECT is(io_rows($$SELECT node_id, updated_embedding AS v FROM ruvector_message_pass('io_nodes', 'io_edges', num_hops => 1) ORDER BY 1$$),
          '10:[1,0] 20:[0.70711,0.5] 30:[0.5,1]', 'under an RLS policy: the rows it shows only');
SET LOCAL row_security = off;
SELECT throws_ok($$SELECT * FROM ruvector_message_pass('io_nodes', 'io_edges')$$, '42501', NULL,
                 'row_security = off under a policy: the executor''s error');
SET LOCAL row_security = on;
RESET ROLE;
SELECT is((SELECT count(*) FROM ruvector_message_pass('io_nodes', 'io_edges')), 4::bigint, 'the owner is not subject to the policy');
ALTER TABLE io_nodes DISABLE ROW LEVEL SECURITY;

-- ruvector_gnn_forward_into
SELECT ruvector_graph_create('io_g', 'io_nodes', 'io_edges', weight_column => 'w');
CREATE TABLE io_out (node bigint, emb vector(2), note text DEFAULT 'x', flag integer);
SELECT is(ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out', id_column => 'node', embedding_column => 'emb'), 4::bigint,
          'returns the rows inserted');
SELECT is(io_rows($$SELECT node AS node_id, emb AS v FROM io_out ORDER BY 1$$),
          io_rows($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_g') ORDER BY 1$$),
          'the rows are ruvector_gnn_forward''s');
SELECT is((SELECT count(*) FROM io_out WHERE note = 'x'), 4::bigint, 'other columns get their defaults');
CREATE TABLE io_out2 (id int, embedding vector);
SELECT is(ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out2'), 4::bigint, 'default column names id and embedding, int id');
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out', id_column => 'nope', embedding_column => 'emb')$$,
                 '42703', 'column "nope" of relation public.io_out does not exist', 'a missing column');
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out', id_column => 'node', embedding_column => 'flag')$$,
                 '42804', 'column "flag" of relation public.io_out is of type integer, but the embeddings are of type vector',
                 'a column of the wrong type');
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out', id_column => 'node', embedding_column => 'node')$$,
                 '42701', 'id_column and embedding_column are both "node"', 'the same column twice');
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_g', NULL)$$, '22004', NULL, 'a NULL argument');
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'nope', 'io_out2')$$, '42704', 'graph "nope" does not exist', 'an unknown graph');
CREATE TABLE io_out3 (id bigint, embedding vector(3));
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out3')$$, '22000', NULL, 'the column''s dimensions are checked');
CREATE TABLE io_out4 (id bigint PRIMARY KEY, embedding vector);
INSERT INTO io_out4 VALUES (30, '[0,0]');
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out4')$$, '23505', NULL, 'constraints hold');
SELECT is((SELECT count(*) FROM io_out4), 1::bigint, 'and a failed call inserts nothing');
SELECT throws_ok($$SELECT * FROM _ruvector_gnn_into_rows()$$, '55000', NULL, 'the internal row source alone');
-- INSERT as the caller: privileges (column-level too), RLS WITH CHECK, triggers.
GRANT SELECT ON io_nodes, io_edges TO io_cols;
SET ROLE io_cols;
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out2')$$, '42501', 'permission denied for table io_out2',
                 'without INSERT on the target');
RESET ROLE;
GRANT INSERT (id, embedding) ON io_out2 TO io_cols;
SET ROLE io_cols;
SELECT is(ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out2'), 4::bigint, 'INSERT on the two columns is enough');
RESET ROLE;
GRANT SELECT, INSERT ON io_out TO io_cols;
ALTER TABLE io_out ENABLE ROW LEVEL SECURITY;
CREATE POLICY io_small ON io_out FOR INSERT TO io_cols WITH CHECK (node < 40);
CREATE POLICY io_read ON io_out FOR SELECT TO io_cols USING (true);
SET ROLE io_cols;
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out', id_column => 'node', embedding_column => 'emb')$$,
                 '42501', 'new row violates row-level security policy for table "io_out"', 'the target''s RLS WITH CHECK applies');
RESET ROLE;
CREATE TABLE io_seen (n int);
CREATE FUNCTION io_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO io_seen VALUES (1); RETURN NEW; END $$;
CREATE TRIGGER io_count BEFORE INSERT ON io_out2 FOR EACH ROW EXECUTE FUNCTION io_count();
SELECT is(ruvector_gnn_forward_into('io_gcn', 'io_g', 'io_out2'), 4::bigint, 'with a row trigger on the target');
SELECT is((SELECT count(*) FROM io_seen), 4::bigint, 'row triggers fire');

SELECT * FROM finish();
ROLLBACK;
