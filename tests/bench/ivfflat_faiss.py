#!/usr/bin/env python3
"""FAISS side and ground truth of ./run bench ivfflat (method of shared/research/perf-anchors.md).

  ivfflat_faiss.py gt PREFIX                  exact top-10 of every query in PREFIX.queries.npy, cached
                                              in PREFIX.gt10.npy (1-based ids, as in the TSV)
  ivfflat_faiss.py queries PREFIX NQ OUT      the first NQ queries as a TSV (qid<TAB>[v,...]) for COPY
  ivfflat_faiss.py recall PREFIX FILE         mean recall@10 of a result file (qid<TAB>{id,...} lines)
  ivfflat_faiss.py ivf PREFIX DATASET LISTS THREADS PROBES SECONDS [NQ]
                                              IndexIVFFlat (IndexFlatL2 quantizer): train+add time with
                                              THREADS and with 1 thread, recall@10 per probes (comma
                                              list) and 1-query-per-call QPS (1 OpenMP thread)
  ivfflat_faiss.py ivfsq8 PREFIX DATASET LISTS THREADS PROBES SECONDS [NQ]
                                              IndexIVFScalarQuantizer (QT_8bit, by residual: FAISS's
                                              default) with THREADS: train+add time, code bytes per
                                              vector, recall@10 per probes and 1-query-per-call QPS
  ivfflat_faiss.py ivfpq PREFIX DATASET LISTS THREADS PROBES SECONDS [NQ]
                                              IndexIVFPQ with M = d/8 sub-quantizers of 8 bits (one bit
                                              per dimension, RaBitQ's code size; by residual; trained
                                              on 32768 sampled rows) on 1 thread: train+add time, recall@10 and 1-query-per-call
                                              QPS per probes, alone and under IndexRefineFlat
                                              (k_factor 4: the best 40 of a LIMIT 10 re-ranked exactly)
  ivfflat_faiss.py flat PREFIX DATASET SECONDS [NQ]
                                              IndexFlatL2 1-query-per-call QPS (1 OpenMP thread)

  ivfflat_faiss.py gemm                       best of 5 float32 4096x4096 matrix products (numpy on
                                              OpenBLAS; threads from OPENBLAS_NUM_THREADS), in seconds

ivf and flat print one JSON object per line (the records ivfflat_report.py reads).

Ground truth: squared L2 distances in float64, ties broken by the smaller id. A float64 GEMM
(|q|^2 - 2 q.x + |x|^2) keeps the best GT_CANDIDATES per query; those are then re-ranked with the
direct float64 sum of squared differences, so the expansion's rounding cannot change the order.
"""
import json
import os
import sys
import time

import numpy as np

from faiss_threads import set_threads

K = 10
GT_CANDIDATES = 64
BLOCK = 20000


def load(prefix):
    return np.load(prefix + ".npy", mmap_mode="r"), np.load(prefix + ".queries.npy")


def ground_truth(prefix):
    path = prefix + ".gt10.npy"
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(prefix + ".npy"):
        return np.load(path)
    x, q = load(prefix)
    n = x.shape[0]
    q64 = q.astype(np.float64)
    qn = (q64 * q64).sum(1)[:, None]
    nq = q.shape[0]
    c = min(GT_CANDIDATES, n)
    best_d = np.empty((nq, 0))
    best_i = np.empty((nq, 0), dtype=np.int64)
    for s in range(0, n, BLOCK):
        xb = np.asarray(x[s:s + BLOCK], dtype=np.float64)
        d = qn - 2.0 * (q64 @ xb.T) + (xb * xb).sum(1)[None, :]
        if d.shape[1] > c:
            part = np.argpartition(d, c - 1, axis=1)[:, :c]
            d = np.take_along_axis(d, part, 1)
            idx = part + s
        else:
            idx = np.broadcast_to(np.arange(s, s + d.shape[1]), d.shape)
        best_d = np.concatenate([best_d, d], 1)
        best_i = np.concatenate([best_i, idx], 1)
        if best_d.shape[1] > c:
            part = np.argpartition(best_d, c - 1, axis=1)[:, :c]
            best_d = np.take_along_axis(best_d, part, 1)
            best_i = np.take_along_axis(best_i, part, 1)
    gt = np.empty((nq, K), dtype=np.int64)
    for j in range(nq):
        cand = np.sort(best_i[j])
        diff = np.asarray(x[cand], dtype=np.float64) - q64[j]
        exact = (diff * diff).sum(1)
        order = np.lexsort((cand, exact))  # by distance, then by smaller id
        gt[j] = cand[order[:K]] + 1  # TSV ids are 1-based
    tmp = path + ".tmp.npy"
    np.save(tmp, gt)
    os.replace(tmp, path)
    return gt


