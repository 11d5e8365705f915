// ruhnsw: the handler, options, settings and cost estimate.
#include "extension/hnsw/hnsw.hpp"
#include "extension/index_am.hpp"
#include "extension/maintenance/health.hpp"

extern "C" {
#include "access/genam.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "optimizer/cost.h"
#include "utils/guc.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"
}

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>

namespace ruvector::hnsw {

/* Settings: pgvector's four, with its names, ranges and defaults. hnsw.ef_search is also
 * ruvector.hnsw_ef_search (index_settings.hpp). */

namespace {

struct EfSearchTag;
using EfSearch = LinkedIntSetting<EfSearchTag>;
int iterative_scan_var = int(IterativeScan::off);
int max_scan_tuples_var = 20000;
double scan_mem_multiplier_var = 1;
double target_recall_var = 0;

relopt_kind hnsw_relopt_kind;

}  // namespace

void define_hnsw_gucs()
{
	EfSearch::define({"ruvector.hnsw_ef_search", "Sets the size of the dynamic candidate list for search.",
					  "Same setting as hnsw.ef_search. Valid range is 1..1000."},
					 {"hnsw.ef_search", "Sets the size of the dynamic candidate list for search",
					  "Valid range is 1..1000."},
					 kDefaultEfSearch, kMinEfSearch, kMaxEfSearch);
	DefineCustomEnumVariable("hnsw.iterative_scan", "Sets the mode for iterative scans", nullptr, &iterative_scan_var,
							 int(IterativeScan::off), iterative_scan_options, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr,
							 nullptr);
	// pgvector counts graph elements visited at layer 0, not heap rows; so do we.
	DefineCustomIntVariable("hnsw.max_scan_tuples", "Sets the max number of tuples to visit for iterative scans",
							nullptr, &max_scan_tuples_var, 20000, 1, INT_MAX, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr,
							nullptr);
	DefineCustomRealVariable("hnsw.scan_mem_multiplier", "Sets the multiple of work_mem to use for iterative scans",
							 nullptr, &scan_mem_multiplier_var, 1, 1, 1000, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr,
							 nullptr);
	DefineCustomRealVariable("ruvector.hnsw_target_recall",
							 "Sets the recall@10 a ruhnsw scan aims for, picking its ef_search from the index's measured curve.",
							 "0 (off) searches with hnsw.ef_search. An index without a curve (see ruvector_index_tune) "
							 "searches as set.",
							 &target_recall_var, 0, 0, 1, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
	MarkGUCPrefixReserved("hnsw");
}

void register_hnsw_reloptions()
{
	hnsw_relopt_kind = add_reloption_kind();
	add_int_reloption(hnsw_relopt_kind, "m", "Max number of connections", kDefaultM, kMinM, kMaxM,
					  AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "ef_construction", "Size of the dynamic candidate list for construction",
					  kDefaultEfConstruction, kMinEfConstruction, kMaxEfConstruction, AccessExclusiveLock);
	add_real_reloption(hnsw_relopt_kind, "target_recall",
					   "Recall@10 a scan aims for, picking ef_search from the curve ruvector_index_tune measured (0: off)",
					   0, 0, 1, ShareUpdateExclusiveLock);
	add_bool_reloption(hnsw_relopt_kind, "auto_maintain",
					   "Whether the maintenance process rebuilds the index when it degrades (with ruvector.auto_maintain)",
					   true, ShareUpdateExclusiveLock);
}

int ef_search() { return EfSearch::value(); }
IterativeScan iterative_scan_mode() { return IterativeScan(iterative_scan_var); }
int max_scan_tuples() { return max_scan_tuples_var; }
double scan_mem_multiplier() { return scan_mem_multiplier_var; }

const HnswOptions *index_options(Relation index)
{
	static const HnswOptions defaults{0, kDefaultM, kDefaultEfConstruction, 0, true};
	auto *opts = reinterpret_cast<const HnswOptions *>(index->rd_options);
	return opts ? opts : &defaults;
}

double effective_target_recall(Relation index)
{
	if (targets_suspended())
		return 0;
	return target_recall_var > 0 ? target_recall_var : index_options(index)->target_recall;
}

EfChoice scan_ef(Relation index, const HnswMetaPage &meta)
{
	EfChoice c{ef_search(), effective_target_recall(index), -1};
	int point = c.target > 0 ? curve_point_for_target(meta.curve, c.target) : -1;
	if (point >= 0) {
		c.ef = ef_at_point(point);
		c.measured = meta.curve.recall[point];
	}
	return c;
}

/* AM support */

namespace {

bytea *hnswoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, ef_construction)},
		{"target_recall", RELOPT_TYPE_REAL, offsetof(HnswOptions, target_recall)},
		{"auto_maintain", RELOPT_TYPE_BOOL, offsetof(HnswOptions, auto_maintain)},
	};
	return static_cast<bytea *>(build_reloptions(reloptions, validate, hnsw_relopt_kind, sizeof(HnswOptions), tab,
												 lengthof(tab)));
}


char *hnswbuildphasename(int64 phase)
{
	switch (phase) {
	case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
		return const_cast<char *>("initializing");
	case kPhaseLoad:
		return const_cast<char *>("loading tuples");
	}
	return nullptr;
}

