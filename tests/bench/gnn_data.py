#!/usr/bin/env python3
"""Data and report for ./run bench gnn (tests/bench/gnn.sh).

  gnn_data.py gen N E F PREFIX
      A seeded random graph: N nodes with F standard-normal features, E edges with uniform random
      endpoints (self-loops and duplicates occur, as in any random graph) and weights in [0.5, 1.5).
      Node ids are 1..N. Writes PREFIX.npz (x, src, dst, weight; row numbers) for PyTorch and
      PREFIX.nodes.tsv / PREFIX.edges.tsv for COPY.

  gnn_data.py report RESULTS THREADS OUT.md [NOTE]
      RESULTS holds lines "graph layer kind ms" (kind: compute, warm, first, table, torch, and the worker
      compute of the other calls: firstcompute, tablecompute). Prints the markdown table and writes OUT.md."""
import statistics
import sys
import time

import numpy as np


def gen(n, e, f, prefix):
    rng = np.random.default_rng(20261124 + n)
    x = rng.standard_normal((n, f), dtype=np.float32)
    x = np.round(x, 5)  # what COPY stores is exactly what PyTorch reads (to float32 rounding)
    src = rng.integers(0, n, e, dtype=np.int64)
    dst = rng.integers(0, n, e, dtype=np.int64)
    weight = np.round(rng.uniform(0.5, 1.5, e), 4).astype(np.float32)
    np.savez(prefix + ".npz", x=x, src=src, dst=dst, weight=weight)
    row = "%d\t[" + ",".join(["%.5f"] * f) + "]\n"
    with open(prefix + ".nodes.tsv.part", "w") as out:
        buf = []
        for i in range(n):
            buf.append(row % ((i + 1,) + tuple(x[i].tolist())))
            if len(buf) == 4096:
                out.write("".join(buf))
                buf = []
        out.write("".join(buf))
    with open(prefix + ".edges.tsv.part", "w") as out:
        s, d, w = (src + 1).tolist(), (dst + 1).tolist(), weight.tolist()
        out.write("".join("%d\t%d\t%.4f\n" % t for t in zip(s, d, w)))
    import os
    os.replace(prefix + ".edges.tsv.part", prefix + ".edges.tsv")
    os.replace(prefix + ".nodes.tsv.part", prefix + ".nodes.tsv")  # written last: its presence means done


LAYERS = ["gcn", "sage", "gin", "gat", "sage_pool", "sage_lstm"]
LAYER_NAMES = {"gcn": "GCN (weighted)", "sage": "SAGE mean", "gin": "GIN (MLP 256-128-128)", "gat": "GAT 4x32 concat",
               "sage_pool": "SAGE pool (project, max)", "sage_lstm": "SAGE lstm"}
GOALS = {("10k", "gcn"): 12, ("10k", "sage"): 18, ("10k", "gin"): 15, ("10k", "gat"): 35}
GRAPHS = {"10k": "10k nodes / 100k edges", "100k": "100k nodes / 1M edges"}


