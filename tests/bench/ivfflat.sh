#!/usr/bin/env bash
# ./run bench ivfflat: the ruivfflat index against FAISS IndexIVFFlat (IndexFlatL2 quantizer) on the same
# seeded clustered data, lists and probes (method of shared/research/perf-anchors.md):
#   - build time of CREATE INDEX ... USING ruivfflat, with the worker's default thread count and with
#     ruvector.worker_threads=1 (cluster restarted), against FAISS train+add with the same thread counts;
#   - recall@10 per probes against exact float64 ground truth (ties by smaller id), all queries run through
#     one LATERAL statement whose plan is checked to be an Index Scan using the ruivfflat index;
#   - single-query QPS through SQL (pgbench, 1 client, prepared, a random query id per transaction) and
#     FAISS 1-query-per-call QPS (1 OpenMP thread); exact-search QPS (seq scan vs IndexFlatL2).
# Writes docs/bench-ivfflat.md (tables) and docs/bench-ivfflat.png (recall vs QPS) and prints the tables.
#
# Environment (all optional):
#   IVF_BENCH_SIZES    datasets, any of: 100k 1m 100k_1536 (default: all three, in that order)
#   IVF_BENCH_LISTS    default "100 1000"
#   IVF_BENCH_PROBES   default "1 5 10 20 50"
#   IVF_BENCH_QUERIES  queries used for recall and picked from by pgbench and the FAISS loop, at most 1000
#                      (default 1000; 300 for 100k_1536, where a recall pass at probes >= 5 over 1000 queries
#                      takes 1-2 minutes per point at 7-15 QPS and recall is already 1.0 from probes 5 on)
#   IVF_BENCH_SECONDS  pgbench duration per point, also the FAISS 1-query loop duration (default 10)
#   IVF_BENCH_SINGLE   1 (default): also build with ruvector.worker_threads=1; 0 skips it
#   IVF_BENCH_TYPES    other element types measured on 100k_1536 at the first of IVF_BENCH_LISTS and at
#                      IVF_BENCH_TYPE_PROBES (default "10 20 50"; halfvec at the first only): "halfvec bit"
#                      (default) or "" to skip. halfvec:
#                      an expression index (embedding::halfvec(d)) halfvec_l2_ops against the vector index
#                      (size, recall, QPS); bit: (binary_quantize(embedding)::bit(d)) bit_hamming_ops, its
#                      top IVF_BENCH_RERANK (default 100) re-ranked by the full vector, as pgvector's README;
#                      sq8: the same column with quantizer = sq8 (issue 19; its default rerank), beside FAISS
#                      IndexIVFScalarQuantizer (SQ8) at the same lists and probes; rabitq (not in the default):
#                      quantizer = rabitq with its default rerank and epsilon, beside FAISS IndexIVFPQ
#                      (M = d/8 bytes a vector, as rabitq's codes; alone and with IndexRefineFlat, k_factor 4)
#                      at the same lists and probes; sq8 and rabitq on every dataset
#                      (halfvec and bit on 100k_1536 only)
# Runtime with the defaults on 2 shared vCPUs: about 6 min for 100k, 11 min for 1m, 15 min for 100k_1536
# (all three with 1000 queries each took 39 min); the first run adds about 1-2 min per large dataset to
# generate its data and ground truth (cached in tests/bench/data).
. "$(dirname "$0")/lib.sh"
$PY -c "import faiss" 2>/dev/null || die "python3-faiss is required (apt-get install python3-faiss libopenblas0-pthread)"
$PY -c "import matplotlib" 2>/dev/null || die "python3-matplotlib is required for the plot (apt-get install python3-matplotlib)"
PGBENCH="$(pg_bindir)/pgbench"
[ -x "$PGBENCH" ] || die "pgbench not found in $(pg_bindir) (it comes with postgresql-15)"

