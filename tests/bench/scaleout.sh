#!/usr/bin/env bash
# ./run bench scaleout: sharding over postgres_fdw (docs/scale-out.md) on one machine. The same seeded
# clustered data (gen_data.py) on
#   - one node: a local table with its own ruivfflat (or ruhnsw) index, no postgres_fdw (the baseline);
#   - a coordinator whose items table is hash partitioned by id into postgres_fdw foreign partitions
#     on 1, 2 and 3 shards, each shard a ruvector cluster with its own ruivfflat (or ruhnsw) index (the
#     same lists on every shard and on the one node, so a query scans about the same rows in all:
#     probes x N / lists).
# For each layout and probes (sent to the shards with the servers' options '-c ivfflat.probes=P'; for
# ruhnsw, hnsw.ef_search):
#   - recall@10 of every query through the coordinator against exact float64 ground truth;
#   - single-client QPS through the coordinator (pgbench, prepared, a random query per transaction) and
#     its ratio to the one node's;
#   - rows each shard computes per query (the "rows scanned" of EXPLAIN ANALYZE on the shard, mean over
#     20 queries) and sends (rows of the FETCH statements, pg_stat_statements, over the pgbench run);
#   - each shard's own QPS for the same query asked directly (pgbench on the shard), and the
#     coordinator's overhead per query: 1 / QPS through the coordinator - sum over the shards of
#     1 / their direct QPS (every process runs on the same 2 cores, and one client runs one process at a
#     time, so times add up).
# All clusters run on this machine: the run measures costs, not the speed-up of real nodes (see
# docs/scale-out.md for the estimate from these costs). Writes docs/bench-scaleout.md and prints it.
#
# Environment (all optional):
#   SCALEOUT_BENCH_N        rows (default 300000)
#   SCALEOUT_BENCH_D        dimensions (default 128)
#   SCALEOUT_BENCH_SHARDS   shard counts (default "1 2 3")
#   SCALEOUT_BENCH_INDEX    ruivfflat (default) or hnsw (ruhnsw, m 16, ef_construction 64: then the
#                           "probes" of the tables are hnsw.ef_search, and the report goes to
#                           docs/bench-scaleout-hnsw.md)
#   SCALEOUT_BENCH_LISTS    lists of every ruivfflat index (default N / 1000, at least 10)
#   SCALEOUT_BENCH_PROBES   probes (default "10 30"), or hnsw.ef_search values (default "40 100")
#   SCALEOUT_BENCH_QUERIES  queries for recall and picked from by pgbench, at most 1000 (default 500)
#   SCALEOUT_BENCH_SECONDS  pgbench duration per point (default 10)
#   SCALEOUT_BENCH_FETCH    the servers' fetch_size (default 10: the LIMIT; postgres_fdw's default is 100)
#   SCALEOUT_BENCH_SHARED_BUFFERS  of each cluster (default 512MB; 300k x 128 is 160 MB of table and as
#                           much index)
. "$(dirname "$0")/lib.sh"
. "$RUVECTOR_ROOT/tests/sh/lib.sh"  # on, shard_server, shard_partition, server_option, fetched_rows
PGBENCH="$(pg_bindir)/pgbench"
[ -x "$PGBENCH" ] || die "pgbench not found in $(pg_bindir) (it comes with postgresql-15)"

N=${SCALEOUT_BENCH_N:-300000}
D=${SCALEOUT_BENCH_D:-128}
SHARDS=${SCALEOUT_BENCH_SHARDS:-1 2 3}
LISTS=${SCALEOUT_BENCH_LISTS:-$((N / 1000 < 10 ? 10 : N / 1000))}
INDEX=${SCALEOUT_BENCH_INDEX:-ruivfflat}
case $INDEX in
ruivfflat)
	GUC=ivfflat.probes KNOB=probes PROBES=${SCALEOUT_BENCH_PROBES:-10 30} REPORT=bench-scaleout.md
	USING="ruivfflat (embedding vector_l2_ops) WITH (lists = $LISTS)" INDEX_LABEL="ruivfflat lists $LISTS" ;;
