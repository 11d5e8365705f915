#!/usr/bin/env bash
# ./run bench gnn: one GNN layer (GCN, SAGE mean, GIN, GAT, SAGE pool, SAGE lstm; 256 -> 128) over seeded random graphs
# (10k nodes / 100k edges and 100k nodes / 1M edges, 256 features), ruvector through SQL against the
# same layers in eager PyTorch (PyG semantics, gather/scatter) with the worker's thread count; the
# result also streamed (SELECT list) and written into a table (ruvector_gnn_forward_into, bulk and
# INSERT paths).
# GNN_BENCH_SIZES="10k" (or "100k") restricts the graphs, GNN_BENCH_LAYERS="sage_pool sage_lstm" the
# layers; GNN_BENCH_OUT the report (default docs/bench-gnn.md).
. "$(dirname "$0")/lib.sh"
$PY -c "import torch" 2>/dev/null ||
	die "the PyTorch side needs python3-torch for $PY (apt-get install python3-torch)"

sizes=${GNN_BENCH_SIZES:-10k 100k}
for s in $sizes; do
	case $s in 10k | 100k) ;; *) die "GNN_BENCH_SIZES: unknown size '$s' (use 10k and/or 100k)" ;; esac
done
layers=${GNN_BENCH_LAYERS:-gcn sage gin gat sage_pool sage_lstm}
for l in $layers; do
	case $l in gcn | sage | gin | gat | sage_pool | sage_lstm) ;; *) die "GNN_BENCH_LAYERS: unknown layer '$l'" ;; esac
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bench_cluster
threads=$(psql -X -At -c "SELECT threads FROM ruvector_worker_status()")
results="$BENCH_TMP/results.txt"
: >"$results"

psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<'SQL'
SELECT ruvector_gnn_model_create('bench_gcn', 'gcn', ARRAY[256,128], '{}'::jsonb, 42);
SELECT ruvector_gnn_model_create('bench_sage', 'sage', ARRAY[256,128], '{}'::jsonb, 42);
SELECT ruvector_gnn_model_create('bench_gin', 'gin', ARRAY[256,128], '{}'::jsonb, 42);
SELECT ruvector_gnn_model_create('bench_gat', 'gat', ARRAY[256,128], '{"heads": 4}'::jsonb, 42);
SELECT ruvector_gnn_model_create('bench_sage_pool', 'sage', ARRAY[256,128], '{"project": true, "aggr": "max"}'::jsonb, 42);
SELECT ruvector_gnn_model_create('bench_sage_lstm', 'sage', ARRAY[256,128], '{"aggr": "lstm"}'::jsonb, 42);
SQL

# rep N TEXT: TEXT N times
rep() { local i; for ((i = 0; i < $1; i++)); do printf '%s\n' "$2"; done; }