SIZES=${IVF_BENCH_SIZES:-100k 1m 100k_1536}
LISTS=${IVF_BENCH_LISTS:-100 1000}
PROBES=${IVF_BENCH_PROBES:-1 5 10 20 50}
SECS=${IVF_BENCH_SECONDS:-10}
SINGLE=${IVF_BENCH_SINGLE:-1}
TYPES=${IVF_BENCH_TYPES-halfvec bit sq8}
TYPE_PROBES=${IVF_BENCH_TYPE_PROBES:-10 20 50}
RERANK=${IVF_BENCH_RERANK:-100}
[ -z "${IVF_BENCH_QUERIES:-}" ] || { [ "$IVF_BENCH_QUERIES" -ge 1 ] && [ "$IVF_BENCH_QUERIES" -le 1000 ]; } ||
	die "IVF_BENCH_QUERIES must be 1..1000"

bench_cluster
RESULTS="$BENCH_TMP/results.jsonl"
: >"$RESULTS"
record() { echo "$1" >>"$RESULTS"; }

# build_index LISTS: CREATE INDEX timed by psql; prints the best of 2 or 3 builds (a third while the
# first two took < 10 s in total; one build alone was off by up to 2x on this VM), each after a
# CHECKPOINT and a sync, in seconds, followed by that build's phase times as JSON fields
# (from the build's DEBUG1 line: sampling, k-means, assigning, writing, fsync). Leaves the index in place.
build_index() {
	local lists=$1 best="" best_phases="" total=0 s phases round
	for round in 1 2 3; do
		psql -X -q -c "SET client_min_messages = warning" -c "DROP INDEX IF EXISTS items_ivf"
		# Every build starts with no dirty pages, in PostgreSQL or in the kernel: otherwise the
		# writeback of the load or of the build before throttles this build's writes.
		psql -X -q -c "CHECKPOINT" && sync
		s=$(psql -X -q -v ON_ERROR_STOP=1 2>"$BENCH_TMP/build.err" <<-SQL | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
		SET client_min_messages = debug1;
		\timing on
		CREATE INDEX items_ivf ON items USING ruivfflat (embedding vector_l2_ops) WITH (lists = $lists);
		SQL
		) || true
		[ -n "$s" ] || { cat "$BENCH_TMP/build.err" >&2; die "CREATE INDEX ... USING ruivfflat (lists = $lists) failed"; }
		phases=$(sed -nE 's/.*ruivfflat build: sampling ([0-9.]+) s, k-means ([0-9.]+) s, assigning ([0-9.]+) s \(([a-z ]+)\), writing ([0-9.]+) s, fsync ([0-9.]+) s.*/"sampling":\1,"kmeans":\2,"assigning":\3,"path":"\4","writing":\5,"fsync":\6/p' "$BENCH_TMP/build.err")
		s=$($PY -c "print($s / 1000)")
		if [ -z "$best" ] || $PY -c "import sys; sys.exit(0 if $s < $best else 1)"; then
			best=$s best_phases=$phases
		fi
		total=$($PY -c "print($total + $s)")
		[ "$round" = 1 ] || $PY -c "import sys; sys.exit(0 if $total < 10 else 1)" || break
	done
	$PY -c "print('%.3f' % $best)"
	echo "${best_phases:-\"path\":\"unknown\"}"
}

# check_plans: both query forms must use the ruivfflat index (custom and generic plans for pgbench's).
check_plans() {
	local plans
	plans=$(psql -X -At -v ON_ERROR_STOP=1 <<-SQL
	EXPLAIN (COSTS OFF) SELECT q.qid, s.ids FROM queries q CROSS JOIN LATERAL
	  (SELECT array_agg(id) AS ids FROM (SELECT id FROM items ORDER BY embedding <-> q.v LIMIT 10) t) s;
	\echo ----
	PREPARE one(int) AS SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = \$1) LIMIT 10;
	SET plan_cache_mode = force_custom_plan;
	EXPLAIN (COSTS OFF) EXECUTE one(1);
	\echo ----
	SET plan_cache_mode = force_generic_plan;
	EXPLAIN (COSTS OFF) EXECUTE one(1);
	SQL
	) || die "EXPLAIN failed"
	local n
	n=$(grep -c "Index Scan using items_ivf on items" <<<"$plans" || true)
	if [ "$n" -ne 3 ]; then
		echo "$plans" >&2
		die "the benchmark queries do not all use the ruivfflat index (plans above)"
	fi
	echo "plans: LATERAL, prepared custom and generic all use 'Index Scan using items_ivf' (ok)"
}

