// Index health: the figures that say whether a vector index still serves as well as a fresh build
// would, and whether rebuilding it would help (issue 18). Read from the index's pages and the
// table's cumulative statistics; used by ruvector_index_health(), ruvector_index_maintain() and
// the maintenance background worker (maintenance_worker.cpp), which rebuilds degraded indexes.
#pragma once
extern "C" {
#include "postgres.h"
#include "utils/rel.h"
}
#include "extension/ivfflat/ivfflat.hpp"

namespace ruvector::maintenance {

// What made an index degraded (the figure a rebuild must improve).
enum class Degradation {
	none,
	too_few_lists,  // trained on too little data: fewer lists than requested, enough rows for them now
	imbalance,      // list sizes far more uneven than the build left them
	drift,          // rows lie much further from their list's centroid than the build's did
	recall,         // estimated recall@10 under ruvector.maintenance_min_recall
	dead,           // ruhnsw: freed element slots (rows vacuum removed, not reused) over the dead ratio
	churn,          // ruhnsw: rows removed since the build over the churn ratio times the build's
};
// "lists", "imbalance", "drift", "recall", "dead", "churn" (null for none)
const char *degradation_name(Degradation d);

struct Health {
	const char *access_method;  // "ruivfflat" or "ruhnsw" (pgvector's alias names map to these)
	Degradation trigger = Degradation::none;
	bool rebuild_would_help = false;  // a rebuild now would improve the trigger's figure
	bool auto_maintain = false;       // the index's auto_maintain option
	int rebuilding_pid = 0;           // a process running REINDEX CONCURRENTLY on the index, if any
	char reason[256] = {};

	// ruivfflat
	int lists = -1;            // trained lists (-1: not an ivfflat index)
	int lists_requested = -1;
	int64 rows = 0;            // index entries (ruivfflat: live list entries; ruhnsw: heap TIDs)
	int64 built_rows = -1;     // rows the build indexed (-1: unknown)
	int64 list_min = -1, list_max = -1;
	double imbalance = -1, build_imbalance = -1;  // -1: unknown
	// Mean distance of the entries to their list's centroid (ivf::list_sizes), the build's, and
	// their ratio (drift; 1 for a fresh build). -1: unknown (no entries, or built before it was
	// recorded).
	double spread = -1, build_spread = -1, drift = -1;
	// Estimated recall@10: made by this call (add_recall), or the maintenance process's last
	// background estimate stored in the meta page (recall_stored). -1: none.
	double estimated_recall = -1;
	int recall_sample = 0;          // sample queries of the estimate
	int recall_at = 0;              // the probes (ruivfflat) or ef_search (ruhnsw) it was estimated at
	bool recall_stored = false;     // the stored background estimate (or ruhnsw's curve), not this call's
	bool recall_from_curve = false; // ruhnsw: the measured curve's recall at the scan's ef_search
	bool recall_rows_changed = false;  // the rows had changed since the build when it was made
	uint64 recall_changes_at = 0;   // table_changes() then (0: unknown)
	int curve_sample = 0;          // the stored recall curve's sample (0: no curve)
	uint64 curve_changes_at = 0;   // table_changes() when the curve was measured (0: unknown)
	double target = 0;             // the target recall a scan aims for (0: none)
	bool rows_changed = false;     // rows inserted, updated or deleted since the build
	uint64 changes = 0;            // table_changes() now (0: unknown)
	int64 inserted_since_build = -1;  // table inserts since the build (cumulative statistics), -1: unknown
	int64 dead_rows = -1;             // the table's dead rows (cumulative statistics), -1: unknown
	uint64 stamp = 0;                 // the build's stamp (0: a ruhnsw index built before it was recorded)

