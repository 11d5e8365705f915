#!/usr/bin/env python3
"""Report of ./run bench hnsw: markdown tables (printed and written) and a recall-vs-QPS plot.

  hnsw_report.py RESULTS.jsonl OUT.md OUT.png [key=value ...]

RESULTS.jsonl holds the records of hnsw.sh (ruv_build, ruv_query) and hnsw_faiss.py (faiss_build,
faiss_query). pgvector 0.8.6's figures are the ones measured on this machine kind with the same
recipe (shared/research/perf-anchors.md); they are not measured in this run, so every goal is
checked against FAISS in the same run, as the issue states it."""
import sys

from ivfflat_report import datasets_in_order, fmt, ratio, write_report

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# pgvector 0.8.6 through SQL, m 16, ef_construction 64 (perf-anchors.md): build s, index MB,
# {ef_search: (recall@10, QPS)}.
PGVECTOR = {
    "100k x 128": (23.5, 79, {40: (0.982, 1002), 100: (0.996, 562), 200: (0.999, 291)}),
    "1M x 128": (345, 794, {40: (0.726, 464), 100: (0.907, 323), 200: (0.962, 265)}),
}
# FAISS IndexHNSWFlat in the same anchors: build s (2 threads), {ef: (recall, QPS)}.
FAISS_ANCHOR = {"100k x 128": (41.4, {40: (0.956, 4428), 100: (0.996, 2245), 200: (0.998, 892)})}
BUILD_GOAL = 23.5 / 3 / 41.4      # 3x faster than pgvector, as a share of FAISS's build time (0.19)
QPS_GOAL = 1.5 * 1002 / 4428      # 1.5x pgvector's QPS at ef 40, as a share of FAISS's (0.34)


def tables(recs, meta):
    threads = int(meta.get("threads", 0)) or None
    out = []
    by = {}
    for r in recs:
        by[(r["kind"], r.get("dataset"), r.get("ef_search"), r.get("threads"))] = r

    def get(kind, d, ef=None, thr=None, field="qps"):
        r = by.get((kind, d, ef, thr))
        return None if r is None else r.get(field)

    ds = datasets_in_order(recs)
    out.append("### Build (m %s, ef_construction %s)\n" % (meta.get("m"), meta.get("ef_construction")))
    out.append("| dataset | ruvector CREATE INDEX, %s threads (s) | ruvector, 1 thread (s) | FAISS add, %s threads (s) "
               "| ruvector / FAISS (goal ≤ %.2f) | index size (MB) | pgvector build (s) / size (MB), anchors |"
               % (threads, threads, BUILD_GOAL))
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for d in ds:
        rt = get("ruv_build", d, thr=threads, field="seconds")
        r1 = get("ruv_build", d, thr=1, field="seconds")
        ft = get("faiss_build", d, thr=threads, field="seconds")
        size = get("ruv_build", d, thr=threads, field="index_bytes")
        pg = PGVECTOR.get(d)
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            d, fmt(rt, ".2f"), fmt(r1, ".2f"), fmt(ft, ".2f"), fmt(ratio(rt, ft), ".3f"),
            fmt(size / 1048576 if size else None, ".1f"), "%s / %s" % pg[:2] if pg else "–"))

    out.append("\n### Recall@10 and single-query QPS\n")
    out.append("| dataset | ef_search | ruvector recall@10 | FAISS recall@10 | pgvector recall@10 (anchors) | ruvector QPS "
               "| FAISS QPS | ruvector / FAISS QPS (goal ≥ %.2f at recall ≥ 0.98) | pgvector QPS (anchors) |" % QPS_GOAL)
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in ds:
        efs = sorted({r["ef_search"] for r in recs if r.get("dataset") == d and "ef_search" in r})
        for ef in efs:
            pg = PGVECTOR.get(d, (None, None, {}))[2].get(ef, (None, None))
            rq, fq = get("ruv_query", d, ef), get("faiss_query", d, ef)
            out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                d, ef, fmt(get("ruv_query", d, ef, field="recall"), ".4f"),
                fmt(get("faiss_query", d, ef, field="recall"), ".4f"), fmt(pg[0], ".3f"), fmt(rq, ".1f"),
                fmt(fq, ".1f"), fmt(ratio(rq, fq), ".3f"), fmt(pg[1], ".0f")))
    out.append("")
    out.append("Goals (issue 16), checked against FAISS in the same run: build at most %.2fx FAISS's time (3x faster "
               "than pgvector's 23.5 s when FAISS takes its anchor 41.4 s); recall at each ef_search at least "
               "pgvector's; single-query QPS at recall ≥ 0.98 at least %.2fx FAISS's (1.5x pgvector's 1002 QPS "
               "when FAISS does its anchor 4428); index at most pgvector's size." % (BUILD_GOAL, QPS_GOAL))
    return "\n".join(out) + "\n"


