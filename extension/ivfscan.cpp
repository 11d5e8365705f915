// ruivfflat scan: probe the nearest lists, keep a bounded top-k, return TIDs in distance order.
//
// A batch is a run of lists (the `probes` nearest at first). Scanning a batch keeps only the
// `bound` best candidates in a max-heap instead of sorting every row read. When the executor
// wants more rows than the bound held, the batch is scanned again with a larger bound, skipping
// what was already returned (candidates are ordered by (distance, TID), so "after the last one
// returned" is exact). When a batch runs out and an iterative scan is on, the next `probes` lists
// become the next batch, up to ivfflat.max_probes lists in all.
#include "extension/ivfflat.hpp"

extern "C" {
#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include <algorithm>

namespace ruvector::ivf {

namespace {

constexpr int kInitialBound = 256;

struct Candidate {
	float distance;
	ItemPointerData tid;
};

inline bool before(const Candidate &a, const Candidate &b)
{
	if (a.distance != b.distance)
		return a.distance < b.distance;
	return ItemPointerCompare(const_cast<ItemPointer>(&a.tid), const_cast<ItemPointer>(&b.tid)) < 0;
}

struct ScanState {
	MemoryContext cxt;
	bool started;
	IvfMetaPage meta;
	Metric metric;
	int dim;
	float *query;  // null for a NULL query value: every distance is 0
	IterativeScan mode;
	int probes;
	int32 *lists;  // lists in scan order (nearest first)
	int nlists;    // how many of them a scan may probe (probes, or max_probes when iterative)
	int batch_start, batch_end;

	Candidate *cand;  // current results, ascending
	int ncand, pos, capacity;
	int bound;
	bool overflowed;     // the batch had more candidates than the bound kept
	bool have_last;      // last returned candidate of this batch (for rescans)
	Candidate last;
	bool have_floor;     // strict order: nothing at or before this is returned again
	Candidate floor;
};

// Scan the lists of the current batch, keeping the `bound` best candidates after `after`.
void scan_batch(Relation index, ScanState *so, const Candidate *after)
{
	so->ncand = 0;
	so->pos = 0;
	so->overflowed = false;
	if (so->capacity < so->bound) {
		if (so->cand)
			pfree(so->cand);
		so->capacity = so->bound;
		so->cand = static_cast<Candidate *>(MemoryContextAllocHuge(so->cxt, sizeof(Candidate) * so->capacity));
	}
	Candidate *heap = so->cand;
	int n = 0;
	auto worse = [](const Candidate &a, const Candidate &b) { return before(a, b); };  // max-heap on (distance, tid)
	for (int b = so->batch_start; b < so->batch_end; b++) {
		IvfListEntry e = read_list_entry(index, so->meta, uint32(so->lists[b]));
		for (BlockNumber blkno = e.start; blkno != InvalidBlockNumber;) {
			CHECK_FOR_INTERRUPTS();
			Buffer buf = ReadBuffer(index, blkno);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			Page page = BufferGetPage(buf);
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
			for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
				ItemId iid = PageGetItemId(page, off);
				if (!ItemIdIsNormal(iid))
					continue;
				auto *entry = reinterpret_cast<const IvfEntryHeader *>(PageGetItem(page, iid));
				Candidate c;
				c.distance = so->query ? order_distance(so->metric, so->query, entry_vector(entry), so->dim) : 0.0f;
				c.tid = entry->tid;
				if (after && !before(*after, c))
					continue;
				if (n < so->bound) {
					heap[n++] = c;
					std::push_heap(heap, heap + n, worse);
				} else {
					so->overflowed = true;
					if (before(c, heap[0])) {
						std::pop_heap(heap, heap + n, worse);
						heap[n - 1] = c;
						std::push_heap(heap, heap + n, worse);
					}
				}
			}
			blkno = page_opaque(page)->next;
			UnlockReleaseBuffer(buf);
		}
	}
	std::sort_heap(heap, heap + n, worse);
	so->ncand = n;
}

void start_scan(IndexScanDesc scan, ScanState *so)
{
	Relation index = scan->indexRelation;
	if (!IsMVCCSnapshot(scan->xs_snapshot))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("non-MVCC snapshots are not supported with ruivfflat")));
	so->meta = read_meta(index);
	so->metric = Metric(so->meta.metric);
	so->dim = int(so->meta.dimensions);
	int lists = int(so->meta.lists);
	so->probes = std::clamp(effective_probes(index), 1, lists);
	so->mode = iterative_scan_mode();
	so->nlists = so->mode == IterativeScan::off ? so->probes : std::clamp(max_probes_setting(), so->probes, lists);
	so->lists = static_cast<int32 *>(palloc(sizeof(int32) * so->nlists));

	ScanKey key = scan->orderByData;
	if (scan->numberOfOrderBys == 0 || (key->sk_flags & SK_ISNULL)) {
		// No query value: rows of the first lists, in TID order (pgvector returns them unordered).
		so->query = nullptr;
		for (int i = 0; i < so->nlists; i++)
			so->lists[i] = i;
	} else {
		Vector *q = datum_get_vector(key->sk_argument);
		if (q->dim != so->dim)
			ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("different vector dimensions %d and %d", so->dim, q->dim)));
		so->query = static_cast<float *>(palloc(sizeof(float) * so->dim));
		prepare_vector(so->metric, q->x, so->dim, so->query);
		if (lists == 1)
			so->lists[0] = 0;
		else
			nearest_lists(index_centroids(index, so->meta), so->query, so->nlists, so->lists, nullptr);
	}
	so->batch_start = 0;
	so->batch_end = so->probes;
	so->bound = kInitialBound;
	so->have_last = false;
	so->have_floor = false;
	pgstat_count_index_scan(index);
	scan_batch(index, so, nullptr);
	so->started = true;
}

}  // namespace

