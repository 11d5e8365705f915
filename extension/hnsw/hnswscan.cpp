// ruhnsw scan: pgvector's scan, except that layer 0 is entered from several elements
// (Search::enter: a greedy descent to layer 2, then a layer-1 search with m candidates where
// pgvector keeps 1). The layer-0 search keeps hnsw.ef_search candidates (under a target recall,
// the ef_search the index's measured curve says meets it: scan_ef); its result, nearest first, is
// handed out heap TID by heap TID. With an iterative scan, the visited set and the elements that
// did not make the result (the "discarded" heap) are kept: when the result runs dry, the ef_search
// nearest discarded elements seed the next layer-0 search (relaxed_order: each batch in order;
// strict_order: rows nearer than the last one returned are dropped), until hnsw.max_scan_tuples
// elements were loaded or the scan's memory reaches work_mem * hnsw.scan_mem_multiplier; then the
// discarded heap is drained.
//
// Distances are computed on the page bytes with the metric's order() (no copy, no fmgr call), an
// element's fields are copied only when it enters the result, and each page is locked once for
// all the neighbours of an element it holds.
#include "extension/hnsw/hnswutils.hpp"
#include "extension/index_am.hpp"
#include "extension/index_explain.hpp"

extern "C" {
#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

namespace ruvector::hnsw {

namespace {

// What EXPLAIN ANALYZE shows of the scan, over all its rescans (index_explain.hpp).
struct ScanTotals {
	ExplainedScan explain;
	uint64 scans;     // rescans that started
	uint64 visited;   // elements loaded at layer 0 by the rescans before the current one
	uint64 batches;   // layer-0 searches (1 per scan, more with iterative scans)
	int ef;
	double target;    // the target recall (0: hnsw.ef_search as set)
	float measured;   // the curve's recall at ef (-1: no curve)
	IterativeScan mode;
};

struct ScanState {
	MemoryContext cxt;
	ScanTotals *totals;     // outlives rescans
	bool started;
	HnswMetaPage meta;
	const MetricInfo *metric;
	std::byte *query;  // prepared; null for a NULL query (every distance 0)
	Search search;
	IterativeScan mode;
	int ef;
	Size max_memory;
	Element **results;  // the current batch, nearest first
	int nresults, pos;
	int tid_pos;        // heap TIDs of results[pos] still to hand out
	bool have_last;
	float last_distance;
};

void start_scan(IndexScanDesc scan, ScanState *so)
{
	Relation index = scan->indexRelation;
	if (!IsMVCCSnapshot(scan->xs_snapshot))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("non-MVCC snapshots are not supported with hnsw")));
	pgstat_count_index_scan(index);
	so->started = true;
	so->meta = read_meta(index);
	so->metric = &meta_metric(index, so->meta);
	int dim = int(so->meta.dimensions);
	so->mode = iterative_scan_mode();
	EfChoice choice = scan_ef(index, so->meta);
	so->ef = choice.ef;
	so->totals->scans++;
	so->totals->batches++;
	so->totals->ef = so->ef;
	so->totals->target = choice.target;
	so->totals->measured = choice.measured;
	so->totals->mode = so->mode;
	so->max_memory = Size(double(work_mem) * scan_mem_multiplier() * 1024.0);
	so->query = nullptr;
	if (scan->numberOfOrderBys > 0 && !(scan->orderByData[0].sk_flags & SK_ISNULL)) {
		so->query = value_row(*so->metric, scan->orderByData[0].sk_argument, dim, true);
	}
	so->search.init(index, *so->metric, dim, so->meta.m, so->query, false, so->cxt);
	so->nresults = so->pos = 0;
	so->tid_pos = -1;
	if (so->meta.entry_blkno == InvalidBlockNumber)
		return;
	ItemPointerData entry;
	ItemPointerSet(&entry, so->meta.entry_blkno, so->meta.entry_offno);
	// The SCAN lock: vacuum waits for it before it frees elements this scan may have seen.
	LockPage(index, kScanLock, ShareLock);
	Element *ep = so->search.load(entry);
	if (ep) {
		Element **seeds;
		int nseeds = so->search.enter(ep, so->meta.entry_level, &seeds);
		// Layer 0 starts afresh: what the upper layers saw is loaded again here, once.
		so->search.visited.clear();
		so->search.keep_discarded = so->mode != IterativeScan::off;
		so->nresults = so->search.search_layer(seeds, nseeds, so->ef, 0, &so->results, false);
		pfree(seeds);
	}
	UnlockPage(index, kScanLock, ShareLock);
}

// The next batch of an iterative scan; false when there is nothing left.
bool next_batch(IndexScanDesc scan, ScanState *so)
{
	Search &s = so->search;
	if (s.discarded.empty())
		return false;
	so->pos = 0;
	so->tid_pos = -1;
	if (s.loaded >= uint64(max_scan_tuples()) || MemoryContextMemAllocated(so->cxt, true) > so->max_memory) {
		// The limits are reached: hand out what was already seen, nearest first.
		so->results[0] = s.discarded.pop();
		so->nresults = 1;
		return true;
	}
	int n = 0;
	Element **entries = static_cast<Element **>(palloc(sizeof(Element *) * Size(so->ef)));
	while (n < so->ef && !s.discarded.empty())
		entries[n++] = s.discarded.pop();
	pfree(so->results);
	so->totals->batches++;
	LockPage(scan->indexRelation, kScanLock, ShareLock);
	so->nresults = s.search_layer(entries, n, so->ef, 0, &so->results, false);
	UnlockPage(scan->indexRelation, kScanLock, ShareLock);
	pfree(entries);
	return true;
}

void describe_scan(IndexScanDesc scan, StringInfo out)
{
	auto *so = static_cast<const ScanState *>(scan->opaque);
	const ScanTotals *t = so->totals;
	appendStringInfo(out, "ef_search %d", t->ef);
	describe_target(out, t->target, t->measured);
	if (t->mode != IterativeScan::off)
		appendStringInfo(out, ", %s", t->mode == IterativeScan::strict_order ? "strict_order" : "relaxed_order");
	appendStringInfo(out, ", %llu elements visited", static_cast<unsigned long long>(t->visited + (so->started ? so->search.loaded : 0)));
	if (t->batches > t->scans)
		appendStringInfo(out, " in %llu batches", static_cast<unsigned long long>(t->batches));
	if (t->scans > 1)
		appendStringInfo(out, " over %llu scans", static_cast<unsigned long long>(t->scans));
}

}  // namespace

IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = begin_ordered_scan(index, nkeys, norderbys);
	auto *so = static_cast<ScanState *>(palloc0(sizeof(ScanState)));
	// Small blocks, so the memory limit of iterative scans is tracked finely (as pgvector's).
	so->cxt = AllocSetContextCreate(CurrentMemoryContext, "ruhnsw scan", 0, 8 * 1024, 256 * 1024);
	so->totals = static_cast<ScanTotals *>(palloc0(sizeof(ScanTotals)));
	scan->opaque = so;
	explain_register_scan(&so->totals->explain, scan, describe_scan);
	return scan;
}

void hnswrescan(IndexScanDesc scan, ScanKey keys, int, ScanKey orderbys, int)
{
	auto *so = static_cast<ScanState *>(scan->opaque);
	MemoryContextReset(so->cxt);
	MemoryContext cxt = so->cxt;
	ScanTotals *totals = so->totals;
	if (so->started)
		totals->visited += so->search.loaded;
	memset(static_cast<void *>(so), 0, sizeof *so);
	so->cxt = cxt;
	so->totals = totals;
	set_scan_keys(scan, keys, orderbys);
}

bool hnswgettuple(IndexScanDesc scan, ScanDirection dir)
{
	auto *so = static_cast<ScanState *>(scan->opaque);
	if (!ScanDirectionIsForward(dir))
		elog(ERROR, "ruhnsw scans go forward only");
	if (scan->numberOfOrderBys == 0)
		elog(ERROR, "cannot scan hnsw index without order");
	MemoryContext old = MemoryContextSwitchTo(so->cxt);
	if (!so->started)
		start_scan(scan, so);
	for (;;) {
		while (so->pos < so->nresults) {
			Element *e = so->results[so->pos];
			// Being deleted (no heap TIDs), or nearer than a row already returned (strict_order).
			if (e->ntids == 0 || (so->mode == IterativeScan::strict_order && so->have_last && e->distance < so->last_distance)) {
				so->pos++;
				continue;
			}
			if (so->tid_pos < 0)
				so->tid_pos = e->ntids;
			// The last stored heap TID first, as pgvector's.
			scan->xs_heaptid = e->heaptids[--so->tid_pos];
			if (so->tid_pos == 0) {
				so->pos++;
				so->tid_pos = -1;
			}
			so->have_last = true;
			so->last_distance = e->distance;
			scan->xs_recheck = false;
			scan->xs_recheckorderby = false;
			MemoryContextSwitchTo(old);
			return true;
		}
		if (so->mode == IterativeScan::off || !next_batch(scan, so))
			break;
	}
	MemoryContextSwitchTo(old);
	return false;
}

void hnswendscan(IndexScanDesc scan)
{
	auto *so = static_cast<ScanState *>(scan->opaque);
	explain_unregister_scan(&so->totals->explain);
	pfree(so->totals);
	MemoryContextDelete(so->cxt);
	pfree(so);
	scan->opaque = nullptr;
}

}  // namespace ruvector::hnsw