hnsw)
	GUC=hnsw.ef_search KNOB=ef_search PROBES=${SCALEOUT_BENCH_PROBES:-40 100} REPORT=bench-scaleout-hnsw.md
	USING="hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)" INDEX_LABEL="ruhnsw m 16, ef_construction 64" ;;
*) die "SCALEOUT_BENCH_INDEX is ruivfflat or hnsw" ;;
esac
NQ=${SCALEOUT_BENCH_QUERIES:-500}
SECS=${SCALEOUT_BENCH_SECONDS:-10}
FETCH=${SCALEOUT_BENCH_FETCH:-10}
SB=${SCALEOUT_BENCH_SHARED_BUFFERS:-512MB}
{ [ "$NQ" -ge 20 ] && [ "$NQ" -le 1000 ]; } || die "SCALEOUT_BENCH_QUERIES must be 20..1000"
MAX_SHARDS=0
for k in $SHARDS; do
	{ [ "$k" -ge 1 ] && [ "$k" -le 9 ]; } || die "SCALEOUT_BENCH_SHARDS: shard counts are 1..9"
	[ "$k" -gt "$MAX_SHARDS" ] && MAX_SHARDS=$k
done

# Several clusters share the machine: modest shared buffers each, and the rest of the bench settings.
# No background processes that come and go (ruvector's maintenance processes, autovacuum workers: the
# tables are vacuumed and analyzed after loading): their CPU time would count in cpu_ticks.
CLUSTER_SETTINGS=("shared_buffers=$SB" "work_mem=64MB" "maintenance_work_mem=1GB" "max_parallel_workers_per_gather=0" "jit=off"
	"ruvector.auto_maintain=off" "autovacuum=off")
bench_cluster  # the coordinator, also the one node
SOCK=$BENCH_TMP CPORT=$PGPORT
shard_port() { echo $((CPORT + $1)); }
trap 'for i in $(seq 1 $MAX_SHARDS); do stop_cluster "$BENCH_TMP/s$i"; done; stop_cluster "$BENCH_TMP/db"; rm -rf "$BENCH_TMP"' EXIT
c() { on "$CPORT" "$@"; }
secs() { $PY -c "import time; print('%.1f' % (time.time() - $1))"; }

