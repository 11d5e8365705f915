// ruivfflat: the handler, options, settings, cost estimate and statistics.
#include "extension/ivfflat/ivfflat.hpp"
#include "extension/index_am.hpp"
#include "extension/client/worker_client.hpp"
#include "extension/maintenance/health.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relation.h"
#include "catalog/index.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_database.h"
#include "commands/defrem.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"
#include "utils/syscache.h"
}

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace ruvector::ivf {

/* Settings. ivfflat.probes is pgvector's name for ruvector.ivfflat_probes (index_settings.hpp);
 * when neither is set, the index's own `probes` option applies. */

namespace {

struct ProbesTag;
using Probes = LinkedIntSetting<ProbesTag>;
int iterative_scan_var = int(IterativeScan::off);
int max_probes_var = kMaxLists;
int rerank_var = 0;  // 0: the index's rerank option
double rabitq_epsilon_var = kDefaultRabitqEpsilon;
double target_recall_var = 0;
double probe_ratio_var = 0;
bool target_per_query_var = true;

relopt_kind ivf_relopt_kind;

}  // namespace

void define_ivfflat_gucs()
{
	Probes::define({"ruvector.ivfflat_probes", "Sets the number of lists a ruivfflat scan probes.",
					"Same setting as ivfflat.probes. When neither is set, the index's probes option applies "
					"(default 1)."},
				   {"ivfflat.probes", "Sets the number of probes (pgvector's name for ruvector.ivfflat_probes).",
					"Valid range is 1..lists."},
				   1, 1, kMaxLists);
	DefineCustomEnumVariable("ivfflat.iterative_scan", "Sets the mode for iterative scans.",
							 "relaxed_order keeps probing lists until the query has its rows, ordering each batch "
							 "of lists; strict_order never returns a row closer than one already returned.",
							 &iterative_scan_var, int(IterativeScan::off), iterative_scan_options, PGC_USERSET, GUC_EXPLAIN,
							 nullptr, nullptr, nullptr);
	DefineCustomIntVariable("ivfflat.max_probes", "Sets the max number of probes for iterative scans.",
							"If this is lower than probes, probes is used.", &max_probes_var, kMaxLists, 1, kMaxLists,
							PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
	DefineCustomIntVariable("ruvector.ivfflat_rerank",
							"Sets how many candidates a scan of quantized ruivfflat lists re-ranks exactly.",
							"0 uses the index's rerank option. Set it to at least the query's LIMIT.", &rerank_var, 0, 0,
							kMaxRerank, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
	DefineCustomRealVariable("ruvector.ivfflat_rabitq_epsilon",
							 "Sets the confidence of the error bound a scan of rabitq lists trusts.",
							 "A candidate's lower bound is its estimate less epsilon standard errors: larger values "
							 "re-rank more candidates and miss fewer rows.",
							 &rabitq_epsilon_var, kDefaultRabitqEpsilon, 0.0, 10.0, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
	DefineCustomRealVariable("ruvector.ivfflat_target_recall",
							 "Sets the recall@10 a ruivfflat scan aims for, picking its probes from the index's measured curve.",
							 "0 (off) probes as ruvector.ivfflat_probes says. An index without a curve "
							 "(see ruvector_index_tune) probes as set.",
							 &target_recall_var, 0, 0, 1, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
	DefineCustomRealVariable("ruvector.ivfflat_probe_ratio",
							 "Sets per-query probes: the lists whose centroid distance is within this ratio of the nearest's.",
							 "0 (off) probes as ruvector.ivfflat_probes says. A list is probed when (d - d0) / |d0| <= ratio, "
							 "d0 the nearest centroid's distance: queries near one centroid probe few lists, queries "
							 "between several probe more. A target recall's choice overrides it.",
							 &probe_ratio_var, 0, 0, 1e6, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
	DefineCustomBoolVariable("ruvector.ivfflat_target_per_query",
							 "Lets a target recall pick per-query probes (a ratio) when they need fewer lists than fixed probes.",
							 "The index's curve (ruvector_index_tune) holds both; off, a target picks fixed probes.",
							 &target_per_query_var, true, PGC_USERSET, GUC_EXPLAIN, nullptr, nullptr, nullptr);
	MarkGUCPrefixReserved("ivfflat");
}

double probe_ratio_setting() { return probe_ratio_var; }
bool target_per_query_setting() { return target_per_query_var; }


namespace {

bool parse_quantizer(const char *value, Quantizer *q)
{
	if (value == nullptr || pg_strcasecmp(value, "none") == 0)
		*q = Quantizer::none;
	else if (pg_strcasecmp(value, "sq8") == 0)
		*q = Quantizer::sq8;
	else if (pg_strcasecmp(value, "rabitq") == 0)
		*q = Quantizer::rabitq;
	else
		return false;
	return true;
}

void validate_quantizer(const char *value)
{
	Quantizer q;
	if (!parse_quantizer(value, &q))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid value for quantizer: \"%s\"", value),
						errhint("Valid values are \"none\", \"sq8\" and \"rabitq\".")));
}

}  // namespace

void register_ivfflat_reloptions()
{
	ivf_relopt_kind = add_reloption_kind();
	add_int_reloption(ivf_relopt_kind, "lists", "Number of inverted lists", kDefaultLists, 1, kMaxLists,
					  AccessExclusiveLock);
	add_int_reloption(ivf_relopt_kind, "probes", "Default number of lists a scan probes", 1, 1, kMaxLists,
					  ShareUpdateExclusiveLock);
	add_bool_reloption(ivf_relopt_kind, "auto_maintain",
					   "Whether the maintenance process rebuilds the index when it degrades (with ruvector.auto_maintain)",
					   true, ShareUpdateExclusiveLock);
	add_string_reloption(ivf_relopt_kind, "quantizer", "What the lists store: none (vectors), sq8 (8-bit codes) or rabitq (1-bit RaBitQ codes)",
						 "none", validate_quantizer, AccessExclusiveLock);
	add_int_reloption(ivf_relopt_kind, "rerank", "Candidates a scan of quantized lists re-ranks exactly",
					  kDefaultRerank, 1, kMaxRerank, ShareUpdateExclusiveLock);
	add_real_reloption(ivf_relopt_kind, "target_recall",
					   "Recall@10 a scan aims for, picking probes from the curve ruvector_index_tune measured (0: off)",
					   0, 0, 1, ShareUpdateExclusiveLock);
}

int effective_probes(Relation index)
{
	if (auto v = Probes::explicit_value())
		return *v;
	const IvfOptions *opts = index_options(index);
	return opts ? opts->probes : 1;
}

namespace {
bytea *ivfoptions(Datum reloptions, bool validate);
// ruvector_gnn builds through ivfbuild with options of its own: only ruivfflat's have these.
const IvfOptions *ruivfflat_options(Relation index)
{
	return index->rd_indam && index->rd_indam->amoptions == ivfoptions ? index_options(index) : nullptr;
}
}  // namespace

double effective_target_recall(Relation index)
{
	if (targets_suspended())
		return 0;
	if (target_recall_var > 0)
		return target_recall_var;
	const IvfOptions *opts = ruivfflat_options(index);
	return opts ? opts->target_recall : 0;
}

Quantizer ivf_quantizer_option(Relation index)
{
	const IvfOptions *opts = ruivfflat_options(index);
	Quantizer q = Quantizer::none;
	if (opts && opts->quantizer != 0)
		parse_quantizer(reinterpret_cast<const char *>(opts) + opts->quantizer, &q);
	return q;
}

int effective_rerank(Relation index)
{
	if (rerank_var > 0)
		return rerank_var;
	const IvfOptions *opts = ruivfflat_options(index);
	return opts && opts->rerank > 0 ? opts->rerank : kDefaultRerank;
}

IterativeScan iterative_scan_mode() { return IterativeScan(iterative_scan_var); }
double rabitq_epsilon_setting() { return rabitq_epsilon_var; }
int max_probes_setting() { return max_probes_var; }

/* AM support */

namespace {

bytea *ivfoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"lists", RELOPT_TYPE_INT, offsetof(IvfOptions, lists)},
		{"probes", RELOPT_TYPE_INT, offsetof(IvfOptions, probes)},
		{"quantizer", RELOPT_TYPE_STRING, offsetof(IvfOptions, quantizer)},
		{"rerank", RELOPT_TYPE_INT, offsetof(IvfOptions, rerank)},
		{"auto_maintain", RELOPT_TYPE_BOOL, offsetof(IvfOptions, auto_maintain)},
		{"target_recall", RELOPT_TYPE_REAL, offsetof(IvfOptions, target_recall)},
	};
	return static_cast<bytea *>(build_reloptions(reloptions, validate, ivf_relopt_kind, sizeof(IvfOptions), tab,
												 lengthof(tab)));
}


char *ivfbuildphasename(int64 phase)
{
	switch (phase) {
	case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
		return const_cast<char *>("initializing");
	case kPhaseSampling:
		return const_cast<char *>("sampling");
	case kPhaseKmeans:
		return const_cast<char *>("performing k-means");
	case kPhaseAssigning:
		return const_cast<char *>("assigning tuples");
	case kPhaseWriting:
		return const_cast<char *>("writing lists");
	}
	return nullptr;
}

// The index only serves ORDER BY <op> LIMIT. As in pgvector 0.8, the total cost is that of reading
// every entry the path's rows need (genericcostestimate: the whole index, or for a partial index
// its own entries), in list-chain order (half of the pages cost a sequential read); the first row
// comes after the probed lists' share of it. With a filter the planner then charges a full index
// the share of that total which yields LIMIT rows after filtering, so a partial index that holds
// only the matching rows wins, as in pgvector.
void ivfcostestimate(PlannerInfo *root, IndexPath *path, double loop_count, Cost *startup, Cost *total,
					 Selectivity *selectivity, double *correlation, double *pages)
{
	if (path->indexorderbys == NIL) {
		// Without ORDER BY the index cannot answer anything useful.
		*startup = DBL_MAX;
		*total = DBL_MAX;
		*selectivity = 0;
		*correlation = 0;
		*pages = 0;
		return;
	}
	Relation index = index_open(path->indexinfo->indexoid, NoLock);
	int probes = effective_probes(index);
	double lists = kDefaultLists;
	{
		Buffer buf = ReadBuffer(index, kMetaBlock);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		const IvfMetaPage *m = meta_of(BufferGetPage(buf));
		if (m->magic == kMagic) {
			lists = std::max<uint32>(m->lists, 1);
			// Under a target recall the scan probes what the measured curve says: cost that.
			ProbeChoice c = scan_choice(index, *m);
			probes = c.ratio > 0 && c.mean_probes > 0 ? std::max(1, int(std::lround(c.mean_probes))) : c.probes;
		}
		UnlockReleaseBuffer(buf);
	}
	index_close(index, NoLock);

	double ratio = std::min(1.0, probes / lists);
	GenericCosts costs;
	memset(&costs, 0, sizeof costs);
	genericcostestimate(root, path, loop_count, &costs);

	double seq_page_cost;
	get_tablespace_page_costs(path->indexinfo->reltablespace, nullptr, &seq_page_cost);
	double random_extra = costs.spc_random_page_cost - seq_page_cost;
	double centroids = lists * cpu_operator_cost;  // ranking the lists comes first
	Cost all = costs.indexTotalCost - 0.5 * costs.numIndexPages * random_extra;
	Cost first = all * ratio;
	// Wide vectors live in TOAST, which the seq scan's cost ignores: compare like with like.
	// pgvector stops at probes of half the lists (then its seq scan wins), but a scan of the index
	// is far faster than fetching every TOASTed row there (30k x 1536 at probes 49 of 100, warm:
	// 21 ms against 154 ms for the generic plan and 93 ms for the exact scan), so only probes =
	// lists (exact search, where pgvector documents that the index is not used) is left to them.
	double first_pages = costs.numIndexPages * ratio;
	double heap_pages = path->indexinfo->rel->pages;
	if (first_pages > heap_pages && ratio < 1.0) {
		first -= 0.5 * first_pages * random_extra;
		first -= (first_pages - heap_pages) * seq_page_cost;
	}
	first += centroids;
	all += centroids;
	// Without LIMIT a query wants every row, which a scan of fewer than all lists does not give.
	// A cursor is planned for its first rows (cursor_tuple_fraction, tuple_fraction > 0): like
	// LIMIT, it fetches the nearest rows first, as postgres_fdw does on a shard (its remote query
	// never carries the LIMIT of a partitioned table's query, docs/scale-out.md).
	if (root->parse->limitCount == nullptr && root->tuple_fraction <= 0.0 && ratio < 1.0) {
		first += disable_cost;
		all += disable_cost;
	}
	*startup = first;
	*total = std::max(first, all);
	*selectivity = costs.indexSelectivity;
	*correlation = costs.indexCorrelation;
	*pages = costs.numIndexPages;
}

}  // namespace