	// ruhnsw
	int64 elements = -1;             // live elements (equal rows share one)
	int64 dead_elements = -1;        // freed slots: elements of rows vacuum removed, not reused by inserts yet
	double dead_share = -1;          // dead_elements / (elements + dead_elements)
	int64 removed_since_build = -1;  // rows deleted or updated (not HOT) since the build, -1: unknown
	double churn = -1;               // removed_since_build / the larger of the build's rows and the rows now
};

// The settings a check judges an index by (ruvector.maintenance_*): ruvector_index_maintain hands
// its caller's to the maintenance process, which applies them instead of its database's.
struct Thresholds {
	float min_recall;
	int32 recall_sample;
	float min_rows_per_list;
	float imbalance_ratio;
	float drift_ratio;
	float dead_ratio;
	float churn_ratio;
};
Thresholds current_thresholds();
void apply_thresholds(const Thresholds &t);  // as session settings

// ruvector.auto_maintain, ruvector.maintenance_naptime and the degradation thresholds.
extern bool auto_maintain_enabled;
extern int maintenance_naptime_s;
extern double min_rows_per_list;
extern double imbalance_ratio;
extern double drift_ratio;
extern double min_recall;
extern int recall_sample_setting;  // ruvector.maintenance_recall_sample
extern double dead_ratio;
extern double churn_ratio;
void define_maintenance_gucs();

// Sample queries of a recall curve measured without being asked for a size (ruvector_index_tune's
// default): after a build of an index with a target_recall option, and by the maintenance process.
inline constexpr int kDefaultCurveSample = 50;
// The share of an index's rows that must have been inserted, updated or deleted since the
// maintenance process's last recall estimate (or curve) before it measures again.
inline constexpr double kRemeasureFraction = 0.2;
// Whether the recall of an index with these figures can be estimated under the settings
// (ruvector.maintenance_min_recall and maintenance_recall_sample set, rows in the index, trained
// lists for ruivfflat) and nothing else degraded it.
bool recall_estimate_wanted(const Health &h);
// Background checks: whether the maintenance process should estimate the recall of an index now
// (recall_estimate_wanted, rows changed since the build and, when it has an estimate already, by
// kRemeasureFraction since).
bool recall_check_due(const Health &h);
// Whether it should measure the recall curve now (ruivfflat or ruhnsw): the index has a target
// recall (its option, or the setting where the maintenance process runs) and no curve, or one the
// table outgrew.
bool curve_check_due(const Health &h);
// Null when the recall of the index can be estimated by the current role, else why not.
const char *recall_unmeasurable(Relation index);

bool is_maintained_kind(Relation index);  // a ruivfflat/ivfflat or ruhnsw/hnsw index
bool is_ivfflat_index(Relation index);    // ruivfflat/ivfflat (not ruvector_gnn)
// The index's auto_maintain option (ruivfflat or ruhnsw; on by default).
bool auto_maintain_option(Relation index);

// The health of an open index (AccessShareLock is enough). Reads every list page of a ruivfflat
// index and every page of a ruhnsw one.
Health index_health(Relation index);

// Estimated recall@k at the session's search settings: `sample` of the table's rows (read through
// SPI with the caller's privileges and snapshot) used as queries, answered exactly and by the index,
// each leaving the query row itself out (a table of more than k rows): a row is its own nearest
// neighbour, which a query from outside the table is not, so counting it would overstate recall.
// -1 when the table has no rows. Errors (0A000) for expression and partial indexes and under
// row-level security. Costs `sample` exact scans of the table and index scans (recall.cpp).
double estimate_recall(Relation index, int sample, int k);
// Sample rows drawn by measure_recall, for a second call on the same queries.
struct RecallSample {
	Datum *rows = nullptr;
	ItemPointerData *tids = nullptr;  // each row's own TID, left out of its answers
	uint64 count = 0;
};
// The same at each of `points` values of `setting` (ruivfflat: ruvector.ivfflat_probes or
// ruvector.ivfflat_probe_ratio; ruhnsw: ruvector.hnsw_ef_search; null: the session's settings,
// one point), with recall targets and iterative scans off: one exact answer per query, an index
// answer per point; recall[p], -1 for an empty table. `drawn`: when it holds rows, the queries;
// else it receives the sample drawn.
void measure_recall(Relation index, int sample, int k, const char *setting, const double *values, int points,
					double *recall, RecallSample *drawn = nullptr);
// ruvector_index_tune: measure the recall curve of an index and store it in its meta page:
// ruivfflat at probes 1, 2, 4, ... lists (and the per-query probes curve, `ratios`), ruhnsw at
// ef_search 10, 16, 25, ... 1000 (hnsw::ef_at_point).
struct Tuned {
	const char *setting = nullptr;  // "probes" or "ef_search"
	int points = 0;
	int value[kCurveMaxPoints] = {};  // the setting at each point
	double recall[kCurveMaxPoints] = {};
	ivf::RatioCurve ratios;  // ruivfflat
};
Tuned tune_index(Relation index, int sample);
// Adds the estimate to h (and the recall degradation when nothing else degraded the index).
void add_recall(Relation index, Health &h, int sample);
// The maintenance process's estimate: add_recall, then stored in the meta page.
void add_and_store_recall(Relation index, Health &h, int sample);
// A build of an index with a target_recall option measures its curve (kDefaultCurveSample
// queries) when its table has rows and its recall can be measured, so a REINDEX keeps the target
// working: now, or inside a REINDEX, VACUUM FULL or CLUSTER at the end of the statement.
void tune_built_index(Relation index);
// A build inside a REINDEX, VACUUM FULL or CLUSTER cannot scan its index yet: tune_built_index
// defers the measurement to the end of the statement (the ProcessUtility hook calls this).
void run_deferred_tunes();

// One line with the figures a rebuild is judged by, for the log ("lists 1/100, rows 100000, ...").
// The setting an estimate was made at: "probes" (ruivfflat) or "ef_search" (ruhnsw).
const char *recall_setting_name(const Health &h);
void describe_figures(const Health &h, char *out, size_t size);

}  // namespace ruvector::maintenance
