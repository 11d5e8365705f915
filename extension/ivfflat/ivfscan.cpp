// ruivfflat scan: probe the nearest lists, keep a bounded top-k, return TIDs in distance order.
//
// A batch is a run of lists (the `probes` nearest at first). Scanning a batch keeps only the
// `bound` best candidates in a max-heap instead of sorting every row read. When the executor
// wants more rows than the bound held, the batch is scanned again with a larger bound, skipping
// what was already returned (candidates are ordered by (distance, TID), so "after the last one
// returned" is exact). When a batch runs out and an iterative scan is on (relaxed_order), the next
// `probes` lists become the next batch, up to ivfflat.max_probes lists in all; rows are ordered
// within each batch. strict_order scans the ivfflat.max_probes nearest lists as one batch, so the
// whole result is in exact distance order over them (max_probes bounds the work).
//
// Quantized lists (quantizer sq8) hold codes, not vectors (except rows inserted far outside the
// trained ranges, held whole: kEntryWholeRow, ranked by their exact order()). The batch's candidates are then ranked
// by the codes' approximate distance, and handed out in groups of `rerank` (ruvector.ivfflat_rerank
// or the index's option): each group's vectors are read from the heap (the indexed value, through
// the caller's snapshot) and the group is returned in exact distance order. A query whose LIMIT
// fits in the first group gets the nearest rows among the `rerank` best candidates, in exact
// order; rows after it come a group at a time (exact order within each group). Heap rows the
// snapshot cannot see are dropped from the group, as the executor would drop them. strict_order
// re-ranks every candidate the batch kept (at least max(rerank, 256)) as one group, and if the
// executor reads past them, drops the rows of the next group that are closer than a row already
// returned, so its rows are always in order.
//
// RaBitQ lists (quantizer rabitq) give each entry an estimate of its order() and an error bound
// (worker/kernels/rabitq.hpp); the query is rotated once and rounded to 4 bits per probed list (l2,
// against the list's rotated centroid, which each backend rotates once) or once (ip). Candidates are ranked
// by their estimates and re-ranked from the heap one at a time in that order. Once at least
// `rerank` candidates have been re-ranked, the nearest re-ranked row is returned when its exact
// distance is no more than the least lower bound (estimate - eps0 standard errors,
// ruvector.ivfflat_rabitq_epsilon) of the candidates not yet re-ranked, those the batch's bound did
// not keep included: the paper's IVF re-rank rule, none of them can be closer when the bounds hold.
// So the re-rank stops as soon as the bound allows: a LIMIT k query reads from the heap the first
// `rerank` candidates and those whose lower bound is under its k-th distance, and rows come out in
// exact order whenever the bounds hold (always, when `rerank` covers every candidate). strict_order
// drops rows closer than one returned, as for sq8.
#include "extension/index_am.hpp"
#include "extension/index_explain.hpp"
#include "extension/ivfflat/ivfflat.hpp"
#include "extension/recent_buffers.hpp"
#include "worker/kernels/distance.hpp"
#include "worker/kernels/rabitq.hpp"
#include "worker/kernels/sq8.hpp"

