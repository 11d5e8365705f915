#!/usr/bin/env bash
# GNN input paths seen from the DEBUG1 log: a cache miss ships the graph to the worker once, a warm
# call not at all; a table under row-level security for the caller is read through SQL, others by
# a direct heap scan; cached graphs the worker read in place are freed once replaced;
# ruvector_gnn_forward_into writes in bulk or through INSERT as the target requires. Prints TAP.
. "$(dirname "$0")/lib.sh"

fresh_db ruvector_gnn_io
q "CREATE TABLE nodes (id bigint PRIMARY KEY, embedding vector(16), hidden boolean DEFAULT false)"
q "CREATE TABLE edges (src_id bigint, dst_id bigint)"
q "INSERT INTO nodes (id, embedding) SELECT i, (SELECT array_agg(((i * 7 + j) % 13)::real) FROM generate_series(1, 16) j)::vector
   FROM generate_series(1, 2000) i"
q "INSERT INTO edges SELECT i, 1 + (i * 31) % 2000 FROM generate_series(1, 2000) i"
q "SELECT ruvector_gnn_model_create('m', 'gcn', ARRAY[16, 8], '{}'::jsonb, 42)" >/dev/null
q "SELECT ruvector_graph_create('g', 'nodes', 'edges')" >/dev/null
graph_id=$(q "SELECT graph_id FROM ruvector_graph_catalog WHERE name = 'g'")

# The request inputs of one statement, from its DEBUG1 lines: one size (bytes) per line.
inputs_of() {
	psql -X -q -At -c "SET client_min_messages = debug1" -c "$1" 2>&1 >/dev/null |
		sed -nE 's/.*ruvector [a-z_]+ request: its input \(([0-9]+) bytes\).*/\1/p'
}
fwd="SELECT count(*) FROM ruvector_gnn_forward('m', 'g')"

q "SELECT ruvector_graph_uncache($graph_id)" >/dev/null
miss=$(inputs_of "$fwd")
bytes=$(q "SELECT bytes FROM ruvector_graphs() WHERE name = 'g'")
ok "$([ -n "$bytes" ] && [ "$bytes" -gt 100000 ]; echo $?)" "the first call cached the graph ($bytes bytes)"
is "$(echo "$miss" | awk -v b="$bytes" '$1 >= b' | wc -l)" 1 "a cache miss ships the graph to the worker once"
is "$(echo "$miss" | awk -v b="$bytes" '{ s += $1 } END { print (s < 2 * b) }')" 1 "and nothing else of its size"
warm=$(inputs_of "$fwd")
is "$(echo "$warm" | awk -v b="$bytes" '$1 >= b' | wc -l)" 0 "a warm call ships no graph"
is "$(q "$fwd")" 2000 "and returns every node"

# The reader: direct for the owner, through SQL for a role under a policy.
q "CREATE ROLE io_sh_reader" >/dev/null 2>&1
q "GRANT SELECT ON nodes, edges TO io_sh_reader"
q "ALTER TABLE nodes ENABLE ROW LEVEL SECURITY"
q "CREATE POLICY shown ON nodes FOR SELECT TO io_sh_reader USING (NOT hidden)"
q "UPDATE nodes SET hidden = true WHERE id > 1000"
q "DELETE FROM edges WHERE src_id > 1000 OR dst_id > 1000"
mp="SELECT count(*) FROM ruvector_message_pass('nodes', 'edges')"
log() { psql -X -q -At -c "SET client_min_messages = debug1" -c "$1" 2>&1 >/dev/null; }
is "$(log "$mp" | grep -c 'through SQL')" 0 "the owner's read is a direct heap scan"
is "$(log "SET ROLE io_sh_reader; $mp" | grep -c 'reading nodes through SQL: row-level security applies')" 1 \
	"under a policy the node table is read through SQL"
is "$(q "SET ROLE io_sh_reader; $mp")" 1000 "and only its visible rows are used"
q "ALTER TABLE nodes DISABLE ROW LEVEL SECURITY"

# A cached graph the worker read in place: replaced (the tables changed), its memory is freed.
q "$fwd" >/dev/null
used1=$(q "SELECT shared_memory_used FROM ruvector_worker_status()")
q "UPDATE nodes SET hidden = false WHERE id = 1"
q "$fwd" >/dev/null
q "$fwd" >/dev/null
used2=$(q "SELECT shared_memory_used FROM ruvector_worker_status()")
is "$used2" "$used1" "the replaced copy is freed (shared memory used unchanged: $used1 -> $used2)"