# pgbench_qps PROBES|exact: single-client QPS of the one-query script, a random query id per transaction.
# Every QPS point draws the same sequence of query ids (--random-seed): on clustered data one query
# scans 5x the rows of another at the same probes, so points that ran different queries moved by up
# to a third between runs (the halfvec/vector ratio of issue 17 read 1.48-1.96x).
PGBENCH_SEED=${IVF_BENCH_SEED:-20261207}
pgbench_qps() {
	local opts="-c ruvector.ivfflat_probes=$1" log="$BENCH_TMP/pgbench.log"
	[ "$1" = exact ] && opts="-c enable_indexscan=off"
	PGOPTIONS="$opts" "$PGBENCH" -n -M prepared -c 1 -j 1 -T "$SECS" --random-seed="$PGBENCH_SEED" -f "$BENCH_TMP/one.sql" >"$log" 2>&1 ||
		{ cat "$log" >&2; die "pgbench failed"; }
	local tps
	tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$log" | head -1)
	[ -n "$tps" ] || { cat "$log" >&2; die "no tps in the pgbench output"; }
	echo "$tps"
}

# recall_sql PROBES|exact LIMIT_QUERIES: all queries in one LATERAL statement, scored against the truth.
recall_sql() {
	local set="SET ruvector.ivfflat_probes = $1" out="$BENCH_TMP/result.tsv"
	[ "$1" = exact ] && set="SET enable_indexscan = off"
	psql -X -q -At -v ON_ERROR_STOP=1 -c "$set" -c "COPY (SELECT q.qid, s.ids FROM queries q CROSS JOIN LATERAL
	  (SELECT array_agg(id) AS ids FROM (SELECT id FROM items ORDER BY embedding <-> q.v LIMIT 10) t) s
	  WHERE q.qid <= $2 ORDER BY q.qid) TO STDOUT" >"$out" || die "recall query failed (probes $1)"
	$PY "$BENCH_DIR/ivfflat_faiss.py" recall "$prefix" "$out"
}