extern "C" {
#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include <algorithm>
#include <cmath>
#include <limits>

namespace ruvector::ivf {

namespace {

constexpr int kInitialBound = 256;

struct Candidate {
	float distance;
	float lower;  // rabitq: the lower bound of distance (else distance)
	ItemPointerData tid;
};

inline bool before(const Candidate &a, const Candidate &b)
{
	if (a.distance != b.distance)
		return a.distance < b.distance;
	return ItemPointerCompare(const_cast<ItemPointer>(&a.tid), const_cast<ItemPointer>(&b.tid)) < 0;
}

// What EXPLAIN ANALYZE shows of the scan, over all its rescans (index_explain.hpp).
struct ScanTotals {
	ExplainedScan explain;
	uint64 scans;     // rescans that started
	uint64 rows;      // entries whose distance was computed
	uint64 batches;   // batches of lists scanned (a rescan of a batch with a larger bound counts)
	int probes, lists, nlists;
	IterativeScan mode;
	Quantizer quantizer;
	int rerank;         // group size
	uint64 reranked;    // candidates whose heap vector was read
	double target;      // ruvector.ivfflat_target_recall (0: fixed probes)
	float measured;     // the curve's recall at the probes chosen (-1: no curve)
	double ratio;       // > 0: per-query probes (ruvector.ivfflat_probe_ratio or the target's choice)
	uint64 probes_sum;  // per-query probes: over the scans with a query
	uint64 ratio_scans;
	int probes_min, probes_max;
};

// A re-ranked candidate: its exact (operator) distance.
struct Exact {
	double distance;
	ItemPointerData tid;
};

inline bool exact_before(const Exact &a, const Exact &b)
{
	// NaN (a zero cosine query) after everything, as the operator's NaN sorts in a seq scan.
	bool an = std::isnan(a.distance), bn = std::isnan(b.distance);
	if (an != bn)
		return bn;
	if (!an && a.distance != b.distance)
		return a.distance < b.distance;
	return ItemPointerCompare(const_cast<ItemPointer>(&a.tid), const_cast<ItemPointer>(&b.tid)) < 0;
}

// Reading the indexed value of a heap row (quantized lists): created at the first re-rank.
struct HeapReader {
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	IndexInfo *info;
	EState *estate;  // for expression indexes
	MemoryContext cxt;  // reset per group
};

struct ScanState {
	MemoryContext cxt;
	ScanTotals *totals;
	bool started;
	IvfMetaPage meta;
	const MetricInfo *metric;
	int dim;
	float *query;  // prepared, in float (ranks the lists); null for a NULL query value: every distance is 0
	std::byte *query_row;    // the query in the rows' element type (order() against them)
	std::byte *batch_query;  // and as order_batch() takes it (MetricInfo::batch_query)
	IterativeScan mode;
	int probes;
	int32 *lists;  // lists in scan order (nearest first)
	int nlists;    // how many of them a scan may probe (probes, or max_probes when iterative)
	int batch_start, batch_end;

	Candidate *cand;  // current results, ascending
	float *floor;     // rabitq: floor[i] = the least lower bound of cand[i..]
	float dropped_floor;  // rabitq: the least lower bound of the candidates the bound did not keep
	int ncand, pos, capacity;
	int bound;
	bool overflowed;     // the batch had more candidates than the bound kept
	bool have_last;      // last returned candidate of this batch (for rescans)
	Candidate last;

	// quantized lists
	Quantizer quantizer;
	kernels::Sq8Query sq8;     // the query against the codes
	const std::byte *query_value;  // the query row as given (not normalised): exact distances
	int rerank;
	Exact *group;              // the current group, in exact order
	int ngroup, gpos, group_capacity;
	bool have_returned;        // strict_order: the exact distance of the last row returned
	double returned;
	HeapReader *reader;

	// rabitq lists: the query prepared for the list being scanned; `group` is a min-heap of
	// re-ranked rows waiting to be returned (ngroup of them)
	kernels::RabitqForm rabitq_form;
	kernels::RabitqQuery rabitq;
	const float *centroids;
	float *rotated_query;     // R q (padded dimensions), once per query
	bool rabitq_prepared;     // ip: the one prepared query every list shares (only `constant` differs)
	float *rabitq_scratch;
	std::uint64_t *rabitq_planes;
	int64 rabitq_reranked;  // candidates re-ranked in this scan
	double rabitq_epsilon;
};

void end_reader(ScanState *so)
{
	if (!so->reader)
		return;
	table_index_fetch_end(so->reader->fetch);
	ExecDropSingleTupleTableSlot(so->reader->slot);
	if (so->reader->estate)
		FreeExecutorState(so->reader->estate);
	so->reader = nullptr;  // the rest lives in so->cxt
}

// An index that normalises its rows (cosine) ranks by its unit-vector copies, while <=> computes
// pgvector's formula on the raw vectors: the two can differ by rounding, enough to swap rows whose
// distances nearly tie. So the scan hands the executor a lower bound of the operator's value and
// asks it to recheck: its reorder queue then returns rows in exactly the operator's order (as a
// sequential scan does). Both similarities are within about (dim + 2) units in the last place of
// float of the exact one (unit vectors bound the dot product's error). The stored unit rows and
// the query were also rounded to the element type (u = 2^-11 per element for halves), which moves
// their dot product by at most about 2u. Four times the sum is a safe margin.
inline double operator_lower_bound(const MetricInfo *metric, float order_distance, int dim)
{
	constexpr double kFloatUnit = 1.0 / 16777216.0;  // 2^-24
	return metric->from_order(order_distance) - 4.0 * ((dim + 4) * kFloatUnit + 2 * metric->element().unit);
}


// Distances of every live entry on a page (rabitq: estimates, and their lower bounds in lower).
// Entries added in order sit back to back (the last one lowest in the page), so when nothing was
// deleted one batch kernel call covers the page.
int page_distances(const ScanState *so, Page page, float *dist, float *lower, const IvfEntryHeader **entries)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	int n = 0;
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
		ItemId iid = PageGetItemId(page, off);
		if (ItemIdIsNormal(iid))
			entries[n++] = reinterpret_cast<const IvfEntryHeader *>(PageGetItem(page, iid));
	}
	if (n == 0)
		return 0;
	if (!so->query) {
		for (int i = 0; i < n; i++)
			dist[i] = lower[i] = 0;
		return n;
	}
	Size stride = MAXALIGN(entry_size(*so->metric, so->dim, so->quantizer));
	bool sq8 = so->quantizer == Quantizer::sq8;
	bool rabitq = so->quantizer == Quantizer::rabitq;
	const char *lowest = reinterpret_cast<const char *>(entries[n - 1]);
	bool packed = true;
	for (int i = 0; packed && i < n; i++)
		packed = reinterpret_cast<const char *>(entries[i]) == lowest + stride * Size(n - 1 - i) && entries[i]->flags == 0;
	if (!packed) {
		for (int i = 0; i < n; i++) {
			if (rabitq)
				kernels::rabitq_order_batch(so->rabitq, entry_row(entries[i]), 1, stride, &dist[i], &lower[i]);
			else if (sq8 && !(entries[i]->flags & kEntryWholeRow))
				kernels::sq8_order_batch(so->sq8, entry_row(entries[i]), 1, stride, &dist[i]);
			else
				dist[i] = so->metric->order(so->query_row, entry_row(entries[i]), Size(so->dim));
		}
		return n;
	}
	// Rows from the lowest address up are entries n-1 .. 0.
	float tmp[MaxOffsetNumber];
	if (rabitq) {
		float tmp_lower[MaxOffsetNumber];
		kernels::rabitq_order_batch(so->rabitq, entry_row(entries[n - 1]), Size(n), stride, tmp, tmp_lower);
		for (int i = 0; i < n; i++)
			lower[i] = tmp_lower[n - 1 - i];
	} else if (sq8)
		kernels::sq8_order_batch(so->sq8, entry_row(entries[n - 1]), Size(n), stride, tmp);
	else
		so->metric->order_batch(so->batch_query, entry_row(entries[n - 1]), Size(n), Size(so->dim), stride, tmp);
	for (int i = 0; i < n; i++)
		dist[i] = tmp[n - 1 - i];
	return n;
}

// rabitq: the query against list `list`'s centroid, from the query rotated once: l2 rounds
// R q - R c (the list's rotated centroid, cached per backend), ip rounds R q once for every list.
void prepare_list(Relation index, ScanState *so, int32 list)
{
	if (so->quantizer != Quantizer::rabitq || !so->query)
		return;
	Size dim = Size(so->dim), d = kernels::rabitq_padded_dim(dim);
	if (so->rabitq_form == kernels::RabitqForm::l2) {
		const float *rc = rotated_centroid(index, so->meta, list);
		for (Size i = 0; i < d; i++)
			so->rabitq_scratch[i] = so->rotated_query[i] - rc[i];
		so->rabitq = kernels::rabitq_prepare_rotated(so->rabitq_form, so->rabitq_scratch, dim, 0.0f, so->rabitq_planes,
													 so->rabitq_epsilon);
		return;
	}
	const float *c = so->centroids + Size(list) * dim;
	double constant = 0;
	for (Size j = 0; j < dim; j++)
		constant += double(so->query[j]) * double(c[j]);
	if (!so->rabitq_prepared) {
		so->rabitq = kernels::rabitq_prepare_rotated(so->rabitq_form, so->rotated_query, dim, float(constant),
													 so->rabitq_planes, so->rabitq_epsilon);
		so->rabitq_prepared = true;
	}
	so->rabitq.constant = float(constant);
}

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
		if (so->floor)
			pfree(so->floor);
		so->floor = so->quantizer == Quantizer::rabitq
						? static_cast<float *>(MemoryContextAllocHuge(so->cxt, sizeof(float) * so->capacity))
						: nullptr;
	}
	so->dropped_floor = std::numeric_limits<float>::infinity();
	Candidate *heap = so->cand;
	int n = 0;
	auto worse = [](const Candidate &a, const Candidate &b) { return before(a, b); };  // max-heap on (distance, tid)
	float dist[MaxOffsetNumber], lower[MaxOffsetNumber];
	const IvfEntryHeader *entries[MaxOffsetNumber];

	// The chain heads of the batch, so the next list's first page can be prefetched too.
	int nbatch = so->batch_end - so->batch_start;
	BlockNumber *heads = static_cast<BlockNumber *>(palloc(sizeof(BlockNumber) * nbatch));
	for (int b = 0; b < nbatch; b++)
		heads[b] = read_list_entry(index, so->meta, uint32(so->lists[so->batch_start + b])).start;

	int next_list = 0;
	BlockNumber blkno = InvalidBlockNumber;
	Buffer buf = InvalidBuffer;
	// List pages are pinned without a buffer-table lookup where the map knows their buffer (a
	// 1536-d list holds one row per page: a lookup per row otherwise).
	RecentBuffers *recent = RecentBuffers::for_relation(index);
	for (;;) {
		if (!BufferIsValid(buf)) {
			while (blkno == InvalidBlockNumber && next_list < nbatch)
				blkno = heads[next_list++];
			if (blkno == InvalidBlockNumber)
				break;
			prepare_list(index, so, so->lists[so->batch_start + next_list - 1]);
			buf = recent->read(index, blkno);
		}
		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		Page page = BufferGetPage(buf);
		BlockNumber next = page_opaque(page)->next;
		// Pin and prefetch the page that comes next (this chain's, or the next list's head).
		BlockNumber ahead = next;
		int ahead_list = next_list;
		while (ahead == InvalidBlockNumber && ahead_list < nbatch)
			ahead = heads[ahead_list++];
		Buffer ahead_buf = InvalidBuffer;
		if (ahead != InvalidBlockNumber) {
			ahead_buf = recent->read(index, ahead);
			// Not for sq8 lists: their few rows a page are 1.5 KB runs the hardware prefetcher
			// follows, and the page's 128 prefetches cost more than they saved (100k x 1536, probes
			// 10: 8.8-9.0 ms of CPU a query with them, 6.7 without; rabitq's and flat lists' queries
			// were no slower with them).
			if (so->quantizer != Quantizer::sq8)
				prefetch_page(ahead_buf);
		}
		int count = page_distances(so, page, dist, lower, entries);
		so->totals->rows += uint64(count);
		for (int i = 0; i < count; i++) {
			Candidate c;
			c.distance = dist[i];
			c.lower = so->quantizer == Quantizer::rabitq ? lower[i] : dist[i];
			c.tid = entries[i]->tid;
			if (after && !before(*after, c))
				continue;
			if (n < so->bound) {
				heap[n++] = c;
				std::push_heap(heap, heap + n, worse);
			} else {
				so->overflowed = true;
				if (before(c, heap[0])) {
					std::pop_heap(heap, heap + n, worse);
					so->dropped_floor = std::min(so->dropped_floor, heap[n - 1].lower);
					heap[n - 1] = c;
					std::push_heap(heap, heap + n, worse);
				} else
					so->dropped_floor = std::min(so->dropped_floor, c.lower);
			}
		}
		UnlockReleaseBuffer(buf);
		if (ahead_list != next_list)  // the next page starts another list
			prepare_list(index, so, so->lists[so->batch_start + ahead_list - 1]);
		buf = ahead_buf;
		blkno = ahead;
		next_list = ahead_list;
	}
	pfree(heads);
	std::sort_heap(heap, heap + n, worse);
	so->ncand = n;
	if (so->floor) {
		float f = std::numeric_limits<float>::infinity();
		for (int i = n - 1; i >= 0; i--)
			so->floor[i] = f = std::min(f, heap[i].lower);
	}
	so->totals->batches++;
}