// A ruivfflat build; with a target_recall option it then measures the new lists' recall curve, so
// that a REINDEX (or a rebuild by the maintenance process) leaves the target working.
static IndexBuildResult *ruivfflat_build(Relation heap, Relation index, IndexInfo *info)
{
	IndexBuildResult *result = ivfbuild(heap, index, info);
	maintenance::tune_built_index(index);
	return result;
}

const VectorIndexAm kIvfAm{ruivfflat_build, ivfbuildempty, ivfinsert, ivfbulkdelete, ivfvacuumcleanup, ivfbeginscan,
						  ivfrescan, ivfgettuple, ivfendscan, ivfcostestimate, ivfoptions, ivfbuildphasename};

IndexAmRoutine *make_ivf_routine() { return make_vector_index_routine<kIvfAm>(); }

namespace {

bool is_ivf_index(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_INDEX && rel->rd_indam && rel->rd_indam->amcostestimate == ivfcostestimate;
}

}  // namespace

bool is_ivf_family_index(Relation rel) { return is_ivf_index(rel); }

namespace {

object_access_hook_type prev_object_access_hook = nullptr;

// A dropped index's centroids leave the shared store with it (a rolled-back DROP just reloads),
// and a dropped database's entries with the database.
void forget_dropped_index(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id)
{
	if (access == OAT_DROP && class_id == DatabaseRelationId) {
		worker_store_forget_database(object_id);  // DROP DATABASE fires no hook for its indexes
		return;
	}
	if (access != OAT_DROP || class_id != RelationRelationId || sub_id != 0)
		return;
	if (get_rel_relkind(object_id) != RELKIND_INDEX)
		return;
	HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(object_id));
	if (!HeapTupleIsValid(tup))
		return;
	Oid am = reinterpret_cast<Form_pg_class>(GETSTRUCT(tup))->relam;
	ReleaseSysCache(tup);
	const char *amname = get_am_name(am);
	if (amname && (strcmp(amname, "ruivfflat") == 0 || strcmp(amname, "ivfflat") == 0 || strcmp(amname, "ruvector_gnn") == 0))
		forget_centroids(object_id);
}

