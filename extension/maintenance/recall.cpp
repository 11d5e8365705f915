// Estimated recall@k of a ruivfflat or ruhnsw index at the session's settings (issue 18): a small
// sample of the table's own rows, each used as a query, answered exactly (a sequential scan's
// ordering by the opclass's distance function, through SPI: the caller's privileges and snapshot)
// and through the index (an index scan of this index, at ruvector.ivfflat_probes or
// hnsw.ef_search), both without the query row itself. Recall counts the index's first k visible
// rows other than the query whose exact distance is within the k-th exact one of the other rows, so
// ties count as found. The recall curves scans pick their settings from
// under a target recall (extension/recall_curve.hpp) are measured here too.
#include "extension/maintenance/health.hpp"
#include "extension/index_support.hpp"
#include "extension/hnsw/hnswutils.hpp"
#include "extension/ivfflat/ivfflat.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
}

#include <algorithm>
#include <cmath>

namespace ruvector::maintenance {

namespace {

// The first k TIDs of visible rows an index scan ordered by `query` returns.
int index_answer(Relation heap, Relation index, Oid distance_fn, Oid key_type, Datum query, int k, ItemPointerData *out)
{
	ScanKeyData key;
	ScanKeyEntryInitialize(&key, 0, 1, 1, key_type, InvalidOid, distance_fn, query);
	IndexScanDesc scan = index_beginscan(heap, index, GetActiveSnapshot(), 0, 1);
	index_rescan(scan, nullptr, 0, &key, 1);
	TupleTableSlot *slot = table_slot_create(heap, nullptr);
	int n = 0;
	while (n < k && index_getnext_slot(scan, ForwardScanDirection, slot)) {
		CHECK_FOR_INTERRUPTS();
		out[n++] = slot->tts_tid;
	}
	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	return n;
}

// The index's answer (`n` of the `asked` rows) without the query row `self`: dropped where it is,
// else the last row of a full answer, so that k rows other than the query remain.
int leave_out_query_row(ItemPointerData *found, int n, int asked, ItemPointerData self)
{
	ItemPointerData *end = found + n;
	ItemPointerData *at = std::find_if(found, end, [&](ItemPointerData &t) { return ItemPointerEquals(&t, &self); });
	if (at == end) {
		if (n < asked)
			return n;
		at = end - 1;
	}
	std::copy(at + 1, end, at);
	return n - 1;
}

}  // namespace

double estimate_recall(Relation index, int sample, int k)
{
	double r;
	measure_recall(index, sample, k, nullptr, nullptr, 1, &r);
	return r;
}

namespace {
constexpr const char *kNotPlainColumn = "Recall is estimated for an index on a plain column, without a WHERE clause.";
constexpr const char *kRowSecurity =
	"Row-level security applies to its table for this role: the exact answers would leave out rows the index returns.";
}  // namespace

const char *recall_unmeasurable(Relation index)
{
	AttrNumber attnum = index->rd_index->indkey.values[0];
	if (attnum == 0 || !heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, nullptr))
		return kNotPlainColumn;
	if (check_enable_rls(index->rd_index->indrelid, InvalidOid, true) == RLS_ENABLED)
		return kRowSecurity;
	return nullptr;
}

