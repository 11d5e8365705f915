// ruhnsw vacuum, pgvector's algorithm in three passes over the element pages:
//  1. remove the dead heap TIDs; elements left with none form the deleting set;
//  2. repair the graph: the entry point first (replaced by the highest live element when it goes),
//     then every live element that links into the deleting set or whose layer-0 list is not full,
//     by searching its neighbours again as an insert does;
//  3. once no insert or scan can still be using them (the update- and scan-lock barriers), free
//     the deleting elements' slots for reuse by inserts, and rewind the meta page's insert page to
//     the first freed slot. Pages are never returned: the index does not shrink.
// Every change goes through generic WAL, so standbys and crash recovery replay it.
#include "extension/hnsw/hnswutils.hpp"

extern "C" {
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
}

#include <algorithm>

namespace ruvector::hnsw {
namespace {

// A live element as vacuum sees it.
struct Live {
	ItemPointerData tid;
	ItemPointerData neighbourtid;
	uint8 level;
	uint8 version;
};

struct Vacuum {
	IndexVacuumInfo *info;
	Relation index;
	BufferAccessStrategy bas;
	HnswMetaPage meta;
	const MetricInfo *metric;
	int m;
	int dim;
	Size row_bytes;
	int ef;
	TidSet deleting;          // elements left with no heap TID
	TidSet deleting_links;    // their neighbour tuples (not checked for links into the set)
	Live highest{}, fallback{};  // the highest live elements (the entry point's replacement)
	bool has_highest = false, has_fallback = false;
	MemoryContext tmp;        // one element's repair
	std::byte *row;

