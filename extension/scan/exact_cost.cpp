// What the exact scan costs.
//
// The same disk cost as the seq scan it replaces (every page of the table), the same qual cost,
// the distance at the operator function's declared cost (as the generic plan charges it), but a
// fraction of the executor's per-tuple cost (the scan reads tuples straight from the pinned page:
// no slot per row, no projection, no sort input) and a bounded heap instead of the sort. So it is
// always cheaper than the seq scan + top-N sort it replaces, and costlier than an index scan
// that reads a fraction of the table.
#include "extension/scan/exact_scan.hpp"

#include <algorithm>

extern "C" {
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/spccache.h"
}

namespace ruvector::scan {

namespace {
// Per row, the part of cpu_tuple_cost the scan still pays (visibility, deforming one column).
constexpr double kTupleCostFraction = 0.25;
}  // namespace

void cost_exact_scan(PlannerInfo *root, RelOptInfo *rel, Path *path, Cost distance_cost)
{
	double seq_page_cost;
	get_tablespace_page_costs(rel->reltablespace, nullptr, &seq_page_cost);
	Cost disk = seq_page_cost * rel->pages;
	QualCost qual = rel->baserestrictcost;
	Cost cpu = (cpu_tuple_cost * kTupleCostFraction + qual.per_tuple) * rel->tuples +
			   (distance_cost + cpu_operator_cost) * rel->rows;  // the distance, one heap comparison
	double rows = rel->rows;
	if (path->parallel_workers > 0) {
		// A partial path: the CPU shared among the participants as for a parallel seq scan (the
		// leader helps less the more workers there are); the pages are still all read.
		double divisor = path->parallel_workers;
		if (parallel_leader_participation)
			divisor += std::max(0.0, 1.0 - 0.3 * path->parallel_workers);
		cpu /= divisor;
		rows = clamp_row_est(rows / divisor);
		path->rows = rows;
	}
	// Projection of the rows returned: at most LIMIT + OFFSET when the planner knows it.
	double out = root->limit_tuples > 0 ? std::min(root->limit_tuples, rows) : rows;
	Cost project = path->pathtarget->cost.startup + (cpu_tuple_cost + path->pathtarget->cost.per_tuple) * out;
	// Every row is read before the first one is returned.
	path->startup_cost = qual.startup + disk + cpu;
	path->total_cost = path->startup_cost + project;
}

}  // namespace ruvector::scan
