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
	case Degradation::none:
		break;
	}
	return nullptr;
}

void define_maintenance_gucs()
{
	DefineCustomBoolVariable("ruvector.auto_maintain", "Rebuilds degraded vector indexes in the background.",
							 "The maintenance worker checks every ruivfflat index whose auto_maintain option is on "
							 "and rebuilds degraded ones online (REINDEX INDEX CONCURRENTLY).",
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

void table_statistics(Relation index, Health &h, const ivf::IvfMetaPage *meta)
{
	PgStat_StatTabEntry *t = pgstat_fetch_stat_tabentry(index->rd_index->indrelid);
	if (!t)
		return;
	h.dead_rows = t->n_dead_tuples;
	if (meta && meta->table_inserts_at_build > 0 && uint64(t->tuples_inserted) + 1 >= meta->table_inserts_at_build)
		h.inserted_since_build = int64(uint64(t->tuples_inserted) + 1 - meta->table_inserts_at_build);
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
	// Lists trained on the rows there are now serve them better; the same rows give the same lists
	// (and an estimate made before the rows changed is what a rebuild gives).
	h.rebuild_would_help = h.lists >= 0 && h.rows_changed && h.recall_rows_changed;
	if (h.lists < 0)
		snprintf(h.reason, sizeof h.reason, "estimated recall@10 %.3f is under %.3f (%d sample queries at the session's ef_search)",
				 h.estimated_recall, min_recall, h.recall_sample);
	else
		snprintf(h.reason, sizeof h.reason, "estimated recall@10 %.3f is under %.3f (%d sample queries at probes %d%s)",
				 h.estimated_recall, min_recall, h.recall_sample, h.recall_probes,
				 h.recall_stored ? ", by the maintenance process" : "");
	return true;
}

// Changes to the table since `at` (a table_changes() value); -1 when unknown.
double changes_since(const Health &h, uint64 at)
{
	return h.changes > 0 && at > 0 && h.changes >= at ? double(h.changes - at) : -1;
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
	const IvfOptions *opts = index_options(index);
	h.auto_maintain = opts ? opts->auto_maintain : true;
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
	table_statistics(index, h, &meta);
	// The rows changed since the build: a rebuild would train other lists (a rebuild of the same
	// rows gives the same lists, and the same figures).
	bool rows_changed = h.rows != h.built_rows || h.inserted_since_build > 0;
	h.rows_changed = rows_changed;
	h.changes = table_changes(index->rd_index->indrelid);
	h.target = effective_target_recall(index);
	if (meta.recall_sample > 0) {
		h.estimated_recall = meta.recall_estimate;
		h.recall_sample = meta.recall_sample;
		h.recall_probes = meta.recall_probes;
		h.recall_stored = true;
		h.recall_rows_changed = meta.recall_rows_changed != 0;
		h.recall_changes_at = meta.recall_changes_at;
	}

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
	h.rows = c.heap_tids;
	h.stamp = meta.stamp;
	add_curve(meta.curve, h);
	h.target = effective_target_recall(index);
	h.changes = ivf::table_changes(index->rd_index->indrelid);
	table_statistics(index, h, nullptr);
	// The measured curve's recall at the ef_search a scan uses at the session's settings (under a
	// target, the point it chose), as the background estimate a ruivfflat index stores.
	int ef = scan_ef(index, meta).ef;
	for (int i = 0; i < std::min<int>(meta.curve.points, kEfCurvePoints); i++)
		if (ef_at_point(i) == ef) {
			h.estimated_recall = meta.curve.recall[i];
			h.recall_sample = meta.curve.sample;
			h.recall_stored = true;
			h.recall_changes_at = meta.curve.changes_at;
		}
	snprintf(h.reason, sizeof h.reason, "%lld elements, %lld freed slots: ruhnsw has no lists to retrain",
			 static_cast<long long>(c.elements), static_cast<long long>(c.deleted));
}

}  // namespace

bool is_ivfflat_index(Relation index)
{
	return ivf::is_ivf_family_index(index) && am_named(index, {"ruivfflat", "ivfflat"});
}

bool is_maintained_kind(Relation index) { return is_ivfflat_index(index) || hnsw::is_hnsw_index(index); }

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
	if (h.lists >= 0)
		h.recall_probes = ivf::scan_probes(index, ivf::read_meta(index));
	if (h.trigger == Degradation::recall) {  // judged on the stored estimate: this one replaces it
		h.trigger = Degradation::none;
		h.rebuild_would_help = false;
	}
	judge_recall(h);
}

void add_and_store_recall(Relation index, Health &h, int sample)
{
	add_recall(index, h, sample);
	if (h.lists >= 0 && h.estimated_recall >= 0)
		ivf::write_recall_estimate(index, h.stamp, float(h.estimated_recall), sample, h.recall_probes, h.recall_rows_changed,
								   h.changes);
}

bool recall_check_due(const Health &h)
{
	if (min_recall <= 0 || recall_sample_setting <= 0 || h.lists <= 0 || h.trigger != Degradation::none || h.rows <= 0 ||
		!h.rows_changed)
		return false;
	if (!h.recall_stored)
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
		snprintf(out, size, "rows %lld", static_cast<long long>(h.rows));
		return;
	}
	snprintf(out, size, "lists %d of %d, rows %lld, list sizes %lld..%lld, imbalance %.2f (build %.2f), drift %.2f", h.lists,
			 h.lists_requested, static_cast<long long>(h.rows), static_cast<long long>(h.list_min),
			 static_cast<long long>(h.list_max), h.imbalance, h.build_imbalance, h.drift);
	if (h.estimated_recall >= 0) {
		size_t used = strlen(out);
		snprintf(out + used, size - used, ", estimated recall@10 %.3f at probes %d", h.estimated_recall, h.recall_probes);
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
	constexpr int kCols = 18;
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
	nulls[14] = h.lists < 0;
	const char *by = degradation_name(h.trigger);
	values[15] = by ? CStringGetTextDatum(by) : Datum(0);
	nulls[15] = by == nullptr;
	values[16] = Float8GetDatum(h.drift);
	nulls[16] = h.drift < 0;
	values[17] = Float8GetDatum(h.estimated_recall);
	nulls[17] = h.estimated_recall < 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
