#!/usr/bin/env python3
"""FAISS side of ./run bench kmeans: faiss.Kmeans on the same data and thread count, and the
objective (sum of squared distances to the nearest centroid) of any centroid file, computed the
same way for both."""
import sys, time
import numpy as np
import faiss
from faiss_threads import set_threads

def objective(x, centroids):
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(centroids)
    d, _ = index.search(x, 1)
    return float(d.sum())

def main():
    prefix, k, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    x = np.load(prefix + ".npy")
    set_threads(threads)
    if len(sys.argv) > 4:  # score ruvector's centroids
        c = np.loadtxt(sys.argv[4], delimiter=",", dtype=np.float32, ndmin=2)
        print("%.6e" % objective(x, c))
        return
    best = None
    for _ in range(3):
        km = faiss.Kmeans(x.shape[1], k, niter=10, seed=42, max_points_per_centroid=x.shape[0], verbose=False)
        t0 = time.perf_counter()
        km.train(x)
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    print("%.4f %.6e" % (best, objective(x, km.centroids)))

if __name__ == "__main__":
    main()