// pgvector 0.8's estimate, so the planner picks the index where pgvector's would: without ORDER BY
// the index answers nothing; otherwise the generic cost of reading the whole index is the total,
// and the first row comes after the share of it a search visits: the greedy descent through the
// upper layers plus ef_search candidates' neighbour lists at layer 0.
void hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count, Cost *startup, Cost *total,
					  Selectivity *selectivity, double *correlation, double *pages)
{
	if (path->indexorderbys == NIL) {
		*startup = DBL_MAX;
		*total = DBL_MAX;
		*selectivity = 0;
		*correlation = 0;
		*pages = 0;
		return;
	}
	GenericCosts costs;
	memset(&costs, 0, sizeof costs);
	genericcostestimate(root, path, loop_count, &costs);

	int m = kDefaultM;
	int ef = ef_search();
	{
		Relation index = index_open(path->indexinfo->indexoid, NoLock);
		Buffer buf = ReadBuffer(index, kMetaBlock);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		HnswMetaPage meta = *meta_of(BufferGetPage(buf));
		UnlockReleaseBuffer(buf);
		if (meta.magic == kMagic) {
			m = std::max<int>(meta.m, kMinM);
			ef = scan_ef(index, meta).ef;  // under a target recall: what the curve says
		}
		index_close(index, NoLock);
	}
	double n = costs.numIndexTuples;
	double ratio = 1;
	if (n > 0) {
		double ln_m = std::log(double(m));
		double entry_level = std::floor(std::log(n) / ln_m);
		double layer0_selectivity = 0.55 * std::log(n) / (ln_m * (1 + std::log(double(ef))));
		ratio = std::min(1.0, (entry_level * m + 2.0 * m * ef * layer0_selectivity) / n);
	}
	double first_pages = costs.numIndexPages * ratio;
	Cost first = costs.indexTotalCost * ratio;
	// Wide vectors live in TOAST, which the seq scan's cost ignores: compare like with like.
	double heap_pages = path->indexinfo->rel->pages;
	if (first_pages > heap_pages && ratio < 0.5) {
		double seq_page_cost;
		get_tablespace_page_costs(path->indexinfo->reltablespace, nullptr, &seq_page_cost);
		first -= first_pages * (costs.spc_random_page_cost - seq_page_cost);
		first -= (first_pages - heap_pages) * seq_page_cost;
	}
	*startup = first;
	*total = costs.indexTotalCost;
	*selectivity = costs.indexSelectivity;
	*correlation = costs.indexCorrelation;
	*pages = costs.numIndexPages;
}

// A ruhnsw build; with a target_recall option it then measures the new graph's recall curve.
IndexBuildResult *ruhnsw_build(Relation heap, Relation index, IndexInfo *info)
{
	IndexBuildResult *result = hnswbuild(heap, index, info);
	maintenance::tune_built_index(index);
	return result;
}

}  // namespace

const VectorIndexAm kHnswAm{ruhnsw_build, hnswbuildempty, hnswinsert, hnswbulkdelete, hnswvacuumcleanup, hnswbeginscan,
						  hnswrescan, hnswgettuple, hnswendscan, hnswcostestimate, hnswoptions, hnswbuildphasename};

IndexAmRoutine *make_hnsw_routine() { return make_vector_index_routine<kHnswAm>(); }

bool is_hnsw_index(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_INDEX && rel->rd_indam && rel->rd_indam->amcostestimate == hnswcostestimate;
}

}  // namespace ruvector::hnsw

using namespace ruvector;

RV_FUNCTION(ruhnsw_handler) { PG_RETURN_POINTER(hnsw::make_hnsw_routine()); }

// Opclass support function 1 of the opclasses ruivfflat does not have (the others share
// ruivfflat's): the metric table entry's code.
RV_FUNCTION(ruhnsw_halfvec_l1_support)
{
	PG_RETURN_INT32(int32(kernels::metric_info(kernels::ElementType::float16, kernels::Metric::l1).code()));
}
RV_FUNCTION(ruhnsw_bit_jaccard_support)
{
	PG_RETURN_INT32(int32(kernels::metric_info(kernels::ElementType::bit, kernels::Metric::jaccard).code()));
}
RV_FUNCTION(ruhnsw_sparsevec_l2_support)
{
	PG_RETURN_INT32(int32(kernels::metric_info(kernels::ElementType::sparse, kernels::Metric::l2).code()));
}
RV_FUNCTION(ruhnsw_sparsevec_ip_support)
{
	PG_RETURN_INT32(int32(kernels::metric_info(kernels::ElementType::sparse, kernels::Metric::ip).code()));
}
RV_FUNCTION(ruhnsw_sparsevec_cosine_support)
{
	PG_RETURN_INT32(int32(kernels::metric_info(kernels::ElementType::sparse, kernels::Metric::cosine).code()));
}
RV_FUNCTION(ruhnsw_sparsevec_l1_support)
{
	PG_RETURN_INT32(int32(kernels::metric_info(kernels::ElementType::sparse, kernels::Metric::l1).code()));
}
