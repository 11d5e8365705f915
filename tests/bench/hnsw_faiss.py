#!/usr/bin/env python3
"""FAISS side of ./run bench hnsw: IndexHNSWFlat on the same data, M and efConstruction.

  hnsw_faiss.py hnsw PREFIX DATASET M EF_CONSTRUCTION THREADS EF_SEARCH SECONDS [NQ]
        build time with THREADS OpenMP threads (best of 2 builds while they take < 60 s together,
        else 1), recall@10 per efSearch (comma list) and 1-query-per-call QPS on 1 thread.

  hnsw_faiss.py kernel BASE.npy QUERIES.npy [M] [EF_CONSTRUCTION] [THREADS] [N] [EF,EF,...]
        the reference of tests/bench/hnsw_kernel_bench.cpp (the graph kernel alone, no SQL): one
        build of the first N rows, recall@10 against IndexFlatL2 per efSearch and single-query QPS
        on 1 thread; one line of text.

hnsw prints one JSON object per line (the records hnsw_report.py reads). Ground truth, recall and
the single-query loop are ivfflat_faiss.py's (float64 truth, ties by the smaller id)."""
import json
import sys
import time

import numpy as np

from faiss_threads import set_threads
from ivfflat_faiss import K, ground_truth, one_query_qps, recall


def build(x, m, efc, threads):
    import faiss
    set_threads(threads)
    best, total, builds, index = None, 0.0, 0, None
    while builds < 2 and (builds < 1 or total < 60):
        index = faiss.IndexHNSWFlat(x.shape[1], m)
        index.hnsw.efConstruction = efc
        t0 = time.perf_counter()
        index.add(x)
        s = time.perf_counter() - t0
        builds += 1
        total += s
        best = s if best is None else min(best, s)
    return index, best, builds


def cmd_hnsw(prefix, dataset, m, efc, threads, efs, seconds, nq):
    x = np.ascontiguousarray(np.load(prefix + ".npy"))
    q = np.load(prefix + ".queries.npy")[:nq]
    gt = ground_truth(prefix)[:nq]
    base = {"dataset": dataset, "n": x.shape[0], "d": x.shape[1], "m": m, "ef_construction": efc}
    index, s, builds = build(x, m, efc, threads)
    print(json.dumps(dict(base, kind="faiss_build", threads=threads, seconds=s, builds=builds)), flush=True)
    for ef in efs:
        index.hnsw.efSearch = ef
        set_threads(threads)
        _, labels = index.search(q, K)
        r = recall(gt, (labels + 1).tolist())
        qps, done = one_query_qps(index, q, seconds)
        print(json.dumps(dict(base, kind="faiss_query", ef_search=ef, recall=r, qps=qps, queries=done,
                              nq=int(q.shape[0]))), flush=True)


def cmd_kernel(base_path, queries_path, m=16, efc=64, threads=2, n=0, efs=(40, 100, 200)):
    import faiss
    base = np.load(base_path)
    queries = np.load(queries_path)
    base = np.ascontiguousarray(base[:n] if n > 0 else base)
    c0 = time.process_time()
    index, s, _ = build(base, m, efc, threads)
    cpu = time.process_time() - c0
    flat = faiss.IndexFlatL2(base.shape[1])
    flat.add(base)
    _, exact = flat.search(queries, K)
    set_threads(1)
    out = ["build_s %.2f cpu_s %.2f" % (s, cpu)]
    for ef in efs:
        index.hnsw.efSearch = ef
        found = np.empty((len(queries), K), dtype=np.int64)
        t0 = time.perf_counter()
        for i in range(len(queries)):
            _, found[i:i + 1] = index.search(queries[i:i + 1], K)
        qps = len(queries) / (time.perf_counter() - t0)
        out.append("ef %d recall %.4f qps %.0f" % (ef, recall(exact, found.tolist()), qps))
    print("  ".join(out))


def main():
    a = sys.argv[1:]
    if len(a) >= 3 and a[0] == "kernel":
        ints = [int(v) for v in a[3:7]]
        efs = [int(e) for e in a[7].split(",")] if len(a) > 7 else [40, 100, 200]
        cmd_kernel(a[1], a[2], *ints, efs=efs)
        return
    if len(a) < 8 or a[0] != "hnsw":
        sys.exit(__doc__)
    nq = int(a[8]) if len(a) > 8 else 1 << 30
    cmd_hnsw(a[1], a[2], int(a[3]), int(a[4]), int(a[5]), [int(e) for e in a[6].split(",")], float(a[7]), nq)


if __name__ == "__main__":
    main()