def recall(gt_rows, results):
    """Mean of |result ∩ truth| / K over the queries (results: list of id lists, row j = query j)."""
    hits = sum(len(set(r[:K]) & set(t.tolist())) for r, t in zip(results, gt_rows))
    return hits / (K * len(results))


def cmd_gt(prefix):
    t0 = time.perf_counter()
    gt = ground_truth(prefix)
    print("ground truth: %d queries, %s (%.1f s)" % (gt.shape[0], prefix + ".gt10.npy",
                                                     time.perf_counter() - t0), file=sys.stderr)


def cmd_queries(prefix, nq, out):
    q = np.load(prefix + ".queries.npy")[:nq]
    with open(out, "w") as f:
        for i, row in enumerate(q):
            f.write("%d\t[%s]\n" % (i + 1, ",".join("%.7g" % v for v in row)))


def cmd_recall(prefix, path):
    gt = ground_truth(prefix)
    qids, results = [], []
    with open(path) as f:
        for line in f:
            parts = line.strip().split("\t")
            if len(parts) != 2:
                continue
            qid, ids = parts
            ids = ids.strip("{}")
            qids.append(int(qid))
            results.append([int(v) for v in ids.split(",")] if ids and ids != "NULL" else [])
    if not results:
        sys.exit("recall: no result rows in %s" % path)
    print("%.4f" % recall(gt[np.array(qids) - 1], results))


def one_query_qps(index, q, seconds):
    """Single-query searches, one call each, cycling through the queries for `seconds`."""
    set_threads(1)
    rows = [np.ascontiguousarray(q[i:i + 1]) for i in range(q.shape[0])]
    for r in rows[:min(20, len(rows))]:  # warm-up
        index.search(r, K)
    done, t0 = 0, time.perf_counter()
    while True:
        index.search(rows[done % len(rows)], K)
        done += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return done / elapsed, done


def build_ivf(x, lists, threads):
    """train+add; the best of 2 builds, or 3 when the first two took < 10 s in total (the same rule
    as the CREATE INDEX timing in ivfflat.sh). Returns (index, train_s, add_s, builds)."""
    import faiss
    set_threads(threads)
    best, total, builds = None, 0.0, 0
    while builds < 3 and (builds < 2 or total < 10):
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(x.shape[1]), x.shape[1], lists)
        t0 = time.perf_counter()
        index.train(x)
        t1 = time.perf_counter()
        index.add(x)
        t2 = time.perf_counter()
        builds += 1
        total += t2 - t0
        if best is None or t2 - t0 < best[0] + best[1]:
            best = (t1 - t0, t2 - t1)
    return index, best[0], best[1], builds


def cmd_ivf(prefix, dataset, lists, threads, probes, seconds, nq):
    import faiss
    x = np.ascontiguousarray(np.load(prefix + ".npy"))
    q = np.load(prefix + ".queries.npy")[:nq]
    gt = ground_truth(prefix)[:nq]
    base = {"dataset": dataset, "n": x.shape[0], "d": x.shape[1], "lists": lists}
    if threads != 1:
        index, train1, add1, builds = build_ivf(x, lists, 1)
        del index
        print(json.dumps(dict(base, kind="faiss_build", threads=1, train_s=train1, add_s=add1,
                              seconds=train1 + add1, builds=builds)), flush=True)
    index, train, add, builds = build_ivf(x, lists, threads)
    print(json.dumps(dict(base, kind="faiss_build", threads=threads, train_s=train, add_s=add,
                          seconds=train + add, builds=builds,
                          imbalance=index.invlists.imbalance_factor())), flush=True)
    for p in probes:
        index.nprobe = p
        set_threads(threads)
        faiss.cvar.indexIVF_stats.reset()
        _, labels = index.search(q, K)
        scanned = faiss.cvar.indexIVF_stats.ndis / q.shape[0]
        r = recall(gt, (labels + 1).tolist())
        qps, done = one_query_qps(index, q, seconds)
        print(json.dumps(dict(base, kind="faiss_query", probes=p, recall=r, qps=qps, queries=done,
                              scanned_per_query=scanned, nq=int(q.shape[0]))), flush=True)


def cmd_ivfsq8(prefix, dataset, lists, threads, probes, seconds, nq):
    import faiss
    x = np.ascontiguousarray(np.load(prefix + ".npy"))
    q = np.load(prefix + ".queries.npy")[:nq]
    gt = ground_truth(prefix)[:nq]
    base = {"dataset": dataset, "n": x.shape[0], "d": x.shape[1], "lists": lists}
    set_threads(threads)
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(x.shape[1]), x.shape[1], lists,
                                          faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
    train_s, add_s = train_and_add(index, x, x)
    print(json.dumps(dict(base, kind="faiss_sq8_build", threads=threads, train_s=train_s, add_s=add_s,
                          seconds=train_s + add_s, code_size=int(index.code_size))), flush=True)
    for p in probes:
        index.nprobe = p
        set_threads(threads)
        _, labels = index.search(q, K)
        r = recall(gt, (labels + 1).tolist())
        qps, done = one_query_qps(index, q, seconds)
        print(json.dumps(dict(base, kind="faiss_sq8_query", probes=p, recall=r, qps=qps, queries=done,
                              nq=int(q.shape[0]))), flush=True)