def report(results, threads, out_md, note=""):
    data = {}
    for line in open(results):
        parts = line.split()
        if len(parts) != 4:
            continue
        g, layer, kind, ms = parts
        data.setdefault((g, layer, kind), []).append(float(ms))

    def med(g, layer, kind):
        v = data.get((g, layer, kind))
        return statistics.median(v) if v else None

    def fmt(v):
        return "–" if v is None else ("%.1f" % v if v < 100 else "%.0f" % v)

    def cnt(g, layer, kind):
        return len(data.get((g, layer, kind), []))

    graphs = [g for g in GRAPHS if any(k[0] == g for k in data)]
    lines = ["| graph | layer | ruvector worker compute (ms) | SQL warm, cached graph (ms) | SQL first call (ms) "
             "| SQL table form (ms) | PyTorch eager (ms) | PyTorch / ruvector compute | PyTorch / SQL warm | design goal (ms) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    layers = [layer for layer in LAYERS if any(k[1] == layer for k in data)]
    for g in graphs:
        for layer in layers:
            c, w, f, t, p = (med(g, layer, k) for k in ("compute", "warm", "first", "table", "torch"))
            ratio = "%.1f×" % (p / c) if p and c else "–"
            ratio_w = "%.1f×" % (p / w) if p and w else "–"
            goal = GOALS.get((g, layer))
            best = min(data.get((g, layer, "compute"), [None]) or [None])
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                GRAPHS[g], LAYER_NAMES[layer], fmt(c) + (" (best %s)" % fmt(best) if best is not None else ""), fmt(w), fmt(f), fmt(t), fmt(p), ratio, ratio_w,
                "%d" % goal if goal else "–"))
    table = "\n".join(lines)
    runs = []
    for g in graphs:
        for layer in layers:
            runs.append("%s, %s: %d warm / %d first-call / %d table-form SQL runs, %d PyTorch runs" % (
                GRAPHS[g], LAYER_NAMES[layer], cnt(g, layer, "warm"), cnt(g, layer, "first"), cnt(g, layer, "table"),
                cnt(g, layer, "torch")))
    derived = ["| graph | layer | warm call: outside the worker's compute (ms) | share of the warm call "
               "| first call: worker compute (ms) | table form: worker compute (ms) | table form: the rest (ms) |",
               "|---|---|---|---|---|---|---|"]
    for g in graphs:
        for layer in layers:
            c, w, t = (med(g, layer, k) for k in ("compute", "warm", "table"))
            fc, tc = med(g, layer, "firstcompute"), med(g, layer, "tablecompute")
            derived.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                GRAPHS[g], LAYER_NAMES[layer], fmt(w - c) if w and c else "–",
                "%.0f%%" % (100 * (w - c) / w) if w and c else "–", fmt(fc), fmt(tc),
                fmt(t - tc) if t and tc else "–"))
    derived = "\n".join(derived)
    forms = ["| graph | layer | worker compute (ms) | warm, FROM (ms) | warm, SELECT list (ms) | into a table, bulk (ms) "
             "| into a table, INSERT path (ms) | INSERT ... SELECT of the rows from a table (ms) | FROM / compute "
             "| SELECT list / compute | into (bulk) / FROM warm | into (INSERT path) / FROM warm "
             "| (into (bulk) − warm) / INSERT ... SELECT | PyTorch / first call | PyTorch / table form |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in graphs:
        for layer in LAYERS:
            c, w, li, i, ii, s, f, t, p = (med(g, layer, k) for k in
                                           ("compute", "warm", "list", "into", "intoinsert", "insertsel", "first", "table", "torch"))
            x = lambda a, b: "%.2f×" % (a / b) if a and b else "–"
            forms.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                GRAPHS[g], LAYER_NAMES[layer], fmt(c), fmt(w), fmt(li), fmt(i), fmt(ii), fmt(s), x(w, c), x(li, c),
                x(i, w), x(ii, w), x(i - w, s) if i and w else "–", x(p, f), x(p, t)))
    forms = "\n".join(forms)
    print(table)
    print()
    print(derived)
    print()
    print(forms)
    with open(out_md, "w") as out:
        out.write(DOC.format(table=table, threads=threads, date=time.strftime("%Y-%m-%d"), runs="; ".join(runs), note=(" " + note + ".") if note else "",
                             derived=derived, forms=forms,
                             torch=torch_version()))


def torch_version():
    try:
        import torch
        return torch.__version__
    except ImportError:
        return "?"