def plot(recs, path):
    ds = [d for d in datasets_in_order(recs) if any(r.get("dataset") == d and "ef_search" in r for r in recs)]
    if not ds:
        return False
    fig, axes = plt.subplots(1, len(ds), figsize=(6 * len(ds), 4.8), squeeze=False)
    for ax, d in zip(axes[0], ds):
        for kind, label, style in (("ruv_query", "ruvector ruhnsw (SQL)", "-o"), ("faiss_query", "FAISS IndexHNSWFlat", "--s")):
            pts = sorted((r["ef_search"], r["recall"], r["qps"]) for r in recs if r["kind"] == kind and r.get("dataset") == d)
            if pts:
                ax.plot([p[1] for p in pts], [p[2] for p in pts], style, label=label)
                for ef, rc, q in pts:
                    ax.annotate(str(ef), (rc, q), textcoords="offset points", xytext=(4, 4), fontsize=7)
        pg = PGVECTOR.get(d)
        if pg:
            pts = sorted(pg[2].items())
            ax.plot([p[1][0] for p in pts], [p[1][1] for p in pts], ":^", color="grey", label="pgvector 0.8.6 (anchors)")
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second (1 client / 1 thread)")
        ax.set_title("%s (labels: ef_search)" % d)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def header(meta):
    lines = ["# ruhnsw benchmark: ruvector vs FAISS IndexHNSWFlat", "",
             "Generated by `./run bench hnsw` (tests/bench/hnsw.sh) on %s." % meta.get("date", "?"), ""]
    rows = [("machine", meta.get("cpu")), ("PostgreSQL", meta.get("pg")),
            ("ruvector worker threads", meta.get("threads")), ("FAISS", meta.get("faiss")),
            ("OPENBLAS_CORETYPE", meta.get("openblas_coretype")), ("queries", meta.get("queries")),
            ("seconds per QPS point", meta.get("seconds")), ("load average (1/5/15 min)", meta.get("loadavg"))]
    lines += ["| item | value |", "|---|---|"] + ["| %s | %s |" % (k, v) for k, v in rows if v is not None]
    lines += ["", "Method:", "",
              "- Data and ground truth as in bench-ivfflat.md (tests/bench/gen_data.py, 1000 Gaussian clusters; "
              "exact float64 top-10, ties by the smaller id).",
              "- ruvector: `CREATE INDEX ... USING hnsw (embedding vector_l2_ops) WITH (m = M, ef_construction = "
              "EFC)` timed by psql after a `CHECKPOINT`; recall with `SET hnsw.ef_search = E` and all queries in "
              "one LATERAL statement (plan checked); QPS with `pgbench -n -M prepared -c 1 -j 1`, one query per "
              "transaction with a random query id.",
              "- FAISS: IndexHNSWFlat(d, M), efConstruction EFC, add() on the worker's thread count (OpenMP and "
              "OpenBLAS threads set); recall from one batched search; QPS from one query per `search` call on "
              "1 thread.",
              "- pgvector 0.8.6 columns: measured earlier on this machine kind with the same recipe "
              "(shared/research/perf-anchors.md), not in this run.", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    write_report(sys.argv, __doc__, header, tables, plot)