# type_rows D LISTS: the halfvec and bit rows of issue 17 and the sq8 rows of issue 19 (see
# IVF_BENCH_TYPES), on the loaded table.
type_rows() {
	local d=$1 lists=$2 kind expr opclass query r q size with rerank
	for kind in $TYPES; do
		with="" rerank=$RERANK
		case $kind in
		halfvec)
			expr="(embedding::halfvec($d))" opclass=halfvec_l2_ops
			query="SELECT id FROM items ORDER BY embedding::halfvec($d) <-> (SELECT v FROM queries WHERE qid = QID)::halfvec($d) LIMIT 10" ;;
		bit)
			expr="(binary_quantize(embedding)::bit($d))" opclass=bit_hamming_ops
			query="SELECT id FROM (SELECT id, embedding FROM items ORDER BY binary_quantize(embedding)::bit($d) <~> binary_quantize((SELECT v FROM queries WHERE qid = QID)) LIMIT $RERANK) c ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = QID) LIMIT 10" ;;
		sq8 | rabitq)
			expr="(embedding)" opclass=vector_l2_ops with=", quantizer = $kind"
			query="SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = QID) LIMIT 10" ;;
		*) die "unknown IVF_BENCH_TYPES entry '$kind' (use halfvec, bit, sq8, rabitq)" ;;
		esac
		say "$label, lists $lists: $kind index"
		psql -X -q -c "SET client_min_messages = warning" -c "DROP INDEX IF EXISTS items_ivf_type" -c "CHECKPOINT"
		psql -X -q -v ON_ERROR_STOP=1 -c "CREATE INDEX items_ivf_type ON items USING ruivfflat ($expr $opclass) WITH (lists = $lists$with)" ||
			die "CREATE INDEX ($kind) failed"
		# Into shared buffers as the vector index went (untouched buffers, in block order): prewarming
		# right after DROP INDEX items_ivf would place its pages in the dropped index's buffers,
		# which PostgreSQL frees to the head of the free list one by one, so in reverse order, a
		# layout that cost the halfvec scan a fifth to a half more CPU a query (docs/benchmarks.md,
		# issue 17).
		restart_cluster
		size=$(psql -X -At -c "SELECT pg_relation_size('items_ivf_type')")
		[ "$kind" = sq8 ] || [ "$kind" = rabitq ] && rerank=$(psql -X -At -c "SELECT rerank FROM ruvector_ivfflat_stats('items_ivf_type')")
		# halfvec at the first probes only (its goals are at probes 10); bit at each (its recall
		# is the IVF's over 0/1 rows: more probes are its knob).
		for tp in $TYPE_PROBES; do
			[ "$kind" = halfvec ] && [ "$tp" != "${TYPE_PROBES%% *}" ] && continue
			PGOPTIONS="-c ruvector.ivfflat_probes=$tp" psql -X -At -c "EXPLAIN (COSTS OFF) ${query//QID/1}" |
				grep -q "Index Scan using items_ivf_type" ||
				{ psql -X -c "EXPLAIN (COSTS OFF) ${query//QID/1}" >&2; die "the $kind query does not use its index at probes $tp"; }
			psql -X -q -At -v ON_ERROR_STOP=1 -c "SET ruvector.ivfflat_probes = $tp" -c "COPY (SELECT q.qid,
			  (SELECT array_agg(id) FROM (${query//QID/q.qid}) t) FROM queries q ORDER BY q.qid) TO STDOUT" \
				>"$BENCH_TMP/result.tsv" || die "$kind recall query failed"
			r=$($PY "$BENCH_DIR/ivfflat_faiss.py" recall "$prefix" "$BENCH_TMP/result.tsv")
			printf '%s\n%s;\n' '\set q random(1, '"$NQ"')' "${query//QID/:q}" >"$BENCH_TMP/type.sql"
			q=$(PGOPTIONS="-c ruvector.ivfflat_probes=$tp" "$PGBENCH" -n -M prepared -c 1 -j 1 -T "$SECS" --random-seed="$PGBENCH_SEED" \
				-f "$BENCH_TMP/type.sql" 2>&1 | sed -nE 's/^tps = ([0-9.]+) .*/\1/p' | head -1)
			[ -n "$q" ] || die "pgbench failed ($kind)"
			echo "$kind: index $((size / 1048576)) MB, probes $tp: recall@10 $r, $q QPS"
			record "{\"kind\":\"ruv_type\",\"type\":\"$kind\",\"dataset\":\"$label\",\"lists\":$lists,\"probes\":$tp,\"recall\":$r,\"qps\":$q,\"index_bytes\":$size,\"rerank\":$rerank}"
		done
		psql -X -q -c "DROP INDEX items_ivf_type"
		if [ "$kind" = sq8 ]; then
			say "$label, lists $lists: FAISS IndexIVFScalarQuantizer (SQ8)"
			# shellcheck disable=SC2086
			$PY "$BENCH_DIR/ivfflat_faiss.py" ivfsq8 "$prefix" "$label" "$lists" "$threads" "$(echo $TYPE_PROBES | tr ' ' ',')" "$SECS" "$NQ" |
				tee -a "$RESULTS"
		fi
		if [ "$kind" = rabitq ]; then
			say "$label, lists $lists: FAISS IndexIVFPQ (M = d/8, 8 bits), alone and with IndexRefineFlat"
			# shellcheck disable=SC2086
			$PY "$BENCH_DIR/ivfflat_faiss.py" ivfpq "$prefix" "$label" "$lists" "$threads" "$(echo $TYPE_PROBES | tr ' ' ',')" "$SECS" "$NQ" |
				tee -a "$RESULTS"
		fi
	done
}

threads=$(worker_threads)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "worker threads: $threads; datasets: $SIZES; lists: $LISTS; probes: $PROBES; ${SECS}s per QPS point"
queries_meta=""
# shellcheck disable=SC2086  # word splitting collapses repeated spaces
probes_csv=$(echo $PROBES | tr ' ' ',')

for size in $SIZES; do
	case "${size,,}" in
	100k | 100k_128) n=100000 d=128 name=clustered_100k_128 label="100k x 128" NQ=1000 ;;
	1m | 1m_128) n=1000000 d=128 name=clustered_1m_128 label="1M x 128" NQ=1000 ;;
	100k_1536) n=100000 d=1536 name=clustered_100k_1536 label="100k x 1536" NQ=300 ;;
	10k_1536) n=10000 d=1536 name=clustered_10k_1536 label="10k x 1536" NQ=100 ;;  # a quick check of the script
	*) die "unknown IVF_BENCH_SIZES entry '$size' (use 100k, 1m, 100k_1536)" ;;
	esac
	NQ=${IVF_BENCH_QUERIES:-$NQ}
	queries_meta+="${queries_meta:+, }$label: $NQ"
	cat >"$BENCH_TMP/one.sql" <<-EOF
	\set q random(1, $NQ)
	SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = :q) LIMIT 10;
	EOF
	say "$label: data"
	prefix=$(gen "$n" "$d" 1000 "$name")
	$PY "$BENCH_DIR/ivfflat_faiss.py" gt "$prefix"
	$PY "$BENCH_DIR/ivfflat_faiss.py" queries "$prefix" "$NQ" "$BENCH_TMP/queries.tsv"
	psql -X -q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS items, queries"
	t0=$(date +%s.%N)
	load "$prefix" items "$d"
	psql -X -q -c "CREATE TABLE queries (qid int PRIMARY KEY, v vector($d))" \
		-c "\\copy queries FROM '$BENCH_TMP/queries.tsv'" -c "ANALYZE queries"
	say "$label: loaded in $($PY -c "print('%.1f' % ($(date +%s.%N) - $t0))") s"
	prewarm

	say "$label: exact search (sequential scan)"
	exact_qps=$(pgbench_qps exact)
	exact_recall=$(recall_sql exact "$((NQ < 20 ? NQ : 20))")
	echo "exact: $exact_qps QPS, recall@10 on the first 20 queries $exact_recall (float32 distances vs float64 truth)"
	record "{\"kind\":\"ruv_exact\",\"dataset\":\"$label\",\"n\":$n,\"d\":$d,\"qps\":$exact_qps,\"recall\":$exact_recall}"

	if [ "$SINGLE" = 1 ] && [ "$threads" -ne 1 ]; then
		say "$label: builds with ruvector.worker_threads=1"
		restart_cluster "ruvector.worker_threads=1"
		[ "$(worker_threads)" = 1 ] || die "ruvector.worker_threads=1 did not take effect"
		for lists in $LISTS; do
			{ read -r s; read -r phases; } < <(build_index "$lists")
			echo "lists $lists, 1 thread: CREATE INDEX $s s ($phases)"
			record "{\"kind\":\"ruv_build\",\"dataset\":\"$label\",\"lists\":$lists,\"threads\":1,\"seconds\":$s,$phases}"
			psql -X -q -c "DROP INDEX items_ivf"
		done
		restart_cluster
	fi

	for lists in $LISTS; do
		say "$label, lists $lists: build ($threads threads)"
		{ read -r s; read -r phases; } < <(build_index "$lists")
		prewarm_relation items_ivf
		size_bytes=$(psql -X -At -c "SELECT pg_relation_size('items_ivf')")
		echo "lists $lists, $threads threads: CREATE INDEX $s s ($phases), index size $((size_bytes / 1048576)) MB"
		imbalance=null
		if [ "$(psql -X -At -c "SELECT to_regprocedure('ruvector_ivfflat_stats(regclass)') IS NOT NULL")" = t ]; then
			psql -X -c "SELECT * FROM ruvector_ivfflat_stats('items_ivf')" | head -20 || true
			imbalance=$(psql -X -At -c "SELECT imbalance FROM ruvector_ivfflat_stats('items_ivf')" 2>/dev/null || true)
			[ -n "$imbalance" ] || imbalance=null
		fi
		record "{\"kind\":\"ruv_build\",\"dataset\":\"$label\",\"lists\":$lists,\"threads\":$threads,\"seconds\":$s,\"index_bytes\":$size_bytes,\"imbalance\":$imbalance,$phases}"
		check_plans
		printf '%-7s %-10s %-10s\n' probes recall@10 QPS
		for p in $PROBES; do
			[ "$p" -le "$lists" ] || continue
			r=$(recall_sql "$p" "$NQ")
			q=$(pgbench_qps "$p")
			printf '%-7s %-10s %-10s\n' "$p" "$r" "$q"
			record "{\"kind\":\"ruv_query\",\"dataset\":\"$label\",\"lists\":$lists,\"probes\":$p,\"recall\":$r,\"qps\":$q,\"nq\":$NQ}"
		done
		psql -X -q -c "DROP INDEX items_ivf"

		say "$label, lists $lists: FAISS IndexIVFFlat"
		$PY "$BENCH_DIR/ivfflat_faiss.py" ivf "$prefix" "$label" "$lists" "$threads" "$probes_csv" "$SECS" "$NQ" |
			tee -a "$RESULTS"
	done
	if [ -n "$TYPES" ]; then
		# shellcheck disable=SC2086
		set -- $LISTS
		# halfvec and bit at 1536 dimensions (issue 17); sq8 and rabitq on every dataset (issue 19).
		if [ "$d" = 1536 ]; then
			type_rows "$d" "$1"
		else
			quantized=""
			for kind in $TYPES; do
				case $kind in sq8 | rabitq) quantized+=" $kind" ;; esac
			done
			[ -z "$quantized" ] || TYPES=$quantized type_rows "$d" "$1"
		fi
	fi
	say "$label: FAISS IndexFlatL2"
	$PY "$BENCH_DIR/ivfflat_faiss.py" flat "$prefix" "$label" "$SECS" "$NQ" | tee -a "$RESULTS"
	psql -X -q -c "DROP TABLE items, queries"