void describe_scan(IndexScanDesc scan, StringInfo out)
{
	const ScanTotals *t = static_cast<ScanState *>(scan->opaque)->totals;
	if (t->ratio > 0 && t->ratio_scans > 0)
		appendStringInfo(out, "probes %.1f on average (%d..%d, lists within ratio %.3g of the nearest) of %d lists",
						 double(t->probes_sum) / double(t->ratio_scans), t->probes_min, t->probes_max, t->ratio, t->lists);
	else
		appendStringInfo(out, "probes %d of %d lists", t->probes, t->lists);
	describe_target(out, t->target, t->measured);
	if (t->mode != IterativeScan::off)
		appendStringInfo(out, ", %s up to %d lists", t->mode == IterativeScan::strict_order ? "strict_order" : "relaxed_order",
						 t->nlists);
	appendStringInfo(out, ", %llu rows scanned in %llu batch%s", static_cast<unsigned long long>(t->rows),
					 static_cast<unsigned long long>(t->batches), t->batches == 1 ? "" : "es");
	if (t->scans > 1)
		appendStringInfo(out, " over %llu scans", static_cast<unsigned long long>(t->scans));
	if (t->quantizer != Quantizer::none)
		appendStringInfo(out, "; %s codes, rerank %d: %llu candidates re-ranked", quantizer_name(t->quantizer), t->rerank,
						 static_cast<unsigned long long>(t->reranked));
}

