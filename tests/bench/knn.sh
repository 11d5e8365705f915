#!/usr/bin/env bash
# ./run bench knn: the exact k-NN graph (k = 10) of 100k x 128 points through
# ruvector_build_knn_graph, against FAISS IndexFlatL2.search of all points (same threads, OpenBLAS).
. "$(dirname "$0")/lib.sh"
$PY -c "import faiss" 2>/dev/null || die "python3-faiss is required (apt-get install python3-faiss libopenblas0-pthread)"
bench_cluster
threads=$(psql -X -At -c "SELECT threads FROM ruvector_worker_status()")
prefix=$(gen 100000 128 1000 clustered_100k_128)
load "$prefix" items 128
k=10

best=""
for run in 1 2; do
	psql -X -q -c "DROP TABLE IF EXISTS knn_edges"
	s=$(psql -X -At -c "SELECT extract(epoch FROM clock_timestamp() - now()) FROM (SELECT ruvector_build_knn_graph('items', 'embedding', 'knn_edges', $k)) s")
	best=$($PY -c "print(min(float(x) for x in '$best $s'.split()))")
done
psql -X -At -c "COPY (SELECT src_id, dst_id FROM knn_edges) TO STDOUT WITH (FORMAT csv)" >"$BENCH_TMP/edges.csv"
edges=$(psql -X -At -c "SELECT count(*) FROM knn_edges")
faiss_s=$($PY "$BENCH_DIR/knn_faiss.py" "$prefix" $k "$threads")
agree=$($PY "$BENCH_DIR/knn_faiss.py" "$prefix" $k "$threads" "$BENCH_TMP/edges.csv")
printf '%-28s %10s %10s %14s %8s %14s\n' dataset ruvector_s faiss_s ruvector/faiss edges same_edges
$PY -c "print('%-28s %10.2f %10.2f %14.2f %8d %14.4f' % ('100k x 128, k=$k', $best, $faiss_s, $best / $faiss_s, $edges, $agree))"
echo "(threads: $threads; ruvector: the whole SQL call incl. reading the table and writing the edge table, best of 2;"
echo " FAISS: IndexFlatL2.search of all points with k+1, best of 2; same_edges: fraction of FAISS's edges ruvector also has)"
