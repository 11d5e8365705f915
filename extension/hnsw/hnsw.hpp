// ruhnsw: an HNSW index access method (also registered as `hnsw`), compatible with pgvector's.
//
// Page layout (every page is a standard page; the special space is HnswPageOpaque):
//   block 0      meta page: HnswMetaPage (dimensions, m, metric, entry point, insert page)
//   blocks 1..n  element pages, one chain through HnswPageOpaque::next. Two kinds of tuples live on
//                them: an element tuple (heap TIDs, level, the row) and its neighbour tuple (index
//                TIDs of its neighbours per layer), on the same page when both fit.
// Blocks 0 and 1 double as heavyweight page-lock tags, as in pgvector: kUpdateLock (block 0)
// orders inserts, vacuum and entry-point changes; kScanLock (block 1) lets vacuum wait for scans
// that may hold elements it is about to free.
//
// A build is done by the worker: the backend reads the heap, hands the rows to the worker, which
// builds the graph on its threads (worker/kernels/hnsw_graph.hpp), and writes the pages itself,
// then logs them as full-page images. Every later change goes through generic WAL, so standbys
// and crash recovery need nothing of ours.
#pragma once
#include "extension/index_settings.hpp"
#include "extension/index_support.hpp"
#include "extension/recall_curve.hpp"
#include "extension/types/vector.hpp"
#include "worker/kernels/metric.hpp"

#include <algorithm>
#include <iterator>

extern "C" {
#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "access/itup.h"
#include "access/reloptions.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/rel.h"
}

namespace ruvector::hnsw {

using kernels::Metric;
using kernels::MetricInfo;

inline constexpr uint32 kMagic = 0x52564853;  // "RVHS"
inline constexpr uint32 kLayoutVersion = 1;
inline constexpr BlockNumber kMetaBlock = 0;
inline constexpr BlockNumber kFirstElementBlock = 1;
inline constexpr BlockNumber kUpdateLock = 0;  // LockPage tags, not buffers
inline constexpr BlockNumber kScanLock = 1;
inline constexpr uint16 kPageId = 0xFF92;

// Options and settings, with pgvector's ranges and defaults.
inline constexpr int kDefaultM = 16, kMinM = 2, kMaxM = 100;
inline constexpr int kDefaultEfConstruction = 64, kMinEfConstruction = 4, kMaxEfConstruction = 1000;
inline constexpr int kDefaultEfSearch = 40, kMinEfSearch = 1, kMaxEfSearch = 1000;
inline constexpr int kMaxHeapTids = 10;  // heap rows sharing one element (byte-identical values)

// Build progress sub-phase (pg_stat_progress_create_index.phase); 1 is core's "initializing".
inline constexpr int kPhaseLoad = 2;   // "loading tuples"

struct HnswMetaPage {
	uint32 magic;
	uint32 layout_version;
	uint32 dimensions;
	uint16 m;                  // frozen at build: inserts, scans and vacuum read it from here
	uint16 ef_construction;    // at build (inserts use the current reloption)
	uint16 metric;             // MetricInfo::code(): element type and metric
	uint16 flags;
	BlockNumber entry_blkno;   // entry point element, InvalidBlockNumber when the graph is empty
	OffsetNumber entry_offno;
	int16 entry_level;         // -1 when empty
	BlockNumber insert_page;   // where inserts start looking for room
	uint64 built_elements;     // elements written by the build
	// Added after layout 1 shipped; older indexes read 0 here (PageInit zeroes pages).
	uint64 stamp;              // differs for every build (new_build_stamp)
	// recall@10 at ef_search ef_at_point(0), ef_at_point(1), ... (ruvector_index_tune, or the
	// maintenance process); scans under ruvector.hnsw_target_recall pick ef_search from it.
	RecallCurve curve;
	// Added with the maintenance of ruhnsw indexes (0s in older indexes: unknown, none).
	// The table's statistics counters when the build started (table_counters): the health check
	// counts the rows inserted and removed since (churn).
	TableCounters table_at_build;
	uint64 built_rows;         // heap rows the build indexed (equal values share an element)
	// The maintenance process's last recall@10 estimate of this build, at the ef_search a scan uses
	// by default.
	RecallEstimate recall;
};
static_assert(offsetof(HnswMetaPage, built_elements) == 32 && offsetof(HnswMetaPage, curve) == 48 &&
				  offsetof(HnswMetaPage, table_at_build) == 128 && sizeof(HnswMetaPage) == 184,
			  "the meta page layout is on disk");

// The ef_search of recall curve point i: 10 (a LIMIT 10 query's least) to pgvector's largest, 1000,
// about 1.6 times apart.
inline constexpr int kEfCurve[] = {10, 16, 25, 40, 64, 100, 160, 250, 400, 640, 1000};
inline constexpr int kEfCurvePoints = int(std::size(kEfCurve));
static_assert(kEfCurvePoints <= kCurveMaxPoints);
inline int ef_at_point(int i) { return kEfCurve[std::clamp(i, 0, kEfCurvePoints - 1)]; }

struct HnswPageOpaque {
	BlockNumber next;  // next element page, or InvalidBlockNumber
	uint16 flags;
	uint16 page_id;    // kPageId, identifies ruhnsw pages in tools
};

inline constexpr uint8 kElementTuple = 1, kNeighbourTuple = 2;

// An element: up to kMaxHeapTids heap rows with this value (unused slots invalid; none while it
// is being deleted), the TID of its neighbour tuple, then the row in the metric's element type
// (floats for vector, halves for halfvec, bits for bit), 8-byte aligned.
struct HnswElementTupleData {
	uint8 type;      // kElementTuple
	uint8 level;
	uint8 deleted;   // vacuum freed it: the slot may be reused, scans skip it
	uint8 version;   // bumped when the slot is reused, so stale neighbour TIDs are recognised
	ItemPointerData heaptids[kMaxHeapTids];
	ItemPointerData neighbourtid;
	uint16 unused;
};
static_assert(sizeof(HnswElementTupleData) == 72);
using HnswElementTuple = HnswElementTupleData *;
inline const std::byte *element_row(const HnswElementTupleData *e) { return reinterpret_cast<const std::byte *>(e + 1); }
inline std::byte *element_row(HnswElementTupleData *e) { return reinterpret_cast<std::byte *>(e + 1); }

// An element's neighbours: `count` = link_slots(m, level) index TIDs, layer 0 first (2m slots),
// then layers 1..level (m each), as kernels::hnsw::layer_offset lays them out; empty slots are
// invalid TIDs.
struct HnswNeighbourTupleData {
	uint8 type;      // kNeighbourTuple
	uint8 version;   // the element's version
	uint16 count;
	ItemPointerData tids[FLEXIBLE_ARRAY_MEMBER];
};
using HnswNeighbourTuple = HnswNeighbourTupleData *;

inline Size element_tuple_size(Size row_bytes) { return MAXALIGN(sizeof(HnswElementTupleData) + row_bytes); }
inline Size neighbour_tuple_size(int m, int level)
{
	return MAXALIGN(offsetof(HnswNeighbourTupleData, tids) + sizeof(ItemPointerData) * Size(2 * m + level * m));
}

// Room on one element page, and the highest level whose neighbour tuple still fits a page (as
// pgvector: min(page / 6 bytes / m - 2, 63)).
inline constexpr Size kPageDataSpace = BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(HnswPageOpaque));
inline int max_level(int m) { return std::min(int((kPageDataSpace - sizeof(ItemIdData)) / sizeof(ItemPointerData) / m) - 2, 63); }

