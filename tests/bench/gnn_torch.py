#!/usr/bin/env python3
"""PyTorch side of ./run bench gnn: the 256 -> 128 layers in eager PyTorch, written the way PyTorch
Geometric 2.3+ runs them on CPU (gather with index_select, torch_geometric.utils.scatter: scatter_add_
for sum/mean, scatter_reduce_ for max), GCN normalisation recomputed in every call as
GCNConv(cached=False) does, GAT with a per-edge softmax, SAGE lstm as LSTMAggregation (edges sorted by
target beforehand, as PyG requires of the caller; to_dense_batch and torch.nn.LSTM in the call), SAGE
pool as SAGEConv(project=True, aggr="max")).
Same semantics as tests/gnn_torch_check.py, vectorised. Random Glorot weights of the same shapes.

  gnn_torch.py PREFIX THREADS RUNS [LAYER...]   prints one "layer ms" line per run (RUNS runs after a warm-up)"""
import sys
import time
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore", message="scatter_reduce")
torch.set_default_dtype(torch.float32)


def glorot(fan_out, fan_in, gen):
    a = (6.0 / (fan_in + fan_out)) ** 0.5
    return (torch.rand((fan_out, fan_in), generator=gen) * 2 - 1) * a


def broadcast(index, values):
    return index.view((-1,) + (1,) * (values.dim() - 1)).expand_as(values)


def scatter_sum(values, index, n):
    # torch_geometric.utils.scatter(reduce="sum"): scatter_add_ with the index broadcast over features
    return torch.zeros((n,) + values.shape[1:], dtype=values.dtype).scatter_add_(0, broadcast(index, values), values)


def scatter_mean(values, index, n):
    # torch_geometric.utils.scatter(reduce="mean"): sum, then divide by the clamped count
    count = torch.zeros(n).scatter_add_(0, index, torch.ones(index.numel())).clamp_(min=1)
    return scatter_sum(values, index, n) / count.view((-1,) + (1,) * (values.dim() - 1))


def scatter_max(values, index, n):
    # torch_geometric.utils.scatter(reduce="max"), as used by torch_geometric.utils.softmax
    return torch.full((n,) + values.shape[1:], -float("inf")).scatter_reduce_(0, broadcast(index, values), values, "amax",
                                                                                include_self=True)


class Graph:
    def __init__(self, prefix):
        d = np.load(prefix + ".npz")
        self.x = torch.from_numpy(d["x"])
        self.src = torch.from_numpy(d["src"])
        self.dst = torch.from_numpy(d["dst"])
        self.w = torch.from_numpy(d["weight"])
        self.n = self.x.shape[0]


def add_remaining_self_loops(src, dst, w, n):
    # PyG: drop the existing loops, add one per node, weighted by the node's (last) dropped loop or 1
    is_loop = src == dst
    loop_w = torch.ones(n)
    if w is not None:
        loop_w[src[is_loop]] = w[is_loop]
    keep = ~is_loop
    ar = torch.arange(n)
    s, d = torch.cat([src[keep], ar]), torch.cat([dst[keep], ar])
    w = torch.cat([w[keep], loop_w]) if w is not None else None
    return s, d, w