IndexScanDesc ivfbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	auto *so = static_cast<ScanState *>(palloc0(sizeof(ScanState)));
	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "ruivfflat scan", ALLOCSET_DEFAULT_SIZES);
	scan->opaque = so;
	return scan;
}

void ivfrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys)
{
	auto *so = static_cast<ScanState *>(scan->opaque);
	MemoryContextReset(so->cxt);
	MemoryContext cxt = so->cxt;
	memset(so, 0, sizeof *so);
	so->cxt = cxt;
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
	(void) nkeys;
	(void) norderbys;
}

bool ivfgettuple(IndexScanDesc scan, ScanDirection dir)
{
	auto *so = static_cast<ScanState *>(scan->opaque);
	Relation index = scan->indexRelation;
	if (!ScanDirectionIsForward(dir))
		elog(ERROR, "ruivfflat scans go forward only");
	MemoryContext old = MemoryContextSwitchTo(so->cxt);
	if (!so->started)
		start_scan(scan, so);
	for (;;) {
		if (so->pos < so->ncand) {
			Candidate c = so->cand[so->pos++];
			so->last = c;
			so->have_last = true;
			scan->xs_heaptid = c.tid;
			scan->xs_recheck = false;
			scan->xs_recheckorderby = false;
			MemoryContextSwitchTo(old);
			return true;
		}
		if (so->overflowed) {
			// More rows in this batch than the bound kept: scan it again for the next ones.
			so->bound = so->bound > (INT_MAX / 8) ? INT_MAX / 2 : so->bound * 4;
			Candidate after = so->last;
			scan_batch(index, so, so->have_last ? &after : nullptr);
			continue;
		}
		if (so->mode == IterativeScan::off || so->batch_end >= so->nlists)
			break;
		// Iterative scan: the next lists. Strict order drops what would come before a returned row.
		if (so->mode == IterativeScan::strict_order && so->have_last) {
			if (!so->have_floor || before(so->floor, so->last))
				so->floor = so->last;
			so->have_floor = true;
		}
		so->batch_start = so->batch_end;
		so->batch_end = std::min(so->nlists, so->batch_end + so->probes);
		so->bound = kInitialBound;
		so->have_last = so->have_floor;
		so->last = so->floor;
		scan_batch(index, so, so->have_floor ? &so->floor : nullptr);
	}
	MemoryContextSwitchTo(old);
	return false;
}

void ivfendscan(IndexScanDesc scan)
{
	auto *so = static_cast<ScanState *>(scan->opaque);
	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = nullptr;
}

}  // namespace ruvector::ivf