done

# What this machine gives two threads of pure compute: OpenBLAS sgemm with 1 and with $threads threads.
if [ "$threads" -ne 1 ]; then
	say "machine reference: OpenBLAS sgemm, 1 and $threads threads"
	g1=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $PY "$BENCH_DIR/ivfflat_faiss.py" gemm)
	gt=$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads $PY "$BENCH_DIR/ivfflat_faiss.py" gemm)
	echo "sgemm 4096^3: 1 thread $g1 s, $threads threads $gt s"
	record "{\"kind\":\"machine_gemm\",\"threads\":$threads,\"seconds_1\":$g1,\"seconds_t\":$gt}"
fi

faiss_version=$($PY -c "import faiss; print(faiss.__version__)")
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)
cpu=$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)
say "report"
$PY "$BENCH_DIR/ivfflat_report.py" "$RESULTS" "$RUVECTOR_ROOT/docs/bench-ivfflat.md" "$RUVECTOR_ROOT/docs/bench-ivfflat.png" \
	"threads=$threads" "seconds=$SECS" "queries=$queries_meta" "faiss=$faiss_version" "blas=$blas" "cpu=$cpu x $(nproc)" \
	"pg=$(psql -X -At -c 'SHOW server_version')" "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
	"openblas_coretype=${OPENBLAS_CORETYPE:-unset}" "loadavg=$load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
