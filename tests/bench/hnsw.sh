#!/usr/bin/env bash
# ./run bench hnsw: the ruhnsw index against FAISS IndexHNSWFlat on the same seeded clustered data,
# M and efConstruction (method of shared/research/perf-anchors.md):
#   - build time of CREATE INDEX ... USING hnsw (m 16, ef_construction 64) with the worker's threads,
#     against FAISS add() with the same thread count;
#   - recall@10 per hnsw.ef_search against exact float64 ground truth (ties by smaller id), all queries
#     through one LATERAL statement whose plan is checked to be an Index Scan using the index;
#   - single-query QPS through SQL (pgbench, 1 client, prepared, a random query per transaction) and
#     FAISS 1-query-per-call QPS (1 OpenMP thread); the index size.
# Writes docs/bench-hnsw.md (tables, with pgvector 0.8.6's figures measured on this machine kind beside
# them) and docs/bench-hnsw.png (recall vs QPS) and prints the tables.
#
# Environment (all optional):
#   HNSW_BENCH_SIZES    datasets, any of: 100k 1m (default: both)
#   HNSW_BENCH_EF       ef_search values (default "40 100 200")
#   HNSW_BENCH_M, HNSW_BENCH_EFC   graph parameters (default 16 and 64)
#   HNSW_BENCH_QUERIES  queries for recall and QPS, at most 1000 (default 1000)
#   HNSW_BENCH_SECONDS  pgbench duration per point, also the FAISS loop duration (default 10)
#   HNSW_BENCH_SINGLE   1: also build with ruvector.worker_threads=1 (cluster restarted); default 0
. "$(dirname "$0")/lib.sh"
$PY -c "import faiss" 2>/dev/null || die "python3-faiss is required (apt-get install python3-faiss libopenblas0-pthread)"
$PY -c "import matplotlib" 2>/dev/null || die "python3-matplotlib is required for the plot (apt-get install python3-matplotlib)"
PGBENCH="$(pg_bindir)/pgbench"
[ -x "$PGBENCH" ] || die "pgbench not found in $(pg_bindir) (it comes with postgresql-15)"

SIZES=${HNSW_BENCH_SIZES:-100k 1m}
EFS=${HNSW_BENCH_EF:-40 100 200}
M=${HNSW_BENCH_M:-16}
EFC=${HNSW_BENCH_EFC:-64}
SECS=${HNSW_BENCH_SECONDS:-10}
NQ=${HNSW_BENCH_QUERIES:-1000}
SINGLE=${HNSW_BENCH_SINGLE:-0}
{ [ "$NQ" -ge 1 ] && [ "$NQ" -le 1000 ]; } || die "HNSW_BENCH_QUERIES must be 1..1000"

bench_cluster
RESULTS="$BENCH_TMP/results.jsonl"
: >"$RESULTS"
record() { echo "$1" >>"$RESULTS"; }

# build_index: CREATE INDEX timed by psql after a CHECKPOINT and a sync; prints seconds. Leaves the index.
build_index() {
	psql -X -q -c "SET client_min_messages = warning" -c "DROP INDEX IF EXISTS items_hnsw"
	psql -X -q -c "CHECKPOINT" && sync
	local s
	s=$(psql -X -q -v ON_ERROR_STOP=1 2>"$BENCH_TMP/build.err" <<-SQL | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
	\timing on
	CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops) WITH (m = $M, ef_construction = $EFC);
	SQL
	) || true
	[ -n "$s" ] || { cat "$BENCH_TMP/build.err" >&2; die "CREATE INDEX ... USING hnsw failed"; }
	$PY -c "print('%.3f' % ($s / 1000))"
}

check_plans() {
	local plans n
	plans=$(psql -X -At -v ON_ERROR_STOP=1 <<-SQL
	EXPLAIN (COSTS OFF) SELECT q.qid, s.ids FROM queries q CROSS JOIN LATERAL
	  (SELECT array_agg(id) AS ids FROM (SELECT id FROM items ORDER BY embedding <-> q.v LIMIT 10) t) s;
	PREPARE one(int) AS SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = \$1) LIMIT 10;
	SET plan_cache_mode = force_generic_plan;
	EXPLAIN (COSTS OFF) EXECUTE one(1);
	SQL
	) || die "EXPLAIN failed"
	n=$(grep -c "Index Scan using items_hnsw on items" <<<"$plans" || true)
	[ "$n" -eq 2 ] || { echo "$plans" >&2; die "the benchmark queries do not all use the hnsw index (plans above)"; }
}

