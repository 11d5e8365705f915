#!/usr/bin/env python3
"""FAISS side of ./run bench knn: the exact k-NN graph of every point by IndexFlatL2.search of all
points (k + 1 neighbours, the point itself dropped), same thread count; prints seconds. With a
CSV of ruvector's edges (src,dst), prints the fraction of FAISS's edges ruvector also has."""
import sys, time
import numpy as np
import faiss
from faiss_threads import set_threads

def main():
    prefix, k, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    x = np.load(prefix + ".npy")
    set_threads(threads)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    best = None
    for _ in range(2):
        t0 = time.perf_counter()
        _, I = index.search(x, k + 1)
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    if len(sys.argv) > 4:
        e = np.loadtxt(sys.argv[4], delimiter=",", dtype=np.int64, ndmin=2)
        ours = set(zip(e[:, 0].tolist(), e[:, 1].tolist()))
        theirs = set()
        for i in range(x.shape[0]):
            nb = [j for j in I[i].tolist() if j != i][:k]
            theirs.update((j + 1, i + 1) for j in nb)  # ids are row + 1; edges go neighbour -> node
        print("%.4f" % (len(ours & theirs) / len(theirs)))
        return
    print("%.4f" % best)

if __name__ == "__main__":
    main()
