#!/usr/bin/env python3
"""Compare ruvector_differentiable_search(query, ruhnsw index, num_hops, k, model => ...) with the
RuVector layer's PyTorch module as docs/gnn-models.md gives it, on the candidates the index's graph
gives (read back through SQL). Prints TAP. Run by tests/sh/092_gnn_layers_torch.sh with
PGHOST/PGPORT/PGUSER/PGDATABASE set."""
import json
import math

import numpy as np
import torch
from torch import nn

from psql_client import psql


class RuVectorLayer(nn.Module):  # docs/gnn-models.md, "The RuVector layer"
    def __init__(self, dim, heads=4, head_dim=16):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.q = nn.Linear(dim, heads * head_dim)
        self.k = nn.Linear(dim, heads * head_dim)
        self.v = nn.Linear(dim, heads * head_dim)
        self.out = nn.Linear(dim + heads * head_dim, dim)

    def forward(self, query, candidates):  # query [dim], candidates [n, dim]
        h, c = self.heads, self.head_dim
        q = self.q(query).view(h, c)
        k = self.k(candidates).view(-1, h, c)
        v = self.v(candidates).view(-1, h, c)
        alpha = torch.softmax((k * q).sum(-1) / math.sqrt(c), dim=0)  # [n, h]: over the candidates
        message = (alpha.unsqueeze(-1) * v).sum(0).reshape(h * c)
        enhanced = self.out(torch.cat([query, message]))  # q'
        scores = torch.cosine_similarity(enhanced.unsqueeze(0), candidates, dim=1)
        return enhanced, scores


torch.manual_seed(5)
torch.set_default_dtype(torch.float64)  # the reference in double, as ruvector computes it
rng = np.random.default_rng(7)
N, D = 80, 8
x = rng.normal(size=(N, D)).astype(np.float32)
ids = np.arange(N) * 3 + 11
psql("DROP TABLE IF EXISTS rvl; CREATE TABLE rvl (id bigint, v vector(%d))" % D)
psql("COPY rvl FROM STDIN", "".join("%d\t[%s]\n" % (ids[i], ",".join(repr(float(t)) for t in x[i])) for i in range(N)))
psql("CREATE INDEX rvl_idx ON rvl USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16)")

tests = []
for heads, head_dim, bias in ((1, 8, True), (4, 3, True), (2, 5, False)):
    layer = RuVectorLayer(D, heads, head_dim)
    if not bias:
        for lin in (layer.q, layer.k, layer.v):
            lin.bias = None
    layer.eval()
    name = "rvl_%d_%d" % (heads, head_dim)
    sd = {k: v.float().tolist() for k, v in layer.state_dict().items()}
    spec = {"layers": [{"type": "ruvector", "options": {"heads": heads}, "state_dict": sd}]}
    psql("SELECT ruvector_gnn_model_import('%s', $j$%s$j$)" % (name, json.dumps(spec)))
    for hops, k in ((0, 5), (1, 6), (2, 4)):
        query = rng.normal(size=D).astype(np.float32)
        qtext = "[%s]" % ",".join(repr(float(t)) for t in query)
        cand = [int(t) for t in psql("SELECT id FROM rvl WHERE ctid = ANY (_ruvector_hnsw_candidates('rvl_idx', '%s', %d, %d))"
                                     % (qtext, k, hops)).split()]
        got = [line.split("|") for line in psql(
            "SELECT id, score, enhanced_embedding FROM ruvector_differentiable_search('%s', 'rvl_idx', %d, %d, model => '%s')"
            % (qtext, hops, k, name)).split("\n") if line]
        rows = torch.tensor(x[[int(np.where(ids == c)[0][0]) for c in cand]], dtype=torch.float64)
        with torch.no_grad():
            enhanced, scores = layer(torch.tensor(query, dtype=torch.float64), rows)
        order = sorted(range(len(cand)), key=lambda i: (-float(scores[i]), cand[i]))[:k]
        want_ids = [cand[i] for i in order]
        got_ids = [int(g[0]) for g in got]
        got_scores = np.array([float(g[1]) for g in got])
        got_enh = np.array(json.loads(got[0][2])) if got else None
        err_s = float(np.max(np.abs(got_scores - np.array([float(scores[i]) for i in order])))) if got else 1.0
        err_e = float(np.max(np.abs(got_enh - enhanced.numpy()) / (1 + np.abs(enhanced.numpy())))) if got else 1.0
        ok = got_ids == want_ids and err_s < 1e-4 and err_e < 1e-4 and len(cand) >= k
        tests.append((ok, "heads %d x %d%s, hops %d, k %d: %d candidates; ids %s, score err %.2g, q' err %.2g"
                      % (heads, head_dim, "" if bias else " (no q/k/v bias)", hops, k, len(cand),
                         "equal" if got_ids == want_ids else "%s vs %s" % (got_ids, want_ids), err_s, err_e)))

print("1..%d" % len(tests))
for i, (ok, text) in enumerate(tests, 1):
    print("%sok %d - RuVector layer against PyTorch: %s" % ("" if ok else "not ", i, text))
