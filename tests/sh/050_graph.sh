#!/usr/bin/env bash
# Named graphs across sessions: the shared cache, freshness against each query's snapshot, and who
# may be served from the cache. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_graph
q "CREATE TABLE nodes (id bigint PRIMARY KEY, embedding vector(2), hidden boolean DEFAULT false)"
q "CREATE TABLE edges (src_id bigint, dst_id bigint)"
q "INSERT INTO nodes (id, embedding) VALUES (1, '[1,0]'), (2, '[0,1]'), (3, '[1,1]')"
q "INSERT INTO edges VALUES (1, 2), (2, 3)"
q "SELECT ruvector_gnn_model_import('sum', '{\"activation\": \"none\", \"layers\": [{\"type\": \"gin\", \"state_dict\": {\"nn.0.weight\": [[1, 0], [0, 1]]}}]}')" >/dev/null
q "SELECT ruvector_graph_create('g', 'nodes', 'edges')" >/dev/null
fwd() { q "SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('sum', 'g')"; }

r1=$(fwd)
is "$r1" "1:[1,0] 2:[1,1] 3:[1,2]" "GIN sum over the named graph"
is "$(q "SELECT nodes || ',' || edges || ',' || (cached_version = version) FROM ruvector_graphs() WHERE name = 'g'")" "3,2,true" \
	"the first query cached the graph (3 nodes, 2 edges, current version)"
at1=$(q "SELECT loaded_at FROM ruvector_graphs() WHERE name = 'g'")
is "$(fwd)" "$r1" "the next query gets the same answer"
is "$(q "SELECT loaded_at FROM ruvector_graphs() WHERE name = 'g'")" "$at1" "from the cached copy (not reloaded)"

# A repeatable-read transaction keeps seeing its snapshot's graph while another session commits.
out=$(psql -X -q -At -v ON_ERROR_STOP=1 <<-SQL
	BEGIN ISOLATION LEVEL REPEATABLE READ;
	SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('sum', 'g');
	\! psql -X -q -c "INSERT INTO edges VALUES (3, 1)"
	SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('sum', 'g');
	\! psql -X -q -At -c "SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('sum', 'g')" > "$RUVECTOR_TEST_DATA/../graph_other.out"
	SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('sum', 'g');
	COMMIT;
SQL
)
before=$(echo "$out" | sed -n 1p)
during=$(echo "$out" | sed -n 2p)
after_other=$(echo "$out" | sed -n 3p)
is "$before" "$r1" "session A (repeatable read) sees the graph"
is "$during" "$r1" "after session B commits a new edge, A's snapshot still gives the old answer"
is "$(cat "$RUVECTOR_TEST_DATA/../graph_other.out")" "1:[2,1] 2:[1,1] 3:[1,2]" "a new session sees the new edge (3 -> 1)"
is "$after_other" "$r1" "and A still gets its snapshot's answer after the cache moved on"
is "$(fwd)" "1:[2,1] 2:[1,1] 3:[1,2]" "new queries see the new graph"
is "$(q "SELECT (cached_version = version) || ',' || edges FROM ruvector_graphs() WHERE name = 'g'")" "true,3" "the cache holds the new version"
at2=$(q "SELECT loaded_at FROM ruvector_graphs() WHERE name = 'g'")
sub() { q "SELECT string_agg(node_id || ':' || hops, ' ' ORDER BY node_id) FROM ruvector_subgraph_search($1, '[0,0]', 'g', $2)"; }
is "$(sub 1 1)" "1:0 2:1 3:1" "subgraph search over the cached CSR sees the new edge 3 -> 1 (edges either way)"
is "$(q "SELECT loaded_at FROM ruvector_graphs() WHERE name = 'g'")" "$at2" "and was served from the cached copy"

# An uncommitted change is seen by its own transaction only.
out=$(psql -X -q -At -v ON_ERROR_STOP=1 <<-SQL
	BEGIN;
	DELETE FROM edges WHERE src_id = 3;
	SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('sum', 'g');
	\! psql -X -q -At -c "SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('sum', 'g')" > "$RUVECTOR_TEST_DATA/../graph_other.out"
	ROLLBACK;
SQL
)
is "$out" "$r1" "a transaction sees its own uncommitted delete"
is "$(cat "$RUVECTOR_TEST_DATA/../graph_other.out")" "1:[2,1] 2:[1,1] 3:[1,2]" "others do not"
is "$(fwd)" "1:[2,1] 2:[1,1] 3:[1,2]" "after the rollback the graph is unchanged"
is "$(q "SELECT cached_version = version FROM ruvector_graphs() WHERE name = 'g'")" "t" "and the cache still current"

# Privileges are checked on every call, also when the graph is cached; RLS gets a private copy.
q "CREATE ROLE g_reader LOGIN" >/dev/null
q "CREATE ROLE g_outsider LOGIN" >/dev/null
q "GRANT SELECT ON nodes, edges TO g_reader" >/dev/null
q "ALTER TABLE nodes ENABLE ROW LEVEL SECURITY" >/dev/null
q "CREATE POLICY shown ON nodes FOR SELECT TO g_reader USING (NOT hidden)" >/dev/null
q "UPDATE nodes SET hidden = true WHERE id = 3" >/dev/null
q "DELETE FROM edges WHERE src_id = 3 OR dst_id = 3" >/dev/null
full=$(fwd)
is "$full" "1:[1,0] 2:[1,1] 3:[1,1]" "the owner's answer (cached, all nodes)"
is "$(PGUSER=g_outsider sqlstate_of "SELECT * FROM ruvector_gnn_forward('sum', 'g')")" 42501 \
	"a role without SELECT gets a permission error although the graph is cached"
is "$(PGUSER=g_reader q "SELECT string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id) FROM ruvector_gnn_forward('sum', 'g')")" \
	"1:[1,0] 2:[1,1]" "a role under an RLS policy never gets results from rows it cannot see"
is "$(q "SELECT string_agg(node_id || ':' || hops, ' ') FROM ruvector_subgraph_search(3, '[1,1]', graph => 'g')")" "3:0" \
	"subgraph search: the owner sees node 3"
is "$(PGUSER=g_reader sqlstate_of "SELECT * FROM ruvector_subgraph_search(3, '[1,1]', graph => 'g')")" P0002 \
	"a role under an RLS policy does not (node 3 is not in its graph)"
is "$(PGUSER=g_outsider sqlstate_of "SELECT * FROM ruvector_subgraph_search(1, '[1,1]', graph => 'g')")" 42501 \
	"subgraph search without SELECT: permission error"
is "$(q "SELECT nodes FROM ruvector_graphs() WHERE name = 'g'")" 3 "its private copy did not replace the shared one"

# Graphs are per database.
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ruvector_graph_b" -c "CREATE DATABASE ruvector_graph_b" >/dev/null 2>&1
PGDATABASE=ruvector_graph_b q "CREATE EXTENSION ruvector"
is "$(PGDATABASE=ruvector_graph_b q "SELECT count(*) FROM ruvector_graphs()")" 0 "another database has no graphs"
is "$(PGDATABASE=ruvector_graph_b sqlstate_of "SELECT * FROM ruvector_gnn_forward('sum', 'g')")" 42704 "and cannot use this one"

q "SELECT ruvector_graph_drop('g')" >/dev/null
is "$(q "SELECT count(*) FROM ruvector_store_entries() WHERE kind = 2")" 0 "ruvector_graph_drop frees the cached copy"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" -c "DROP DATABASE ruvector_graph_b" -c "DROP ROLE g_reader" -c "DROP ROLE g_outsider" >/dev/null 2>&1
done_testing
