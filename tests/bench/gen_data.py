#!/usr/bin/env python3
"""Seeded clustered benchmark data (the recipe of shared/research/perf-anchors.md):
n points from 1000 Gaussian clusters (centres drawn from N(0, 1)), noise 1.25, d dimensions, plus
queries from the same mixture. The clusters overlap, as in the anchors (FAISS recall@10 at 100k,
lists 100: about 0.42 at probes 1, 0.76 at probes 10), so recall does not saturate at low probes.
Writes NAME.npy (float32 base), NAME.queries.npy and NAME.tsv (id<TAB>[v,...] for COPY)."""
import sys
import numpy as np

def main():
    n, d, nq, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = np.random.default_rng(42)
    centers = rng.normal(0, 1, size=(1000, d)).astype(np.float32)
    base = centers[rng.integers(0, 1000, n)] + rng.normal(0, 1.25, size=(n, d)).astype(np.float32)
    queries = centers[rng.integers(0, 1000, nq)] + rng.normal(0, 1.25, size=(nq, d)).astype(np.float32)
    np.save(out + ".npy", base.astype(np.float32))
    np.save(out + ".queries.npy", queries.astype(np.float32))
    with open(out + ".tsv", "w") as f:
        for i, row in enumerate(base):
            f.write("%d\t[%s]\n" % (i + 1, ",".join("%.7g" % v for v in row)))

if __name__ == "__main__":
    main()
