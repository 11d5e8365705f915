// ruivfflat: an IVFFlat index access method (also registered as `ivfflat`).
//
// Page layout (every page is a standard page; the special space is IvfPageOpaque):
//   block 0         meta page: IvfMetaPage (dimensions, lists, metric, build stamp, where things are)
//   centroid pages  the trained centroids as one stream of floats (list c at float offset c * dim)
//   directory pages one IvfListEntry per list: first entry page and the page inserts try first
//   range pages     quantizer sq8 only: the per-dimension ranges, vmin[dim] then step[dim] floats
//   entry pages     one chain per list; each item is IvfEntryHeader (heap TID) then the vector, or
//                   with quantizer sq8 its coded row: the decoded squared norm (a float) and dim
//                   one-byte codes, or with quantizer rabitq its RaBitQ code against the list's
//                   centroid (worker/kernels/rabitq.hpp; the rotation's seed is in the meta page);
//                   the scan re-ranks quantized lists by the heap's vector
// Centroids are written once per build and never change, so any copy of them is valid as long as
// the build stamp matches: scans use a backend-local copy, filled from the worker's shared store,
// filled by the build's k-means on the worker (which keeps what it trained) or from the centroid
// pages. Every page change is WAL-logged (generic WAL, or full-page images
// at the end of a build), so the pages are the durable truth and the caches can always be rebuilt.
#pragma once
#include <algorithm>
#include "extension/index_settings.hpp"
#include "extension/index_support.hpp"
#include "extension/recall_curve.hpp"
#include "extension/types/vector.hpp"
#include "worker/kernels/metric.hpp"
#include "worker/kernels/rabitq.hpp"
#include "worker/kernels/sq8.hpp"

#include <algorithm>

extern "C" {
#include "access/amapi.h"
#include "nodes/plannodes.h"
#include "access/generic_xlog.h"
#include "access/itup.h"
#include "access/reloptions.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/rel.h"
}

