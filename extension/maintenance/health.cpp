// Index health (health.hpp) and ruvector_index_health(index regclass).
#include "extension/maintenance/health.hpp"
#include "extension/hnsw/hnswutils.hpp"
#include "extension/index_support.hpp"
#include "extension/ivfflat/ivfflat.hpp"

extern "C" {
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
}

#include <algorithm>
#include <cstdio>

namespace ruvector::maintenance {

bool auto_maintain_enabled = true;
int maintenance_naptime_s = 300;
double min_rows_per_list = 39;
double imbalance_ratio = 3.0;
double drift_ratio = 1.5;
double min_recall = 0;
int recall_sample_setting = 20;
double dead_ratio = 0.5;
double churn_ratio = 1.0;

const char *degradation_name(Degradation d)
{
	switch (d) {
	case Degradation::too_few_lists:
		return "lists";
	case Degradation::imbalance:
		return "imbalance";
	case Degradation::drift:
		return "drift";
	case Degradation::recall:
		return "recall";
	case Degradation::dead:
		return "dead";
	case Degradation::churn:
		return "churn";
	case Degradation::none:
		break;
	}
	return nullptr;
}

Thresholds current_thresholds()
{
	return {float(min_recall), recall_sample_setting, float(min_rows_per_list), float(imbalance_ratio), float(drift_ratio),
			float(dead_ratio), float(churn_ratio)};
}

void apply_thresholds(const Thresholds &t)
{
	auto set = [](const char *name, double v) {
		char value[32];
		snprintf(value, sizeof value, "%.9g", v);
		SetConfigOption(name, value, PGC_USERSET, PGC_S_SESSION);
	};
	set("ruvector.maintenance_min_recall", t.min_recall);
	set("ruvector.maintenance_recall_sample", t.recall_sample);
	set("ruvector.maintenance_min_rows_per_list", t.min_rows_per_list);
	set("ruvector.maintenance_imbalance_ratio", t.imbalance_ratio);
	set("ruvector.maintenance_drift_ratio", t.drift_ratio);
	set("ruvector.maintenance_dead_ratio", t.dead_ratio);
	set("ruvector.maintenance_churn_ratio", t.churn_ratio);
}

void define_maintenance_gucs()
{
	DefineCustomBoolVariable("ruvector.auto_maintain", "Rebuilds degraded vector indexes in the background.",
							 "The maintenance worker checks every ruivfflat and ruhnsw index whose auto_maintain option is "
							 "on and rebuilds degraded ones online (REINDEX INDEX CONCURRENTLY).",
							 &auto_maintain_enabled, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("ruvector.maintenance_naptime", "Time between checks of a database's vector indexes.",
							nullptr, &maintenance_naptime_s, 300, 1, 7 * 24 * 3600, PGC_SIGHUP, GUC_UNIT_S, nullptr,
							nullptr, nullptr);
	// FAISS warns below 39 training points per centroid: with that many rows per requested list, a
	// rebuild can train every list the index asked for.
	DefineCustomRealVariable("ruvector.maintenance_min_rows_per_list",
							 "Rows per requested list at which an index with fewer lists is degraded.",
							 "An index built on an empty or small table has fewer lists than requested; once the "
							 "table holds this many rows per requested list, a rebuild trains them all.",
							 &min_rows_per_list, 39, 0.1, 1e6, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomRealVariable("ruvector.maintenance_imbalance_ratio",
							 "How many times the build's own list imbalance makes an index degraded.",
							 "A fresh build is not flat (100k x 1536 shows 3.4); inserts of shifted data make "
							 "some lists grow far more than others.",
							 &imbalance_ratio, 3.0, 1.1, 1e6, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomRealVariable("ruvector.maintenance_drift_ratio",
							 "How many times the build's mean distance of rows to their list's centroid makes an index degraded.",
							 "Rows inserted away from the trained centroids lie further from them than the build's rows "
							 "did; a rebuild trains centroids where the rows are now.",
							 &drift_ratio, 1.5, 1.01, 1e6, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomRealVariable("ruvector.maintenance_min_recall",
							 "Estimated recall@10 under which an index is degraded (0: off).",
							 "Applies to ruvector_index_health's estimates (recall_sample > 0) and to the maintenance "
							 "process's background estimates (ruvector.maintenance_recall_sample).",
							 &min_recall, 0, 0, 1, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("ruvector.maintenance_recall_sample",
							"Sample queries of the maintenance process's recall estimates (0: none).",
							"With ruvector.maintenance_min_recall set, the maintenance process estimates an index's "
							"recall@10 from this many of its rows once its rows have changed since the build, and "
							"again after every 20% of its rows changed; each query is one exact scan of the table.",
							&recall_sample_setting, 20, 0, 1000, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	// A fresh build has no freed slot; at 0.5 half of the index's slots hold no row (a rebuild
	// halves it).
	DefineCustomRealVariable("ruvector.maintenance_dead_ratio",
							 "Share of a ruhnsw index's element slots freed by vacuum at which it is degraded.",
							 "Vacuum frees the elements of deleted rows and repairs their neighbours' links; inserts reuse "
							 "the slots. A rebuild writes only the rows there are.",
							 &dead_ratio, 0.5, 0.01, 1, PGC_USERSET, 0, nullptr, nullptr, nullptr);
	// Inserts into an HNSW graph are what its build does; deletions are repaired locally, and the
	// repairs accumulate (unreachable elements, longer paths). At 1 as many rows have left the graph
	// since the build as it has.
	DefineCustomRealVariable("ruvector.maintenance_churn_ratio",
							 "Rows removed from a ruhnsw index since its build, per row it has, at which it is degraded.",
							 "Rows deleted or updated (not HOT) since the build over the larger of the rows the build "
							 "indexed and the rows the index holds now.",
							 &churn_ratio, 1.0, 0.01, 1e6, PGC_USERSET, 0, nullptr, nullptr, nullptr);
}

namespace {

bool am_named(Relation index, std::initializer_list<const char *> names)
{
	const char *am = get_am_name(index->rd_rel->relam);
	if (!am)
		return false;
	for (const char *n : names)
		if (strcmp(am, n) == 0)
			return true;
	return false;
}

// The table's statistics, and what happened to it since the build (`at_build`: its counters then).
void table_statistics(Relation index, Health &h, const TableCounters &at_build)
{
	Oid heap = index->rd_index->indrelid;
	if (PgStat_StatTabEntry *t = pgstat_fetch_stat_tabentry(heap))
		h.dead_rows = t->n_dead_tuples;
	TableCounters now = table_counters(heap);
	h.changes = now.changes;
	h.inserted_since_build = counted_since(now.inserts, at_build.inserts);
	h.removed_since_build = counted_since(now.removals, at_build.removals);
}

// A process running REINDEX CONCURRENTLY on the index (ours or anyone's), from the progress it
// reports: the table, and the index being rebuilt (the old one while it makes the copy, then the
// copy, named <index>_ccnew[N]).
int rebuilding_pid(Relation index)
{
	Oid heap = index->rd_index->indrelid;
	const char *name = RelationGetRelationName(index);
	size_t len = strlen(name);
	int n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++) {
		LocalPgBackendStatus *l = pgstat_fetch_stat_local_beentry(i);
		if (!l)
			continue;
		const PgBackendStatus &b = l->backendStatus;
		if (b.st_progress_command != PROGRESS_COMMAND_CREATE_INDEX || b.st_progress_command_target != heap ||
			b.st_progress_param[PROGRESS_CREATEIDX_COMMAND] != PROGRESS_CREATEIDX_COMMAND_REINDEX_CONCURRENTLY)
			continue;
		Oid target = Oid(b.st_progress_param[PROGRESS_CREATEIDX_INDEX_OID]);
		if (target == RelationGetRelid(index))
			return b.st_procpid;
		const char *target_name = get_rel_name(target);
		if (target_name && strncmp(target_name, name, len) == 0 && strncmp(target_name + len, "_ccnew", 6) == 0)
			return b.st_procpid;
	}
	return 0;
}

// Applies ruvector.maintenance_min_recall to h's estimate: true when it made h degraded.
bool judge_recall(Health &h)
{
	if (h.trigger != Degradation::none || min_recall <= 0 || h.estimated_recall < 0 || h.estimated_recall >= min_recall)
		return false;
	h.trigger = Degradation::recall;
	// Lists trained (a graph built) on the rows there are now serve them better; the same rows give
	// the same lists, and a graph as good (an estimate made before the rows changed is what a
	// rebuild gives).
	h.rebuild_would_help = h.rows_changed && h.recall_rows_changed;
	snprintf(h.reason, sizeof h.reason, "estimated recall@10 %.3f is under %.3f (%d sample queries at %s %d%s)",
			 h.estimated_recall, min_recall, h.recall_sample, recall_setting_name(h), h.recall_at,
			 h.recall_from_curve ? ", from its recall curve" : h.recall_stored ? ", by the maintenance process" : "");
	return true;
}

// Changes to the table since `at` (a table_changes() value); -1 when unknown.
double changes_since(const Health &h, uint64 at) { return double(counted_since(h.changes, at)); }

// The maintenance process's stored estimate, when there is one.
void add_stored_estimate(const RecallEstimate &e, Health &h)
{
	if (e.sample == 0)
		return;
	h.estimated_recall = e.recall;
	h.recall_sample = e.sample;
	h.recall_at = e.setting;
	h.recall_stored = true;
	h.recall_rows_changed = e.rows_changed != 0;
	h.recall_changes_at = e.changes_at;
}

void add_curve(const RecallCurve &curve, Health &h)
{
	h.curve_sample = curve.points > 0 ? std::max<int>(curve.sample, 1) : 0;
	h.curve_changes_at = curve.changes_at;
}

void ivf_health(Relation index, Health &h)
{
	using namespace ruvector::ivf;
	IvfMetaPage meta = read_meta(index);
	ListSizes sizes = list_sizes(index, meta, true);
	h.access_method = "ruivfflat";
	h.auto_maintain = auto_maintain_option(index);
	h.lists = int(meta.lists);
	h.lists_requested = int(meta.lists_requested);
	h.rows = sizes.total;
	h.built_rows = int64(meta.built_rows);
	h.list_min = sizes.min;
	h.list_max = sizes.max;
	h.imbalance = sizes.imbalance(meta.lists);
	h.build_imbalance = meta.build_imbalance > 0 ? meta.build_imbalance : -1;
	h.stamp = meta.stamp;
	add_curve(meta.curve, h);
	if (sizes.total > 0)
		h.spread = sizes.spread();
	if (meta.build_spread > 0) {
		h.build_spread = meta.build_spread;
		if (h.spread >= 0)
			h.drift = h.spread / h.build_spread;
	}
	table_statistics(index, h, TableCounters{meta.table_inserts_at_build, 0, 0});
	h.removed_since_build = -1;  // not recorded by ruivfflat builds
	// The rows changed since the build: a rebuild would train other lists (a rebuild of the same
	// rows gives the same lists, and the same figures).
	bool rows_changed = h.rows != h.built_rows || h.inserted_since_build > 0;
	h.rows_changed = rows_changed;
	h.target = effective_target_recall(index);
	add_stored_estimate(meta.recall, h);

	// A rebuild trains min(requested, rows) lists (ivfbuild: one sample row per list at least), and
	// sees no more rows than the last one did unless the index holds more entries than it indexed.
	int64 lists_after = std::min<int64>(h.lists_requested, std::max<int64>(h.rows, 1));
	if (h.lists < h.lists_requested && double(h.rows) >= min_rows_per_list * h.lists_requested) {
		h.trigger = Degradation::too_few_lists;
		h.rebuild_would_help = lists_after > h.lists && h.rows > h.built_rows;
		snprintf(h.reason, sizeof h.reason, "%d %s of %d requested while the index holds %.0f rows per requested list",
				 h.lists, h.lists == 1 ? "list" : "lists", h.lists_requested, double(h.rows) / h.lists_requested);
		return;
	}
	if (h.lists > 1 && h.build_imbalance > 0 && h.imbalance > imbalance_ratio * h.build_imbalance) {
		h.trigger = Degradation::imbalance;
		// The build's own imbalance is what a rebuild gives; it is over the threshold only when
		// the rows changed since (a rebuild of the same rows gives the same lists).
		h.rebuild_would_help = rows_changed;
		snprintf(h.reason, sizeof h.reason, "list imbalance %.2f is over %.1f times the build's %.2f", h.imbalance,
				 imbalance_ratio, h.build_imbalance);
		return;
	}
	if (h.drift > drift_ratio) {
		h.trigger = Degradation::drift;
		h.rebuild_would_help = rows_changed;
		snprintf(h.reason, sizeof h.reason,
				 "rows lie %.2f times as far from their list's centroid as at the build (mean %.4g, build %.4g), over %.2f",
				 h.drift, h.spread, h.build_spread, drift_ratio);
		return;
	}
	if (judge_recall(h))
		return;
	if (h.lists < h.lists_requested)
		snprintf(h.reason, sizeof h.reason,
				 "%d of %d lists: too few rows for more (a rebuild waits for %.0f rows per requested list)", h.lists,
				 h.lists_requested, min_rows_per_list);
	else if (h.build_imbalance < 0)
		snprintf(h.reason, sizeof h.reason, "lists as built (the build's imbalance is unknown: built before it was recorded)");
	else if (h.drift < 0)
		snprintf(h.reason, sizeof h.reason, "list imbalance %.2f is within %.1f times the build's %.2f", h.imbalance,
				 imbalance_ratio, h.build_imbalance);
	else
		snprintf(h.reason, sizeof h.reason, "list imbalance %.2f is within %.1f times the build's %.2f, drift %.2f within %.2f",
				 h.imbalance, imbalance_ratio, h.build_imbalance, h.drift, drift_ratio);
}

void hnsw_health(Relation index, Health &h)
{
	using namespace ruvector::hnsw;
	HnswMetaPage meta = read_meta(index);
	GraphCounts c = count_graph(index, meta.m);
	h.access_method = "ruhnsw";
	h.auto_maintain = auto_maintain_option(index);
	h.rows = c.heap_tids;
	h.elements = c.elements;
	h.dead_elements = c.deleted;
	h.dead_share = c.elements + c.deleted > 0 ? double(c.deleted) / double(c.elements + c.deleted) : 0;
	// (an index built before the build recorded its rows and the table's counters: unknown)
	h.built_rows = meta.built_rows > 0 || meta.table_at_build.changes > 0 ? int64(meta.built_rows) : -1;
	h.stamp = meta.stamp;
	add_curve(meta.curve, h);
	h.target = effective_target_recall(index);
	table_statistics(index, h, meta.table_at_build);
	int64 built = std::max<int64>(h.built_rows, int64(meta.built_elements));
	if (h.removed_since_build >= 0)
		h.churn = double(h.removed_since_build) / double(std::max<int64>({built, h.rows, 1}));
	// The rows changed since the build: a build on the rows there are now makes another graph.
	h.rows_changed = h.inserted_since_build > 0 || h.removed_since_build > 0 || c.deleted > 0 ||
					 (h.built_rows >= 0 && h.rows != h.built_rows);
	// The maintenance process's estimate; else the measured curve's recall at the ef_search a scan
	// uses at the session's settings (under a target recall, the point it chose).
	add_stored_estimate(meta.recall, h);
	int ef = scan_ef(index, meta).ef;
	if (!h.recall_stored)
		for (int i = 0; i < std::min<int>(meta.curve.points, kEfCurvePoints); i++)
			if (ef_at_point(i) == ef) {
				h.estimated_recall = meta.curve.recall[i];
				h.recall_sample = meta.curve.sample;
				h.recall_at = ef;
				h.recall_stored = true;
				h.recall_from_curve = true;
				h.recall_changes_at = meta.curve.changes_at;
				// Measured after rows changed since the build (known when the build recorded the
				// table's counters).
				h.recall_rows_changed = counted_since(meta.curve.changes_at, meta.table_at_build.changes) > 0 || c.deleted > 0;
			}

	// A rebuild writes only the rows there are: no freed slot, and nothing removed since.
	if (c.deleted > 0 && h.dead_share >= dead_ratio) {
		h.trigger = Degradation::dead;
		h.rebuild_would_help = true;
		snprintf(h.reason, sizeof h.reason, "%lld of %lld element slots (%.0f%%) are freed by vacuum, at least %.0f%%",
				 static_cast<long long>(c.deleted), static_cast<long long>(c.elements + c.deleted), 100 * h.dead_share,
				 100 * dead_ratio);
		return;
	}
	if (h.removed_since_build > 0 && h.churn >= churn_ratio) {
		h.trigger = Degradation::churn;
		h.rebuild_would_help = true;
		snprintf(h.reason, sizeof h.reason, "%lld rows removed since the build, %.2f per row (built %lld, now %lld), at least %.2f",
				 static_cast<long long>(h.removed_since_build), h.churn, static_cast<long long>(built),
				 static_cast<long long>(h.rows), churn_ratio);
		return;
	}
	if (judge_recall(h))
		return;
	if (h.churn < 0)
		snprintf(h.reason, sizeof h.reason, "%lld elements, %lld freed slots (%.0f%%, under %.0f%%)",
				 static_cast<long long>(c.elements), static_cast<long long>(c.deleted), 100 * h.dead_share, 100 * dead_ratio);
	else
		snprintf(h.reason, sizeof h.reason,
				 "%lld elements, %lld freed slots (%.0f%%, under %.0f%%), %lld rows removed since the build (%.2f per row, under %.2f)",
				 static_cast<long long>(c.elements), static_cast<long long>(c.deleted), 100 * h.dead_share, 100 * dead_ratio,
				 static_cast<long long>(h.removed_since_build), h.churn, churn_ratio);
}

}  // namespace

const char *recall_setting_name(const Health &h) { return h.lists >= 0 ? "probes" : "ef_search"; }

bool is_ivfflat_index(Relation index)
{
	return ivf::is_ivf_family_index(index) && am_named(index, {"ruivfflat", "ivfflat"});
}

bool is_maintained_kind(Relation index) { return is_ivfflat_index(index) || hnsw::is_hnsw_index(index); }

bool auto_maintain_option(Relation index)
{
	if (hnsw::is_hnsw_index(index))
		return hnsw::index_options(index)->auto_maintain;
	const ivf::IvfOptions *opts = ivf::index_options(index);
	return opts ? opts->auto_maintain : true;
}

Health index_health(Relation index)
{
	Health h;
	if (is_ivfflat_index(index))
		ivf_health(index, h);
	else
		hnsw_health(index, h);
	h.rebuilding_pid = rebuilding_pid(index);
	return h;
}

void add_recall(Relation index, Health &h, int sample)
{
	h.estimated_recall = estimate_recall(index, sample, 10);
	h.recall_sample = sample;
	h.recall_stored = false;
	h.recall_rows_changed = h.rows_changed;
	h.recall_changes_at = h.changes;
	h.recall_from_curve = false;
	h.recall_at = h.lists >= 0 ? ivf::scan_probes(index, ivf::read_meta(index))
							   : hnsw::scan_ef(index, hnsw::read_meta(index)).ef;
	if (h.trigger == Degradation::recall) {  // judged on the stored estimate: this one replaces it
		h.trigger = Degradation::none;
		h.rebuild_would_help = false;
	}
	judge_recall(h);
}

void add_and_store_recall(Relation index, Health &h, int sample)
{
	add_recall(index, h, sample);
	if (h.estimated_recall < 0)
		return;
	RecallEstimate e{float(h.estimated_recall), uint16(std::clamp(sample, 1, 65535)), uint16(std::clamp(h.recall_at, 0, 65535)),
					 uint16(h.recall_rows_changed ? 1 : 0), 0, h.changes};
	if (h.lists >= 0)
		ivf::write_recall_estimate(index, h.stamp, e);
	else
		hnsw::write_recall_estimate(index, h.stamp, e);
	h.recall_stored = true;
}

bool recall_estimate_wanted(const Health &h)
{
	return min_recall > 0 && recall_sample_setting > 0 && h.lists != 0 && h.rows > 0 && h.trigger == Degradation::none;
}

bool recall_check_due(const Health &h)
{
	if (!recall_estimate_wanted(h) || !h.rows_changed)
		return false;
	if (!h.recall_stored || h.recall_from_curve)
		return true;
	double since = changes_since(h, h.recall_changes_at);
	return since >= std::max(1.0, kRemeasureFraction * double(h.rows));
}

bool curve_check_due(const Health &h)
{
	if (h.target <= 0 || h.lists == 0 || h.trigger != Degradation::none || h.rows <= 0)  // ruhnsw: lists -1
		return false;
	if (h.curve_sample == 0)
		return true;
	double since = changes_since(h, h.curve_changes_at);
	return since >= std::max(1.0, kRemeasureFraction * double(h.rows));
}

void describe_figures(const Health &h, char *out, size_t size)
{
	if (h.lists < 0) {
		snprintf(out, size, "elements %lld, rows %lld (built %lld), freed slots %lld (%.0f%%)", static_cast<long long>(h.elements),
				 static_cast<long long>(h.rows), static_cast<long long>(h.built_rows), static_cast<long long>(h.dead_elements),
				 100 * h.dead_share);
		if (h.removed_since_build >= 0) {
			size_t used = strlen(out);
			snprintf(out + used, size - used, ", removed since the build %lld (churn %.2f)",
					 static_cast<long long>(h.removed_since_build), h.churn);
		}
	} else {
		snprintf(out, size, "lists %d of %d, rows %lld, list sizes %lld..%lld, imbalance %.2f (build %.2f), drift %.2f", h.lists,
				 h.lists_requested, static_cast<long long>(h.rows), static_cast<long long>(h.list_min),
				 static_cast<long long>(h.list_max), h.imbalance, h.build_imbalance, h.drift);
	}
	if (h.estimated_recall >= 0) {
		size_t used = strlen(out);
		snprintf(out + used, size - used, ", estimated recall@10 %.3f at %s %d", h.estimated_recall, recall_setting_name(h),
				 h.recall_at);
	}
}

}  // namespace ruvector::maintenance

using namespace ruvector;
using namespace ruvector::maintenance;

namespace {
constexpr int kMaxRecallSample = 1000;
}

// ruvector_index_health(index regclass): the figures and state of one ruivfflat or ruhnsw index.
RV_FUNCTION(ruvector_index_health)
{
	int sample = PG_GETARG_INT32(1);
	if (sample < 0 || sample > kMaxRecallSample)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("recall_sample must be between 0 and %d", kMaxRecallSample),
						errdetail("Each sample row is one exact scan of the table.")));
	Relation index = open_index_for_stats(PG_GETARG_OID(0), is_maintained_kind, "ruivfflat or ruhnsw");
	Health h = index_health(index);
	if (sample > 0)
		add_recall(index, h, sample);
	relation_close(index, AccessShareLock);

	TupleDesc desc;
	if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	constexpr int kCols = 22;
	Datum values[kCols];
	bool nulls[kCols] = {};
	auto int_or_null = [&](int col, int64 v, bool known) {
		values[col] = Int64GetDatum(v);
		nulls[col] = !known;
	};
	values[0] = CStringGetTextDatum(h.access_method);
	values[1] = CStringGetTextDatum(h.rebuilding_pid ? "rebuilding" : h.trigger == Degradation::none ? "healthy" : "degraded");
	if (h.rebuilding_pid)
		values[2] = CStringGetTextDatum(psprintf("process %d is rebuilding it (REINDEX INDEX CONCURRENTLY); %s", h.rebuilding_pid, h.reason));
	else
		values[2] = CStringGetTextDatum(h.reason);
	values[3] = BoolGetDatum(h.trigger != Degradation::none && h.rebuild_would_help);
	values[4] = Int32GetDatum(h.lists);
	nulls[4] = h.lists < 0;
	values[5] = Int32GetDatum(h.lists_requested);
	nulls[5] = h.lists < 0;
	values[6] = Int64GetDatum(h.rows);
	int_or_null(7, h.built_rows, h.built_rows >= 0);
	int_or_null(8, h.inserted_since_build, h.inserted_since_build >= 0);
	int_or_null(9, h.dead_rows, h.dead_rows >= 0);
	int_or_null(10, h.list_min, h.list_min >= 0);
	int_or_null(11, h.list_max, h.list_max >= 0);
	values[12] = Float8GetDatum(h.imbalance);
	nulls[12] = h.imbalance < 0;
	values[13] = Float8GetDatum(h.build_imbalance);
	nulls[13] = h.build_imbalance < 0;
	values[14] = BoolGetDatum(h.auto_maintain);
	const char *by = degradation_name(h.trigger);
	values[15] = by ? CStringGetTextDatum(by) : Datum(0);
	nulls[15] = by == nullptr;
	values[16] = Float8GetDatum(h.drift);
	nulls[16] = h.drift < 0;
	values[17] = Float8GetDatum(h.estimated_recall);
	nulls[17] = h.estimated_recall < 0;
	values[18] = Int32GetDatum(h.recall_at);
	nulls[18] = h.estimated_recall < 0;
	int_or_null(19, h.dead_elements, h.dead_elements >= 0);
	int_or_null(20, h.removed_since_build, h.removed_since_build >= 0);
	values[21] = Float8GetDatum(h.churn);
	nulls[21] = h.churn < 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