HeapReader *heap_reader(IndexScanDesc scan, ScanState *so)
{
	if (!so->reader) {
		if (!scan->heapRelation)
			elog(ERROR, "ruivfflat scan of quantized lists needs the table");
		auto *r = static_cast<HeapReader *>(palloc0(sizeof(HeapReader)));
		r->fetch = table_index_fetch_begin(scan->heapRelation);
		r->slot = table_slot_create(scan->heapRelation, nullptr);
		r->info = BuildIndexInfo(scan->indexRelation);
		if (r->info->ii_Expressions != NIL) {
			r->estate = CreateExecutorState();
			GetPerTupleExprContext(r->estate)->ecxt_scantuple = r->slot;
		}
		r->cxt = AllocSetContextCreate(so->cxt, "ruivfflat rerank", ALLOCSET_DEFAULT_SIZES);
		so->reader = r;
	}
	return so->reader;
}

// Re-rank candidate so->pos (and move past it): its exact distance from the heap's vector, false
// when the row is not visible to the scan (the executor would skip it too). Allocates in the
// reader's context, which the caller resets.
bool rerank_next(IndexScanDesc scan, ScanState *so, Exact *out)
{
	HeapReader *r = so->reader;
	const Candidate &c = so->cand[so->pos++];
	so->last = c;
	so->have_last = true;
	so->totals->reranked++;
	ItemPointerData tid = c.tid;
	bool call_again = false, all_dead = false;
	if (!table_index_fetch_tuple(r->fetch, &tid, scan->xs_snapshot, r->slot, &call_again, &all_dead))
		return false;
	Datum values[INDEX_MAX_KEYS];
	bool isnull[INDEX_MAX_KEYS];
	if (r->estate)
		ResetPerTupleExprContext(r->estate);
	FormIndexDatum(r->info, r->slot, r->estate, values, isnull);
	if (isnull[0])
		return false;
	const kernels::ElementInfo &element = so->metric->element();
	const std::byte *value = reinterpret_cast<const std::byte *>(PG_DETOAST_DATUM(values[0]));
	if (element.value_dims(value) != so->dim)
		return false;  // cannot happen for an indexed row; never compare rows of other sizes
	*out = Exact{so->metric->distance(so->query_value, value + element.value_header, Size(so->dim)), c.tid};
	return true;
}

