// Exact nearest-neighbour scan: a CustomScan that replaces the generic
// `Limit -> Sort -> Seq Scan` plan of `ORDER BY col <op> q LIMIT k` on a heap table.
//
//   exact_path.cpp  the set_rel_pathlist hook: recognises the query shape, adds the CustomPath,
//                   turns it into a CustomScan plan
//   exact_cost.cpp  what the path costs (next to the seq scan + top-N sort it replaces)
//   exact_exec.cpp  the executor: heap pages in order, quals, distances, a bounded top-k, EXPLAIN
//
// The plan node's lists (they survive copyObject and the plan cache):
//   custom_exprs   = (query expression, LIMIT count, OFFSET) — Params are fixed by setrefs and
//                    evaluated at run time, so generic plans with $n work
//   custom_private = (distance function oid, column attno, query on the left?, keep ties?,
//                     input collation)
#pragma once
#include "shmem/pg.hpp"
#include "worker/kernels/metric.hpp"

extern "C" {
#include "nodes/extensible.h"
#include "nodes/pathnodes.h"
}

namespace ruvector::scan {

extern bool enable_exact_scan;

inline constexpr const char *kExactScanName = "ruvector exact scan";

// Positions in custom_exprs / custom_private.
enum ExactExpr { kQueryExpr = 0, kLimitCount = 1, kLimitOffset = 2 };
enum ExactPrivate { kFunction = 0, kAttno = 1, kQueryLeft = 2, kKeepTies = 3, kCollation = 4 };

// Whether funcid is one of ruvector's distance operator functions (recognised by its C entry
// point, so neither the schema nor another extension's same-named function matters). *metric is
// its metric table entry when the scan computes the distance with the same kernel the function
// calls, or null when the scan calls the function itself (sparsevec, Jaccard).
bool lookup_distance_function(Oid funcid, const kernels::MetricInfo **metric);

// Cost of the exact scan over `rel` (disk as the seq scan, per-row CPU without the executor's
// per-tuple overhead, no sort), into path's startup/total cost.
void cost_exact_scan(PlannerInfo *root, RelOptInfo *rel, Path *path, Cost distance_cost);

// Registration, from _PG_init.
void define_exact_scan_gucs();
void install_exact_scan();
void register_exact_scan_exec();  // CustomScanMethods (needed by plans read back from text)
const CustomScanMethods *exact_scan_methods();

}  // namespace ruvector::scan