pgbench_qps() {
	local log="$BENCH_TMP/pgbench.log" tps
	PGOPTIONS="-c hnsw.ef_search=$1" "$PGBENCH" -n -M prepared -c 1 -j 1 -T "$SECS" -f "$BENCH_TMP/one.sql" >"$log" 2>&1 ||
		{ cat "$log" >&2; die "pgbench failed"; }
	tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$log" | head -1)
	[ -n "$tps" ] || { cat "$log" >&2; die "no tps in the pgbench output"; }
	echo "$tps"
}

recall_sql() {
	local out="$BENCH_TMP/result.tsv"
	psql -X -q -At -v ON_ERROR_STOP=1 -c "SET hnsw.ef_search = $1" -c "COPY (SELECT q.qid, s.ids FROM queries q CROSS JOIN LATERAL
	  (SELECT array_agg(id) AS ids FROM (SELECT id FROM items ORDER BY embedding <-> q.v LIMIT 10) t) s
	  ORDER BY q.qid) TO STDOUT" >"$out" || die "recall query failed (ef_search $1)"
	$PY "$BENCH_DIR/ivfflat_faiss.py" recall "$prefix" "$out"
}

threads=$(worker_threads)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# shellcheck disable=SC2086
efs_csv=$(echo $EFS | tr ' ' ',')
say "worker threads: $threads; datasets: $SIZES; m $M, ef_construction $EFC; ef_search: $EFS; ${SECS}s per QPS point"
cat >"$BENCH_TMP/one.sql" <<-EOF
\set q random(1, $NQ)
SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = :q) LIMIT 10;
EOF

for size in $SIZES; do
	case "${size,,}" in
	100k | 100k_128) n=100000 d=128 name=clustered_100k_128 label="100k x 128" ;;
	1m | 1m_128) n=1000000 d=128 name=clustered_1m_128 label="1M x 128" ;;
	*) die "unknown HNSW_BENCH_SIZES entry '$size' (use 100k, 1m)" ;;
	esac
	say "$label: data"
	prefix=$(gen "$n" "$d" 1000 "$name")
	$PY "$BENCH_DIR/ivfflat_faiss.py" gt "$prefix"
	$PY "$BENCH_DIR/ivfflat_faiss.py" queries "$prefix" "$NQ" "$BENCH_TMP/queries.tsv"
	psql -X -q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS items, queries"
	load "$prefix" items "$d"
	psql -X -q -c "CREATE TABLE queries (qid int PRIMARY KEY, v vector($d))" \
		-c "\\copy queries FROM '$BENCH_TMP/queries.tsv'" -c "ANALYZE queries"
	prewarm

	if [ "$SINGLE" = 1 ] && [ "$threads" -ne 1 ]; then
		say "$label: build with ruvector.worker_threads=1"
		restart_cluster "ruvector.worker_threads=1"
		s=$(build_index)
		echo "1 thread: CREATE INDEX $s s"
		record "{\"kind\":\"ruv_build\",\"dataset\":\"$label\",\"threads\":1,\"seconds\":$s}"
		restart_cluster
	fi

	say "$label: build ($threads threads)"
	s=$(build_index)
	size_bytes=$(psql -X -At -c "SELECT pg_relation_size('items_hnsw')")
	echo "$threads threads: CREATE INDEX $s s, index size $((size_bytes / 1048576)) MB"
	record "{\"kind\":\"ruv_build\",\"dataset\":\"$label\",\"threads\":$threads,\"seconds\":$s,\"index_bytes\":$size_bytes}"
	prewarm
	check_plans
	printf '%-10s %-10s %-10s\n' ef_search recall@10 QPS
	for ef in $EFS; do
		r=$(recall_sql "$ef")
		q=$(pgbench_qps "$ef")
		printf '%-10s %-10s %-10s\n' "$ef" "$r" "$q"
		record "{\"kind\":\"ruv_query\",\"dataset\":\"$label\",\"ef_search\":$ef,\"recall\":$r,\"qps\":$q,\"nq\":$NQ}"
	done
	psql -X -q -c "DROP TABLE items, queries"

	say "$label: FAISS IndexHNSWFlat"
	$PY "$BENCH_DIR/hnsw_faiss.py" hnsw "$prefix" "$label" "$M" "$EFC" "$threads" "$efs_csv" "$SECS" "$NQ" | tee -a "$RESULTS"
done

say "report"
$PY "$BENCH_DIR/hnsw_report.py" "$RESULTS" "$RUVECTOR_ROOT/docs/bench-hnsw.md" "$RUVECTOR_ROOT/docs/bench-hnsw.png" \
	"threads=$threads" "m=$M" "ef_construction=$EFC" "seconds=$SECS" "queries=$NQ" \
	"faiss=$($PY -c "import faiss; print(faiss.__version__)")" \
	"cpu=$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1) x $(nproc)" \
	"pg=$(psql -X -At -c 'SHOW server_version')" "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
	"openblas_coretype=${OPENBLAS_CORETYPE:-unset}" "loadavg=$load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