// Re-rank the next `rerank` candidates by the vectors in the heap: so->group, in exact order.
void rerank_group(IndexScanDesc scan, ScanState *so)
{
	HeapReader *r = heap_reader(scan, so);
	int size = so->mode == IterativeScan::strict_order ? so->ncand - so->pos : so->rerank;
	if (so->group_capacity < size) {
		if (so->group)
			pfree(so->group);
		so->group = static_cast<Exact *>(MemoryContextAllocHuge(so->cxt, sizeof(Exact) * Size(size)));
		so->group_capacity = size;
	}
	int end = std::min(so->ncand, so->pos + size);
	int n = 0;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	while (so->pos < end) {
		CHECK_FOR_INTERRUPTS();
		if (rerank_next(scan, so, &so->group[n]))
			n++;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->cxt);
	ExecClearTuple(r->slot);
	std::sort(so->group, so->group + n, exact_before);
	so->ngroup = n;
	so->gpos = 0;
}

// rabitq: the exact operator distance no candidate left in the batch can be under, when the bounds
// hold (the least lower bound of order() of the candidates from so->pos on and of those the bound
// did not keep, less a margin for the float rounding of order()); infinity when none is left.
double candidates_floor(const ScanState *so)
{
	float lower = so->pos < so->ncand ? so->floor[so->pos] : std::numeric_limits<float>::infinity();
	if (so->overflowed)
		lower = std::min(lower, so->dropped_floor);
	if (std::isinf(lower))
		return lower;
	if (so->rabitq_form == kernels::RabitqForm::l2)
		lower = std::max(lower, 0.0f);
	double d = so->metric->from_order(lower);
	return d - 1e-6 * (1 + std::fabs(d));
}