namespace ruvector::ivf {

// Metrics and their kernels come from the metric table; the meta page stores the Metric code
// (l2 = 1, ip = 2, cosine = 3, l1 = 4, the values ruivfflat has always stored).
using kernels::Metric;
using kernels::MetricInfo;

inline constexpr uint32 kMagic = 0x52564946;  // "RVIF"
inline constexpr uint32 kLayoutVersion = 1;
inline constexpr BlockNumber kMetaBlock = 0;
inline constexpr uint16 kPageId = 0xFF91;
inline constexpr int kMaxLists = 32768;
inline constexpr int kDefaultLists = 100;

// Build progress sub-phases (pg_stat_progress_create_index.phase); 1 is core's "initializing".
inline constexpr int kPhaseSampling = 2;
inline constexpr int kPhaseKmeans = 3;
inline constexpr int kPhaseAssigning = 4;
inline constexpr int kPhaseWriting = 5;

struct IvfMetaPage {
	uint32 magic;
	uint32 layout_version;
	uint32 dimensions;
	uint32 lists;            // trained lists (fewer than requested when the table had little data)
	uint32 lists_requested;  // the `lists` option at build time
	uint16 metric;           // Metric code
	uint16 flags;
	uint64 stamp;            // differs for every build: identifies this set of centroids
	BlockNumber centroid_start;
	uint32 centroid_pages;
	BlockNumber directory_start;
	uint32 directory_pages;
	uint64 built_rows;       // rows indexed by the build
	uint64 sample_rows;      // rows k-means was trained on
	uint64 source_rows;      // ruvector_gnn: edges the build read (0 for ruivfflat)
	uint64 source_fingerprint; // ruvector_gnn: a hash of the edge table at build time
	// Added after layout 1 shipped; older indexes read 0 ("unknown") here, as PageInit zeroes pages.
	double build_imbalance;  // imbalance_factor of the lists the build wrote
	// The table's cumulative inserted-rows counter (pg_stat_all_tables.n_tup_ins) at the build,
	// plus 1 (0: unknown); the health check counts the rows inserted since from it.
	uint64 table_inserts_at_build;
	// Added after the first layout too: zeros here are quantizer none.
	uint16 quantizer;        // Quantizer
	uint16 unused;
	BlockNumber range_start; // sq8 range pages
	uint32 range_pages;
	uint64 rotation_seed;    // quantizer rabitq: the seed of its random rotation
	// Added after sq8: the mean distance of the rows the build wrote to their list's centroid
	// (list_spread; 0: unknown, an index built before it was recorded). The health check compares
	// the lists' mean now with it (drift).
	double build_spread;
	// Added with ruvector_index_tune: the measured recall@10 at probes 1, 2, 4, ... (point i at
	// probes_at_point(i, lists)), the last point at probes = lists; 0 points: not measured for this
	// build (a build writes a new meta page). Scans under ruvector.ivfflat_target_recall pick from it.
	// Its changes_at was added with the background recall checks (0 there: not recorded).
	RecallCurve curve;
	// The maintenance process's last recall@10 estimate of this build, at the probes a scan uses by
	// default (its setting; sample 0: none).
	RecallEstimate recall;
	// Added with per-query probes: recall@10 when each query probes the lists whose centroid lies
	// within a ratio of the nearest's distance (ruvector.ivfflat_probe_ratio; list_ratio), at
	// ratio_points ratios (ascending), with the mean probes each gave on the same sample queries.
	uint16 ratio_points;
	uint16 unused3;
	float ratio_value[16];
	float ratio_recall[16];
	float ratio_probes[16];
};
static_assert(offsetof(IvfMetaPage, curve) == 128 && offsetof(IvfMetaPage, recall) == 208 &&
			  sizeof(IvfMetaPage) == 432, "the meta page layout is on disk");
// Probes of curve point i: 2^i, capped at the lists (the last point).
inline int probes_at_point(int i, uint32 lists) { return int(std::min<uint64>(uint64(1) << i, lists)); }
inline int curve_points_for(uint32 lists)
{
	int n = 1;
	while (probes_at_point(n - 1, lists) < int(lists))
		n++;
	return n;
}
// The per-query probes curve: ratio points, each with its recall and mean probes.
struct RatioCurve {
	int points = 0;
	float value[kCurveMaxPoints] = {};
	float recall[kCurveMaxPoints] = {};
	float probes[kCurveMaxPoints] = {};
};
// Store a measured curve in the meta page (generic WAL; its changes_at: table_changes() before it
// was measured).
void write_recall_curve(Relation index, uint64 stamp, const RecallCurve &curve, const RatioCurve &ratios);
// Store the maintenance process's recall estimate in the meta page (generic WAL); false when the
// index was rebuilt meanwhile (another stamp).
bool write_recall_estimate(Relation index, uint64 stamp, const RecallEstimate &estimate);
// How a scan picks its lists at the session's settings.
struct ProbeChoice {
	int probes;       // fixed probes (clamped to 1..lists): also the scan's probes without a query
	double ratio;     // > 0: per query, the lists within this ratio of the nearest's distance
	double target;    // the target recall (0: none)
	float measured;   // the curve's recall at the choice (-1: no curve)
	float mean_probes;  // ratio chosen for a target: the mean probes it gave on the sample
};
// The target recall's choice when a target is set and the index has a curve (per-query ratios
// when ruvector.ivfflat_target_per_query is on and they need fewer probes on the sample than the
// smallest fixed probes meeting the target), else ruvector.ivfflat_probe_ratio, else
// effective_probes.
ProbeChoice scan_choice(Relation index, const IvfMetaPage &meta);
inline int scan_probes(Relation index, const IvfMetaPage &meta) { return scan_choice(index, meta).probes; }
// A query's ratio to the nearest list of each list's centroid distance: (d - d0) / |d0| over
// order() distances sorted ascending (0 when d0 is 0 and d is too). list_ratio_probes: how many of
// `count` sorted distances lie within `ratio` (at least 1).
inline double list_ratio(float d0, float d)
{
	double scale = std::abs(double(d0));
	double diff = double(d) - double(d0);
	return scale > 0 ? diff / scale : diff > 0 ? HUGE_VAL : 0;
}
inline int list_ratio_probes(const float *sorted, int count, double ratio)
{
	int n = 1;
	while (n < count && list_ratio(sorted[0], sorted[n]) <= ratio)
		n++;
	return n;
}
// The recall a scan aims for: ruvector.ivfflat_target_recall when above 0, else the index's
// target_recall option (0: off, the probes as set).
double effective_target_recall(Relation index);

// FAISS's imbalance factor of list sizes: 1.0 when all lists are the same size, `lists` when one
// list holds every entry (lists * sum(n^2) / total^2).
inline double imbalance_factor(double lists, double total, double sum_sq)
{
	return total > 0 ? lists * sum_sq / (total * total) : 1.0;
}

// What list entries hold: the row (none), SQ8 codes (worker/kernels/sq8.hpp) or RaBitQ codes
// (worker/kernels/rabitq.hpp).
enum class Quantizer : uint16 { none = 0, sq8 = 1, rabitq = 2 };
inline const char *quantizer_name(Quantizer q)
{
	return q == Quantizer::sq8 ? "sq8" : q == Quantizer::rabitq ? "rabitq" : "none";
}
inline constexpr int kDefaultRerank = 40;
// The scan's eps0 (ruvector.ivfflat_rabitq_epsilon): the lower side of the bound fails for about
// P(N(0,1) > eps0) of the pairs, 2.9% at the paper's 1.9, 0.47% at 2.6, 0.13% at 3. 2.6: at 1.9
// recall@10 on 100k x 1536 came 0.0056-0.0103 under the flat index's, depending on the build; at
// 2.6 0.0006 under it, for about 4% more CPU a query (83 re-ranks instead of 67).
inline constexpr double kDefaultRabitqEpsilon = 2.6;
inline constexpr int kMaxRerank = 1000000;

struct IvfListEntry {
	BlockNumber start;   // first entry page of the list
	BlockNumber insert;  // page where the next insert starts looking for room
};

struct IvfPageOpaque {
	BlockNumber next;  // next page of the same chain, or InvalidBlockNumber
	uint16 flags;
	uint16 page_id;    // kPageId, identifies ruivfflat pages in tools
};

inline constexpr uint16 kPageMeta = 1, kPageCentroids = 2, kPageDirectory = 4, kPageEntries = 8;

// An entry item: the heap TID, flags, then the row in the opclass's element type (float for
// vector, half for halfvec; 8-byte aligned), or with quantizer sq8 its codes.
struct IvfEntryHeader {
	ItemPointerData tid;
	uint16 flags;
};
// sq8 lists: this entry holds the whole row, not codes (inserted far outside the trained ranges).
inline constexpr uint16 kEntryWholeRow = 1;
static_assert(sizeof(IvfEntryHeader) == 8);

inline Size entry_size(const MetricInfo &metric, int dim, Quantizer q = Quantizer::none)
{
	switch (q) {
	case Quantizer::sq8:
		return sizeof(IvfEntryHeader) + kernels::sq8_row_bytes(Size(dim));
	case Quantizer::rabitq:
		return sizeof(IvfEntryHeader) + kernels::rabitq_row_bytes(Size(dim));
	default:
		return sizeof(IvfEntryHeader) + metric.row_bytes(Size(dim));
	}
}
// Room for any entry encode_entry may write (a coded one, or the whole row).
inline Size max_entry_size(const MetricInfo &metric, int dim, Quantizer q)
{
	return std::max(entry_size(metric, dim), entry_size(metric, dim, q));
}
inline const std::byte *entry_row(const IvfEntryHeader *e) { return reinterpret_cast<const std::byte *>(e + 1); }

// Room for raw data on a page (centroid and directory pages hold a plain array after the header).
inline constexpr Size kPageDataSpace = BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(IvfPageOpaque));
inline constexpr Size kFloatsPerCentroidPage = kPageDataSpace / sizeof(float);
inline constexpr Size kListsPerDirectoryPage = kPageDataSpace / sizeof(IvfListEntry);
// The widest row one entry page holds: one item (its size MAXALIGNed), its line pointer, the page
// header and special (kMaxDimensions, 2036, for float rows; 4072 for halves; 65152 for bits).
inline constexpr Size kMaxRowBytes =
	(kPageDataSpace - sizeof(ItemIdData)) / MAXIMUM_ALIGNOF * MAXIMUM_ALIGNOF - sizeof(IvfEntryHeader);
