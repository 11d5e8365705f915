-- GNN input and output paths: graphs read by a direct heap scan (same rows as SQL would give,
-- privileges, column privileges, row-level security and inheritance as for SELECT), rows streamed
-- value-per-call, and ruvector_gnn_forward_into (INSERT as the caller, with clear errors).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ruvector;
SELECT plan(77);

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

-- The bulk path (ruvector.gnn_into_bulk, default on; tests/sh/091 shows which path each target
-- takes): the rows, defaults, constraints, errors and privileges of the INSERT path. 300 nodes,
-- so more than one batch is written.
CREATE TABLE io_bn (id bigint, embedding vector(2));
CREATE TABLE io_be (src_id bigint, dst_id bigint, w real);
INSERT INTO io_bn SELECT i, ARRAY[(i % 7)::real, (i % 5)::real - 2] FROM generate_series(1, 300) i;
INSERT INTO io_be SELECT i, 1 + i * 37 % 300, 1 FROM generate_series(1, 300) i;
SELECT ruvector_graph_create('io_big', 'io_bn', 'io_be', weight_column => 'w');
-- ruvector_gnn_forward_into on the path asked for ('bulk', 'insert') or the equivalent INSERT
-- ('sql'), into an emptied target: the count, then every row as text.
CREATE FUNCTION io_into(target text, how text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint; out text;
BEGIN
	EXECUTE format('DELETE FROM %s', target);
	PERFORM set_config('ruvector.gnn_into_bulk', (how = 'bulk')::text, true);
	IF how = 'sql' THEN
		EXECUTE format('INSERT INTO %s (id, embedding) SELECT node_id, embedding FROM ruvector_gnn_forward(''io_gcn'', ''io_big'')', target);
		GET DIAGNOSTICS n = ROW_COUNT;
	ELSE
		n := ruvector_gnn_forward_into('io_gcn', 'io_big', target::regclass);
	END IF;
	PERFORM set_config('ruvector.gnn_into_bulk', 'on', true);
	EXECUTE format('SELECT string_agg(t::text, '' '' ORDER BY id) FROM %s t', target) INTO out;
	RETURN n || ': ' || out;
END $$;
CREATE TABLE io_t1 (id bigint PRIMARY KEY, embedding vector(2), note text DEFAULT 'n', k bigint DEFAULT 7 CHECK (k > 0),
                    CHECK (id > 0));
SELECT is(io_into('io_t1', 'bulk'), io_into('io_t1', 'sql'), 'bulk: the rows and defaults of INSERT (index, CHECK)');
SELECT is(io_into('io_t1', 'insert'), io_into('io_t1', 'sql'), 'and so does the INSERT path');
SELECT ok(io_into('io_t1', 'bulk') LIKE '300: (1,"[%",n,7) %', 'all 300 rows');
CREATE UNLOGGED TABLE io_t2 (id bigint, embedding vector);
SELECT is(io_into('io_t2', 'bulk'), io_into('io_t2', 'sql'), 'bulk into an unlogged table without typmod');
CREATE TABLE io_t3 (serial_id bigserial, id bigint, embedding vector(2), at date DEFAULT current_date);
SELECT is(left(io_into('io_t3', 'bulk'), 4), '300:', 'bulk with a sequence default');
SELECT is((SELECT count(DISTINCT serial_id) FROM io_t3 WHERE at = current_date), 300::bigint,
          'every row takes its own nextval and the stable default');
-- Errors: the executor's, and nothing of a failed call stays (its earlier batches included).
DELETE FROM io_t1;
INSERT INTO io_t1 (id, embedding) VALUES (290, '[0,0]');
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t1')$$, '23505',
                 'duplicate key value violates unique constraint "io_t1_pkey"', 'bulk: a unique violation in a later batch');
SELECT is((SELECT count(*) FROM io_t1), 1::bigint, 'and none of the rows written before it is visible');
CREATE TABLE io_t4 (id bigint, embedding vector(2), must integer NOT NULL);
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t4')$$, '23502',
                 'null value in column "must" of relation "io_t4" violates not-null constraint', 'bulk: NOT NULL');
CREATE TABLE io_t5 (id bigint CHECK (id < 250), embedding vector(2));
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t5')$$, '23514',
                 'new row for relation "io_t5" violates check constraint "io_t5_id_check"', 'bulk: CHECK');
SELECT is((SELECT count(*) FROM io_t5), 0::bigint, 'nothing stays');
SET LOCAL ruvector.gnn_into_bulk = off;
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t5')$$, '23514',
                 'new row for relation "io_t5" violates check constraint "io_t5_id_check"', 'the same error on the INSERT path');
