#!/usr/bin/env python3
"""Report of ./run bench ivfflat: markdown tables (printed and written) and a recall-vs-QPS plot.

  ivfflat_report.py RESULTS.jsonl OUT.md OUT.png [key=value ...]

RESULTS.jsonl holds the records written by ivfflat.sh (ruv_exact, ruv_build, ruv_query) and
ivfflat_faiss.py (faiss_build, faiss_query, faiss_flat). key=value pairs describe the run (threads,
seconds, queries, faiss, blas, cpu, pg, date, ...) and go into the header of the markdown file."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def ratio(a, b):
    return a / b if a is not None and b else None


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                recs.append(json.loads(line))
    return recs


def datasets_in_order(recs):
    seen = []
    for r in recs:
        if r.get("dataset") and r["dataset"] not in seen:
            seen.append(r["dataset"])
    return seen


def tables(recs, meta):
    threads = int(meta.get("threads", 0)) or None
    ds = datasets_in_order(recs)
    by = {}
    for r in recs:
        key = (r["kind"], r.get("dataset"), r.get("lists"), r.get("probes"), r.get("threads"))
        by[key] = r

    def get(kind, d, lists=None, probes=None, thr=None, field="qps"):
        r = by.get((kind, d, lists, probes, thr))
        return None if r is None else r.get(field)

    out = []
    out.append("### Recall@10 and single-query QPS\n")
    out.append("| dataset | lists | probes | ruvector recall@10 | FAISS recall@10 | recall diff | ruvector QPS "
               "| FAISS QPS | ruvector/FAISS QPS | FAISS vectors/query |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in ds:
        lists_seen = sorted({r["lists"] for r in recs if r.get("dataset") == d and r["kind"] in ("ruv_query", "faiss_query")})
        for lists in lists_seen:
            probes = sorted({r["probes"] for r in recs if r.get("dataset") == d and r.get("lists") == lists
                             and r["kind"] in ("ruv_query", "faiss_query")})
            for p in probes:
                rr = get("ruv_query", d, lists, p, field="recall")
                fr = get("faiss_query", d, lists, p, field="recall")
                rq = get("ruv_query", d, lists, p)
                fq = get("faiss_query", d, lists, p)
                diff = rr - fr if rr is not None and fr is not None else None
                out.append("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                    d, lists, p, fmt(rr, ".4f"), fmt(fr, ".4f"), fmt(diff, "+.4f"), fmt(rq, ".1f"),
                    fmt(fq, ".1f"), fmt(ratio(rq, fq), ".3f"),
                    fmt(get("faiss_query", d, lists, p, field="scanned_per_query"), ".0f")))

    out.append("\n### Index build\n")
    t = threads or "T"
    out.append("| dataset | lists | ruvector CREATE INDEX, %s threads (s) | ruvector, 1 thread (s) | ruvector parallel "
               "speedup | FAISS train+add, %s threads (s) | FAISS, 1 thread (s) | FAISS s (its faster setting) / ruvector s (%s threads) "
               "| ruvector index size (MB) | list imbalance ruvector / FAISS |" % (t, t, t))
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in ds:
        lists_seen = sorted({r["lists"] for r in recs if r.get("dataset") == d and r["kind"] in ("ruv_build", "faiss_build")})
        for lists in lists_seen:
            rt = get("ruv_build", d, lists, thr=threads, field="seconds")
            r1 = get("ruv_build", d, lists, thr=1, field="seconds")
            ft = get("faiss_build", d, lists, thr=threads, field="seconds")
            f1 = get("faiss_build", d, lists, thr=1, field="seconds")
            size = get("ruv_build", d, lists, thr=threads, field="index_bytes")
            ri = get("ruv_build", d, lists, thr=threads, field="imbalance")
            fi = get("faiss_build", d, lists, thr=threads, field="imbalance")
            out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s / %s |" % (
                d, lists, fmt(rt, ".2f"), fmt(r1, ".2f"), fmt(ratio(r1, rt), ".2f"), fmt(ft, ".2f"),
                fmt(f1, ".2f"), fmt(ratio(min(x for x in (ft, f1) if x is not None), rt) if (ft or f1) else None, ".2f"),
                fmt(size / 1048576 if size else None, ".1f"),
                fmt(ri, ".2f"), fmt(fi, ".2f")))

    out.append("\n### Where the build's time goes\n")
    out.append("Phase times of the best build (its `DEBUG1` line). k-means and assigning run on the worker's "
               "threads (assigning includes copying the rows into the two shared segments the worker reads them from, double-buffered, so the copy overlaps the worker's work); sampling (the "
               "heap scan), writing (building, WAL-logging and writing the pages) and fsync run in the backend. "
               "\"bound\" is the whole build's %s-thread/1-thread ratio if k-means and assigning scaled "
               "perfectly and the rest did not change: (total₁ − worker₁ + worker₁ / %s) / total₁.\n" % (t, t))
    out.append("| dataset | lists | threads | sampling (s) | k-means (s) | assigning (s) | writing (s) | fsync (s) "
               "| total (s) | build %s thr / 1 thr | k-means + assigning %s thr / 1 thr | bound |" % (t, t))
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d in ds:
        lists_seen = sorted({r["lists"] for r in recs if r.get("dataset") == d and r["kind"] == "ruv_build"})
        for lists in lists_seen:
            r1 = by.get(("ruv_build", d, lists, None, 1))
            rt = by.get(("ruv_build", d, lists, None, threads))
            w1 = r1["kmeans"] + r1["assigning"] if r1 and "kmeans" in r1 else None
            wt = rt["kmeans"] + rt["assigning"] if rt and "kmeans" in rt else None
            bound = (r1["seconds"] - w1 + w1 / threads) / r1["seconds"] if w1 is not None and threads else None
            for thr, r in ((1, r1), (threads, rt)):
                if r is None:
                    continue
                last = thr == threads
                out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    d, lists, thr, fmt(r.get("sampling"), ".2f"), fmt(r.get("kmeans"), ".2f"),
                    fmt(r.get("assigning"), ".2f"), fmt(r.get("writing"), ".2f"), fmt(r.get("fsync"), ".2f"),
                    fmt(r["seconds"], ".2f"),
                    fmt(ratio(rt["seconds"], r1["seconds"]) if last and r1 and rt else None, ".2f"),
                    fmt(ratio(wt, w1) if last else None, ".2f"), fmt(bound if last else None, ".2f")))
    g = [r for r in recs if r["kind"] == "machine_gemm"]
    if g:
        out.append("")
        out.append("Machine reference, same run: a float32 4096³ matrix product (numpy on OpenBLAS) takes %.3f s on "
                   "1 thread and %.3f s on %d: %d threads / 1 thread = %.2f (%.2f would be perfect scaling)." % (
                       g[0]["seconds_1"], g[0]["seconds_t"], g[0]["threads"], g[0]["threads"],
                       g[0]["seconds_t"] / g[0]["seconds_1"], 1 / g[0]["threads"]))

    types = [r for r in recs if r["kind"] == "ruv_type" and r["type"] not in ("sq8", "rabitq")]
    sq8 = [r for r in recs if r["kind"] == "ruv_type" and r["type"] == "sq8"]
    rabitq = [r for r in recs if r["kind"] == "ruv_type" and r["type"] == "rabitq"]
    if types:
        out.append("\n### halfvec and bit indexes (issue 17)\n")
        out.append("Expression indexes on the same table: `(embedding::halfvec(d)) halfvec_l2_ops`, and "
                   "`(binary_quantize(embedding)::bit(d)) bit_hamming_ops` whose top candidates (by Hamming "
                   "distance) are re-ranked by the full vector's `<->`, as in pgvector's README. Goals: halfvec "
                   "index half the vector index's size, recall@10 within 0.005 of it and QPS at least 1.6x at "
                   "probes 10; bit with re-rank recall@10 at least 0.9.\n")
        out.append("| dataset | lists | probes | index | size (MB) | size / vector's | recall@10 | recall − vector's "
                   "| QPS | QPS / vector's |")
        out.append("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        for r in types:
            d, lists, p = r["dataset"], r["lists"], r["probes"]
            vsize = get("ruv_build", d, lists, thr=threads, field="index_bytes")
            vrec = get("ruv_query", d, lists, p, field="recall")
            vqps = get("ruv_query", d, lists, p)
            name = r["type"] if r["type"] != "bit" else "bit, re-rank top %d" % r.get("rerank", 0)
            out.append("| %s | %d | %d | %s | %.1f | %s | %.4f | %s | %.1f | %s |" % (
                d, lists, p, name, r["index_bytes"] / 1048576, fmt(ratio(r["index_bytes"], vsize), ".3f"),
                r["recall"], fmt(r["recall"] - vrec if vrec is not None else None, "+.4f"), r["qps"],
                fmt(ratio(r["qps"], vqps), ".2f")))

    if sq8:
        out.append("\n### Quantized lists: quantizer = sq8 (issue 19)\n")
        out.append("The same column indexed `WITH (lists = L, quantizer = sq8)`: one byte per dimension in the lists, "
                   "the `rerank` best candidates by code distance re-ranked exactly from the heap. Beside it FAISS "
                   "IndexIVFScalarQuantizer (QT_8bit, by residual) at the same lists and probes, 1 query per call. "
                   "Goals (100k x 1536, 100 lists, probes 10): recall@10 within 0.01 of the flat index, QPS at least "
                   "3x, index at most 0.3x its size.\n")
        out.append("| dataset | lists | probes | rerank | size (MB) | size / flat | recall@10 | recall − flat "
                   "| QPS | QPS / flat | FAISS SQ8 recall@10 | FAISS SQ8 QPS | FAISS IVFFlat QPS |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in sq8:
            d, lists, p = r["dataset"], r["lists"], r["probes"]
            vsize = get("ruv_build", d, lists, thr=threads, field="index_bytes")
            vrec = get("ruv_query", d, lists, p, field="recall")
            vqps = get("ruv_query", d, lists, p)
            fs = [x for x in recs if x["kind"] == "faiss_sq8_query" and x["dataset"] == d and x["lists"] == lists
                  and x["probes"] == p]
            out.append("| %s | %d | %d | %d | %.1f | %s | %.4f | %s | %.1f | %s | %s | %s | %s |" % (
                d, lists, p, r.get("rerank", 0), r["index_bytes"] / 1048576,
                fmt(ratio(r["index_bytes"], vsize), ".3f"), r["recall"],
                fmt(r["recall"] - vrec if vrec is not None else None, "+.4f"), r["qps"], fmt(ratio(r["qps"], vqps), ".2f"),
                fmt(fs[0]["recall"] if fs else None, ".4f"), fmt(fs[0]["qps"] if fs else None, ".1f"),
                fmt(get("faiss_query", d, lists, p), ".1f")))

    if rabitq:
        out.append("\n### Quantized lists: quantizer = rabitq (issue 19)\n")
        out.append("The same column indexed `WITH (lists = L, quantizer = rabitq)`: one bit per dimension (RaBitQ) in "
                   "the lists, candidates re-ranked exactly from the heap in the order of their estimates until the "
                   "error bound (ruvector.ivfflat_rabitq_epsilon, default 2.6) rules out the rest, at least `rerank` "
                   "of them.\n")
        out.append("Beside it FAISS IndexIVFPQ at the same lists and probes with M = d/8 sub-quantizers of 8 bits "
                   "(by residual): the same code size as rabitq's, alone and under IndexRefineFlat with k_factor 4 "
                   "(the best 40 re-ranked against the float vectors FAISS keeps in memory), 1 query per call.\n")
        out.append("| dataset | lists | probes | rerank | size (MB) | size / flat | recall@10 | recall − flat "
                   "| QPS | QPS / flat | FAISS IVFPQ recall@10 / QPS | FAISS IVFPQ + refine recall@10 / QPS |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

        def faiss_pair(kind, d, lists, p):
            f = [x for x in recs if x["kind"] == kind and x["dataset"] == d and x["lists"] == lists and x["probes"] == p]
            return "%.4f / %.1f" % (f[0]["recall"], f[0]["qps"]) if f else "–"
        for r in rabitq:
            d, lists, p = r["dataset"], r["lists"], r["probes"]
            vsize = get("ruv_build", d, lists, thr=threads, field="index_bytes")
            vrec = get("ruv_query", d, lists, p, field="recall")
            vqps = get("ruv_query", d, lists, p)
            out.append("| %s | %d | %d | %d | %.1f | %s | %.4f | %s | %.1f | %s | %s | %s |" % (
                d, lists, p, r.get("rerank", 0), r["index_bytes"] / 1048576,
                fmt(ratio(r["index_bytes"], vsize), ".3f"), r["recall"],
                fmt(r["recall"] - vrec if vrec is not None else None, "+.4f"), r["qps"], fmt(ratio(r["qps"], vqps), ".2f"),
                faiss_pair("faiss_pq_query", d, lists, p), faiss_pair("faiss_pq_refine_query", d, lists, p)))

    out.append("\n### Exact search (no index)\n")
    out.append("| dataset | ruvector seq scan QPS | ruvector recall@10 (first 20 queries) | FAISS IndexFlatL2 QPS "
               "| ruvector/FAISS |")
    out.append("|---|---:|---:|---:|---:|")
    for d in ds:
        rq = get("ruv_exact", d)
        fq = get("faiss_flat", d)
        out.append("| %s | %s | %s | %s | %s |" % (d, fmt(rq, ".1f"), fmt(get("ruv_exact", d, field="recall"), ".4f"),
                                                 fmt(fq, ".1f"), fmt(ratio(rq, fq), ".3f")))
    out.append("")
    out.append("Build: \"FAISS s / ruvector s\" above 1 means ruvector builds faster; it takes the faster of FAISS's "
               "two settings (FAISS's \"1 thread\" is one OpenMP and one OpenBLAS thread). List imbalance is FAISS's "
               "factor lists · Σ size² / n²: 1 for equal lists; a probe of one list scans imbalance × n / lists "
               "vectors on average (queries from the data distribution).")
    saturated = [r for r in recs if r["kind"] == "faiss_query" and r["probes"] == 1 and r["lists"] <= 100
                 and r["recall"] > 0.9]
    if saturated:
        out.append("")
        names = sorted({r["dataset"] for r in saturated})
        out.append("**Caveat: recall saturates early on %s.** FAISS reaches recall@10 %.3f at lists %d, probes 1 "
                   "there (perf-anchors.md: 0.42 at 100k x 128, lists 100). gen_data.py draws the centres from "
                   "N(0, 1) per dimension; at high d the centres lie about √(2d) apart while the noise (1.25 per "
                   "dimension) scatters a point in a random direction, so a query's neighbours are nearly all in "
                   "its own cluster. Compare QPS at equal recall there, not recall."
                   % (", ".join(names), saturated[0]["recall"], saturated[0]["lists"]))
    return "\n".join(out) + "\n"


def plot(recs, path):
    ds = datasets_in_order(recs)
    ds = [d for d in ds if any(r.get("dataset") == d and r["kind"] in ("ruv_query", "faiss_query") for r in recs)]
    if not ds:
        return False
    fig, axes = plt.subplots(1, len(ds), figsize=(6 * len(ds), 4.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, d in zip(axes[0], ds):
        lists_seen = sorted({r["lists"] for r in recs if r.get("dataset") == d and r["kind"] in ("ruv_query", "faiss_query")})
        for i, lists in enumerate(lists_seen):
            for kind, engine, style, marker in (("ruv_query", "ruvector", "-", "o"), ("faiss_query", "FAISS", "--", "s")):
                pts = sorted((r["probes"], r["recall"], r["qps"]) for r in recs
                             if r["kind"] == kind and r.get("dataset") == d and r["lists"] == lists)
                if not pts:
                    continue
                ax.plot([p[1] for p in pts], [p[2] for p in pts], style, marker=marker, color=colors[i % len(colors)],
                        label="%s, lists %d" % (engine, lists))
                if kind == "ruv_query":
                    for p, rc, q in pts:
                        ax.annotate(str(p), (rc, q), textcoords="offset points", xytext=(4, 4), fontsize=7)
        for kind, label, style in (("ruv_exact", "ruvector seq scan", ":"), ("faiss_flat", "FAISS flat", "-.")):
            for r in recs:
                if r["kind"] == kind and r.get("dataset") == d:
                    ax.axhline(r["qps"], color="grey", linestyle=style, linewidth=1, label="%s (exact)" % label)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second (1 client / 1 thread)")
        ax.set_title("%s (labels: probes)" % d)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def header(meta):
    lines = ["# ruivfflat benchmark: ruvector vs FAISS IndexIVFFlat", "",
             "Generated by `./run bench ivfflat` (tests/bench/ivfflat.sh) on %s." % meta.get("date", "?"), ""]
    rows = [("machine", meta.get("cpu")), ("PostgreSQL", meta.get("pg")),
            ("ruvector worker threads", meta.get("threads")), ("FAISS", meta.get("faiss")),
            ("BLAS (libblas.so.3)", meta.get("blas")), ("OPENBLAS_CORETYPE", meta.get("openblas_coretype")),
            ("queries", meta.get("queries")), ("seconds per QPS point", meta.get("seconds")),
            ("load average (1/5/15 min)", meta.get("loadavg"))]
    lines += ["| item | value |", "|---|---|"] + ["| %s | %s |" % (k, v) for k, v in rows if v is not None]
    lines += ["", "Method (as in shared/research/perf-anchors.md):", "",
              "- Data: tests/bench/gen_data.py, seeded (42) mixture of 1000 Gaussian clusters with centres from N(0, 1), noise 1.25; the queries "
              "are drawn from the same mixture, not from the base set.",
              "- Ground truth: exact top-10 by squared L2 in float64, ties by the smaller id. Recall@10 = mean "
              "|result ∩ truth| / 10.",
              "- ruvector recall: `SET ruvector.ivfflat_probes = P`, then all queries in one statement "
              "(`queries CROSS JOIN LATERAL (SELECT id FROM items ORDER BY embedding <-> q.v LIMIT 10)`); the "
              "plan is checked to be an Index Scan using the ruivfflat index.",
              "- ruvector QPS: `pgbench -n -M prepared -c 1 -j 1 -T S` with one statement per transaction, "
              "`SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM queries WHERE qid = :q) LIMIT 10` "
              "with a random query id; probes via `PGOPTIONS=-c ruvector.ivfflat_probes=P`. It includes the "
              "client/server round trip (about 80 µs on this machine kind).",
              "- FAISS: IndexIVFFlat with an IndexFlatL2 quantizer, default training (niter 10, at most 256 "
              "points per list); recall from one batched search, QPS from one query per `search` call with "
              "1 OpenMP thread. Exact: IndexFlatL2, 1 query per call, 1 thread; ruvector exact is the "
              "sequential scan (`enable_indexscan = off`, no parallel workers).",
              "- Build: `CREATE INDEX ... USING ruivfflat (embedding vector_l2_ops) WITH (lists = L)` timed by "
              "psql, with the worker's default thread count and after a restart with "
              "`ruvector.worker_threads=1`; FAISS train+add with the same thread counts (OpenMP and OpenBLAS threads both set). Best of 2 ruvector "
              "builds, or 3 when the first two took less than 10 s, each after a `CHECKPOINT` and a `sync` "
              "(no dirty pages left to throttle its writes); FAISS by the same rule. `maintenance_work_mem = 2GB`, so "
              "the rows are kept in memory during the build (no second scan, no sort); FAISS holds them in "
              "memory too.",
              "- Shared, noisy 2-vCPU machines: FAISS 1-query QPS varied by up to ±40% between identical runs "
              "in the anchors. Treat ratios as a guide to size.", ""]
    return "\n".join(lines) + "\n"


def write_report(argv, doc, header, tables, plot):
    """The report scripts' main: RESULTS.jsonl OUT.md OUT.png [key=value ...] -> tables printed and
    written after header(meta), and the plot (when there is something to plot) linked below them."""
    if len(argv) < 4:
        sys.exit(doc)
    results, md, png = argv[1:4]
    meta = dict(a.split("=", 1) for a in argv[4:] if "=" in a)
    recs = load(results)
    body = tables(recs, meta)
    print(body)
    has_plot = plot(recs, png)
    with open(md, "w") as f:
        f.write(header(meta))
        f.write(body)
        if has_plot:
            f.write("\n![recall vs QPS](%s)\n" % os.path.basename(png))
    print("wrote %s%s" % (md, " and " + png if has_plot else ""))


if __name__ == "__main__":
    write_report(sys.argv, __doc__, header, tables, plot)