void measure_recall(Relation index, int sample, int k, const char *setting, const double *values, int points,
					double *recall, RecallSample *drawn)
{
	Oid heap_oid = index->rd_index->indrelid;
	const char *index_name = RelationGetRelationName(index);
	AttrNumber attnum = index->rd_index->indkey.values[0];
	if (const char *why = recall_unmeasurable(index))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("cannot estimate the recall of index \"%s\"", index_name), errdetail("%s", why),
						errhint(why == kRowSecurity
									? "Call ruvector_index_health with recall_sample 0, or as a role the policies do not restrict."
									: "Call ruvector_index_health with recall_sample 0.")));

	// The opclass's ordering operator (strategy 1) and its function: the exact distance.
	Oid key_type = index->rd_opcintype[0];
	Oid op = get_opfamily_member(index->rd_opfamily[0], key_type, key_type, 1);
	if (!OidIsValid(op))
		elog(ERROR, "index \"%s\" has no ordering operator", index_name);
	Oid fn = get_opcode(op);
	char *fn_name = quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)), get_func_name(fn));
	const char *column = quote_identifier(get_attname(heap_oid, attnum, false));
	char *table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(heap_oid)), get_rel_name(heap_oid));
	Oid column_type = get_atttype(heap_oid, attnum);

	Relation heap = table_open(heap_oid, AccessShareLock);
	ItemPointerData *found = static_cast<ItemPointerData *>(palloc(sizeof(ItemPointerData) * (k + 1)));
	Datum *tids = static_cast<Datum *>(palloc(sizeof(Datum) * (k + 1)));
	MemoryContext outer = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	// A function call, not the operator, in ORDER BY: no index can answer it, so it is exact.
	char *sample_q = psprintf("SELECT %s, ctid FROM ONLY %s WHERE %s IS NOT NULL ORDER BY random() LIMIT %d", column,
							  table, column, sample);
	// k + 1: the query row is one of them (at distance 0, or tied there with a duplicate).
	char *exact_q = psprintf("SELECT %s(%s, $1) FROM ONLY %s WHERE %s IS NOT NULL ORDER BY 1 LIMIT %d", fn_name, column,
							 table, column, k + 1);
	char *count_q = psprintf("SELECT count(*) FROM ONLY %s WHERE ctid = ANY ($2) AND %s(%s, $1) <= $3", table, fn_name,
							 column);
	uint64 queries;
	Datum *sample_rows;
	ItemPointerData *sample_tids;
	if (drawn && drawn->rows) {  // the caller's sample, drawn by an earlier call
		queries = drawn->count;
		sample_rows = drawn->rows;
		sample_tids = drawn->tids;
	} else {
	if (SPI_execute(sample_q, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", sample_q);
	queries = SPI_processed;
	sample_rows = static_cast<Datum *>(MemoryContextAlloc(outer, sizeof(Datum) * Max(queries, 1)));
	sample_tids = static_cast<ItemPointerData *>(MemoryContextAlloc(outer, sizeof(ItemPointerData) * Max(queries, 1)));
	{
		int16 typlen;
		bool typbyval;
		get_typlenbyval(column_type, &typlen, &typbyval);
		MemoryContext spi = MemoryContextSwitchTo(outer);
		for (uint64 i = 0; i < queries; i++) {
			bool isnull;
			Datum d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			sample_rows[i] = datumCopy(d, typbyval, typlen);
			sample_tids[i] = *reinterpret_cast<ItemPointer>(
				DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)));
		}
		MemoryContextSwitchTo(spi);
	}
	if (drawn) {
		drawn->rows = sample_rows;
		drawn->tids = sample_tids;
		drawn->count = queries;
	}
	}
	SPIPlanPtr exact_plan = SPI_prepare(exact_q, 1, &column_type);
	Oid count_types[3] = {column_type, TIDARRAYOID, FLOAT8OID};
	SPIPlanPtr count_plan = SPI_prepare(count_q, 3, count_types);
	if (!exact_plan || !count_plan)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	// Curve points: `setting` (ruvector.ivfflat_probes, ruvector.ivfflat_probe_ratio or
	// ruvector.hnsw_ef_search) for each, in a GUC nest level (an error restores them with the
	// transaction), exact order and no target (the settings' nor the index's option) or other
	// choice of lists in the way.
	int guc_level = 0;
	if (setting) {
		guc_level = NewGUCNestLevel();
		set_config_option("ruvector.ivfflat_probe_ratio", "0", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		set_config_option("ivfflat.iterative_scan", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		set_config_option("hnsw.iterative_scan", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	// hits[p] at point p, then the neighbours wanted (in memory: it outlives a PG_TRY's longjmp).
	double *hits = static_cast<double *>(MemoryContextAllocZero(outer, sizeof(double) * (points + 1)));
	double &wanted = hits[points];
	bool was_suspended = targets_suspended();
	suspend_targets(setting != nullptr || was_suspended);
	PG_TRY();
	{
	for (uint64 i = 0; i < queries; i++) {
		CHECK_FOR_INTERRUPTS();
		if (SPI_execute_plan(exact_plan, &sample_rows[i], nullptr, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", exact_q);
		uint64 exact_n = SPI_processed;
		if (exact_n == 0)
			continue;
		bool isnull;
		Datum kth = SPI_getbinval(SPI_tuptable->vals[exact_n - 1], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			continue;
		// More than k rows: the query's k neighbours are the other rows within the (k+1)-th
		// distance, and the index answers k + 1 rows of which the query's own is dropped (or the
		// last, when the index did not return it). A table of k rows or fewer keeps the query row:
		// its answer is the whole table.
		bool leave_out_self = exact_n > uint64(k);
		int answer = int(exact_n);
		wanted += double(leave_out_self ? exact_n - 1 : exact_n);
		for (int p = 0; p < points; p++) {
			if (setting) {
				char value[32];
				snprintf(value, sizeof value, "%.9g", values[p]);
				set_config_option(setting, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
			}
			int n = index_answer(heap, index, fn, key_type, sample_rows[i], answer, found);
			if (leave_out_self)
				n = leave_out_query_row(found, n, answer, sample_tids[i]);
			if (n == 0)
				continue;
			for (int j = 0; j < n; j++)
				tids[j] = PointerGetDatum(&found[j]);
			ArrayType *arr = construct_array(tids, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT);
			Datum args[3] = {sample_rows[i], PointerGetDatum(arr), kth};
			if (SPI_execute_plan(count_plan, args, nullptr, true, 0) != SPI_OK_SELECT)
				elog(ERROR, "SPI_execute_plan failed: %s", count_q);
			hits[p] += double(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
		}
	}
	}
	PG_FINALLY();
	{
		suspend_targets(was_suspended);
	}
	PG_END_TRY();
	SPI_finish();
	if (setting)
		AtEOXact_GUC(true, guc_level);
	table_close(heap, AccessShareLock);
	for (int p = 0; p < points; p++)
		recall[p] = wanted > 0 ? hits[p] / wanted : -1;
}

}  // namespace ruvector::maintenance

namespace ruvector::maintenance {

namespace {

// The per-query probes curve's ratios, from the sample queries' centroid distances: the ratios at
// which they probe 1.5 up to half the lists on average (16 means spaced geometrically), with the
// means they give. Each query probes its nearest list and every list whose ratio to it is within the ratio:
// the mean at ratio x is 1 + (the sample's ratios of lists after the nearest that are <= x) / n.
ivf::RatioCurve ratio_points(Relation index, const ivf::IvfMetaPage &meta, const RecallSample &drawn)
{
	ivf::RatioCurve c;
	int lists = int(meta.lists);
	int n = int(drawn.count);
	if (lists < 3 || n == 0)
		return c;
	const ivf::Centroids &centroids = ivf::index_centroids(index, meta);
	const kernels::MetricInfo &metric = ivf::meta_metric(index, meta);
	int dim = int(meta.dimensions);
	float *q = static_cast<float *>(palloc(sizeof(float) * dim));
	float *d = static_cast<float *>(palloc(sizeof(float) * lists));
	int32 *order = static_cast<int32 *>(palloc(sizeof(int32) * lists));
	// Each query's ratios of its lists after the nearest (lists - 1 each).
	Size m = Size(n) * Size(lists - 1);
	double *all = static_cast<double *>(palloc(sizeof(double) * m));
	Size used = 0;
	for (int i = 0; i < n; i++) {
		value_floats(metric, drawn.rows[i], dim, q, true);
		prepare_vector(metric, q, dim, q);
		ivf::nearest_lists(centroids, q, lists, order, d);
		for (int j = 1; j < lists; j++)
			all[used++] = ivf::list_ratio(d[0], d[j]);
	}
	std::sort(all, all + used);
	// Means from 1.5 to half the lists, spaced geometrically over the curve's points.
	double top = std::max(2.0, lists / 2.0);
	double step = std::pow(top / 1.5, 1.0 / (kCurveMaxPoints - 1));
	for (int p = 0; p < kCurveMaxPoints; p++) {
		double mean = 1.5 * std::pow(step, p);
		if (mean >= lists)
			break;
		Size rank = Size((mean - 1) * n);  // ratios within x: rank of them
		if (rank == 0 || rank > used)
			break;
		double x = all[rank - 1];
		if (!std::isfinite(x))
			break;
		// The mean the ratio x actually gives (ties may add more).
		Size within = Size(std::upper_bound(all, all + used, x) - all);
		float actual = float(1 + double(within) / n);
		if (c.points > 0 && float(x) <= c.value[c.points - 1])
			continue;
		c.value[c.points] = float(x);
		c.probes[c.points] = actual;
		c.points++;
	}
	pfree(all);
	pfree(order);
	pfree(d);
	pfree(q);
	return c;
}

}  // namespace

namespace {

// Measure a curve at `tuned.points` values of `setting` (tuned.value) on `sample` queries.
RecallCurve measure_curve(Relation index, int sample, const char *setting, Tuned &tuned, RecallSample *drawn)
{
	RecallCurve curve{};
	curve.changes_at = table_changes(index->rd_index->indrelid);
	double values[kCurveMaxPoints] = {};
	for (int i = 0; i < tuned.points; i++)
		values[i] = tuned.value[i];
	measure_recall(index, sample, 10, setting, values, tuned.points, tuned.recall, drawn);
	if (tuned.recall[0] < 0)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("cannot tune index \"%s\": its table has no rows to sample", RelationGetRelationName(index))));
	curve.points = uint16(tuned.points);
	curve.sample = uint16(std::min(sample, 65535));
	for (int i = 0; i < tuned.points; i++)
		curve.recall[i] = float(tuned.recall[i]);
	return curve;
}

Tuned tune_ivfflat(Relation index, int sample)
{
	ivf::IvfMetaPage meta = ivf::read_meta(index);
	Tuned t;
	t.setting = "probes";
	t.points = ivf::curve_points_for(meta.lists);
	for (int i = 0; i < t.points; i++)
		t.value[i] = ivf::probes_at_point(i, meta.lists);
	RecallSample drawn;
	RecallCurve curve = measure_curve(index, sample, "ruvector.ivfflat_probes", t, &drawn);
	t.ratios = ratio_points(index, meta, drawn);
	if (t.ratios.points > 0) {
		double v[kCurveMaxPoints], r[kCurveMaxPoints];
		for (int i = 0; i < t.ratios.points; i++)
			v[i] = t.ratios.value[i];
		measure_recall(index, sample, 10, "ruvector.ivfflat_probe_ratio", v, t.ratios.points, r, &drawn);
		for (int i = 0; i < t.ratios.points; i++)
			t.ratios.recall[i] = float(r[i]);
	}
	ivf::write_recall_curve(index, meta.stamp, curve, t.ratios);
	return t;
}

Tuned tune_hnsw(Relation index, int sample)
{
	hnsw::HnswMetaPage meta = hnsw::read_meta(index);
	Tuned t;
	t.setting = "ef_search";
	t.points = hnsw::kEfCurvePoints;
	for (int i = 0; i < t.points; i++)
		t.value[i] = hnsw::ef_at_point(i);
	RecallCurve curve = measure_curve(index, sample, "ruvector.hnsw_ef_search", t, nullptr);
	hnsw::write_recall_curve(index, meta.stamp, curve);
	return t;
}

// The index's own target_recall option (0: none), and the curve its meta page holds.
double target_option(Relation index)
{
	if (hnsw::is_hnsw_index(index))
		return hnsw::index_options(index)->target_recall;
	const ivf::IvfOptions *opts = is_ivfflat_index(index) ? ivf::index_options(index) : nullptr;
	return opts ? opts->target_recall : 0;
}

RecallCurve stored_curve(Relation index)
{
	return hnsw::is_hnsw_index(index) ? hnsw::read_meta(index).curve : ivf::read_meta(index).curve;
}

bool has_rows(Relation index)
{
	return hnsw::is_hnsw_index(index) ? hnsw::read_meta(index).entry_blkno != InvalidBlockNumber
									  : ivf::read_meta(index).built_rows > 0;
}

}  // namespace

Tuned tune_index(Relation index, int sample)
{
	return hnsw::is_hnsw_index(index) ? tune_hnsw(index, sample) : tune_ivfflat(index, sample);
}

namespace {
// Indexes built inside a REINDEX, VACUUM FULL or CLUSTER, which cannot be scanned before it ends
// (ReindexIsProcessingIndex): run_deferred_tunes measures them after the statement.
constexpr int kMaxDeferred = 64;
Oid deferred[kMaxDeferred];
int deferred_count = 0;
bool xact_callback_registered = false;

void forget_deferred_on_abort(XactEvent event, void *)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		deferred_count = 0;
}

void defer_tune(Oid index)
{
	if (!xact_callback_registered) {
		RegisterXactCallback(forget_deferred_on_abort, nullptr);
		xact_callback_registered = true;
	}
	for (int i = 0; i < deferred_count; i++)
		if (deferred[i] == index)
			return;
	if (deferred_count < kMaxDeferred)  // beyond: the maintenance process measures them later
		deferred[deferred_count++] = index;
}

// The curve of a new build with a target_recall option (kDefaultCurveSample queries), when its
// rows can be sampled.
void tune_after_build(Relation index)
{
	const char *why = recall_unmeasurable(index);
	if (why) {
		ereport(NOTICE, (errmsg("the recall curve of index \"%s\" was not measured", RelationGetRelationName(index)),
						 errdetail("%s", why),
						 errhint("Its target_recall option applies once ruvector_index_tune measured a curve.")));
		return;
	}
	if (!has_rows(index))  // an empty table: the maintenance process measures it once loaded
		return;
	tune_index(index, kDefaultCurveSample);
}

}  // namespace

void tune_built_index(Relation index)
{
	if (target_option(index) <= 0)
		return;
	if (ReindexIsProcessingIndex(RelationGetRelid(index)))
		defer_tune(RelationGetRelid(index));
	else
		tune_after_build(index);
}

void run_deferred_tunes()
{
	if (deferred_count == 0 || !IsTransactionState())
		return;
	Oid todo[kMaxDeferred];
	int n = deferred_count;
	memcpy(todo, deferred, sizeof(Oid) * Size(n));
	deferred_count = 0;
	PushActiveSnapshot(GetTransactionSnapshot());
	for (int i = 0; i < n; i++) {
		Relation index = try_relation_open(todo[i], AccessShareLock);
		if (!index)
			continue;
		// Still a valid index with a target and without a curve (not measured meanwhile).
		if (index->rd_rel->relkind == RELKIND_INDEX && index->rd_index->indisvalid && is_maintained_kind(index) &&
			target_option(index) > 0 && stored_curve(index).points == 0) {
			// As the build ran: as the table's owner, restricted.
			Oid save_user;
			int save_sec;
			GetUserIdAndSecContext(&save_user, &save_sec);
			SetUserIdAndSecContext(index->rd_rel->relowner, save_sec | SECURITY_RESTRICTED_OPERATION);
			tune_after_build(index);
			SetUserIdAndSecContext(save_user, save_sec);
		}
		relation_close(index, AccessShareLock);
	}
	PopActiveSnapshot();
}

}  // namespace ruvector::maintenance

using namespace ruvector;
using namespace ruvector::maintenance;

// ruvector_index_tune(index regclass, sample integer): measures an index's recall@10 curve (a
// ruivfflat index at probes 1, 2, 4, ... up to its lists and at per-query probe ratios, a ruhnsw
// index at ef_search 10, 16, 25, ... 1000), stores it in its meta page (what scans under
// ruvector.ivfflat_target_recall or ruvector.hnsw_target_recall pick from) and returns it.
RV_FUNCTION(ruvector_index_tune)
{
	Oid index_oid = PG_GETARG_OID(0);
	int sample = PG_GETARG_INT32(1);
	constexpr int kMaxSample = 1000;
	if (sample < 1 || sample > kMaxSample)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("sample must be between 1 and %d", kMaxSample),
						errdetail("Each sample row is one exact scan of the table.")));
	Relation index = open_index_for_stats(index_oid, is_maintained_kind, "ruivfflat or ruhnsw");
	// Tuning writes the index's meta page: the owner's decision, as for ALTER INDEX.
	if (!pg_class_ownercheck(index_oid, GetUserId()))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("must be owner of index %s", RelationGetRelationName(index))));
	Tuned t = tune_index(index, sample);
	relation_close(index, AccessShareLock);

	// ruivfflat: rows (probes, recall, NULL, probes, NULL) for fixed probes, then (NULL, recall,
	// ratio, mean probes, NULL) for per-query probes; ruhnsw: (NULL, recall, NULL, NULL, ef_search).
	InitMaterializedSRF(fcinfo, 0);
	auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
	bool ef = strcmp(t.setting, "ef_search") == 0;
	for (int i = 0; i < t.points; i++) {
		Datum values[5] = {Int32GetDatum(t.value[i]), Float8GetDatum(t.recall[i]), Datum(0), Float8GetDatum(t.value[i]),
						   Int32GetDatum(t.value[i])};
		bool nulls[5] = {ef, false, true, ef, !ef};
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	for (int i = 0; i < t.ratios.points; i++) {
		Datum values[5] = {Datum(0), Float8GetDatum(t.ratios.recall[i]), Float8GetDatum(t.ratios.value[i]),
						   Float8GetDatum(t.ratios.probes[i]), Datum(0)};
		bool nulls[5] = {true, false, false, false, true};
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return Datum(0);
}
