# Shared set-up for ./run bench NAME: a throwaway cluster with ruvector preloaded, and data.
# Environment from ./run: RUVECTOR_ROOT, RUVECTOR_BUILD, start_cluster/stop_cluster functions.
set -euo pipefail
PY=/usr/bin/python3  # Debian's python, where python3-numpy and python3-faiss install
BENCH_DIR="$RUVECTOR_ROOT/tests/bench"
DATA_DIR="$BENCH_DIR/data"
mkdir -p "$DATA_DIR"

bench_cluster() {
	BENCH_TMP=$(mktemp -d /tmp/ruvector-bench.XXXXXX)
	make_pg_dir "$BENCH_TMP"
	local port=$((40000 + RANDOM % 10000))
	start_cluster "$BENCH_TMP/db" "$BENCH_TMP" "$port" "shared_buffers=1GB" "work_mem=64MB" "maintenance_work_mem=2GB" "max_parallel_workers_per_gather=0" "jit=off"
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