# sql_layer SIZE LAYER N_FIRST N_WARM N_TABLE: time one layer through SQL, append to $results.
# Markers go to both streams (\echo to stdout next to the \timing lines, \warn to stderr next to the
# DEBUG1 lines) so each time can be labelled.
sql_layer() {
	local size=$1 layer=$2 nf=$3 nw=$4 nt=$5
	local model="bench_$layer" g="g_$size"
	local graph_q="SELECT count(*) FROM ruvector_gnn_forward('$model', '$g');"
	local table_q="SELECT count(*) FROM ruvector_gnn_forward('$model', 'nodes_$size', 'edges_$size', weight_column => 'weight');"
	local uncache="SELECT ruvector_graph_uncache(graph_id) FROM ruvector_graph_catalog WHERE name = '$g';"
	local list_q="SELECT count(*) FROM (SELECT ruvector_gnn_forward('$model', '$g')) s;"
	local into_q="SELECT ruvector_gnn_forward_into('$model', '$g', 'emb_out');"
	{
		echo "SET client_min_messages = debug1;"
		echo '\echo @first'
		echo '\warn @first'
		for ((i = 0; i < nf; i++)); do
			echo '\timing off'
			echo "$uncache"
			echo '\timing on'
			echo "$graph_q"
		done
		echo '\echo @skip'
		echo '\warn @skip'
		echo "$graph_q"  # warm-up (the graph is cached by now)
		echo '\echo @warm'
		echo '\warn @compute'
		rep "$nw" "$graph_q"
		echo '\echo @table'
		echo '\warn @tablecompute'
		rep "$nt" "$table_q"
		# The same warm call with the rows streamed (a SELECT list: no tuplestore), and written
		# into a table with ruvector_gnn_forward_into: its bulk path (the default), then its INSERT
		# path (ruvector.gnn_into_bulk = off). Before each run, untimed: the table is emptied and a
		# CHECKPOINT lets the server recycle WAL segments, as a server in steady state does (in
		# this fresh cluster each 16 MB segment would otherwise be created and zero-filled by the
		# call that first needs it: a 10k call writes 5.4 MB of WAL, a 100k call 54 MB).
		echo '\echo @list'
		echo '\warn @listcompute'
		rep "$nw" "$list_q"
		echo '\timing off'
		echo "CREATE TABLE IF NOT EXISTS emb_out (id bigint, embedding vector(128));"
		for path in into:on intoinsert:off; do
			echo "SET ruvector.gnn_into_bulk = ${path#*:};"
			echo "\\echo @${path%:*}"
			echo "\\warn @${path%:*}compute"
			for ((i = 0; i < nt; i++)); do
				echo '\timing off'
				echo "TRUNCATE emb_out;"
				echo "CHECKPOINT;"
				echo '\timing on'
				echo "$into_q"
			done
			echo '\timing off'
		done
		echo "RESET ruvector.gnn_into_bulk;"
		# The reference for the write: PostgreSQL's own INSERT ... SELECT of the same rows from a
		# table (copied there untimed), under the same conditions.
		echo '\warn @skip'
		echo "DROP TABLE IF EXISTS emb_src;"
		echo "CREATE TABLE emb_src AS SELECT node_id AS id, embedding::vector(128) AS embedding FROM ruvector_gnn_forward('$model', '$g');"
		echo '\echo @insertsel'
		for ((i = 0; i < nt; i++)); do
			echo '\timing off'
			echo "TRUNCATE emb_out;"
			echo "CHECKPOINT;"
			echo '\timing on'
			echo "INSERT INTO emb_out SELECT * FROM emb_src;"
		done
		echo '\timing off'
		echo "DROP TABLE emb_src;"
	} >"$BENCH_TMP/q.sql"
	psql -X -q -At -v ON_ERROR_STOP=1 -f "$BENCH_TMP/q.sql" >"$BENCH_TMP/q.out" 2>"$BENCH_TMP/q.err" ||
		{ cat "$BENCH_TMP/q.err" >&2; die "the SQL run of $layer on $size failed"; }
	awk -v p="$size $layer" '/^@/ { k = substr($1, 2) } /^Time: / && k != "skip" { print p, k, $2 }' "$BENCH_TMP/q.out" >>"$results"
	awk -v p="$size $layer" '/^@/ { k = substr($1, 2) }
		/ruvector gnn forward: .* worker compute / && k != "skip" { for (i = 1; i < NF; i++) if ($i == "compute") print p, (k == "first" ? "firstcompute" : k), $(i + 1) }' \
		"$BENCH_TMP/q.err" >>"$results"
}

for size in $sizes; do
	case $size in
	10k) n=10000 e=100000 nf=3 nw=10 nt=5 nt_torch=7 ;;
	100k) n=100000 e=1000000 nf=3 nw=5 nt=3 nt_torch=3 ;;
	esac
	prefix="$DATA_DIR/gnn_${size}_256"
	if [ ! -f "$prefix.nodes.tsv" ]; then
		say "generating the $size graph ($n nodes, $e edges, 256 features) in $prefix.*"
		$PY "$BENCH_DIR/gnn_data.py" gen "$n" "$e" 256 "$prefix"
	fi
	say "loading the $size graph"
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<-SQL
	CREATE TABLE nodes_$size (id bigint PRIMARY KEY, embedding vector(256));
	CREATE TABLE edges_$size (src_id bigint, dst_id bigint, weight real);
	\\copy nodes_$size FROM '$prefix.nodes.tsv'
	\\copy edges_$size FROM '$prefix.edges.tsv'
	VACUUM ANALYZE nodes_$size;
	VACUUM ANALYZE edges_$size;
	SELECT ruvector_graph_create('g_$size', 'nodes_$size', 'edges_$size', weight_column => 'weight');
	SQL
	for layer in $layers; do
		say "$size: $layer through SQL"
		if [ "$layer" = sage_lstm ]; then  # seconds per call: fewer runs
			sql_layer "$size" "$layer" 1 3 1
		else
			sql_layer "$size" "$layer" "$nf" "$nw" "$nt"
		fi
	done
	say "$size: PyTorch ($threads threads)"
	# shellcheck disable=SC2086
	$PY "$BENCH_DIR/gnn_torch.py" "$prefix" "$threads" "$nt_torch" $layers >"$BENCH_TMP/torch.out" ||
		die "the PyTorch run on $size failed"
	awk -v s="$size" '{ print s, $1, "torch", $2 }' "$BENCH_TMP/torch.out" >>"$results"
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -c "SELECT ruvector_graph_drop('g_$size')" -c "DROP TABLE nodes_$size, edges_$size, emb_out"
done

mkdir -p "$BENCH_DIR/out"
cp "$results" "$BENCH_DIR/out/gnn_results.txt"
echo
$PY "$BENCH_DIR/gnn_data.py" report "$results" "$threads" "${GNN_BENCH_OUT:-$RUVECTOR_ROOT/docs/bench-gnn.md}" \
	"Load average (1/5/15 min) before the run: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "(raw times: tests/bench/out/gnn_results.txt; written to ${GNN_BENCH_OUT:-docs/bench-gnn.md}; ruvector worker threads: $threads)"