RESET ruvector.gnn_into_bulk;
SAVEPOINT ro;
SET LOCAL transaction_read_only = on;
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t2')$$, '25006',
                 'cannot execute INSERT in a read-only transaction', 'a read-only transaction');
ROLLBACK TO ro;
-- Privileges: INSERT on the table or on the two columns, as for the INSERT.
GRANT SELECT ON io_bn, io_be TO io_cols;
SET ROLE io_cols;
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t1')$$, '42501', 'permission denied for table io_t1',
                 'bulk-eligible target without INSERT');
RESET ROLE;
GRANT INSERT (id) ON io_t1 TO io_cols;
SET ROLE io_cols;
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t1')$$, '42501', 'permission denied for table io_t1',
                 'INSERT on one of the two columns is not enough');
RESET ROLE;
GRANT INSERT (embedding) ON io_t1 TO io_cols;
DELETE FROM io_t1;
SET ROLE io_cols;
SELECT is(ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t1'), 300::bigint, 'INSERT on the two columns: written');
RESET ROLE;
-- Targets the bulk path leaves to INSERT: their triggers fire, their policies and partitions apply.
CREATE TABLE io_t6 (id bigint, embedding vector(2));
CREATE FUNCTION io_count_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO io_seen SELECT count(*) FROM io_new; RETURN NULL; END $$;
CREATE TRIGGER io_t6_stmt AFTER INSERT ON io_t6 REFERENCING NEW TABLE AS io_new FOR EACH STATEMENT EXECUTE FUNCTION io_count_new();
DELETE FROM io_seen;
SELECT is(ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t6'), 300::bigint, 'a target with a statement trigger');
SELECT is((SELECT array_agg(n) FROM io_seen), '{300}', 'it fires once and sees the 300 rows in its transition table');
CREATE TRIGGER io_t6_row BEFORE INSERT ON io_t6 FOR EACH ROW EXECUTE FUNCTION io_count();
DELETE FROM io_seen;
SELECT is(ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t6'), 300::bigint, 'a target with a row trigger');
SELECT is((SELECT count(*) FROM io_seen WHERE n = 1), 300::bigint, 'it fires for every row');
CREATE TABLE io_t7 (id bigint, embedding vector(2)) PARTITION BY RANGE (id);
CREATE TABLE io_t7a PARTITION OF io_t7 FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE io_t7b PARTITION OF io_t7 FOR VALUES FROM (100) TO (MAXVALUE);
SELECT is(io_into('io_t7', 'bulk'), io_into('io_t7', 'sql'), 'a partitioned target');
SELECT is((SELECT array_agg(n ORDER BY n) FROM (SELECT count(*) n FROM io_t7a UNION ALL SELECT count(*) FROM io_t7b) c),
          '{99,201}', 'its rows are routed to the partitions');
CREATE TABLE io_t8 (id bigint, embedding vector(2));
GRANT INSERT, SELECT ON io_t8 TO io_cols;
ALTER TABLE io_t8 ENABLE ROW LEVEL SECURITY;
CREATE POLICY io_t8_ins ON io_t8 FOR INSERT TO io_cols WITH CHECK (id <> 150);
SET ROLE io_cols;
SELECT throws_ok($$SELECT ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t8')$$, '42501',
                 'new row violates row-level security policy for table "io_t8"', 'a policy''s WITH CHECK on a (bigint, vector) target');
RESET ROLE;
ALTER POLICY io_t8_ins ON io_t8 WITH CHECK (true);
SET ROLE io_cols;
SELECT is(ruvector_gnn_forward_into('io_gcn', 'io_big', 'io_t8'), 300::bigint, 'a policy that admits every row');
RESET ROLE;

-- The streamed function scan: FROM items of ruvector_gnn_forward / ruvector_message_pass stream
-- their rows (no tuplestore), with the rows, quals, rescans and cursors of a Function Scan.
CREATE FUNCTION io_plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; out text := '';
BEGIN
	FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || r."QUERY PLAN" || E'\n'; END LOOP;
	RETURN out;
END $$;
CREATE FUNCTION io_both(q text) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE streamed text; generic text;
BEGIN
	streamed := io_rows(q);
	SET LOCAL ruvector.enable_function_scan = off;
	generic := io_rows(q);
	SET LOCAL ruvector.enable_function_scan = on;
	RETURN ARRAY[streamed, generic];
END $$;
SELECT ok(io_plan($$SELECT * FROM ruvector_gnn_forward('io_gcn', 'io_g')$$) ~ 'Custom Scan \(ruvector function scan\)',
          'a forward pass in FROM is streamed');
SELECT ok(io_plan($$SELECT * FROM ruvector_message_pass('io_nodes', 'io_edges')$$) ~ 'Custom Scan \(ruvector function scan\)',
          'so is ruvector_message_pass');
SELECT ok(io_plan($$SELECT * FROM ruvector_gnn_forward('io_gcn', 'io_nodes', 'io_edges', weight_column => 'w')$$)
          ~ 'Custom Scan \(ruvector function scan\)', 'and the table form');
-- By hand (weighted GCN, self-loops, deg = 1 + in-weights: 10 -> 1, 20 -> 3, 30 -> 2, 40 -> 1; xW = 2x1, 3x2):
-- out_20 = [0,3] / 3 + 2 [2,0] / sqrt(3) + b = [2.8094, 0], out_30 = [2,3] / 2 + [0,3] / sqrt(6) + b = [1.5, 1.72474].
SELECT is((io_both($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_g') WHERE node_id > 10$$))[1],
          '20:[2.8094,0] 30:[1.5,1.72474] 40:[4.5,5]', 'rows and quals as computed by hand');
SELECT is((io_both($$SELECT node_id, embedding AS v FROM ruvector_gnn_forward('io_gcn', 'io_g') WHERE node_id > 10$$))[2],
          '20:[2.8094,0] 30:[1.5,1.72474] 40:[4.5,5]', 'the same rows through a Function Scan');
SELECT ok(io_plan($$SELECT * FROM ruvector_gnn_forward('io_gcn', 'io_g') WITH ORDINALITY$$) ~ 'Function Scan',
          'WITH ORDINALITY keeps the Function Scan');
SELECT ok(io_plan($$SELECT f FROM ruvector_gnn_forward('io_gcn', 'io_g') f$$) ~ 'Function Scan',
          'so does a whole-row reference');
SELECT ok(io_plan($$SELECT * FROM (VALUES ('io_gcn'), ('io_gcn')) m(name), LATERAL ruvector_gnn_forward(m.name, 'io_g')$$) ~ 'Function Scan',
          'and a LATERAL reference');
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_mergejoin = off;
SET LOCAL enable_material = off;
SELECT ok(io_plan($$SELECT * FROM (VALUES (10), (30), (99)) v(x) JOIN ruvector_gnn_forward('io_gcn', 'io_g') f ON f.node_id = v.x$$)
          ~ 'Nested Loop.*\n.*Values Scan.*\n.*Custom Scan \(ruvector function scan\)', 'the inner side of a nested loop');
SELECT is(io_rows($$SELECT node_id, embedding AS v FROM (VALUES (10), (30), (99)) v(x) JOIN ruvector_gnn_forward('io_gcn', 'io_g') f
                    ON f.node_id = v.x ORDER BY 1$$), '10:[2.5,-1] 30:[1.5,1.72474]', 'is rescanned for each outer row');
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;
SELECT is((SELECT count(*) FROM (SELECT * FROM ruvector_gnn_forward('io_gcn', 'io_g') LIMIT 2) s), 2::bigint,
          'a LIMIT stops the stream early');
PREPARE io_prep(text, text) AS SELECT count(*) FROM ruvector_gnn_forward($1, $2);
SET LOCAL plan_cache_mode = force_generic_plan;
SELECT is((SELECT array_agg(n) FROM (SELECT 1) x, LATERAL (SELECT count(*) FROM ruvector_gnn_forward('io_gcn', 'io_g')) c(n)), '{4}',
          'in a subquery');
SELECT results_eq($$EXECUTE io_prep('io_gcn', 'io_g')$$, $$VALUES (4::bigint)$$, 'a generic plan with parameters');
RESET plan_cache_mode;
DECLARE io_cur SCROLL CURSOR FOR SELECT node_id FROM ruvector_gnn_forward('io_gcn', 'io_g');
CREATE FUNCTION io_back(c refcursor) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; BEGIN FETCH BACKWARD FROM c INTO r; RETURN r.node_id; END $$;
MOVE FORWARD 3 FROM io_cur;
SELECT is(io_back('io_cur'), 20::bigint, 'a scroll cursor fetches backward');
CLOSE io_cur;
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('io_gcn', NULL::text)$$, '22004', 'model and graph must not be NULL',
                 'a NULL argument gets the function''s error');
SELECT throws_ok($$SELECT * FROM ruvector_gnn_forward('nope', 'io_g')$$, '42704', NULL, 'an unknown model');

SELECT * FROM finish();
ROLLBACK;