name=clustered_$((N / 1000))k_$D
[ $((N % 1000)) -eq 0 ] || name=clustered_${N}_$D
say "data: $N x $D ($name), $NQ queries"
prefix=$(gen "$N" "$D" 1000 "$name")
$PY "$BENCH_DIR/ivfflat_faiss.py" gt "$prefix"
$PY "$BENCH_DIR/ivfflat_faiss.py" queries "$prefix" "$NQ" "$BENCH_TMP/queries.tsv"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# The query of every measurement, on the coordinator, the one node and each shard asked directly.
one_query() { echo "SELECT id FROM $1 ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = $2) LIMIT 10"; }
queries_table() {  # queries_table PORT
	on "$1" "CREATE TABLE queries (qid int PRIMARY KEY, v vector($D))" "\\copy queries FROM '$BENCH_TMP/queries.tsv'" "ANALYZE queries"
}
# qps PORT TABLE PROBES: single-client QPS of one_query at PORT; probes (or ef_search) go into the
# session (a direct query) and, through the servers' options, to the shards. Prints "QPS TRANSACTIONS".
qps() {
	local log="$BENCH_TMP/pgbench.log" tps n
	printf '%s\n%s;\n' "\\set q random(1, $NQ)" "$(one_query "$2" :q)" >"$BENCH_TMP/one.sql"
	PGOPTIONS="-c $GUC=$3" "$PGBENCH" -h "$SOCK" -p "$1" -n -M prepared -c 1 -j 1 -T "$SECS" \
		-f "$BENCH_TMP/one.sql" >"$log" 2>&1 || { cat "$log" >&2; die "pgbench failed (port $1, $2)"; }
	tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$log" | head -1)
	n=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$log")
	[ -n "$tps" ] && [ -n "$n" ] || { cat "$log" >&2; die "no tps in the pgbench output"; }
	printf '%.1f %s\n' "$tps" "$n"
}
# recall PORT TABLE PROBES: recall@10 of all queries (one LATERAL statement) against the ground truth.
recall() {
	on "$1" "SET $GUC = $3" "COPY (SELECT q.qid, s.ids FROM queries q CROSS JOIN LATERAL
	  (SELECT array_agg(id) AS ids FROM ($(one_query "$2" q.qid)) t) s ORDER BY q.qid) TO STDOUT" \
		>"$BENCH_TMP/result.tsv" || die "recall query failed (port $1, $2)"
	$PY "$BENCH_DIR/ivfflat_faiss.py" recall "$prefix" "$BENCH_TMP/result.tsv"
}
# scanned PORT PROBES: mean "rows scanned" of the shard's ruivfflat scan (ruhnsw: "elements visited")
# over the first 20 queries.
scanned() {
	local sql=("SET $GUC = $2") q
	for q in $(seq 1 20); do sql+=("EXPLAIN (ANALYZE, COSTS OFF) $(one_query items "$q")"); done
	on "$1" "${sql[@]}" | sed -nE 's/.* ([0-9]+) (rows scanned|elements visited).*/\1/p' |
		awk '{ s += $1; n++ } END { if (n != 20) exit 1; printf "%.0f\n", s / n }' ||
		die "no rows scanned or elements visited in the shard's EXPLAIN ANALYZE (port $1)"
}
# cpu_ticks DATA_DIR: CPU time (clock ticks) of the cluster's exited processes, which its postmaster
# has reaped: after a pgbench run, what its backends (and, on a shard, the coordinator's connections)
# spent. Independent of what else runs on the machine, unlike wall time.
cpu_ticks() { awk '{ print $16 + $17 }' "/proc/$(head -1 "$1/postmaster.pid")/stat"; }
TICK_MS=$((1000 / $(getconf CLK_TCK)))
# cpu_ms TICKS_BEFORE DATA_DIR TRANSACTIONS: CPU milliseconds per query since TICKS_BEFORE.
cpu_ms() {
	sleep 1  # the postmaster reaps the backends that pgbench's session ended
	$PY -c "print('%.3f' % (($(cpu_ticks "$2") - $1) * $TICK_MS / $3))"
}
statements() {  # statements PORT TRANSACTIONS: statements the shard ran per query (round trips)
	on "$1" "SELECT round(sum(calls)::numeric / $2, 1) FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'"
}

RESULTS="$BENCH_TMP/results.tsv"
: >"$RESULTS"

say "one node: load, $INDEX_LABEL"
c "CREATE EXTENSION postgres_fdw" "CREATE EXTENSION pg_prewarm"
queries_table "$CPORT"
t0=$(date +%s.%N)
load "$prefix" single "$D"
c "CREATE INDEX single_idx ON single USING $USING" "ANALYZE single"
echo "one node: loaded and indexed in $(secs "$t0") s"
c "SELECT pg_prewarm('single')" "SELECT pg_prewarm('single_idx')" >/dev/null
declare -A ONE_QPS
for p in $PROBES; do
	r=$(recall "$CPORT" single "$p")
	t0=$(cpu_ticks "$BENCH_TMP/db")
	read -r q nx < <(qps "$CPORT" single "$p")
	cpu=$(cpu_ms "$t0" "$BENCH_TMP/db" "$nx")
	ONE_QPS[$p]=$q
	echo "one node, $KNOB $p: recall@10 $r, $q QPS, $cpu ms CPU per query"
	echo "one|$p|$r|$q||||||$cpu" >>"$RESULTS"
done
c "DROP TABLE single" "CHECKPOINT"  # frees its shared buffers for the shards' data

say "shards: $MAX_SHARDS clusters (shared_buffers $SB each)"
for i in $(seq 1 "$MAX_SHARDS"); do
	# pg_stat_statements counts the rows each FETCH of the coordinator's cursor returns.
	start_cluster "$BENCH_TMP/s$i" "$SOCK" "$(shard_port "$i")" "${CLUSTER_SETTINGS[@]}" \
		shared_preload_libraries=ruvector,pg_stat_statements
	on "$(shard_port "$i")" "CREATE EXTENSION ruvector" "CREATE EXTENSION pg_stat_statements" "CREATE EXTENSION pg_prewarm" \
		"CREATE TABLE route (id bigint) PARTITION BY HASH (id)"  # the coordinator's partition key, to split the file
	queries_table "$(shard_port "$i")"
	shard_server "$CPORT" "$i" "$(shard_port "$i")" fetch_size "$FETCH"
