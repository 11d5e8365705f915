#!/usr/bin/env python3
"""FAISS IndexFlatL2, one query per call, 1 thread: the exact-search reference of ./run bench distance.

  distance_faiss.py PREFIX SECONDS NQ   prints "QPS CPU_MS": queries per second of wall time, and the
                                        process's CPU time per query (what a loaded machine changes
                                        least), over SECONDS of searches cycling through NQ queries
"""
import sys
import time

import faiss
import numpy as np

from faiss_threads import set_threads


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    prefix, seconds, nq = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    set_threads(1)
    x = np.ascontiguousarray(np.load(prefix + ".npy"))
    q = np.load(prefix + ".queries.npy")[:nq]
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    rows = [np.ascontiguousarray(q[i:i + 1]) for i in range(q.shape[0])]
    for r in rows[:20]:  # warm-up
        index.search(r, 10)
    done, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        index.search(rows[done % len(rows)], 10)
        done += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print("%.1f %.3f" % (done / wall, cpu * 1000 / done))


if __name__ == "__main__":
    main()