DOC = """# GNN forward pass — `./run bench gnn`

Command: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ./run bench gnn` ({date}; `GNN_BENCH_SIZES=10k` or
`=100k` restricts the graphs, default both; `GNN_BENCH_LAYERS="sage_pool sage_lstm"` the layers, default all).

Machine: 2 shared vCPUs (AMD EPYC with AVX-512), 24 GiB, other tenants (run-to-run spread up to ±25%;
read ratios, not absolute values). PostgreSQL 15, ruvector worker with {threads} threads; PyTorch {torch}
(Debian's python3-torch) with `torch.set_num_threads({threads})`.

Graphs: seeded random graphs (`tests/bench/gnn_data.py`), 256 standard-normal features per node, uniform
random edge endpoints, edge weights in [0.5, 1.5). Node table `(id bigint primary key, embedding vector(256))`,
edge table `(src_id bigint, dst_id bigint, weight real)`, loaded with COPY. Every layer maps 256 → 128:
`ruvector_gnn_model_create(name, type, ARRAY[256,128], options, 42)` — GCN (normalised, self-loops, edge
weights), SAGE mean (with root weight), GIN (MLP Linear(256,128)-ReLU-Linear(128,128), eps 0), GAT
(`{{"heads": 4}}`, 4 heads × 32, concat, self-loops), SAGE pool (`{{"project": true, "aggr": "max"}}`: GraphSAGE's
pooling aggregator, Linear(256,256)+ReLU on the neighbours), SAGE lstm (`{{"aggr": "lstm"}}`: an LSTM 256 → 256
over each node's neighbours, zero-padded to the largest in-degree as PyG's LSTMAggregation).

{table}

Medians; {runs}.{note}

Where the SQL time goes (medians of the same runs; "outside" = SQL time − worker compute: catalog reads,
privilege checks, the round trip, the reply and the N result rows; "the rest" of a table-form call
additionally reads both tables and ships the graph to the worker):

{derived}

The output forms (medians of the same runs) against the issue's goals: a warm call at most 1.5× the
worker's compute, writing into a table at most 2× the warm call, the first call and the table form at
least 3× faster than PyTorch at 100k nodes / 1M edges:

{forms}

- **ruvector worker compute**: the worker's own time for the call (decoding the model and graph, building
  the layer's inputs, the layer itself; a cached
  graph is read in place), from `SET client_min_messages = debug1` →
  `ruvector gnn forward: N nodes, M outputs, worker compute X ms`, on warm calls; median, and the best
  run in parentheses (on 2 shared vCPUs the runs are often bimodal: when another tenant takes a core,
  the two worker threads share one and the time roughly doubles).
- **SQL warm**: client-side time (psql `\\timing`) of `SELECT count(*) FROM ruvector_gnn_forward('model', 'g')`
  over a named graph (`ruvector_graph_create('g', 'nodes', 'edges', weight_column => 'weight')`) whose
  current version is cached on the worker. Includes reading the model from the catalog, the worker round
  trip (the worker writes the reply into its shared memory), and building the N result rows from there
  (streamed by `Custom Scan (ruvector function scan)`, no tuplestore).
- **SQL first call**: the same statement right after `SELECT ruvector_graph_uncache(graph_id) FROM ruvector_graph_catalog WHERE name = 'g'`: the backend reads both
  tables, publishes the graph to the worker's cache and runs the model on that cached copy (the graph
  crosses to the worker once).
- **SELECT list**: `SELECT count(*) FROM (SELECT ruvector_gnn_forward('model', 'g')) s`, the warm call
  with its rows returned one per call as composite values.
- **into a table**: `SELECT ruvector_gnn_forward_into('model', 'g', 'emb_out')` into
  `emb_out (id bigint, embedding vector(128))` (a logged table), on its bulk path (the default: heap
  pages filled in batches as COPY FROM fills them) and on its INSERT path (`SET ruvector.gnn_into_bulk
  = off`: `INSERT INTO emb_out SELECT ...`, as for targets with triggers, rules, RLS or partitions).
  Before each run, untimed: `TRUNCATE emb_out` and a `CHECKPOINT`, so that the server recycles WAL
  segments as a server in steady state does; in this freshly created cluster the call that first needs
  a new 16 MB WAL segment would otherwise create and zero-fill it (a 10k call writes 5.4 MB of WAL, a
  100k call 54 MB), which adds about 20-30 ms to every third 10k call. The time includes the commit
  (the WAL flush).
- **INSERT ... SELECT of the rows from a table**: `INSERT INTO emb_out SELECT * FROM emb_src`, the same
  rows copied (untimed) into a table `emb_src`, with the same untimed `TRUNCATE` and `CHECKPOINT`
  before each run: what PostgreSQL itself takes to write these rows. "(into (bulk) − warm) / INSERT ...
  SELECT" compares the part of an into call that writes with it.
- **SQL table form**: `ruvector_gnn_forward('model', 'nodes', 'edges', weight_column => 'weight')`, which
  reads the tables on every call and never caches.
- **PyTorch eager**: the same layers written with PyG's CPU semantics and gather/scatter message passing
  (`index_select`, then `torch_geometric.utils.scatter`'s `scatter_add_` for sum/mean and
  `scatter_reduce_("amax")` for the softmax maximum, GCN normalisation with `add_remaining_self_loops`
  computed in every call as `GCNConv(cached=False)` does, GAT with a per-edge softmax), random Glorot
  weights of the same shapes, `torch.inference_mode()`, median after one warm-up call
  (`tests/bench/gnn_torch.py`). perf-anchors.md measured 104 / 133 / 97 / 119 ms (10k) and
  1126 / 1555 / 1758 / 1039 ms (100k) for the same four layers on this machine kind.
- **Design goal**: the per-layer targets for 10k nodes / 100k edges / 256 → 128 (about the physical floor
  of the dense transform plus one pass over the edges; there is no stated goal for 100k / 1M).
"""


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "report":
        report(*sys.argv[2:6])
    else:
        sys.exit("usage: gnn_data.py gen N E F PREFIX | report RESULTS THREADS OUT.md")