def make_layers(g, fin=256, fout=128, heads=4):
    gen = torch.Generator().manual_seed(42)
    n = g.n
    p = {
        "gcn": (glorot(fout, fin, gen), torch.zeros(fout)),
        "sage": (glorot(fout, fin, gen), torch.zeros(fout), glorot(fout, fin, gen)),
        "gin": (glorot(fout, fin, gen), torch.zeros(fout), glorot(fout, fout, gen), torch.zeros(fout)),
        "gat": (glorot(fout, fin, gen), glorot(heads, fout // heads, gen).view(1, heads, -1),
                glorot(heads, fout // heads, gen).view(1, heads, -1), torch.zeros(fout)),
        "sage_pool": (glorot(fin, fin, gen), torch.zeros(fin), glorot(fout, fin, gen), torch.zeros(fout),
                      glorot(fout, fin, gen)),
        "sage_lstm": (glorot(fout, fin, gen), torch.zeros(fout), glorot(fout, fin, gen)),
    }
    lstm = torch.nn.LSTM(fin, fin, batch_first=True)  # LSTMAggregation(in, in)
    order = torch.argsort(g.dst * n + g.src)  # sort_edge_index(sort_by_row=False): once, by the caller
    src_sorted, dst_sorted = g.src[order], g.dst[order]

    def gcn():
        W, b = p["gcn"]
        s, d, w = add_remaining_self_loops(g.src, g.dst, g.w, n)  # gcn_norm
        deg = scatter_sum(w, d, n)
        dis = deg.pow(-0.5)
        dis.masked_fill_(dis == float("inf"), 0)
        w = dis[s] * w * dis[d]
        h = g.x @ W.T  # GCNConv: lin before propagate
        msg = h.index_select(0, s) * w.view(-1, 1)
        return scatter_sum(msg, d, n) + b

    def sage():
        Wl, bl, Wr = p["sage"]
        msg = g.x.index_select(0, g.src)
        agg = scatter_mean(msg, g.dst, n)
        return agg @ Wl.T + bl + g.x @ Wr.T

    def gin():
        W0, b0, W2, b2 = p["gin"]
        h = g.x + scatter_sum(g.x.index_select(0, g.src), g.dst, n)  # (1 + eps) x, eps = 0
        return torch.relu(h @ W0.T + b0) @ W2.T + b2

    def gat():
        W, att_src, att_dst, b = p["gat"]
        C = fout // heads
        s, d, _ = add_remaining_self_loops(g.src, g.dst, None, n)
        z = (g.x @ W.T).view(n, heads, C)
        a_s = (z * att_src).sum(-1)
        a_d = (z * att_dst).sum(-1)
        e = torch.nn.functional.leaky_relu(a_s.index_select(0, s) + a_d.index_select(0, d), 0.2)
        # torch_geometric.utils.softmax: scatter max, exp, scatter sum, divide
        emax = scatter_max(e, d, n)
        ex = (e - emax.index_select(0, d)).exp()
        den = scatter_sum(ex, d, n)
        alpha = ex / (den.index_select(0, d) + 1e-16)
        msg = z.index_select(0, s) * alpha.unsqueeze(-1)
        return scatter_sum(msg, d, n).reshape(n, heads * C) + b

    def sage_pool():
        W, b, Wl, bl, Wr = p["sage_pool"]
        h = torch.relu(g.x @ W.T + b)  # project
        agg = torch.zeros(n, fin).scatter_reduce_(0, broadcast(g.dst, h.index_select(0, g.src)),
                                                  h.index_select(0, g.src), "amax", include_self=False)
        return agg @ Wl.T + bl + g.x @ Wr.T

    def sage_lstm():
        Wl, bl, Wr = p["sage_lstm"]
        msg = g.x.index_select(0, src_sorted)
        # torch_geometric.utils.to_dense_batch: zero padding to the largest in-degree
        count = torch.bincount(dst_sorted, minlength=n)
        ptr = torch.cumsum(count, 0) - count
        pos = torch.arange(dst_sorted.numel()) - ptr.index_select(0, dst_sorted)
        dense = torch.zeros(n, int(count.max()), fin)
        dense[dst_sorted, pos] = msg
        agg = lstm(dense)[0][:, -1]
        return agg @ Wl.T + bl + g.x @ Wr.T

    return {"gcn": gcn, "sage": sage, "gin": gin, "gat": gat, "sage_pool": sage_pool, "sage_lstm": sage_lstm}


def main():
    prefix, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    layers = sys.argv[4:] or ["gcn", "sage", "gin", "gat"]
    torch.set_num_threads(threads)
    g = Graph(prefix)
    fns = make_layers(g)
    with torch.inference_mode():
        for name in layers:
            f = fns[name]
            out = f()  # warm-up
            assert out.shape == (g.n, 128) and torch.isfinite(out).all(), name
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                f()
                times.append((time.perf_counter() - t0) * 1000)
            for t in times:
                print("%s %.3f" % (name, t), flush=True)


if __name__ == "__main__":
    main()