// rabitq: re-rank candidates in the order of their estimates until the nearest waiting row may be returned
// (see the file comment); false when the batch has no row left to return.
bool rabitq_next(IndexScanDesc scan, ScanState *so, Exact *out)
{
	auto after = [](const Exact &a, const Exact &b) { return exact_before(b, a); };  // min-heap
	for (;;) {
		if (so->ngroup > 0) {
			double floor = candidates_floor(so);
			bool ready = std::isinf(floor) || (so->rabitq_reranked >= so->rerank && so->group[0].distance <= floor);
			if (ready) {
				std::pop_heap(so->group, so->group + so->ngroup, after);
				*out = so->group[--so->ngroup];
				return true;
			}
		}
		if (so->pos >= so->ncand)
			return false;
		HeapReader *r = heap_reader(scan, so);
		if (so->group_capacity <= so->ngroup) {
			int capacity = std::max(64, so->group_capacity * 2);
			Exact *group = static_cast<Exact *>(MemoryContextAllocHuge(so->cxt, sizeof(Exact) * Size(capacity)));
			if (so->group) {
				memcpy(group, so->group, sizeof(Exact) * Size(so->ngroup));
				pfree(so->group);
			}
			so->group = group;
			so->group_capacity = capacity;
		}
		CHECK_FOR_INTERRUPTS();
		MemoryContext old = MemoryContextSwitchTo(r->cxt);
		bool found = rerank_next(scan, so, &so->group[so->ngroup]);
		so->rabitq_reranked++;
		MemoryContextSwitchTo(old);
		MemoryContextReset(r->cxt);
		ExecClearTuple(r->slot);
		if (found) {
			so->ngroup++;
			std::push_heap(so->group, so->group + so->ngroup, after);
		}
	}
}