inline int max_dimensions(const kernels::ElementInfo &e) { return int(e.dims_in(kMaxRowBytes)); }
static_assert(kMaxRowBytes / sizeof(float) == 2036);
inline constexpr int kMaxDimensions = int(kMaxRowBytes / sizeof(float));

inline IvfPageOpaque *page_opaque(Page page) { return reinterpret_cast<IvfPageOpaque *>(PageGetSpecialPointer(page)); }
inline IvfMetaPage *meta_of(Page page) { return reinterpret_cast<IvfMetaPage *>(PageGetContents(page)); }

// Reloptions (`lists`, `probes`, `quantizer`, `rerank`). ruvector_gnn's options start with the
// same two fields; only ruivfflat's have the others (ivf_quantizer_option, effective_rerank).
struct IvfOptions {
	int32 vl_len_;
	int lists;
	int probes;     // 0 = not set
	int quantizer;  // string option: offset from the struct
	int rerank;
	bool auto_maintain;  // the maintenance process may rebuild this index (extension/maintenance)
	double target_recall;  // 0 = not set (ruvector.ivfflat_target_recall)
};

// GUCs (defined in ivfflat.cpp, registered from _PG_init).
void define_ivfflat_gucs();
void install_ivfflat_hooks();
void register_ivfflat_reloptions();
void register_gnn_index_reloptions();
// For the ProcessUtility hook: CREATE/ALTER INDEX store ruvector_gnn's edge_table schema-qualified
// (on a copy of a read-only tree, which it then returns).
PlannedStmt *qualify_gnn_edge_table(PlannedStmt *pstmt, bool &read_only_tree);
int effective_probes(Relation index);  // the session's setting when set, else the index's, else 1
double probe_ratio_setting();          // ruvector.ivfflat_probe_ratio (0: off)
bool target_per_query_setting();       // ruvector.ivfflat_target_per_query
IterativeScan iterative_scan_mode();
// The `quantizer` option of a ruivfflat index being built (none for ruvector_gnn).
Quantizer ivf_quantizer_option(Relation index);
// Candidates a quantized scan re-ranks: ruvector.ivfflat_rerank when set, else the index's
// `rerank` option (default kDefaultRerank).
int effective_rerank(Relation index);
int max_probes_setting();
double rabitq_epsilon_setting();