inline HnswPageOpaque *page_opaque(Page page) { return reinterpret_cast<HnswPageOpaque *>(PageGetSpecialPointer(page)); }
inline HnswMetaPage *meta_of(Page page) { return reinterpret_cast<HnswMetaPage *>(PageGetContents(page)); }

// Reloptions.
struct HnswOptions {
	int32 vl_len_;
	int m;
	int ef_construction;
	double target_recall;  // 0 = not set (ruvector.hnsw_target_recall)
	bool auto_maintain;    // the maintenance process may rebuild this index (extension/maintenance)
};

// GUCs (hnsw.ef_search and ruvector.hnsw_ef_search are one setting, as ivfflat.probes and
// ruvector.ivfflat_probes are).
void define_hnsw_gucs();
const HnswOptions *index_options(Relation index);  // the reloptions, or their defaults
void register_hnsw_reloptions();
int ef_search();
// The recall a scan aims for: ruvector.hnsw_target_recall when above 0, else the index's
// target_recall option (0: off, ef_search as set).
double effective_target_recall(Relation index);
// How a scan picks ef_search at the session's settings: from the index's curve under a target
// recall (the smallest measured ef_search meeting it), else hnsw.ef_search.
struct EfChoice {
	int ef;
	double target;   // 0: none
	float measured;  // the curve's recall at ef (-1: no curve, or no target)
};
EfChoice scan_ef(Relation index, const HnswMetaPage &meta);
IterativeScan iterative_scan_mode();
int max_scan_tuples();
double scan_mem_multiplier();
IndexAmRoutine *make_hnsw_routine();
bool is_hnsw_index(Relation rel);  // ruhnsw or hnsw

/* AM callbacks (one file per concern, as in pgvector) */
IndexBuildResult *hnswbuild(Relation heap, Relation index, IndexInfo *info);
void hnswbuildempty(Relation index);
bool hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid, Relation heap,
                IndexUniqueCheck check, bool unchanged, IndexInfo *info);
IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                      IndexBulkDeleteCallback callback, void *state);
IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);
IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys);
void hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
bool hnswgettuple(IndexScanDesc scan, ScanDirection dir);
void hnswendscan(IndexScanDesc scan);

}  // namespace ruvector::hnsw