void start_scan(IndexScanDesc scan, ScanState *so)
{
	Relation index = scan->indexRelation;
	if (!IsMVCCSnapshot(scan->xs_snapshot))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("non-MVCC snapshots are not supported with ruivfflat")));
	so->meta = read_meta(index);
	so->metric = &meta_metric(index, so->meta);
	so->dim = int(so->meta.dimensions);
	int lists = int(so->meta.lists);
	ProbeChoice choice = scan_choice(index, so->meta);
	so->probes = choice.probes;
	so->mode = iterative_scan_mode();
	auto lists_for = [&](int probes) {
		return so->mode == IterativeScan::off ? probes : std::clamp(max_probes_setting(), probes, lists);
	};
	so->nlists = lists_for(so->probes);
	// Per-query probes rank every list (their distances say how many to probe).
	so->lists = static_cast<int32 *>(palloc(sizeof(int32) * (choice.ratio > 0 ? lists : so->nlists)));
	so->quantizer = Quantizer(so->meta.quantizer);
	so->rerank = so->quantizer == Quantizer::none ? 0 : effective_rerank(index);
	ScanTotals *t = so->totals;
	*t = ScanTotals{t->explain, t->scans + 1, t->rows, t->batches, so->probes, lists, so->nlists, so->mode,
					so->quantizer, so->rerank, t->reranked, choice.target, choice.measured, choice.ratio,
					t->probes_sum, t->ratio_scans, t->probes_min, t->probes_max};

	ScanKey key = scan->orderByData;
	if (scan->numberOfOrderBys == 0 || (key->sk_flags & SK_ISNULL)) {
		// No query value: rows of the first lists, in TID order (pgvector returns them unordered).
		so->query = nullptr;
		for (int i = 0; i < so->nlists; i++)
			so->lists[i] = i;
	} else {
		so->query = static_cast<float *>(palloc(sizeof(float) * so->dim));
		value_floats(*so->metric, key->sk_argument, so->dim, so->query, true);
		if (so->quantizer != Quantizer::none) {
			// The query as given: the operator's distance to the heap's vectors.
			std::byte *raw = static_cast<std::byte *>(palloc(so->metric->row_bytes(Size(so->dim))));
			so->metric->element().from_float(so->query, raw, Size(so->dim));
			so->query_value = raw;
		}
		prepare_vector(*so->metric, so->query, so->dim, so->query);
		if (so->quantizer == Quantizer::sq8) {
			kernels::Sq8Form form;
			if (!kernels::sq8_form(so->metric->metric, &form))
				ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
								errmsg("index \"%s\" has sq8 lists for a metric without them", RelationGetRelationName(index))));
			float *ranges = read_sq8_ranges(index, so->meta);
			float *a = static_cast<float *>(palloc(sizeof(float) * so->dim));
			auto *w = static_cast<std::int16_t *>(palloc(sizeof(std::int16_t) * so->dim));
			so->sq8 = kernels::sq8_prepare(form, so->query, ranges, ranges + so->dim, a, w, Size(so->dim));
		} else if (so->quantizer == Quantizer::rabitq) {
			if (!kernels::rabitq_form(so->metric->metric, &so->rabitq_form))
				ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
								errmsg("index \"%s\" has rabitq lists for a metric without them", RelationGetRelationName(index))));
			so->centroids = index_centroids(index, so->meta).data;
			so->rabitq_epsilon = rabitq_epsilon_setting();
			so->rabitq_scratch = static_cast<float *>(palloc(sizeof(float) * kernels::rabitq_padded_dim(Size(so->dim))));
			so->rotated_query = static_cast<float *>(palloc(sizeof(float) * kernels::rabitq_padded_dim(Size(so->dim))));
			kernels::rabitq_rotate(so->query, Size(so->dim), so->meta.rotation_seed, so->rotated_query);
			so->rabitq_planes = static_cast<std::uint64_t *>(palloc(sizeof(std::uint64_t) * kernels::rabitq_plane_words(Size(so->dim))));
		}
		so->query_row = static_cast<std::byte *>(palloc(so->metric->row_bytes(Size(so->dim))));
		so->metric->element().from_float(so->query, so->query_row, Size(so->dim));
		so->batch_query = static_cast<std::byte *>(palloc(so->metric->batch_query_bytes(Size(so->dim))));
		so->metric->batch_query(so->query_row, so->batch_query, Size(so->dim));
		if (lists == 1)
			so->lists[0] = 0;
		else if (choice.ratio > 0) {
			float *d = static_cast<float *>(palloc(sizeof(float) * lists));
			nearest_lists(index_centroids(index, so->meta), so->query, lists, so->lists, d);
			so->probes = list_ratio_probes(d, lists, choice.ratio);
			so->nlists = lists_for(so->probes);
			pfree(d);
			t->probes = so->probes;
			t->nlists = so->nlists;
			t->probes_sum += uint64(so->probes);
			t->probes_min = t->ratio_scans == 0 ? so->probes : std::min(t->probes_min, so->probes);
			t->probes_max = std::max(t->probes_max, so->probes);
			t->ratio_scans++;
		} else
			nearest_lists(index_centroids(index, so->meta), so->query, so->nlists, so->lists, nullptr);
	}
	so->batch_start = 0;
	// strict_order: one batch of every list it may probe, so the order is exact over all of them.
	so->batch_end = so->mode == IterativeScan::strict_order ? so->nlists : so->probes;
	so->bound = std::max(kInitialBound, so->rerank);
	so->have_last = false;
	pgstat_count_index_scan(index);
	scan_batch(index, so, nullptr);
	so->started = true;
}

}  // namespace