# ruvector_gnn_forward_into writes in bulk where that is what the INSERT would do, else runs the
# INSERT; the DEBUG1 line says which ("bulk", or "insert: " and the reason).
into_path() {  # into_path TARGET [SQL run first in the session]
	psql -X -q -At -c "SET client_min_messages = debug1" -c "${2:-SELECT 1}" \
		-c "SELECT ruvector_gnn_forward_into('m', 'g', '$1')" 2>&1 >/dev/null |
		sed -nE 's/.*ruvector_gnn_forward_into: [0-9]+ rows written in bulk into .*/bulk/p
			s/.*ruvector_gnn_forward_into: INSERT into [^:]*: (.*)/insert: \1/p'
}
q "CREATE TABLE t_plain (id bigint, embedding vector(8))"
q "CREATE TABLE t_idx (id bigint PRIMARY KEY, embedding vector(8), note text DEFAULT 'x', n bigserial, CHECK (id > 0))"
q "CREATE UNLOGGED TABLE t_unlogged (id bigint, embedding vector)"
is "$(into_path t_plain)" bulk "into a plain table: bulk"
is "$(into_path t_idx)" bulk "with an index, a CHECK, a constant and a sequence default: bulk"
is "$(q "SELECT count(*) FROM t_idx WHERE note = 'x'")" 2000 "every row written"
is "$(into_path t_unlogged)" bulk "unlogged: bulk"
is "$(into_path t_plain "SET ruvector.gnn_into_bulk = off")" "insert: ruvector.gnn_into_bulk is off" "ruvector.gnn_into_bulk = off: INSERT"
q "CREATE TABLE t_seen (n int)"
q "CREATE FUNCTION t_count() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN INSERT INTO t_seen VALUES (1); RETURN NEW; END \$\$"
q "CREATE TABLE t_trig (id bigint, embedding vector(8))"
q "CREATE TRIGGER t_trig BEFORE INSERT ON t_trig FOR EACH ROW EXECUTE FUNCTION t_count()"
is "$(into_path t_trig)" "insert: the table has INSERT triggers (or foreign keys or deferrable constraints)" "a row trigger: INSERT"
is "$(q "SELECT count(*) FROM t_seen")" 2000 "and it fired for every row"
q "CREATE TABLE t_fk (id bigint REFERENCES nodes (id), embedding vector(8))"
is "$(into_path t_fk)" "insert: the table has INSERT triggers (or foreign keys or deferrable constraints)" "a foreign key: INSERT"
q "CREATE TABLE t_part (id bigint, embedding vector(8)) PARTITION BY HASH (id)"
q "CREATE TABLE t_part0 PARTITION OF t_part FOR VALUES WITH (MODULUS 2, REMAINDER 0)"
q "CREATE TABLE t_part1 PARTITION OF t_part FOR VALUES WITH (MODULUS 2, REMAINDER 1)"
is "$(into_path t_part)" "insert: not a plain table" "a partitioned table: INSERT"
is "$(into_path t_part0)" "insert: not a plain table" "a partition: INSERT"
is "$(sqlstate_of "SELECT ruvector_gnn_forward_into('m', 'g', 't_part0')")" 23514 "which checks the partition constraint"
q "CREATE TABLE t_rand (id bigint, embedding vector(8), r float8 DEFAULT random())"
is "$(into_path t_rand)" "insert: another column has a volatile default" "a volatile default: INSERT"
q "CREATE TABLE t_rls (id bigint, embedding vector(8))"
q "CREATE ROLE io_sh_writer" >/dev/null 2>&1
q "GRANT SELECT ON nodes, edges TO io_sh_writer"
q "GRANT INSERT ON t_rls TO io_sh_writer"
q "ALTER TABLE t_rls ENABLE ROW LEVEL SECURITY"
q "CREATE POLICY w ON t_rls FOR INSERT TO io_sh_writer WITH CHECK (true)"
is "$(into_path t_rls)" bulk "under RLS, the owner (not subject to it): bulk"
is "$(into_path t_rls "SET ROLE io_sh_writer")" "insert: row-level security applies" "a role under a policy: INSERT"
is "$(q "SELECT count(*) FROM t_rls")" 4000 "both wrote their rows"
q "CREATE TABLE t_dims (id bigint, embedding vector(3))"
is "$(sqlstate_of "SELECT ruvector_gnn_forward_into('m', 'g', 't_dims')")" 22000 "other dimensions: the INSERT's error"