PQ_TRAIN = 256 * 128


def train_and_add(index, train_x, x):
    """Train on train_x, add x; the seconds of each."""
    t0 = time.perf_counter()
    index.train(train_x)
    t1 = time.perf_counter()
    index.add(x)
    return t1 - t0, time.perf_counter() - t1


def cmd_ivfpq(prefix, dataset, lists, threads, probes, seconds, nq):
    import faiss
    x = np.ascontiguousarray(np.load(prefix + ".npy"))
    q = np.load(prefix + ".queries.npy")[:nq]
    gt = ground_truth(prefix)[:nq]
    d = x.shape[1]
    m = d // 8
    base = {"dataset": dataset, "n": x.shape[0], "d": d, "lists": lists, "m": m}
    # One thread: the PQ k-means (d = 8 sub-vectors) are small matrix products, on which OpenBLAS's
    # second thread only spins when the machine is shared.
    threads = 1
    set_threads(threads)
    index = faiss.IndexIVFPQ(faiss.IndexFlatL2(d), d, lists, m, 8)
    refine = faiss.IndexRefineFlat(index)
    refine.k_factor = 4
    # Trained on a seeded sample of PQ_TRAIN rows: the M k-means of 256 centroids over every row took
    # more than 15 minutes at d = 1536 on 2 shared vCPUs; 128 rows a centroid is FAISS's own advice.
    sample = np.random.default_rng(1).permutation(x.shape[0])[:PQ_TRAIN]
    train_s, add_s = train_and_add(refine, np.ascontiguousarray(x[np.sort(sample)]), x)
    print(json.dumps(dict(base, kind="faiss_pq_build", threads=threads, train_s=train_s, add_s=add_s,
                          seconds=train_s + add_s, code_size=int(index.code_size))), flush=True)
    for p in probes:
        index.nprobe = p
        for name, idx in (("faiss_pq_query", index), ("faiss_pq_refine_query", refine)):
            set_threads(threads)
            _, labels = idx.search(q, K)
            r = recall(gt, (labels + 1).tolist())
            qps, done = one_query_qps(idx, q, seconds)
            print(json.dumps(dict(base, kind=name, probes=p, recall=r, qps=qps, queries=done,
                                  nq=int(q.shape[0]))), flush=True)


def cmd_flat(prefix, dataset, seconds, nq):
    import faiss
    x = np.ascontiguousarray(np.load(prefix + ".npy"))
    q = np.load(prefix + ".queries.npy")[:nq]
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    qps, done = one_query_qps(index, q, seconds)
    print(json.dumps({"kind": "faiss_flat", "dataset": dataset, "n": x.shape[0], "d": x.shape[1],
                      "qps": qps, "queries": done}), flush=True)


def cmd_gemm():
    rng = np.random.default_rng(1)
    a = rng.random((4096, 4096), dtype=np.float32)
    b = rng.random((4096, 4096), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    print("%.4f" % best)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    cmd = a[0]
    if cmd == "gt":
        cmd_gt(a[1])
    elif cmd == "queries":
        cmd_queries(a[1], int(a[2]), a[3])
    elif cmd == "recall":
        cmd_recall(a[1], a[2])
    elif cmd == "ivf":
        nq = int(a[7]) if len(a) > 7 else 1 << 30
        cmd_ivf(a[1], a[2], int(a[3]), int(a[4]), [int(p) for p in a[5].split(",")], float(a[6]), nq)
    elif cmd == "ivfsq8":
        nq = int(a[7]) if len(a) > 7 else 1 << 30
        cmd_ivfsq8(a[1], a[2], int(a[3]), int(a[4]), [int(p) for p in a[5].split(",")], float(a[6]), nq)
    elif cmd == "ivfpq":
        nq = int(a[7]) if len(a) > 7 else 1 << 30
        cmd_ivfpq(a[1], a[2], int(a[3]), int(a[4]), [int(p) for p in a[5].split(",")], float(a[6]), nq)
    elif cmd == "flat":
        nq = int(a[4]) if len(a) > 4 else 1 << 30
        cmd_flat(a[1], a[2], float(a[3]), nq)
    elif cmd == "gemm":
        cmd_gemm()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