done

for k in $SHARDS; do
	say "$k shard(s): load each shard's rows, $INDEX_LABEL on each"
	c "SET client_min_messages = warning" "DROP TABLE IF EXISTS items" "CREATE TABLE items (id bigint, embedding vector($D)) PARTITION BY HASH (id)"
	t0=$(date +%s.%N)
	for i in $(seq 1 "$k"); do
		port=$(shard_port "$i")
		# Each shard reads the rows of its hash partition from the file (faster than routing 300k
		# rows through the coordinator's foreign partitions, which tests/sh/110_scaleout.sh checks).
		on "$port" "SET client_min_messages = warning" "DROP TABLE IF EXISTS items" "CREATE TABLE items (id bigint PRIMARY KEY, embedding vector($D))" \
			"\\copy items FROM '$prefix.tsv' WHERE satisfies_hash_partition('route'::regclass, $k, $((i - 1)), id)" \
			"CREATE INDEX items_idx ON items USING $USING" \
			"VACUUM ANALYZE items"
		on "$port" "SELECT pg_prewarm('items')" "SELECT pg_prewarm('items_idx')" >/dev/null
		shard_partition "$CPORT" "$i" "$k"
	done
	c "ANALYZE items"
	echo "$k shard(s): loaded and indexed in $(secs "$t0") s"
	counts=$(c "SELECT string_agg(n::text, ' ' ORDER BY p) FROM (SELECT tableoid::regclass::text p, count(*) n FROM items GROUP BY 1) s")
	total=0
	for n in $counts; do total=$((total + n)); done
	[ "$total" -eq "$N" ] || die "the coordinator sees $total rows, not $N"
	echo "rows per shard: $counts"
	plan=$(c "EXPLAIN (VERBOSE, COSTS OFF) $(one_query items 1)")
	[ "$(grep -c 'Remote SQL: .*ORDER BY (embedding OPERATOR(public.<->) \$1::public.vector([0-9]*)) ASC NULLS LAST' <<<"$plan")" -eq "$k" ] ||
		{ echo "$plan" >&2; die "the ORDER BY is not in every shard's remote SQL (plan above)"; }
	for p in $PROBES; do
		for i in $(seq 1 "$k"); do server_option "$CPORT" "shard$i" options "-c $GUC=$p"; done
		r=$(recall "$CPORT" items "$p")
		for i in $(seq 1 "$k"); do on "$(shard_port "$i")" "SELECT pg_stat_statements_reset()" >/dev/null; done
		sleep 1
		t0=$(cpu_ticks "$BENCH_TMP/db")
		declare -A T0=()
		for i in $(seq 1 "$k"); do T0[$i]=$(cpu_ticks "$BENCH_TMP/s$i"); done
		read -r q nx < <(qps "$CPORT" items "$p")
		cpu=$(cpu_ms "$t0" "$BENCH_TMP/db" "$nx")
		sent="" computed="" shard_qps="" shard_ms=0 shard_cpu="" stmts=""
		for i in $(seq 1 "$k"); do
			port=$(shard_port "$i")
			shard_cpu+="${shard_cpu:+/}$(cpu_ms "${T0[$i]}" "$BENCH_TMP/s$i" "$nx")"
			stmts+="${stmts:+/}$(statements "$port" "$nx")"
			sent+="${sent:+/}$($PY -c "print('%.1f' % ($(fetched_rows "$port") / $nx))")"
			computed+="${computed:+/}$(scanned "$port" "$p")"
			read -r sq _ < <(qps "$port" items "$p")
			shard_qps+="${shard_qps:+/}$sq"
			shard_ms=$($PY -c "print($shard_ms + 1000 / $sq)")
		done
		over=$($PY -c "print('%.3f' % (1000 / $q - $shard_ms))")
		echo "$k shard(s), $KNOB $p: recall@10 $r, $q QPS ($($PY -c "print('%.2f' % ($q / ${ONE_QPS[$p]}))")x one node);" \
			"per shard: $computed rows computed, $sent rows sent, $stmts statements, $shard_cpu ms CPU per query," \
			"$shard_qps QPS asked directly; coordinator: $cpu ms CPU per query, wall overhead $over ms per query"
		echo "$k|$p|$r|$q|$computed|$sent|$shard_qps|$over|$stmts|$cpu|$shard_cpu" >>"$RESULTS"
	done
	for i in $(seq 1 "$k"); do c "DROP FOREIGN TABLE items_$i"; on "$(shard_port "$i")" "DROP TABLE items" "CHECKPOINT"; done
