# Shared set-up for ./run bench NAME: a throwaway cluster with ruvector preloaded, and data.
# Environment from ./run: RUVECTOR_ROOT, RUVECTOR_BUILD, start_cluster/stop_cluster functions.
set -euo pipefail
PY=/usr/bin/python3  # Debian's python, where python3-numpy and python3-faiss install
BENCH_DIR="$RUVECTOR_ROOT/tests/bench"
DATA_DIR="$BENCH_DIR/data"
mkdir -p "$DATA_DIR"

# The benchmark cluster's settings, repeated by restart_cluster (worker_threads is postmaster-level).
# shared_buffers holds the largest dataset's table and its indexes (100k x 1536: 0.8 GB of heap and
# TOAST, 0.8 GB vector index, 0.4 GB halfvec index; 1M x 128: 0.5 + 0.5 GB), as FAISS holds its
# index in memory: with 1 GB, scans at high probes read pages back from the kernel's cache (a
# 100k x 1536 ruivfflat scan at probes 50 ran at 1.1 QPS against FAISS's 8) and QPS depended on
# what the previous step had left in shared buffers.
CLUSTER_SETTINGS=("shared_buffers=4GB" "work_mem=64MB" "maintenance_work_mem=2GB" "max_parallel_workers_per_gather=0" "jit=off")

bench_cluster() {
	BENCH_TMP=$(mktemp -d /tmp/ruvector-bench.XXXXXX)
	make_pg_dir "$BENCH_TMP"
	local port=$((40000 + RANDOM % 10000))
	start_cluster "$BENCH_TMP/db" "$BENCH_TMP" "$port" "${CLUSTER_SETTINGS[@]}"
	trap 'stop_cluster "$BENCH_TMP/db"; rm -rf "$BENCH_TMP"' EXIT
	export PGHOST="$BENCH_TMP" PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	psql -X -q -c "CREATE EXTENSION ruvector"
}

# gen N D NQ NAME: generate (once) and return the path prefix
gen() {
	local prefix="$DATA_DIR/$4.c1"  # .c1: centres from N(0, 1) (older data files used N(0, 10^2))
	[ -f "$prefix.tsv" ] || $PY "$BENCH_DIR/gen_data.py" "$1" "$2" "$3" "$prefix"
	echo "$prefix"
}

# load PREFIX TABLE D
load() {
	psql -X -q -c "CREATE TABLE $2 (id bigint PRIMARY KEY, embedding vector($3))"
	psql -X -q -c "\\copy $2 FROM '$1.tsv'"
	psql -X -q -c "VACUUM ANALYZE $2"
}

wait_worker() {
	for _ in $(seq 1 300); do
		[ "$(psql -X -At -c "SELECT state FROM ruvector_worker_status()" 2>/dev/null)" = ready ] && return 0
		sleep 0.2
	done
	die "the ruvector worker did not become ready (log: $BENCH_TMP/db/server.log)"
}

# restart_cluster [extra settings...]: the benchmark cluster again, with these settings added.
restart_cluster() {
	stop_cluster "$BENCH_TMP/db"
	start_cluster "$BENCH_TMP/db" "$BENCH_TMP" "$PGPORT" "${CLUSTER_SETTINGS[@]}" "$@"
	wait_worker
	prewarm
}

# prewarm_relation NAME: one relation into shared buffers (an index a build just wrote: builds
# write their pages directly, so a new index starts outside shared buffers).
prewarm_relation() {
	psql -X -q -At -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" -c "SELECT pg_prewarm('$1')" >/dev/null 2>&1 || true
}

# The table items (heap, TOAST, indexes) into shared buffers, so every measurement starts from the
# same cache state.
prewarm() {
	psql -X -q -At >/dev/null 2>&1 <<-'SQL' || true
	CREATE EXTENSION IF NOT EXISTS pg_prewarm;
	SELECT pg_prewarm('items');
	SELECT pg_prewarm(reltoastrelid) FROM pg_class WHERE relname = 'items' AND reltoastrelid <> 0;
	SELECT pg_prewarm(indexrelid) FROM pg_index WHERE indrelid = 'items'::regclass;
	SQL
}

