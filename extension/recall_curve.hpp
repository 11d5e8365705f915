// Recall targets of both vector index access methods (issue 18): a measured recall@10 curve over one
// search setting (ruivfflat: probes 1, 2, 4, ... lists; ruhnsw: ef_search 10, 16, 25, ... 1000),
// kept in the index's meta page, from which a scan under a target recall picks the smallest
// setting whose recall meets the target. Measured by extension/maintenance/recall.cpp (a sample of
// the index's own rows answered exactly and through the index); used by ivfscan.cpp and
// hnswscan.cpp, which say in EXPLAIN what they chose and why.
#pragma once
extern "C" {
#include "postgres.h"
#include "lib/stringinfo.h"
#include "storage/bufpage.h"
#include "utils/rel.h"
}

namespace ruvector {

inline constexpr int kCurveMaxPoints = 16;  // ruivfflat: probes 2^0 .. 2^15 (32768 lists)

// A curve as a meta page stores it (the layout ruivfflat has always had: its fields in this order).
struct RecallCurve {
	uint16 points;  // 0: not measured for this build (a build writes a new meta page)
	uint16 sample;  // queries each point was measured with
	float recall[kCurveMaxPoints];
	// The table's changes (table_changes, index_support.hpp) when it was measured, so the maintenance process can
	// tell when the table has changed enough for it to measure the curve again (0: unknown).
	uint64 changes_at;
};
static_assert(sizeof(RecallCurve) == 80);

// The maintenance process's last recall@10 estimate of an index's build, as a meta page stores it
// (the layout ruivfflat has always had): made at the setting a scan uses by default (ruivfflat:
// probes; ruhnsw: ef_search) on `sample` of the table's rows. rows_changed: the rows had changed
// since the build when it was made (an estimate of a fresh build's rows says nothing about what a
// rebuild gives).
struct RecallEstimate {
	float recall;
	uint16 sample;        // 0: no estimate
	uint16 setting;       // probes or ef_search
	uint16 rows_changed;
	uint16 unused;
	uint64 changes_at;    // table_changes() at the estimate
};
static_assert(sizeof(RecallEstimate) == 24);

// The 95% one-sided lower confidence bound of a recall measured on n queries.
double recall_lower_bound(double r, double n);
// The first point whose recall meets `target` with 95% confidence (per query, as a query's
// neighbours are found or missed together; so a point that barely reached the target on the sample
// does not count), or the last point when none does; -1 when there is no curve.
int curve_point_for_target(const RecallCurve &curve, double target);

// What a scan chose under its settings and why, for EXPLAIN: " (for target recall 0.95: 0.97
// measured)", " (fixed: target recall 0.95, but the index has no measured curve)", or nothing
// without a target. measured < 0: no curve.
void describe_target(StringInfo out, double target, float measured);

// A curve's write found another build in the meta page than the one it measured (ERROR).
[[noreturn]] void report_rebuilt_while_measured(Relation index);
// A meta page whose struct grew after its layout shipped: pd_lower must cover the whole struct
// for generic WAL and full-page images to keep the fields added since.
void cover_meta(Page page, Size meta_size);

// While a curve is measured, scans ignore recall targets (the setting's and the index's option),
// so each point is measured at its own setting. Scoped: measure_recall sets it around its scans.
bool targets_suspended();
void suspend_targets(bool on);

}  // namespace ruvector