	Buffer read(BlockNumber blk) { return ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, bas); }
};

inline bool same_tid(const ItemPointerData &a, const ItemPointerData &b)
{
	return ItemPointerEquals(const_cast<ItemPointer>(&a), const_cast<ItemPointer>(&b));
}

// The live element at `tid` (not freed, still holding heap TIDs), with its row copied to v.row.
bool read_live(Vacuum &v, const ItemPointerData &tid, Live *out)
{
	Buffer buf = v.read(ItemPointerGetBlockNumber(&tid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	Page page = BufferGetPage(buf);
	OffsetNumber off = ItemPointerGetOffsetNumber(&tid);
	bool ok = false;
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page) && ItemIdIsNormal(PageGetItemId(page, off))) {
		const auto *e = reinterpret_cast<const HnswElementTupleData *>(PageGetItem(page, PageGetItemId(page, off)));
		bool any = false;
		for (const auto &t : e->heaptids)
			any |= ItemPointerIsValid(&t);
		if (e->type == kElementTuple && !e->deleted && any) {
			*out = Live{tid, e->neighbourtid, e->level, e->version};
			memcpy(v.row, element_row(e), v.metric->element().size_of(element_row(e), Size(v.dim)));
			ok = true;
		}
	}
	UnlockReleaseBuffer(buf);
	return ok;
}

// pgvector's rule: an element needs repair when it links into the deleting set, or when its
// layer-0 list is not full (its last slot is empty), which a repair may improve.
bool needs_repair(Vacuum &v, const Live &e)
{
	Buffer buf = v.read(ItemPointerGetBlockNumber(&e.neighbourtid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	Page page = BufferGetPage(buf);
	OffsetNumber off = ItemPointerGetOffsetNumber(&e.neighbourtid);
	bool needs = false;
	if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page) && ItemIdIsNormal(PageGetItemId(page, off))) {
		const auto *nt = reinterpret_cast<const HnswNeighbourTupleData *>(PageGetItem(page, PageGetItemId(page, off)));
		if (nt->type == kNeighbourTuple && nt->version == e.version && nt->count == graph::link_slots(uint32(v.m), e.level)) {
			needs = !ItemPointerIsValid(&nt->tids[2 * v.m - 1]);
			for (int i = 0; i < nt->count && !needs; i++)
				needs = ItemPointerIsValid(&nt->tids[i]) && v.deleting.contains(tid_key(nt->tids[i]));
		}
	}
	UnlockReleaseBuffer(buf);
	return needs;
}

// Search the neighbours of `e` (whose row is in v.row) again, starting from `start` (an entry
// point of level `start_level`), write them over its neighbour tuple and link them back to it.
void repair(Vacuum &v, const Live &e, const ItemPointerData &start, int start_level)
{
	MemoryContext old = MemoryContextSwitchTo(v.tmp);
	Search s;
	s.init(v.index, *v.metric, v.dim, v.m, v.row, true, v.tmp);
	s.skip = tid_key(e.tid);
	s.skip_deleting = true;  // as pgvector: elements being deleted do not count toward ef
	HnswMetaPage from = v.meta;
	from.entry_blkno = ItemPointerGetBlockNumber(&start);
	from.entry_offno = ItemPointerGetOffsetNumber(&start);
	from.entry_level = int16(start_level);
	Neighbours nb = find_neighbours(s, from, e.level, v.ef);

	Buffer buf = v.read(ItemPointerGetBlockNumber(&e.neighbourtid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	Page page = BufferGetPage(buf);
	OffsetNumber off = ItemPointerGetOffsetNumber(&e.neighbourtid);
	bool written = false;
	if (off <= PageGetMaxOffsetNumber(page) && ItemIdIsNormal(PageGetItemId(page, off))) {
		auto *nt = reinterpret_cast<HnswNeighbourTuple>(PageGetItem(page, PageGetItemId(page, off)));
		if (nt->type == kNeighbourTuple && nt->version == e.version && nt->count == graph::link_slots(uint32(v.m), e.level)) {
			PageEdit edit(v.index, false);
			Page p = edit.add(buf);
			nt = reinterpret_cast<HnswNeighbourTuple>(PageGetItem(p, PageGetItemId(p, off)));
			for (int i = 0; i < nt->count; i++)
				ItemPointerSetInvalid(&nt->tids[i]);
			for (int layer = 0; layer <= e.level; layer++)
				for (int i = 0; i < nb.n[layer]; i++)
					nt->tids[graph::layer_offset(uint32(v.m), uint32(layer)) + Size(i)] = key_tid(nb.sel[layer][i]->key);
			edit.finish();
			written = true;
		}
	}
	UnlockReleaseBuffer(buf);
	if (written)
		for (int layer = 0; layer <= e.level; layer++)
			for (int i = 0; i < nb.n[layer]; i++)
				link_back(s, nb.sel[layer][i], layer, e.tid, v.row, false);
	MemoryContextSwitchTo(old);
	MemoryContextReset(v.tmp);
}

// Repair one element under the update lock (exclusive when it may become the entry point), and
// make it the entry point when its level is above the current one.
void repair_element(Vacuum &v, const ItemPointerData &tid)
{
	Live e;
	if (!read_live(v, tid, &e) || !needs_repair(v, e))
		return;
	HnswMetaPage meta = read_meta(v.index);
	LOCKMODE mode = e.level > meta.entry_level ? ExclusiveLock : ShareLock;
	LockPage(v.index, kUpdateLock, mode);
	meta = read_meta(v.index);
	ItemPointerData entry;
	ItemPointerSet(&entry, meta.entry_blkno, meta.entry_offno);
	if (meta.entry_blkno != InvalidBlockNumber && !same_tid(entry, tid) && read_live(v, tid, &e)) {
		repair(v, e, entry, meta.entry_level);
		if (e.level > meta.entry_level)
			update_meta(v.index, false, &tid, e.level, false, InvalidBlockNumber);
	}
	UnlockPage(v.index, kUpdateLock, mode);
}

// Take and release the lock, so that everyone who held it before has finished.
void barrier(Relation index, BlockNumber lock)
{
	LockPage(index, lock, ExclusiveLock);
	UnlockPage(index, lock, ExclusiveLock);
}

/* Pass 1 */

void remove_heap_tids(Vacuum &v, IndexBulkDeleteResult *stats, IndexBulkDeleteCallback callback, void *cb_state)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(v.index);
	for (BlockNumber blk = kFirstElementBlock; blk < nblocks; blk++) {
		vacuum_delay_point();
		Buffer buf = v.read(blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		GenericXLogState *state = GenericXLogStart(v.index);
		Page page = GenericXLogRegisterBuffer(state, buf, 0);
		bool changed = false;
		OffsetNumber maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
			ItemId iid = PageGetItemId(page, off);
			if (!ItemIdIsNormal(iid))
				continue;
			auto *e = reinterpret_cast<HnswElementTuple>(PageGetItem(page, iid));
			if (e->type != kElementTuple || e->deleted)
				continue;
			int kept = 0;
			for (int i = 0; i < kMaxHeapTids; i++) {
				if (!ItemPointerIsValid(&e->heaptids[i]))
					continue;
				if (callback(&e->heaptids[i], cb_state)) {
					stats->tuples_removed++;
					changed = true;
				} else
					e->heaptids[kept++] = e->heaptids[i];
			}
			for (int i = kept; i < kMaxHeapTids; i++)
				ItemPointerSetInvalid(&e->heaptids[i]);
			stats->num_index_tuples += kept;
			ItemPointerData tid;
			ItemPointerSet(&tid, blk, off);
			if (kept == 0) {
				// Also an element a failed vacuum left with no heap TIDs.
				v.deleting.insert(tid_key(tid));
				continue;
			}
			Live live{tid, e->neighbourtid, e->level, e->version};
			if (!v.has_highest || live.level > v.highest.level) {
				if (v.has_highest) {
					v.fallback = v.highest;
					v.has_fallback = true;
				}
				v.highest = live;
				v.has_highest = true;
			} else if (!v.has_fallback || live.level > v.fallback.level) {
				v.fallback = live;
				v.has_fallback = true;
			}
		}
		if (changed)
			GenericXLogFinish(state);
		else
			GenericXLogAbort(state);
		UnlockReleaseBuffer(buf);
	}
}

/* Pass 2 */

void repair_graph(Vacuum &v)
{
	// Inserts that started before pass 1 may link to elements it emptied: let them finish. Later
	// inserts see those elements have no heap TIDs and do not link to them.
	barrier(v.index, kUpdateLock);

	// The entry point first, so every later search starts from a live element. Its replacement,
	// the highest live element, is repaired before it becomes the entry point.
	HnswMetaPage meta = read_meta(v.index);
	ItemPointerData entry;
	ItemPointerSet(&entry, meta.entry_blkno, meta.entry_offno);
	bool has_entry = meta.entry_blkno != InvalidBlockNumber;
	if (v.has_highest) {
		const Live &h = has_entry && same_tid(v.highest.tid, entry) ? v.fallback : v.highest;
		if ((&h == &v.highest || v.has_fallback) && has_entry) {
			LockPage(v.index, kUpdateLock, ShareLock);
			Live e;
			if (read_live(v, h.tid, &e) && needs_repair(v, e))
				repair(v, e, entry, meta.entry_level);
			UnlockPage(v.index, kUpdateLock, ShareLock);
		}
	}
	LockPage(v.index, kUpdateLock, ExclusiveLock);
	meta = read_meta(v.index);
	ItemPointerSet(&entry, meta.entry_blkno, meta.entry_offno);
	if (meta.entry_blkno != InvalidBlockNumber) {
		Live e;
		if (v.deleting.contains(tid_key(entry))) {
			// The graph's entry point goes: the highest live element replaces it (none: empty).
			ItemPointerData none;
			ItemPointerSetInvalid(&none);
			update_meta(v.index, false, v.has_highest ? &v.highest.tid : &none, v.has_highest ? v.highest.level : -1, true,
						InvalidBlockNumber);
		} else if (read_live(v, entry, &e) && needs_repair(v, e)) {
			// Searched from the highest other live element (from itself when there is none: its
			// own links lead to what is left).
			const Live *from = v.has_highest && !same_tid(v.highest.tid, entry) ? &v.highest
							   : v.has_fallback													 ? &v.fallback
																								 : nullptr;
			repair(v, e, from ? from->tid : entry, from ? from->level : e.level);
		}
	}
	UnlockPage(v.index, kUpdateLock, ExclusiveLock);

	// Then every element that needs it, page by page (the elements of a page listed first, so no
	// buffer lock is held while searching).
	BlockNumber nblocks = RelationGetNumberOfBlocks(v.index);
	ItemPointerData *tids = static_cast<ItemPointerData *>(palloc(sizeof(ItemPointerData) * MaxOffsetNumber));
	for (BlockNumber blk = kFirstElementBlock; blk < nblocks; blk++) {
		vacuum_delay_point();
		Buffer buf = v.read(blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		Page page = BufferGetPage(buf);
		int n = 0;
		OffsetNumber maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
			ItemId iid = PageGetItemId(page, off);
			if (!ItemIdIsNormal(iid))
				continue;
			const auto *e = reinterpret_cast<const HnswElementTupleData *>(PageGetItem(page, iid));
			if (e->type != kElementTuple || e->deleted)
				continue;
			ItemPointerSet(&tids[n], blk, off);
			if (v.deleting.contains(tid_key(tids[n])))
				v.deleting_links.insert(tid_key(e->neighbourtid));
			else
				n++;
		}
		UnlockReleaseBuffer(buf);
		for (int i = 0; i < n; i++) {
			CHECK_FOR_INTERRUPTS();
			repair_element(v, tids[i]);
		}
	}
	pfree(tids);
}

/* Pass 3 */

// No live element may still link into the deleting set once it is freed (its slot may be reused
// by an unrelated element).
void confirm_repaired(Vacuum &v)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(v.index);
	for (BlockNumber blk = kFirstElementBlock; blk < nblocks; blk++) {
		vacuum_delay_point();
		Buffer buf = v.read(blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		Page page = BufferGetPage(buf);
		OffsetNumber maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
			ItemId iid = PageGetItemId(page, off);
			if (!ItemIdIsNormal(iid))
				continue;
			const auto *nt = reinterpret_cast<const HnswNeighbourTupleData *>(PageGetItem(page, iid));
			ItemPointerData tid;
			ItemPointerSet(&tid, blk, off);
			if (nt->type != kNeighbourTuple || v.deleting_links.contains(tid_key(tid)))
				continue;
			for (int i = 0; i < nt->count; i++)
				if (ItemPointerIsValid(&nt->tids[i]) && v.deleting.contains(tid_key(nt->tids[i]))) {
					UnlockReleaseBuffer(buf);
					ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("hnsw graph not repaired"),
									errdetail("Element (%u,%u) of index \"%s\" still links to a deleted element.", blk,
											  unsigned(off), RelationGetRelationName(v.index)),
									errhint("REINDEX the index.")));
				}
		}
		UnlockReleaseBuffer(buf);
	}
}