// A per-row substitution during a build: the ruvector_gnn index indexes graph-enhanced embeddings
// in place of the column's values. fn returns false to keep the row's own vector.
struct BuildHook {
	bool (*fn)(void *arg, ItemPointer tid, float *inout, int dim);
	void *arg;
	uint64 source_rows;
	uint64 source_fingerprint;
};
extern BuildHook *ivf_build_hook;  // set only around one ivfbuild() call
IndexAmRoutine *make_ivf_routine();
bool is_ivf_family_index(Relation rel);  // ruivfflat, ivfflat or ruvector_gnn
Relation open_ivf_index_for_stats(Oid relid);

/* ivfutils.cpp */
void init_page(Page page, uint16 flags);
Buffer new_buffer(Relation index, ForkNumber fork = MAIN_FORKNUM);
IvfMetaPage read_meta(Relation index);  // validated copy of the meta page
// The metric, dimensions and values of an index: extension/index_support.hpp (shared with ruhnsw).
inline const MetricInfo &meta_metric(Relation index, const IvfMetaPage &meta) { return stored_metric(index, meta.metric); }
inline const IvfOptions *index_options(Relation index) { return reinterpret_cast<const IvfOptions *>(index->rd_options); }

// Centroids of an index: a backend-local copy, valid while the meta page's stamp matches.
struct Centroids {
	uint64 stamp;
	uint32 lists;
	uint32 dim;
	const MetricInfo *metric;  // a float32 entry: centroids are float32 for every element type
	const float *data;  // lists * dim
	const char *source; // where this backend got them: "local", "shared", "pages"
	float *rotated;     // rabitq: R c of each list (padded dimensions), filled on first use
	bool *rotated_ready;
};
const Centroids &index_centroids(Relation index, const IvfMetaPage &meta);
// rabitq: R c of one list under the meta page's rotation seed (kept beside the centroids, so each
// backend rotates a list's centroid once, not once per query).
const float *rotated_centroid(Relation index, const IvfMetaPage &meta, int32 list);
// Publish centroids to the worker's shared store (best effort: skipped when the worker is down).
// `build`: a build's, dropped if its transaction aborts (as an index this transaction created).
void publish_centroids(Relation index, uint64 stamp, uint32 lists, uint32 dim, const float *data, bool build = false);
// Forget cached centroids of an index (backend-local and shared), e.g. when it is dropped.
void forget_centroids(Oid index_oid);
const char *centroid_cache_state(Relation index, const IvfMetaPage &meta);

