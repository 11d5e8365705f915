#!/usr/bin/env python3
"""Compare ruvector's SAGEConv options (project, aggr "lstm", normalize, root_weight) and the
graph-level readouts (global_add/mean/max_pool, AttentionalAggregation, Set2Set, then Linear
layers) through SQL with the same modules written in plain PyTorch, following PyTorch Geometric's
definitions in eval mode (torch_geometric itself need not be installed). Prints TAP.

Run by tests/sh/092_gnn_layers_torch.sh with PGHOST/PGPORT/PGUSER/PGDATABASE set. The graph is
several small graphs (a graph id column on the node table), with isolated nodes, self-loops,
duplicate edges and nodes whose in-degree is below the graph's largest (LSTM zero padding)."""
import json
import sys
import warnings

import numpy as np
import torch

from psql_client import psql

torch.set_default_dtype(torch.float32)
warnings.filterwarnings("ignore", message="scatter_reduce")
rng = np.random.default_rng(23)
F = 6
sizes = [9, 1, 14, 7, 12]  # nodes per graph; graph 1 is a lone node
N = sum(sizes)
batch = np.concatenate([np.full(s, g) for g, s in enumerate(sizes)])
starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
src, dst = [], []
for g, s in enumerate(sizes):
    m = 3 * s if s > 1 else 0
    src += list(starts[g] + rng.integers(0, s, m))
    dst += list(starts[g] + rng.integers(0, s, m))
src += [2, 2, 20, 20]  # a self-loop, twice; a duplicate edge, twice
dst += [2, 2, 21, 21]
order = rng.permutation(len(src))  # the edge table is not in any sorted order
src = np.array(src)[order]
dst = np.array(dst)[order]
E = len(src)
x = rng.normal(size=(N, F)).astype(np.float32)
ids = np.arange(N) * 7 + 3  # user ids are not row numbers, but increase with the row
graph_keys = np.array([40, 10, 30, 50, 20])  # graph ids are not in node order either
gkey = graph_keys[batch]


psql("DROP TABLE IF EXISTS ln, le; CREATE TABLE ln (id bigint, embedding vector(%d), g integer); "
     "CREATE TABLE le (src_id bigint, dst_id bigint)" % F)
psql("COPY ln FROM STDIN", "".join("%d\t[%s]\t%d\n" % (ids[i], ",".join(repr(float(v)) for v in x[i]), gkey[i])
                                   for i in range(N)))
psql("COPY le FROM STDIN", "".join("%d\t%d\n" % (ids[s], ids[d]) for s, d in zip(src, dst)))
psql("SELECT ruvector_graph_create('lg', 'ln', 'le')")

X = torch.tensor(x)
S = torch.tensor(src, dtype=torch.long)
D = torch.tensor(dst, dtype=torch.long)
B = torch.tensor(batch, dtype=torch.long)
G = len(sizes)


def t(v):
    return torch.tensor(v)


def scatter_sum(values, index, n):
    out = torch.zeros((n,) + values.shape[1:], dtype=values.dtype)
    return out.index_add_(0, index, values)


def softmax(src_, index, n):  # torch_geometric.utils.softmax
    mx = torch.full((n,) + src_.shape[1:], -float("inf")).scatter_reduce(
        0, index.view(-1, *([1] * (src_.dim() - 1))).expand_as(src_), src_, "amax", include_self=True)
    out = (src_ - mx[index]).exp()
    return out / (scatter_sum(out, index, n)[index] + 1e-16)