done

say "report"
cpu=$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)
out="$RUVECTOR_ROOT/docs/$REPORT"
{
	echo "# Scale-out over postgres_fdw: \`./run bench scaleout\`"
	echo
	echo "Generated by tests/bench/scaleout.sh on $(date -u '+%Y-%m-%d %H:%M UTC'): $N x $D clustered rows"
	echo "(tests/bench/gen_data.py), $INDEX_LABEL on the one node and on every shard, $NQ queries"
	echo "for recall@10 (against exact float64 ground truth) and pgbench (1 client, prepared, ${SECS} s a point);"
	echo "the servers' fetch_size $FETCH; $KNOB through the servers' options '-c $GUC=...'. All clusters on this machine ($cpu x $(nproc), PostgreSQL"
	echo "$(c 'SHOW server_version' | cut -d' ' -f1), shared_buffers $SB each); load average $load_start at the start,"
	echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo
	echo "Per shard, values are shard 1/2/3. *CPU*: CPU time per query of the node's processes (its"
	echo "postmaster's reaped children after the pgbench run; on a shard, the coordinator's connections)."
	echo "*Statements*: statements the shard ran per query (pg_stat_statements: each a round trip)."
	echo "*Computed*: rows the shard's index scan computes a distance for (ruivfflat: rows scanned,"
	echo "ruhnsw: elements visited, in EXPLAIN ANALYZE, mean of 20"
	echo "queries); *sent*: rows it returns to the FETCHes per query; *direct QPS*: the same query asked of"
	echo "the shard itself; *wall overhead*: 1 / QPS through the coordinator less the sum of 1 / direct QPS"
	echo "(time spent in round trips and waiting for a core, which depends on the load)."
	echo "*Model QPS*: throughput with every node on its own machine of $(nproc) cores, saturated by"
	echo "enough clients: $(nproc) / the largest CPU per query of any node (an estimate, see docs/scale-out.md)."
	echo
	$PY - "$RESULTS" "$(nproc)" "$KNOB" <<-'EOF'
	import sys
	rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
	cores = int(sys.argv[2])
	one = {r[1]: r for r in rows if r[0] == "one"}
	print(f"| layout | {sys.argv[3]} | recall@10 | QPS | vs one node | CPU ms/query: coordinator | CPU ms/query: shards "
	      "| statements per shard | computed per shard | sent per shard | direct QPS per shard | wall overhead (ms) "
	      "| model QPS | model vs one node |")
	print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for r in rows:
	    k, p, recall, qps = r[:4]
	    base = one[p]
	    base_model = 1000 * cores / float(base[9])
	    if k == "one":
	        print(f"| one node (no fdw) | {p} | {recall} | {qps} | 1.00 | {r[9]} | | | | | | | {base_model:.0f} | 1.00 |")
	        continue
	    computed, sent, direct, over, stmts, cpu, shard_cpu = r[4:11]
	    worst = max([float(cpu)] + [float(x) for x in shard_cpu.split("/")])
	    model = 1000 * cores / worst
	    print(f"| {k} shard{'s' if k != '1' else ''} | {p} | {recall} | {qps} | {float(qps) / float(base[3]):.2f} "
	          f"| {cpu} | {shard_cpu} | {stmts} | {computed} | {sent} | {direct} | {over} | {model:.0f} "
	          f"| {model / base_model:.2f} |")
	EOF
} >"$out"
cat "$out"