void on_object_access(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, class_id, object_id, sub_id, arg);
	pg::call_boundary([&] { forget_dropped_index(access, class_id, object_id, sub_id); });
}

}  // namespace

void install_ivfflat_hooks()
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = on_object_access;
}

Relation open_ivf_index_for_stats(Oid relid) { return open_index_for_stats(relid, is_ivf_family_index, "ruivfflat"); }

}  // namespace ruvector::ivf

using namespace ruvector;
using namespace ruvector::ivf;

RV_FUNCTION(ruivfflat_handler) { PG_RETURN_POINTER(make_ivf_routine()); }

// Opclass support function 1: the metric table entry the opclass orders by, as its code (element
// type and metric).
namespace {
int32 support_code(kernels::ElementType type, Metric metric) { return int32(kernels::metric_info(type, metric).code()); }
}  // namespace
RV_FUNCTION(ruivfflat_l2_support) { PG_RETURN_INT32(support_code(kernels::ElementType::float32, Metric::l2)); }
RV_FUNCTION(ruivfflat_ip_support) { PG_RETURN_INT32(support_code(kernels::ElementType::float32, Metric::ip)); }
RV_FUNCTION(ruivfflat_cosine_support) { PG_RETURN_INT32(support_code(kernels::ElementType::float32, Metric::cosine)); }
RV_FUNCTION(ruivfflat_l1_support) { PG_RETURN_INT32(support_code(kernels::ElementType::float32, Metric::l1)); }
RV_FUNCTION(ruivfflat_halfvec_l2_support) { PG_RETURN_INT32(support_code(kernels::ElementType::float16, Metric::l2)); }
RV_FUNCTION(ruivfflat_halfvec_ip_support) { PG_RETURN_INT32(support_code(kernels::ElementType::float16, Metric::ip)); }
RV_FUNCTION(ruivfflat_halfvec_cosine_support)
{
	PG_RETURN_INT32(support_code(kernels::ElementType::float16, Metric::cosine));
}
RV_FUNCTION(ruivfflat_bit_hamming_support) { PG_RETURN_INT32(support_code(kernels::ElementType::bit, Metric::hamming)); }