void mark_deleted(Vacuum &v)
{
	barrier(v.index, kUpdateLock);
	confirm_repaired(v);
	// Scans copy elements and follow their links later: wait for those that started before.
	barrier(v.index, kScanLock);

	BlockNumber first_freed = InvalidBlockNumber;
	BlockNumber nblocks = RelationGetNumberOfBlocks(v.index);
	for (BlockNumber blk = kFirstElementBlock; blk < nblocks; blk++) {
		vacuum_delay_point();
		Buffer buf = v.read(blk);
		LockBufferForCleanup(buf);
		Page page = BufferGetPage(buf);
		OffsetNumber maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
			ItemId iid = PageGetItemId(page, off);
			if (!ItemIdIsNormal(iid))
				continue;
			const auto *e = reinterpret_cast<const HnswElementTupleData *>(PageGetItem(page, iid));
			ItemPointerData tid;
			ItemPointerSet(&tid, blk, off);
			if (e->type != kElementTuple || e->deleted || !v.deleting.contains(tid_key(tid)))
				continue;
			// One record per element: its tuple and its neighbour tuple (maybe on a later page).
			BlockNumber nblk = ItemPointerGetBlockNumber(&e->neighbourtid);
			OffsetNumber noff = ItemPointerGetOffsetNumber(&e->neighbourtid);
			Buffer nbuf = buf;
			if (nblk != blk) {
				nbuf = v.read(nblk);
				LockBuffer(nbuf, BUFFER_LOCK_EXCLUSIVE);
			}
			PageEdit edit(v.index, false);
			Page p = edit.add(buf);
			Page np = nbuf == buf ? p : edit.add(nbuf);
			auto *pe = reinterpret_cast<HnswElementTuple>(PageGetItem(p, PageGetItemId(p, off)));
			// A new version makes every copy of the old element (and its links) recognisably stale.
			uint8 version = uint8(pe->version % 255 + 1);
			pe->deleted = 1;
			pe->version = version;
			memset(element_row(pe), 0, ItemIdGetLength(iid) - sizeof(HnswElementTupleData));
			if (noff >= FirstOffsetNumber && noff <= PageGetMaxOffsetNumber(np) && ItemIdIsNormal(PageGetItemId(np, noff))) {
				auto *nt = reinterpret_cast<HnswNeighbourTuple>(PageGetItem(np, PageGetItemId(np, noff)));
				if (nt->type == kNeighbourTuple) {
					nt->version = version;
					for (int i = 0; i < nt->count; i++)
						ItemPointerSetInvalid(&nt->tids[i]);
				}
			}
			edit.finish();
			if (nbuf != buf)
				UnlockReleaseBuffer(nbuf);
			if (first_freed == InvalidBlockNumber)
				first_freed = blk;
		}
		UnlockReleaseBuffer(buf);
	}

	// Inserts look for room from the insert page on: start them at the first freed slot.
	if (first_freed != InvalidBlockNumber) {
		Buffer buf = ReadBuffer(v.index, kMetaBlock);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		HnswMetaPage *cur = meta_of(BufferGetPage(buf));
		if (cur->insert_page == InvalidBlockNumber || first_freed < cur->insert_page) {
			PageEdit edit(v.index, false);
			meta_of(edit.add(buf))->insert_page = first_freed;
			edit.finish();
		}
		UnlockReleaseBuffer(buf);
	}
}

}  // namespace

IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
									  IndexBulkDeleteCallback callback, void *state)
{
	if (!stats)
		stats = static_cast<IndexBulkDeleteResult *>(palloc0(sizeof(IndexBulkDeleteResult)));
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ruhnsw vacuum", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Vacuum v;
	v.info = info;
	v.index = info->index;
	v.bas = GetAccessStrategy(BAS_BULKREAD);
	v.meta = read_meta(v.index);
	v.metric = &meta_metric(v.index, v.meta);
	v.m = v.meta.m;
	v.dim = int(v.meta.dimensions);
	// (a variable-size row is at most what an element tuple on a page holds)
	v.row_bytes = v.metric->element().variable_size() ? kPageDataSpace : v.metric->row_bytes(Size(v.dim));
	// pgvector searches with one more candidate, as the element itself is among them.
	v.ef = index_options(v.index)->ef_construction + 1;
	v.deleting.init(cxt, 1024);
	v.deleting_links.init(cxt, 1024);
	v.tmp = AllocSetContextCreate(cxt, "ruhnsw vacuum repair", ALLOCSET_DEFAULT_SIZES);
	v.row = static_cast<std::byte *>(palloc(MAXALIGN(v.row_bytes)));

	stats->num_index_tuples = 0;
	remove_heap_tids(v, stats, callback, state);
	if (v.deleting.count > 0) {
		repair_graph(v);
		mark_deleted(v);
	}
	FreeAccessStrategy(v.bas);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return stats;
}

IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only || !stats)
		return stats;  // nothing changed: no statistics to report (as pgvector)
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}

}  // namespace ruvector::hnsw
