#!/usr/bin/env bash
# ./run bench distance: the distance kernels' throughput, then exact top-10 through SQL
# (ORDER BY embedding <-> q LIMIT 10) with ruvector's exact scan against the generic plan (Limit ->
# Sort -> Seq Scan, which is pgvector's plan: ruvector.enable_exact_scan = off) in the same run, and
# FAISS IndexFlatL2 one query per call (1 thread), on the seeded clustered data.
#
#   - single-query QPS through SQL: pgbench, 1 client, prepared statements, a random query id per
#     transaction; the plain query and a filtered one that keeps 10% of the rows (id % 10 = 3);
#   - CPU time per query of the backend (/proc/PID/schedstat over every query once, a prepared generic
#     plan) and of the FAISS process: on a machine shared with other work the wall-clock QPS swings
#     with the load, CPU time much less, so the CPU ratios are the ones to read there;
#   - the plans are checked (the custom scan when on, a Sort when off), and the top-10 of every query
#     must be the same both ways (ids and order).
#
# Environment (all optional):
#   DIST_BENCH_SIZES    NNk_D[_plain] entries: NN thousand rows of D dimensions; _plain stores the
#                       column with STORAGE PLAIN (in the row, as pgvector's README advises for speed)
#                       instead of the type's default EXTERNAL (TOAST: 1536-d rows live out of line).
#                       Default: 100k_128 100k_1536 100k_1536_plain; reduced sizes such as 20k_128 or
#                       5k_1536 check the script on a loaded machine
#   DIST_BENCH_QUERIES  queries picked from (default 300)
#   DIST_BENCH_SECONDS  pgbench duration per point and FAISS loop duration (default 10)
#   DIST_BENCH_KERNELS  1 (default): also run the kernel microbenchmark; 0 skips it
#   DIST_BENCH_PARALLEL 1 (default): also time parallel query (2 workers, parallel costs 0 so
#                       that both plans go parallel: Gather Merge over the parallel-aware exact
#                       scan, or over a Sort of a Parallel Seq Scan), and report the plan the
#                       planner picks at its default costs; 0 skips it
# Run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` (the FAISS reference).
. "$(dirname "$0")/lib.sh"
SIZES=${DIST_BENCH_SIZES:-100k_128 100k_1536 100k_1536_plain}
NQ=${DIST_BENCH_QUERIES:-300}
SECS=${DIST_BENCH_SECONDS:-10}
PGBENCH="$(pg_bindir)/pgbench"
$PY -c "import faiss" 2>/dev/null || die "python3-faiss is required (apt-get install python3-faiss libopenblas0-pthread)"

if [ "${DIST_BENCH_KERNELS:-1}" = 1 ]; then
	cmake --build "$RUVECTOR_BUILD" --target kernel_bench -j"$(nproc)" >/dev/null
	echo "== kernels (single thread) =="
	"$RUVECTOR_BUILD/kernel_bench"
fi

bench_cluster

# Session settings of the parallel runs: two workers, and parallel plans at no extra cost.
PARALLEL="-c max_parallel_workers_per_gather=2 -c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0"

# qps EXACT SCRIPT [SETTINGS]: single-client QPS of a one-query pgbench script with the exact scan
# on or off (and more -c settings).
qps() {
	local log="$BENCH_TMP/pgbench.log"
	PGOPTIONS="-c ruvector.enable_exact_scan=$1 ${3:-}" "$PGBENCH" -n -M prepared -c 1 -j 1 -T "$SECS" -f "$2" >"$log" 2>&1 ||
		{ cat "$log" >&2; die "pgbench failed"; }
	local tps
	tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$log" | head -1)
	[ -n "$tps" ] || { cat "$log" >&2; die "no tps in the pgbench output"; }
	echo "$tps"
}

# plan_has EXACT WHERE WANT [SETTINGS]: whether the plan of the benchmark query has WANT.
plan_has() {
	PGOPTIONS="-c ruvector.enable_exact_scan=$1 ${4:-}" psql -X -At -v ON_ERROR_STOP=1 -c "EXPLAIN (COSTS OFF)
	  SELECT id FROM items $2 ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = 1) LIMIT 10" | grep -qF "$3"
}