// SQ8 ranges of an index (quantizer sq8): vmin[dim] then step[dim], palloc'd.
float *read_sq8_ranges(Relation index, const IvfMetaPage &meta);
// What coding an entry needs besides the row: the sq8 ranges, or the rabitq list centroid and seed.
struct EntryCoding {
	Quantizer quantizer;
	const float *ranges;    // sq8
	const float *centroid;  // rabitq: the centroid of the row's list
	uint64 seed;            // rabitq: IvfMetaPage::rotation_seed
};
// The entry for a prepared float row into item (room for max_entry_size): the header and the row in
// the element type, or its SQ8 codes under `ranges`, or for a row that clamping to the ranges would
// move further than rounding can, the whole row (kEntryWholeRow), or its RaBitQ code against the
// list's centroid. Returns its size.
Size encode_entry(const MetricInfo &metric, const EntryCoding &coding, const ItemPointerData &tid, const float *x,
				  int dim, char *item);

// The nearest `count` lists to a query, nearest first.
void nearest_lists(const Centroids &c, const float *query, int count, int32 *lists_out, float *dist_out);

// Update a list's insert page (generic WAL). Only ever moves forward unless `reset`.
void set_list_insert_page(Relation index, const IvfMetaPage &meta, uint32 list, BlockNumber blkno, bool reset);
IvfListEntry read_list_entry(Relation index, const IvfMetaPage &meta, uint32 list);

// The float row an entry holds (sq8 codes decoded with `ranges`; whole rows converted), into out[dim];
// not for rabitq codes, which do not keep one.
void decode_entry(const MetricInfo &metric, Quantizer q, const float *ranges, const IvfEntryHeader *e, int dim,
				  float *out);
// How far an entry lies from its list's centroid, for the spread of lists (drift): centroid_distance
// of its decoded row, or for rabitq codes the residual norm |x - c| they keep (Euclidean, whatever
// the metric). scratch: dim floats.
double entry_spread(const MetricInfo &metric, Quantizer q, const float *ranges, const IvfEntryHeader *e,
					const float *centroid, int dim, float *scratch);
// How far a float row lies from its list's centroid, for the spread of lists: the operator's
// distance of the float form (Euclidean for l2 and bit, 1 - cosine for cosine, L1), except that
// ip lists, whose centroids are unit vectors, measure 1 - cosine (a negative inner product has no
// mean to compare).
double centroid_distance(const MetricInfo &float32, const float *x, const float *centroid, int dim);

// Live entries per list, counted along every list chain (reads each entry page once); with
// `spread`, also the mean centroid_distance of the entries to their list's centroid.
struct ListSizes {
	int64 total = 0, min = 0, max = 0;
	double sum_sq = 0;  // sum of squared sizes (imbalance_factor)
	double spread_sum = 0;
	double imbalance(uint32 lists) const { return imbalance_factor(lists, double(total), sum_sq); }
	double spread() const { return total > 0 ? spread_sum / double(total) : 0; }
};
ListSizes list_sizes(Relation index, const IvfMetaPage &meta, bool spread = false);

/* AM callbacks (one file per concern, as in pgvector and contrib/bloom) */
IndexBuildResult *ivfbuild(Relation heap, Relation index, IndexInfo *info);
void ivfbuildempty(Relation index);
bool ivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid, Relation heap,
               IndexUniqueCheck check, bool unchanged, IndexInfo *info);
IndexBulkDeleteResult *ivfbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                     IndexBulkDeleteCallback callback, void *state);
IndexBulkDeleteResult *ivfvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);
IndexScanDesc ivfbeginscan(Relation index, int nkeys, int norderbys);
void ivfrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
bool ivfgettuple(IndexScanDesc scan, ScanDirection dir);
void ivfendscan(IndexScanDesc scan);
// The ordering distance (the metric's order()) of the entry ivfgettuple returned last.
float last_order_distance(IndexScanDesc scan);

}  // namespace ruvector::ivf
