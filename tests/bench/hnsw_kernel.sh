#!/usr/bin/env bash
# ./run bench hnsw_kernel: the worker's HNSW graph build alone (kernels::hnsw::build, no SQL) on
# clustered 100k x 128 rows, m 16, ef_construction 64, on 2 and 1 threads, against FAISS
# IndexHNSWFlat with the same M and efConstruction on 2 threads, in the same run (compare the
# ratio: the machine may be shared). Recall@10 of the kernel's search and of FAISS's at ef 40,
# 100, 200 against the exact neighbours. Arguments: [N] (default 100000).
. "$(dirname "$0")/lib.sh"
$PY -c "import faiss" 2>/dev/null || die "python3-faiss is required (apt-get install python3-faiss libopenblas0-pthread)"
n=${1:-100000}
cmake --build "$RUVECTOR_BUILD" --target hnsw_kernel_bench >/dev/null
prefix=$(gen 100000 128 1000 clustered_100k_128)
ours=$("$RUVECTOR_BUILD/hnsw_kernel_bench" --npy "$prefix.npy" --queries "$prefix.queries.npy" --n "$n" \
	--m 16 --ef-construction 64 --threads 2,1 --ef 40,100,200)
echo "$ours"
faiss=$($PY "$BENCH_DIR/hnsw_faiss.py" kernel "$prefix.npy" "$prefix.queries.npy" 16 64 2 "$n" 40,100,200)
echo "FAISS (2 threads): $faiss"
ours2=$(echo "$ours" | awk '$1 == 2 {print $2}')
faiss_s=$(echo "$faiss" | awk '{print $2}')
$PY -c "print('build on 2 threads: ruvector %.2f s, FAISS %.2f s, ratio %.3f (goal: at most 0.19)' % ($ours2, $faiss_s, $ours2 / $faiss_s))"
