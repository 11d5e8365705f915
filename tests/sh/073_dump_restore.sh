#!/usr/bin/env bash
# pg_dump / pg_restore (custom format) of a database with every kind of ruvector object: GNN models,
# named graphs with their version triggers, ruivfflat indexes (all opclasses, partial) and
# ruvector_gnn indexes (edge table in another schema, a model), restored into a fresh database
# where everything works and answers as before. Prints TAP.
. "$(dirname "$0")/lib.sh"

SRC=ruvector_dump_src
DST=ruvector_dump_dst
DUMP="$RUVECTOR_TEST_DATA/../ruvector_dump.custom"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $SRC" -c "DROP DATABASE IF EXISTS $DST" -c "CREATE DATABASE $SRC" >/dev/null 2>&1

export PGDATABASE=$SRC
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION ruvector;
CREATE SCHEMA "Graph Data";
CREATE TABLE nodes (id bigint PRIMARY KEY, embedding vector(3), c int);
CREATE TABLE "Graph Data"."Edges" (src_id bigint, dst_id bigint, weight real);
INSERT INTO nodes SELECT i, ARRAY[sin(i), cos(i * 0.7), sin(i * 1.3) + 0.1]::vector, i % 4 FROM generate_series(1, 400) i;
INSERT INTO "Graph Data"."Edges" SELECT i, (i * 7) % 400 + 1, 1 + (i % 3) FROM generate_series(1, 400) i;
SELECT ruvector_gnn_model_import('m3', '{"activation": "none", "layers": [{"type": "gin", "state_dict": {"nn.0.weight": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}]}');
SELECT ruvector_gnn_model_create('glorot', 'gcn', ARRAY[3, 3], '{}', 7);
SELECT ruvector_graph_create('social', 'nodes', '"Graph Data"."Edges"', weight_column => 'weight');
CREATE INDEX nodes_l2 ON nodes USING ruivfflat (embedding vector_l2_ops) WITH (lists = 8, probes = 8);
CREATE INDEX nodes_cos ON nodes USING ivfflat (embedding vector_cosine_ops) WITH (lists = 4);
CREATE INDEX nodes_ip ON nodes USING ruivfflat (embedding vector_ip_ops) WITH (lists = 4);
CREATE INDEX nodes_l1_c2 ON nodes USING ruivfflat (embedding vector_l1_ops) WITH (lists = 2) WHERE c = 2;
SET search_path = "Graph Data", public;
CREATE INDEX nodes_gnn ON public.nodes USING ruvector_gnn (embedding) WITH (edge_table = '"Edges"', num_layers = 1, lists = 4);
CREATE INDEX nodes_gnn_model ON public.nodes USING ruvector_gnn (embedding vector_l2_ops)
	WITH (edge_table = '"Graph Data"."Edges"', model = 'm3', lists = 1);
SQL