# check_plan EXACT WHERE: the plan of the benchmark query has the custom scan (on) or a Sort (off).
check_plan() {
	local want="Custom Scan (ruvector exact scan)"
	[ "$1" = off ] && want="Sort"
	plan_has "$1" "$2" "$want" || die "enable_exact_scan=$1: the plan has no '$want'"
}

# same_results WHERE: the top-10 of every query, exact scan on and off, must be equal.
same_results() {
	local q="COPY (SELECT q.qid, s.ids FROM queries q CROSS JOIN LATERAL (SELECT array_agg(id) AS ids FROM
	  (SELECT id FROM items $1 ORDER BY embedding <-> q.v LIMIT 10) t) s ORDER BY q.qid) TO STDOUT"
	PGOPTIONS="-c ruvector.enable_exact_scan=on" psql -X -At -v ON_ERROR_STOP=1 -c "$q" >"$BENCH_TMP/on.tsv"
	PGOPTIONS="-c ruvector.enable_exact_scan=off" psql -X -At -v ON_ERROR_STOP=1 -c "$q" >"$BENCH_TMP/off.tsv"
	cmp -s "$BENCH_TMP/on.tsv" "$BENCH_TMP/off.tsv" || die "exact scan and generic plan differ ($1)"
	echo "$(wc -l <"$BENCH_TMP/on.tsv") queries: same top-10 both ways"
}

# cpu_ms EXACT WHERE: the backend's CPU time per query, each of the queries run once through a
# prepared generic plan.
cpu_ms() {
	{
		echo "SET ruvector.enable_exact_scan = $1;"
		echo "SET plan_cache_mode = force_generic_plan;"
		echo "PREPARE p(int) AS SELECT id FROM items $2 ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = \$1) LIMIT 10;"
		echo "EXECUTE p(1);"
		echo "SELECT pg_backend_pid() AS pid \\gset"
		echo "\\setenv RVPID :pid"
		echo "\\o /dev/null"
		echo "\\! cut -d' ' -f1 /proc/\$RVPID/schedstat >$BENCH_TMP/cpu0"
		for ((i = 1; i <= nq; i++)); do echo "EXECUTE p($i);"; done
		echo "\\! cut -d' ' -f1 /proc/\$RVPID/schedstat >$BENCH_TMP/cpu1"
	} | psql -X -q -v ON_ERROR_STOP=1 >/dev/null || die "cpu_ms: the queries failed"
	$PY -c "print('%.3f' % (($(cat "$BENCH_TMP/cpu1") - $(cat "$BENCH_TMP/cpu0")) / 1e6 / $nq))"
}