# --- node features read straight into the request's input (a room sized from pg_class.reltuples):
# the same rows whether the estimates are missing, exact, short or long, for a heap out of id order,
# and for a named graph's first call (the store_put's input)
q "CREATE TABLE rm_nodes (id bigint, embedding vector(16)) WITH (autovacuum_enabled = false)"
q "CREATE TABLE rm_edges (src_id bigint, dst_id bigint, w real) WITH (autovacuum_enabled = false)"
q "INSERT INTO rm_nodes SELECT i, (SELECT array_agg(((i * 5 + j * 3) % 17)::real / 4) FROM generate_series(1, 16) j)::vector
   FROM generate_series(1, 3000) i"
q "INSERT INTO rm_edges SELECT 1 + i % 3000, 1 + (i * 37) % 3000, 1 + i % 3 FROM generate_series(1, 6000) i"
rm_q() { echo "SELECT md5(string_agg(node_id || ':' || embedding::text, ' ' ORDER BY node_id)) FROM ruvector_gnn_forward('m', $1)"; }
rm_tables="'rm_nodes', 'rm_edges', weight_column => 'w'"
# The rows' digest read without a room: copies of the tables that have no estimate yet.
rm_ref() {
	q "DROP TABLE IF EXISTS rm_nodes_c, rm_edges_c"
	q "CREATE TABLE rm_nodes_c WITH (autovacuum_enabled = false) AS SELECT * FROM rm_nodes"
	q "CREATE TABLE rm_edges_c WITH (autovacuum_enabled = false) AS SELECT * FROM rm_edges"
	q "$(rm_q "'rm_nodes_c', 'rm_edges_c', weight_column => 'w'")"
}
# The digest of the call on the tables themselves, and its "graph read" DEBUG1 line.
rm_call() {
	psql -X -q -At -c "SET client_min_messages = debug1" -c "$(rm_q "$1")" 2>"$BENCH_ERR" | tail -1
}
BENCH_ERR=$(mktemp)
room_msg() { sed -nE 's/.*ruvector graph read: (.*)/\1/p' "$BENCH_ERR" | head -1; }
ref=$(rm_ref)
is "$(rm_call "$rm_tables")" "$ref" "no estimates yet: the rows"
is "$(room_msg)" "" "read without a room"
q "VACUUM ANALYZE rm_nodes"; q "VACUUM ANALYZE rm_edges"
is "$(rm_call "$rm_tables")" "$ref" "exact estimates: the same rows"
is "$(room_msg)" "features in the request's input" "the features were read in place"
q "INSERT INTO rm_edges SELECT 1 + i % 3000, 1 + (i * 11) % 3000, 2 FROM generate_series(1, 100) i"
ref=$(rm_ref)
is "$(rm_call "$rm_tables")" "$ref" "100 edges more than estimated: the rows"
is "$(room_msg)" "features in the request's input, moved to their place" "the features moved within the input"
q "INSERT INTO rm_nodes SELECT i, (SELECT array_agg(((i * 3 + j) % 7)::real) FROM generate_series(1, 16) j)::vector
   FROM generate_series(3001, 3500) i"
ref=$(rm_ref)
is "$(rm_call "$rm_tables")" "$ref" "500 nodes more than estimated: the rows"
is "$(room_msg)" "features copied out of the request's input (more nodes than estimated)" "the features left the input"
q "VACUUM ANALYZE rm_nodes"; q "VACUUM ANALYZE rm_edges"
q "DELETE FROM rm_nodes WHERE id > 3300"
ref=$(rm_ref)
is "$(rm_call "$rm_tables")" "$ref" "200 nodes fewer than estimated: the rows"
is "$(room_msg)" "features in the request's input, moved to their place" "the features moved within the input"
q "VACUUM ANALYZE rm_nodes"
q "SELECT ruvector_graph_create('rm_g', 'rm_nodes', 'rm_edges', weight_column => 'w')" >/dev/null
is "$(rm_call "'rm_g'")" "$ref" "a named graph's first call: the rows"
is "$(room_msg)" "features in the request's input" "its features went into the store_put's input in place"
is "$(rm_call "'rm_g'")" "$ref" "and its cached graph gives them again"
q "UPDATE rm_nodes SET embedding = embedding WHERE id = 5"
is "$(rm_call "$rm_tables")" "$ref" "a heap out of id order: the rows"
is "$(room_msg)" "features copied out of the request's input (nodes out of id order)" "its features were sorted out of the input"
rm -f "$BENCH_ERR"

psql -X -q -d postgres -c "DROP DATABASE $PGDATABASE" >/dev/null 2>&1
psql -X -q -d postgres -c "DROP ROLE io_sh_reader" >/dev/null 2>&1
psql -X -q -d postgres -c "DROP ROLE io_sh_writer" >/dev/null 2>&1
done_testing