worker_threads() { psql -X -At -c "SELECT threads FROM ruvector_worker_status()"; }

# recall_scan INDEX SETTINGS...: recall@10 of every row of `queries` through the index on `items`
# (one LATERAL statement ORDER BY embedding <-> q.v LIMIT 10), scored against $prefix's exact truth,
# then "|" and what EXPLAIN ANALYZE of the same statement says of INDEX's scans ("INDEX: ...").
# SETTINGS are SET statements. (ivfflat_target, hnsw_target)
recall_scan() {
	local index=$1 args=() s
	shift
	for s in "$@"; do args+=(-c "$s"); done
	local statement="SELECT q.qid, s.ids FROM queries q CROSS JOIN LATERAL
	  (SELECT array_agg(id) AS ids FROM (SELECT id FROM items ORDER BY embedding <-> q.v LIMIT 10) t) s ORDER BY q.qid"
	psql -X -q -At -v ON_ERROR_STOP=1 "${args[@]}" -c "SET enable_seqscan = off" -c "COPY ($statement) TO STDOUT" \
		>"$BENCH_TMP/result.tsv" || die "recall query failed ($*)"
	local r plan scan
	r=$($PY "$BENCH_DIR/ivfflat_faiss.py" recall "$prefix" "$BENCH_TMP/result.tsv")
	plan=$(psql -X -q -At -v ON_ERROR_STOP=1 "${args[@]}" -c "SET enable_seqscan = off" \
		-c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $statement")
	scan=$(echo "$plan" | grep -oE "$index: [^\"]*" | head -1)
	[ -n "$scan" ] || { echo "$plan" >&2; die "the statement does not use index $index"; }
	echo "$r|$scan"
}

# target_start REPORT: the set-up of a target-recall benchmark (ivfflat_target, hnsw_target): FAISS
# for the truth, the cluster; OUT (docs/REPORT), ROWS (the report's table rows), load_start.
target_start() {
	$PY -c "import faiss" 2>/dev/null || die "python3-faiss is required (apt-get install python3-faiss libopenblas0-pthread)"
	bench_cluster
	OUT="$RUVECTOR_ROOT/docs/$1"
	ROWS="$BENCH_TMP/rows.md"
	: >"$ROWS"
	load_start=$(cut -d' ' -f1-3 /proc/loadavg)
}

# target_data SIZE VARIABLE: one dataset of a target-recall benchmark (100k, 1m or 100k_1536; the
# seeded clustered sets of ./run bench ivfflat) as table `items`, its 1000 held-out queries as
# `queries` and their exact truth; sets n, d, label and prefix. VARIABLE names the setting for the error.
target_data() {
	local name
	case "${1,,}" in
	100k | 100k_128) n=100000 d=128 name=clustered_100k_128 label="100k x 128" ;;
	1m | 1m_128) n=1000000 d=128 name=clustered_1m_128 label="1M x 128" ;;
	100k_1536) n=100000 d=1536 name=clustered_100k_1536 label="100k x 1536" ;;
	*) die "unknown $2 entry '$1' (use 100k, 1m, 100k_1536)" ;;
	esac
	say "$label: data"
	prefix=$(gen "$n" "$d" 1000 "$name")
	$PY "$BENCH_DIR/ivfflat_faiss.py" gt "$prefix"
	psql -X -q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS items, queries"
	load "$prefix" items "$d"
	$PY "$BENCH_DIR/ivfflat_faiss.py" queries "$prefix" 1000 "$BENCH_TMP/queries.tsv"
	psql -X -q -c "CREATE TABLE queries (qid int PRIMARY KEY, v vector($d))" \
		-c "\\copy queries FROM '$BENCH_TMP/queries.tsv'" -c "ANALYZE queries"
}
