#!/usr/bin/env python3
"""Compare ruvector's GNN layers (through SQL) with the same layers written in PyTorch, following
PyTorch Geometric's definitions (GCNConv, SAGEConv, GINConv, GATConv in eval mode). Prints TAP.

Run by tests/sh/052_gnn_torch.sh with PGHOST/PGPORT/PGUSER/PGDATABASE set. The graph has isolated
nodes, self-loops (also repeated ones), duplicate edges and weighted edges."""
import json
import warnings
import sys

import numpy as np
import torch

from psql_client import psql

torch.set_default_dtype(torch.float32)
warnings.filterwarnings("ignore", message="scatter_reduce")
rng = np.random.default_rng(7)
N, E, F = 60, 320, 8
src = rng.integers(0, N - 5, E)  # nodes N-5 .. N-1 send nothing
dst = rng.integers(0, N - 5, E)
src[:6], dst[:6] = [3, 3, 3, 9, 10, 10], [3, 3, 7, 9, 11, 11]  # repeated self-loops, duplicates
dst[6:10] = N - 1  # node N-1 only receives
weight = rng.uniform(0.2, 2.0, E).astype(np.float32)
x = rng.normal(size=(N, F)).astype(np.float32)
ids = np.arange(N) * 10 + 5  # user ids are not row numbers


psql("DROP TABLE IF EXISTS tn, te; CREATE TABLE tn (id bigint, embedding vector(%d)); "
     "CREATE TABLE te (src_id bigint, dst_id bigint, w real)" % F)
psql("COPY tn FROM STDIN", "".join("%d\t[%s]\n" % (ids[i], ",".join(repr(float(v)) for v in x[i])) for i in range(N)))
psql("COPY te FROM STDIN", "".join("%d\t%d\t%r\n" % (ids[s], ids[d], float(w)) for s, d, w in zip(src, dst, weight)))

X = torch.tensor(x)
S = torch.tensor(src, dtype=torch.long)
D = torch.tensor(dst, dtype=torch.long)
W = torch.tensor(weight)


def scatter_sum(values, index, n):
    out = torch.zeros((n,) + values.shape[1:], dtype=values.dtype)
    return out.index_add_(0, index, values)


def gcn(sd, weighted, add_self_loops=True, normalize=True):
    w = W if weighted else torch.ones(E)
    s, d = S, D
    if normalize and add_self_loops:
        # add_remaining_self_loops: drop loops, add one per node weighing the (last) dropped loop or 1
        loop_w = torch.ones(N)
        is_loop = s == d
        for e in torch.nonzero(is_loop).flatten().tolist():
            loop_w[s[e]] = w[e]
        keep = ~is_loop
        s = torch.cat([s[keep], torch.arange(N)])
        d = torch.cat([d[keep], torch.arange(N)])
        w = torch.cat([w[keep], loop_w])
    h = X @ torch.tensor(sd["lin.weight"]).T
    if normalize:
        deg = scatter_sum(w, d, N)
        dis = deg.pow(-0.5)
        dis[torch.isinf(dis)] = 0
        w = dis[s] * w * dis[d]
    out = scatter_sum(h[s] * w[:, None], d, N)
    if "bias" in sd:
        out = out + torch.tensor(sd["bias"])
    return out


def sage(sd, aggr, normalize=False, root_weight=True):
    msgs = X[S]
    if aggr in ("sum", "mean"):
        agg = scatter_sum(msgs, D, N)
        if aggr == "mean":
            cnt = scatter_sum(torch.ones(E), D, N).clamp(min=1)
            agg = agg / cnt[:, None]
    else:
        agg = torch.zeros(N, F).scatter_reduce(0, D[:, None].expand(-1, F), msgs, "amax" if aggr == "max" else "amin",
                                               include_self=False)
    out = agg @ torch.tensor(sd["lin_l.weight"]).T + torch.tensor(sd["lin_l.bias"])
    if root_weight:
        out = out + X @ torch.tensor(sd["lin_r.weight"]).T
    if normalize:
        out = torch.nn.functional.normalize(out, p=2.0, dim=-1)
    return out


def gin(sd, eps):
    h = (1 + eps) * X + scatter_sum(X[S], D, N)
    h = h @ torch.tensor(sd["nn.0.weight"]).T + torch.tensor(sd["nn.0.bias"])
    h = h.relu()
    return h @ torch.tensor(sd["nn.2.weight"]).T + torch.tensor(sd["nn.2.bias"])