def lstm_module(sd, prefix, inp, hidden, batch_first=True):
    lstm = torch.nn.LSTM(inp, hidden, batch_first=batch_first)
    lstm.load_state_dict({k: t(sd[prefix + k]) for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")})
    return lstm.eval()


def to_dense_batch(values, index, n):  # PyG's: index sorted, zero padding to the largest group
    counts = torch.bincount(index, minlength=n)
    T = int(counts.max()) if len(index) else 0
    out = torch.zeros(n, T, values.shape[1])
    pos = torch.arange(len(index)) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    out[index, pos] = values
    return out


def mlp(sd, prefix, steps, h):
    for k, s in enumerate(steps):
        if s == "linear":
            h = h @ t(sd["%s.%d.weight" % (prefix, k)]).T
            if "%s.%d.bias" % (prefix, k) in sd:
                h = h + t(sd["%s.%d.bias" % (prefix, k)])
        else:
            h = h.relu()
    return h


def simple_aggr(aggr, xs):
    if aggr in ("sum", "mean"):
        agg = scatter_sum(xs[S], D, N)
        if aggr == "mean":
            agg = agg / scatter_sum(torch.ones(E), D, N).clamp(min=1)[:, None]
        return agg
    return torch.zeros(N, xs.shape[1]).scatter_reduce(0, D[:, None].expand(-1, xs.shape[1]), xs[S],
                                                      "amax" if aggr == "max" else "amin", include_self=False)


def sage(sd, h, aggr="mean", project=False, normalize=False, root_weight=True, mode="cat", num_heads=1):
    xs = (h @ t(sd["lin.weight"]).T + t(sd["lin.bias"])).relu() if project else h
    if isinstance(aggr, list) and mode == "cat":  # MultiAggregation: torch.cat of the aggregates
        agg = torch.cat([simple_aggr(a, xs) for a in aggr], dim=-1)
    elif isinstance(aggr, list):  # MultiAggregation(mode="attn")
        C = len(sd["aggr_module.lin_heads.lins.0.weight"])
        toks = [simple_aggr(a, xs) @ t(sd["aggr_module.lin_heads.lins.%d.weight" % k]).T
                + t(sd["aggr_module.lin_heads.lins.%d.bias" % k]) for k, a in enumerate(aggr)]
        mha = torch.nn.MultiheadAttention(C, num_heads)
        mha.load_state_dict({k: t(sd["aggr_module.multihead_attn." + k]) for k in
                             ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")})
        x3 = torch.stack(toks, dim=0)
        agg = mha.eval()(x3, x3, x3)[0].mean(dim=0)
    elif aggr == "lstm":
        perm = torch.argsort(D * N + S, stable=True)  # sort_edge_index(sort_by_row=False)
        dense = to_dense_batch(xs[S[perm]], D[perm], N)
        agg = lstm_module(sd, "aggr_module.lstm.", h.shape[1], h.shape[1])(dense)[0][:, -1]
    else:
        agg = simple_aggr(aggr, xs)
    out = agg @ t(sd["lin_l.weight"]).T + t(sd["lin_l.bias"])
    if root_weight:
        out = out + h @ t(sd["lin_r.weight"]).T
    if normalize:
        out = torch.nn.functional.normalize(out, p=2.0, dim=-1)
    return out


def gcn(sd, h):  # GCNConv defaults, unweighted
    keep = S != D
    s = torch.cat([S[keep], torch.arange(N)])
    d = torch.cat([D[keep], torch.arange(N)])
    deg = scatter_sum(torch.ones(len(s)), d, N)
    w = deg.pow(-0.5)[s] * deg.pow(-0.5)[d]
    return scatter_sum((h @ t(sd["lin.weight"]).T)[s] * w[:, None], d, N) + t(sd["bias"])


def readout(kind, sd, opts, h):
    if kind == "global_add_pool":
        return scatter_sum(h, B, G)
    if kind == "global_mean_pool":
        return scatter_sum(h, B, G) / torch.bincount(B, minlength=G)[:, None]
    if kind == "global_max_pool":
        return torch.zeros(G, h.shape[1]).scatter_reduce(0, B[:, None].expand_as(h), h, "amax", include_self=False)
    if kind == "attentional_aggregation":
        gate = mlp(sd, "gate_nn", opts["gate_nn"], h)
        v = mlp(sd, "nn", opts["nn"], h) if "nn" in opts else h
        return scatter_sum(softmax(gate, B, G) * v, B, G)
    if kind == "set2set":  # torch_geometric.nn.aggr.Set2Set
        d = h.shape[1]
        lstm = lstm_module(sd, "lstm.", 2 * d, d, batch_first=False)  # as Set2Set builds it
        state = (torch.zeros(1, G, d), torch.zeros(1, G, d))
        q_star = torch.zeros(G, 2 * d)
        for _ in range(opts["processing_steps"]):
            q, state = lstm(q_star.unsqueeze(0), state)
            q = q.view(G, d)
            e = (h * q[B]).sum(dim=-1, keepdim=True)
            a = softmax(e, B, G)
            q_star = torch.cat([q, scatter_sum(a * h, B, G)], dim=-1)
        return q_star
    raise ValueError(kind)


def rand(*shape):
    return rng.normal(scale=0.5, size=shape).astype(np.float32).tolist()


def lstm_sd(prefix, inp, hidden):
    return {prefix + "weight_ih_l0": rand(4 * hidden, inp), prefix + "weight_hh_l0": rand(4 * hidden, hidden),
            prefix + "bias_ih_l0": rand(4 * hidden), prefix + "bias_hh_l0": rand(4 * hidden)}


def sage_layer(out, aggr="mean", project=False, normalize=False, root_weight=True):
    sd = {"lin_l.weight": rand(out, F), "lin_l.bias": rand(out)}
    if root_weight:
        sd["lin_r.weight"] = rand(out, F)
    if project:
        sd.update({"lin.weight": rand(F, F), "lin.bias": rand(F)})
    if aggr == "lstm":
        sd.update(lstm_sd("aggr_module.lstm.", F, F))
    opts = {"aggr": aggr, "project": project, "normalize": normalize, "root_weight": root_weight}
    return {"type": "sage", "options": opts, "state_dict": sd}, lambda h: sage(sd, h, aggr, project, normalize, root_weight)


# Node-level cases: (description, layer spec, reference).
node_cases = []
for aggr, project, normalize, root, out in (("lstm", False, False, True, 5), ("lstm", False, True, False, 8),
                                             ("lstm", True, False, True, 4), ("max", True, False, True, 8),
                                             ("mean", True, False, True, 3), ("sum", True, True, False, 3),
                                             ("min", True, False, True, 9)):
    spec, ref = sage_layer(out, aggr, project, normalize, root)
    node_cases.append(("sage %s" % json.dumps(spec["options"]), spec, ref))
# MultiAggregation: SAGEConv(aggr=[...]) with mode "cat", and "attn" (MultiheadAttention over the aggregates).
aggrs = ["mean", "max", "min"]
sd = {"lin_l.weight": rand(5, 3 * F), "lin_l.bias": rand(5), "lin_r.weight": rand(5, F), "lin.weight": rand(F, F),
      "lin.bias": rand(F)}
node_cases.append(("sage MultiAggregation cat, project",
                   {"type": "sage", "options": {"aggr": aggrs, "project": True}, "state_dict": sd},
                   lambda h, sd=sd: sage(sd, h, aggrs, project=True)))
for heads in (1, 2):
    C = 8
    sd = {"lin_l.weight": rand(5, C), "lin_l.bias": rand(5), "lin_r.weight": rand(5, F),
          "aggr_module.multihead_attn.in_proj_weight": rand(3 * C, C), "aggr_module.multihead_attn.in_proj_bias": rand(3 * C),
          "aggr_module.multihead_attn.out_proj.weight": rand(C, C), "aggr_module.multihead_attn.out_proj.bias": rand(C)}
    for k in range(3):
        sd["aggr_module.lin_heads.lins.%d.weight" % k] = rand(C, F)
        sd["aggr_module.lin_heads.lins.%d.bias" % k] = rand(C)
    node_cases.append(("sage MultiAggregation attn, %d heads" % heads,
                       {"type": "sage", "options": {"aggr": aggrs, "mode": "attn", "num_heads": heads}, "state_dict": sd},
                       lambda h, sd=sd, heads=heads: sage(sd, h, aggrs, mode="attn", num_heads=heads)))

# Graph-level cases: (description, layers, reference over X).
graph_cases = []
conv, conv_ref = sage_layer(8, "lstm")
for pool in ("global_add_pool", "global_mean_pool", "global_max_pool"):
    lin = {"weight": rand(3, 8), "bias": rand(3)}
    graph_cases.append((pool + " after sage lstm, then linear",
                        [conv, {"type": pool, "state_dict": {}}, {"type": "linear", "state_dict": lin}],
                        lambda p=pool, lin=lin: readout(p, {}, {}, conv_ref(X).relu()) @ t(lin["weight"]).T + t(lin["bias"])))
gsd = {"lin.weight": rand(8, F), "bias": rand(8)}
gconv = {"type": "gcn", "state_dict": gsd}
att = {"gate_nn.0.weight": rand(5, 8), "gate_nn.0.bias": rand(5), "gate_nn.2.weight": rand(1, 5), "gate_nn.2.bias": rand(1),
       "nn.0.weight": rand(6, 8), "nn.0.bias": rand(6)}
att_opts = {"gate_nn": ["linear", "relu", "linear"], "nn": ["linear"]}
lin1, lin2 = {"weight": rand(4, 6), "bias": rand(4)}, {"weight": rand(2, 4)}
graph_cases.append(("attentional_aggregation (gate MLP, nn), then linear, relu, linear",
                    [gconv, {"type": "attentional_aggregation", "state_dict": att},
                     {"type": "linear", "state_dict": lin1}, {"type": "linear", "state_dict": lin2}],
                    lambda: (readout("attentional_aggregation", att, att_opts, gcn(gsd, X).relu()) @ t(lin1["weight"]).T
                             + t(lin1["bias"])).relu() @ t(lin2["weight"]).T))
att2 = {"gate_nn.0.weight": rand(8, 8)}
graph_cases.append(("attentional_aggregation (a gate per channel, no nn)",
                    [gconv, {"type": "attentional_aggregation", "state_dict": att2}],
                    lambda: readout("attentional_aggregation", att2, {"gate_nn": ["linear"]}, gcn(gsd, X).relu())))
s2s = lstm_sd("lstm.", 16, 8)
lin3 = {"weight": rand(3, 16), "bias": rand(3)}
graph_cases.append(("set2set (3 steps), then linear",
                    [gconv, {"type": "set2set", "options": {"processing_steps": 3}, "state_dict": s2s},
                     {"type": "linear", "state_dict": lin3}],
                    lambda: readout("set2set", s2s, {"processing_steps": 3}, gcn(gsd, X).relu()) @ t(lin3["weight"]).T
                    + t(lin3["bias"])))

print("1..%d" % (len(node_cases) + len(graph_cases) + 1), flush=True)
failed = 0
n = 0


def report(desc, diff):
    global failed, n
    n += 1
    desc = "%s: max abs diff vs torch %.2e" % (desc, diff)
    if diff <= 1e-4:
        print("ok %d - %s" % (n, desc), flush=True)
    else:
        failed += 1
        print("not ok %d - %s" % (n, desc), flush=True)


def vec(text):
    return np.array([float(v) for v in text.strip("[]").split(",")], dtype=np.float32)


def import_model(name, layers):
    psql("SELECT ruvector_gnn_model_drop(name) FROM ruvector_gnn_models WHERE name = '%s'" % name)
    psql("SELECT ruvector_gnn_model_import('%s', $j$%s$j$::jsonb)"
         % (name, json.dumps({"activation": "relu", "layers": layers})))


with torch.no_grad():
    for k, (desc, spec, ref) in enumerate(node_cases):
        import_model("lt_node_%d" % k, [spec])
        out = psql("SELECT node_id, embedding FROM ruvector_gnn_forward('lt_node_%d', 'ln', 'le') ORDER BY node_id" % k)
        got = {int(a): vec(b) for a, b in (line.split("|") for line in out.strip().splitlines())}
        want = ref(X).numpy()
        report(desc, max(float(np.max(np.abs(got[ids[i]] - want[i]))) for i in range(N)))
    for k, (desc, layers, ref) in enumerate(graph_cases):
        import_model("lt_graph_%d" % k, layers)
        out = psql("SELECT graph_id, class, logits FROM ruvector_gnn_classify('lg', 'lt_graph_%d', 'g')" % k)
        rows = [line.split("|") for line in out.strip().splitlines()]
        want = ref().numpy()
        diff = 0.0
        for g in range(G):
            row = [r for r in rows if int(r[0]) == graph_keys[g]]
            if len(row) != 1:
                diff = float("inf")
                break
            scores = vec(row[0][2])
            diff = max(diff, float(np.max(np.abs(scores - want[g]))))
            if int(row[0][1]) != int(np.argmax(scores)):
                diff = float("inf")
        if len(rows) != G:
            diff = float("inf")
        report(desc, diff)
    # The whole named graph as one graph (the two-argument form): one row, node_id NULL, the argmax
    # of the mean over every node and its softmax probability.
    lin4 = {"weight": rand(3, 8), "bias": rand(3)}
    import_model("lt_whole", [gconv, {"type": "global_mean_pool", "state_dict": {}}, {"type": "linear", "state_dict": lin4}])
    out = psql("SELECT node_id IS NULL, class, score FROM ruvector_gnn_classify('lg', 'lt_whole')").strip().split("|")
    logits = gcn(gsd, X).relu().mean(0) @ t(lin4["weight"]).T + t(lin4["bias"])
    prob = float(torch.softmax(logits.double(), 0).max())
    ok = out[0] == "t" and int(out[1]) == int(torch.argmax(logits))
    report("global_mean_pool over the whole graph (node_id NULL, class %s, score)" % out[1],
           abs(float(out[2]) - prob) if ok else float("inf"))

psql("SELECT ruvector_graph_drop('lg'); DROP TABLE ln, le")
sys.exit(1 if failed else 0)