// ruvector_ivfflat_stats(index regclass): the index's shape and health, read from its pages.
RV_FUNCTION(ruvector_ivfflat_stats)
{
	Relation index = open_ivf_index_for_stats(PG_GETARG_OID(0));
	IvfMetaPage meta = read_meta(index);

	ListSizes sizes = list_sizes(index, meta);
	BlockNumber pages = RelationGetNumberOfBlocks(index);

	TupleDesc desc;
	if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	Datum values[18];
	bool nulls[18] = {};
	int64 total = sizes.total;
	double mean = meta.lists ? double(total) / meta.lists : 0;
	values[0] = Int32GetDatum(int32(meta.lists));
	values[1] = Int32GetDatum(int32(meta.lists_requested));
	values[2] = Int32GetDatum(std::min<int32>(effective_probes(index), int32(meta.lists)));
	values[3] = Int32GetDatum(int32(meta.dimensions));
	values[4] = CStringGetTextDatum(meta_metric(index, meta).name);
	values[5] = Int64GetDatum(total);
	values[6] = Int64GetDatum(sizes.min);
	values[7] = Float8GetDatum(mean);
	values[8] = Int64GetDatum(sizes.max);
	// FAISS's imbalance factor: 1.0 when all lists are the same size, lists when one list holds all.
	values[9] = Float8GetDatum(sizes.imbalance(meta.lists));
	values[10] = Int64GetDatum(int64(pages));
	values[11] = Int64GetDatum(int64(pages) * BLCKSZ);
	values[12] = CStringGetTextDatum(centroid_cache_state(index, meta));
	values[13] = Int64GetDatum(int64(meta.built_rows));
	values[14] = Int64GetDatum(int64(meta.sample_rows));
	Quantizer q = Quantizer(meta.quantizer);
	values[15] = CStringGetTextDatum(quantizer_name(q));
	// What one vector takes on a list page: its item (header and row or codes) and line pointer.
	values[16] = Int32GetDatum(int32(MAXALIGN(entry_size(meta_metric(index, meta), int(meta.dimensions), q)) + sizeof(ItemIdData)));
	if (q == Quantizer::none)
		nulls[17] = true;
	else
		values[17] = Int32GetDatum(effective_rerank(index));
	relation_close(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