ratio() { $PY -c "print('%.2f' % ($1 / $2))"; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
par_report=""
report="| data | query | exact scan QPS | generic QPS | FAISS flat QPS | exact scan CPU ms/query | generic CPU ms/query | FAISS CPU ms/query | exact / generic (QPS; CPU) | exact / FAISS (QPS; CPU) |
|---|---|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
	[[ ${size,,} =~ ^([0-9]+)k_([0-9]+)(_plain)?$ ]] || die "unknown DIST_BENCH_SIZES entry '$size' (use NNk_D[_plain], e.g. 100k_128)"
	n=$((BASH_REMATCH[1] * 1000)) d=${BASH_REMATCH[2]} plain=${BASH_REMATCH[3]}
	label="${BASH_REMATCH[1]}k x $d${plain:+ (plain)}"
	say "$label: data"
	prefix=$(gen "$n" "$d" 1000 "clustered_${BASH_REMATCH[1]}k_$d")
	psql -X -q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS items, queries"
	if [ -n "$plain" ]; then
		psql -X -q -c "CREATE TABLE items (id bigint PRIMARY KEY, embedding vector($d))" \
			-c "ALTER TABLE items ALTER COLUMN embedding SET STORAGE PLAIN" \
			-c "\\copy items FROM '$prefix.tsv'" -c "VACUUM ANALYZE items"
	else
		load "$prefix" items "$d"
	fi
	$PY "$BENCH_DIR/ivfflat_faiss.py" queries "$prefix" "$NQ" "$BENCH_TMP/queries.tsv"
	psql -X -q -c "CREATE TABLE queries (qid int PRIMARY KEY, v vector($d))" \
		-c "\\copy queries FROM '$BENCH_TMP/queries.tsv'" -c "VACUUM ANALYZE queries"
	nq=$(psql -X -At -c "SELECT count(*) FROM queries")
	read -r faiss faiss_cpu < <(env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY "$BENCH_DIR/distance_faiss.py" "$prefix" "$SECS" "$nq")
	for where in "" "WHERE id % 10 = 3"; do
		check_plan on "$where"
		check_plan off "$where"
		same_results "$where"
		printf '\\set q random(1, %s)\nSELECT id FROM items %s ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = :q) LIMIT 10;\n' \
			"$nq" "$where" >"$BENCH_TMP/one.sql"
		on=$(qps on "$BENCH_TMP/one.sql")
		off=$(qps off "$BENCH_TMP/one.sql")
		on_cpu=$(cpu_ms on "$where")
		off_cpu=$(cpu_ms off "$where")
		vs_generic="$(ratio "$on" "$off")x; $(ratio "$off_cpu" "$on_cpu")x"
		if [ -z "$where" ]; then
			line="| $label | all rows | $on | $off | $faiss | $on_cpu | $off_cpu | $faiss_cpu | $vs_generic | $(ratio "$on" "$faiss")x; $(ratio "$faiss_cpu" "$on_cpu")x |"
		else
			line="| $label | $where (10%) | $on | $off | | $on_cpu | $off_cpu | | $vs_generic | |"
		fi
		echo "$line"
		report+=$'\n'"$line"
		[ "${DIST_BENCH_PARALLEL:-1}" = 1 ] || continue
		# Even at zero parallel costs the planner keeps a scan serial where the pages, which every
		# participant's share still pays in the cost model, dominate (1536-d rows in the row).
		if plan_has on "$where" "Parallel Custom Scan (ruvector exact scan)" "$PARALLEL"; then
			par_on=$(qps on "$BENCH_TMP/one.sql" "$PARALLEL")
		else
			par_on="serial plan"
		fi
		if plan_has off "$where" "Parallel Seq Scan" "$PARALLEL"; then
			par_off=$(qps off "$BENCH_TMP/one.sql" "$PARALLEL")
		else
			par_off="serial plan"
		fi
		# What the planner picks with 2 workers allowed at its default parallel costs.
		picked=$(PGOPTIONS="-c max_parallel_workers_per_gather=2" psql -X -At -c "EXPLAIN (COSTS OFF)
		  SELECT id FROM items $where ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = 1) LIMIT 10" |
			grep -qF "Parallel Custom Scan" && echo parallel || echo serial)
		par_ratio="–" par_vs="–"
		[[ $par_on == serial* ]] || par_ratio="$(ratio "$par_on" "$on")x"
		[[ $par_on == serial* || $par_off == serial* ]] || par_vs="$(ratio "$par_on" "$par_off")x"
		line="| $label | ${where:-all rows} | $on | $par_on | $par_ratio | $par_off | $par_vs | $picked |"
		echo "$line"
		par_report+=$'\n'"$line"
	done
done
echo
echo "load average before / after: $load_start / $(cut -d' ' -f1-3 /proc/loadavg) (2 vCPUs)"
echo "$report"
if [ "${DIST_BENCH_PARALLEL:-1}" = 1 ]; then
	echo
	echo "Parallel query (2 workers; settings: $PARALLEL):"
	echo "| data | query | exact scan QPS, serial | exact scan QPS, parallel | parallel / serial | generic QPS, parallel | parallel exact / parallel generic | planner's pick at default costs |"
	echo "|---|---|---|---|---|---|---|---|$par_report"
fi
