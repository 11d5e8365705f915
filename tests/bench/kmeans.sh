#!/usr/bin/env bash
# ./run bench kmeans: ruvector_kmeans against faiss.Kmeans (same data, same threads, all points,
# 10 iterations), objective ratio, and the worker's round-trip latency.
. "$(dirname "$0")/lib.sh"
$PY -c "import faiss" 2>/dev/null || die "python3-faiss is required (apt-get install python3-faiss libopenblas0-pthread)"
bench_cluster
threads=$(psql -X -At -c "SELECT threads FROM ruvector_worker_status()")
prefix=$(gen 100000 128 1000 clustered_100k_128)
load "$prefix" items 128

printf '%-6s %12s %12s %14s %14s %10s\n' k ruvector_s faiss_s ruvector/faiss obj_ruvector obj_ratio
for k in 100 1000; do
	best=""
	for _ in 1 2 3; do
		s=$(psql -X -At -c "SELECT extract(epoch FROM clock_timestamp() - now()) FROM (SELECT count(*) FROM ruvector_kmeans('items', 'embedding', $k, 10)) s" )
		# the statement clock includes reading 100k rows and shipping them to the worker
		best=$($PY -c "print(min(float(x) for x in '$best $s'.split()))")
	done
	psql -X -At -c "COPY (SELECT array_to_string(centroid::real[], ',') FROM ruvector_kmeans('items', 'embedding', $k, 10) ORDER BY cluster) TO STDOUT" >"$BENCH_TMP/c$k.csv"
	ours_obj=$($PY "$BENCH_DIR/kmeans_faiss.py" "$prefix" "$k" "$threads" "$BENCH_TMP/c$k.csv")
	read -r faiss_s faiss_obj < <($PY "$BENCH_DIR/kmeans_faiss.py" "$prefix" "$k" "$threads")
	$PY -c "print('%-6d %12.3f %12.3f %14.2f %14.6e %10.4f' % ($k, $best, $faiss_s, $best / $faiss_s, $ours_obj, $ours_obj / $faiss_obj))"
done

echo "== worker round trip (ruvector_worker_ping, 2000 calls in one session) =="
psql -X -q -At <<'SQL'
CREATE TEMP TABLE p AS SELECT ruvector_worker_ping() AS us FROM generate_series(1, 2000);
SELECT format('median %s us, p99 %s us', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY us)::numeric, 1),
              round(percentile_cont(0.99) WITHIN GROUP (ORDER BY us)::numeric, 1)) FROM p;
SQL
echo "(threads: $threads; FAISS with OpenBLAS, best of 3; ruvector best of 3 including the table read)"