def gat(sd, heads, concat):
    C = len(sd["att_src"][0][0])
    keep = S != D
    s = torch.cat([S[keep], torch.arange(N)])
    d = torch.cat([D[keep], torch.arange(N)])
    z = (X @ torch.tensor(sd["lin.weight"]).T).view(N, heads, C)
    a_s = (z * torch.tensor(sd["att_src"])).sum(-1)
    a_d = (z * torch.tensor(sd["att_dst"])).sum(-1)
    e = torch.nn.functional.leaky_relu(a_s[s] + a_d[d], 0.2)
    emax = torch.full((N, heads), -float("inf")).scatter_reduce(0, d[:, None].expand(-1, heads), e, "amax", include_self=True)
    p = torch.exp(e - emax[d])
    alpha = p / scatter_sum(p, d, N)[d]
    out = scatter_sum(z[s] * alpha[:, :, None], d, N)
    out = out.reshape(N, heads * C) if concat else out.mean(1)
    return out + torch.tensor(sd["bias"])


def rand(*shape):
    return rng.normal(scale=0.5, size=shape).astype(np.float32).tolist()


cases = [
    ("gcn", {}, {"lin.weight": rand(6, F), "bias": rand(6)}, lambda sd: gcn(sd, True), "w"),
    ("gcn", {}, {"lin.weight": rand(12, F), "bias": rand(12)}, lambda sd: gcn(sd, False), None),
    ("gcn", {"add_self_loops": False}, {"lin.weight": rand(5, F)}, lambda sd: gcn(sd, True, add_self_loops=False), "w"),
    ("gcn", {"normalize": False}, {"lin.weight": rand(5, F), "bias": rand(5)}, lambda sd: gcn(sd, True, normalize=False), "w"),
]
for aggr in ("mean", "max", "sum", "min"):
    cases.append(("sage", {"aggr": aggr}, {"lin_l.weight": rand(6, F), "lin_l.bias": rand(6), "lin_r.weight": rand(6, F)},
                  lambda sd, a=aggr: sage(sd, a), None))
cases.append(("sage", {"aggr": "mean", "normalize": True}, {"lin_l.weight": rand(6, F), "lin_l.bias": rand(6), "lin_r.weight": rand(6, F)},
              lambda sd: sage(sd, "mean", normalize=True), None))
cases.append(("sage", {"aggr": "mean", "root_weight": False}, {"lin_l.weight": rand(4, F), "lin_l.bias": rand(4)},
              lambda sd: sage(sd, "mean", root_weight=False), None))
cases.append(("gin", {"eps": 0.25}, {"nn.0.weight": rand(16, F), "nn.0.bias": rand(16), "nn.2.weight": rand(6, 16), "nn.2.bias": rand(6)},
              lambda sd: gin(sd, 0.25), None))
for heads, concat in ((1, True), (4, True), (4, False)):
    C = 3
    cases.append(("gat", {"heads": heads, "concat": concat},
                  {"lin.weight": rand(heads * C, F), "att_src": [rand(heads, C)], "att_dst": [rand(heads, C)],
                   "bias": rand(heads * C if concat else C)},
                  lambda sd, h=heads, c=concat: gat(sd, h, c), None))

print("1..%d" % len(cases))
failed = 0
for k, (typ, opts, sd, ref, wcol) in enumerate(cases, 1):
    name = "torch_case_%d" % k
    spec = {"activation": "none", "layers": [{"type": typ, "options": opts, "state_dict": sd}]}
    psql("SELECT ruvector_gnn_model_drop(name) FROM ruvector_gnn_models WHERE name = '%s'" % name)
    psql("SELECT ruvector_gnn_model_import('%s', $j$%s$j$::jsonb)" % (name, json.dumps(spec)))
    wsql = ", weight_column => '%s'" % wcol if wcol else ""
    out = psql("SELECT node_id, embedding FROM ruvector_gnn_forward('%s', 'tn', 'te'%s) ORDER BY node_id" % (name, wsql))
    got = {}
    for line in out.strip().splitlines():
        nid, emb = line.split("|")
        got[int(nid)] = np.array([float(v) for v in emb.strip("[]").split(",")], dtype=np.float32)
    want = ref(sd).detach().numpy()
    diff = max(float(np.max(np.abs(got[ids[i]] - want[i]))) for i in range(N))
    desc = "%s %s: max abs diff vs torch %.2e" % (typ, json.dumps(opts), diff)
    if diff <= 1e-4:
        print("ok %d - %s" % (k, desc))
    else:
        failed += 1
        print("not ok %d - %s" % (k, desc))
psql("DROP TABLE tn, te")
sys.exit(1 if failed else 0)