IndexScanDesc ivfbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = begin_ordered_scan(index, nkeys, norderbys);
	auto *so = static_cast<ScanState *>(palloc0(sizeof(ScanState)));
	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "ruivfflat scan", ALLOCSET_DEFAULT_SIZES);
	so->totals = static_cast<ScanTotals *>(palloc0(sizeof(ScanTotals)));
	scan->opaque = so;
	explain_register_scan(&so->totals->explain, scan, describe_scan);
	return scan;
}

void ivfrescan(IndexScanDesc scan, ScanKey keys, int, ScanKey orderbys, int)
{
	auto *so = static_cast<ScanState *>(scan->opaque);
	end_reader(so);
	MemoryContextReset(so->cxt);
	MemoryContext cxt = so->cxt;
	ScanTotals *totals = so->totals;
	memset(so, 0, sizeof *so);
	so->cxt = cxt;
	so->totals = totals;
	set_scan_keys(scan, keys, orderbys);
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
	bool reranks = so->quantizer != Quantizer::none && so->query;
	bool by_bound = reranks && so->quantizer == Quantizer::rabitq;
	for (;;) {
		if (reranks) {
			Exact next;
			bool have = false;
			if (by_bound)
				have = rabitq_next(scan, so, &next);
			else if (so->gpos < so->ngroup) {
				next = so->group[so->gpos++];
				have = true;
			}
			if (have) {
				const Exact &e = next;
				if (so->mode == IterativeScan::strict_order) {
					if (so->have_returned && exact_before(e, Exact{so->returned, e.tid}))
						continue;  // closer than a row already returned: out of order
					so->have_returned = true;
					so->returned = e.distance;
				}
				scan->xs_heaptid = e.tid;
				scan->xs_recheck = false;
				scan->xs_recheckorderby = false;  // the operator's own distance ordered the group
				MemoryContextSwitchTo(old);
				return true;
			}
			if (!by_bound && so->pos < so->ncand) {
				rerank_group(scan, so);
				continue;
			}
		} else if (so->pos < so->ncand) {
			Candidate c = so->cand[so->pos++];
			so->last = c;
			so->have_last = true;
			scan->xs_heaptid = c.tid;
			scan->xs_recheck = false;
			scan->xs_recheckorderby = false;
			if (so->metric->normalise && so->query && scan->numberOfOrderBys > 0) {
				scan->xs_recheckorderby = true;
				scan->xs_orderbyvals[0] = Float8GetDatum(operator_lower_bound(so->metric, c.distance, so->dim));
				scan->xs_orderbynulls[0] = false;
			}
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
		// relaxed_order: the next lists.
		so->batch_start = so->batch_end;
		so->batch_end = std::min(so->nlists, so->batch_end + so->probes);
		so->bound = std::max(kInitialBound, so->rerank);
		so->have_last = false;
		scan_batch(index, so, nullptr);
	}
	MemoryContextSwitchTo(old);
	return false;
}

void ivfendscan(IndexScanDesc scan)
{
	auto *so = static_cast<ScanState *>(scan->opaque);
	explain_unregister_scan(&so->totals->explain);
	end_reader(so);
	pfree(so->totals);
	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = nullptr;
}

}  // namespace ruvector::ivf

namespace ruvector::ivf {

float last_order_distance(IndexScanDesc scan)
{
	const auto *so = static_cast<const ScanState *>(scan->opaque);
	return so->last.distance;
}

}  // namespace ruvector::ivf