# What each object answers; the same queries run in both databases.
answers() {
	psql -X -q -At -v ON_ERROR_STOP=1 <<-'SQL'
	SET ivfflat.probes = 100;
	SET enable_seqscan = off;
	SELECT 'l2 ' || string_agg(id::text, ',') FROM (SELECT id FROM nodes ORDER BY embedding <-> '[0.3,0.2,0.1]' LIMIT 5) s;
	SELECT 'cos ' || string_agg(id::text, ',') FROM (SELECT id FROM nodes ORDER BY embedding <=> '[0.3,0.2,0.1]' LIMIT 5) s;
	SELECT 'ip ' || string_agg(id::text, ',') FROM (SELECT id FROM nodes ORDER BY embedding <#> '[0.3,0.2,0.1]' LIMIT 5) s;
	SELECT 'l1c2 ' || string_agg(id::text, ',') FROM (SELECT id FROM nodes WHERE c = 2 ORDER BY embedding <+> '[0.3,0.2,0.1]' LIMIT 5) s;
	SELECT 'gnn ' || string_agg(id || ':' || round(distance::numeric, 4), ',') FROM ruvector_gnn_search('nodes_gnn', '[0.3,0.2,0.1]', 5);
	SELECT 'gnn_model ' || string_agg(id || ':' || round(distance::numeric, 4), ',') FROM ruvector_gnn_search('nodes_gnn_model', '[0.3,0.2,0.1]', 5);
	SELECT 'stats ' || edge_table || ' ' || stale FROM ruvector_gnn_index_stats('nodes_gnn');
	SELECT 'models ' || string_agg(name || ':' || layers || ':' || parameters, ',' ORDER BY name) FROM ruvector_gnn_models;
	SELECT 'm3 ' || md5(string_agg(node_id || embedding::text, ',' ORDER BY node_id)) FROM ruvector_gnn_forward('m3', 'social');
	SELECT 'glorot ' || md5(string_agg(node_id || embedding::text, ',' ORDER BY node_id)) FROM ruvector_gnn_forward('glorot', 'nodes', '"Graph Data"."Edges"', weight_column => 'weight');
	SELECT 'graphs ' || string_agg(name || ':' || node_table || ':' || edge_table || ':' || nodes || ':' || edges, ',') FROM ruvector_graphs();
	SQL
}
before=$(answers 2>&1)
echo "$before" | sed 's/^/# /'

as_pg_user "$RUVECTOR_PG_BIN/pg_dump" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -Fc -f "$DUMP" "$SRC"
ok $? "pg_dump -Fc"
psql -X -q -d postgres -c "CREATE DATABASE $DST" >/dev/null
restore_log=$(as_pg_user "$RUVECTOR_PG_BIN/pg_restore" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --exit-on-error -d "$DST" "$DUMP" 2>&1)
ok $? "pg_restore into a fresh database"
[ -n "$restore_log" ] && echo "$restore_log" | sed 's/^/# /'

export PGDATABASE=$DST
after=$(answers 2>&1)
for key in l2 cos ip l1c2 gnn gnn_model stats models m3 glorot graphs; do
	is "$(echo "$after" | grep "^$key ")" "$(echo "$before" | grep "^$key ")" "after the restore: $key answers as before"
done
is "$(echo "$before" | grep -c .)" 11 "every query answered in the original database"

# The restored objects keep working: the graph's version triggers, the index options, new graphs.
is "$(q "SELECT reloptions::text FROM pg_class WHERE relname = 'nodes_gnn'")" '{"edge_table=\"Graph Data\".\"Edges\"",num_layers=1,lists=4}' \
	"the edge table is stored schema-qualified (what a restore resolves)"
v1=$(q "SELECT version FROM ruvector_graph_catalog WHERE name = 'social'")
q "INSERT INTO \"Graph Data\".\"Edges\" VALUES (1, 2, 1)"
is "$(q "SELECT version > $v1 FROM ruvector_graph_catalog WHERE name = 'social'")" t "the graph's version trigger was restored"
is "$(q "SELECT count(*) FROM ruvector_gnn_forward('m3', 'social')")" 400 "the graph is usable"
is "$(q "SELECT edges || ',' || (cached_version = version) FROM ruvector_graphs() WHERE name = 'social'")" 401,true "and sees the new edge"
is "$(q "SELECT stale FROM ruvector_gnn_index_stats('nodes_gnn')")" t "the ruvector_gnn index notices the edge change"
psql -X -q -c "SET search_path = ''" -c "REINDEX INDEX public.nodes_gnn"
is "$(q "SELECT stale FROM ruvector_gnn_index_stats('nodes_gnn')")" f "and REINDEX (with an empty search_path too) refreshes it"
q "SELECT ruvector_graph_create('second', 'nodes', '\"Graph Data\".\"Edges\"')" >/dev/null
is "$(q "SELECT count(DISTINCT graph_id) FROM ruvector_graph_catalog")" 2 "a new graph gets its own id after the restore"
q "SELECT ruvector_gnn_model_drop('glorot')" >/dev/null
is "$(q "SELECT string_agg(name, ',') FROM ruvector_gnn_models")" m3 "models can be dropped after the restore"

# The option is qualified however the index gets it: ALTER INDEX ... SET, a statement in a function.
q "CREATE TABLE edges_copy AS SELECT * FROM \"Graph Data\".\"Edges\""
q "ALTER INDEX nodes_gnn SET (edge_table = 'edges_copy')"
is "$(q "SELECT edge_table FROM ruvector_gnn_index_stats('nodes_gnn')")" public.edges_copy "ALTER INDEX ... SET (edge_table) stores the name qualified"
is "$(sqlstate_of "ALTER INDEX nodes_gnn SET (edge_table = 'no_such_edges')")" 42P01 "and refuses a table that does not exist"
q "DO \$\$ BEGIN CREATE INDEX nodes_gnn_do ON nodes USING ruvector_gnn (embedding) WITH (edge_table = 'edges_copy', lists = 1); END \$\$"
is "$(q "SELECT edge_table FROM ruvector_gnn_index_stats('nodes_gnn_do')")" public.edges_copy "so does CREATE INDEX inside a function (a cached plan)"

psql -X -q -d postgres -c "DROP DATABASE $SRC" -c "DROP DATABASE $DST" >/dev/null 2>&1
rm -f "$DUMP"
done_testing
