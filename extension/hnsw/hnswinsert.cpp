// ruhnsw insert: pgvector's on-disk insert (the paper's Algorithm 1 on the pages).
//
// Under the UPDATE page lock (share; exclusive when the new element may become the entry point):
// find the neighbours layer by layer, add the heap TID to a byte-identical element when there is
// one, else write the element and its neighbour tuple, link the neighbours back to it (replacing
// the one the heuristic prunes when a list is full) and move the entry point up if its level is
// higher. Buffer locks are short and per page, so inserts from many backends run together.
#include "extension/hnsw/hnswutils.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
}

#include <algorithm>

namespace ruvector::hnsw {

namespace {

void add_item_failed(Relation index)
{
	elog(ERROR, "failed to add index item to \"%s\"", RelationGetRelationName(index));
}

HnswElementTuple item_element(Page page, OffsetNumber off)
{
	return reinterpret_cast<HnswElementTuple>(PageGetItem(page, PageGetItemId(page, off)));
}

// Add both tuples to a page (which has room), the element pointing at its neighbour tuple.
OffsetNumber add_pair(Relation index, Page page, BlockNumber nblk, Page npage, char *etup, Size esize,
					  HnswNeighbourTuple ntup, Size nsize)
{
	OffsetNumber eoff = PageAddItem(page, Item(etup), esize, InvalidOffsetNumber, false, false);
	if (eoff == InvalidOffsetNumber)
		add_item_failed(index);
	OffsetNumber noff = PageAddItem(npage, Item(ntup), nsize, InvalidOffsetNumber, false, false);
	if (noff == InvalidOffsetNumber)
		add_item_failed(index);
	ItemPointerSet(&item_element(page, eoff)->neighbourtid, nblk, noff);
	return eoff;
}

// A deleted element on this (exclusively locked) page whose slots the new tuples fit: overwrite
// them, keeping the slot's version (vacuum bumped it), and return its offset. `has_deleted` tells
// whether the page has a freed slot at all (one a smaller element may take).
OffsetNumber try_reuse(Relation index, Buffer buf, char *etup, Size esize, HnswNeighbourTuple ntup, Size nsize,
					   bool building, bool *has_deleted)
{
	*has_deleted = false;
	Page page = BufferGetPage(buf);
	BlockNumber blk = BufferGetBlockNumber(buf);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
		ItemId iid = PageGetItemId(page, off);
		if (!ItemIdIsNormal(iid))
			continue;
		auto *e = reinterpret_cast<HnswElementTuple>(PageGetItem(page, iid));
		if (e->type != kElementTuple || !e->deleted)
			continue;
		*has_deleted = true;
		if (ItemIdGetLength(iid) < esize)
			continue;
		BlockNumber nblk = ItemPointerGetBlockNumber(&e->neighbourtid);
		OffsetNumber noff = ItemPointerGetOffsetNumber(&e->neighbourtid);
		Buffer nbuf = buf;
		if (nblk != blk) {
			nbuf = ReadBuffer(index, nblk);
			// Another insert may hold that page while it waits for this one: never wait here.
			if (!ConditionalLockBuffer(nbuf)) {
				ReleaseBuffer(nbuf);
				continue;
			}
		}
		Page np = BufferGetPage(nbuf);
		bool fits = false;
		if (noff >= FirstOffsetNumber && noff <= PageGetMaxOffsetNumber(np)) {
			ItemId niid = PageGetItemId(np, noff);
			auto *nt = reinterpret_cast<HnswNeighbourTuple>(PageGetItem(np, niid));
			fits = ItemIdIsNormal(niid) && nt->type == kNeighbourTuple && ItemIdGetLength(niid) >= nsize;
		}
		if (!fits) {
			if (nbuf != buf)
				UnlockReleaseBuffer(nbuf);
			continue;
		}
		PageEdit edit(index, building);
		Page p = edit.add(buf);
		Page pn = nbuf == buf ? p : edit.add(nbuf);
		auto *et = reinterpret_cast<HnswElementTuple>(etup);
		et->version = reinterpret_cast<HnswElementTuple>(PageGetItem(p, PageGetItemId(p, off)))->version;
		ntup->version = et->version;
		et->neighbourtid = e->neighbourtid;
		if (!PageIndexTupleOverwrite(p, off, Item(etup), esize) || !PageIndexTupleOverwrite(pn, noff, Item(ntup), nsize)) {
			edit.abort();
			add_item_failed(index);
		}
		edit.finish();
		if (nbuf != buf)
			UnlockReleaseBuffer(nbuf);
		return off;
	}
	return InvalidOffsetNumber;
}

// Add a heap TID to an existing element with the same value; false when it cannot take one
// (deleted or being deleted meanwhile, or already holding kMaxHeapTids).
bool add_heap_tid(Relation index, const Element *e, const ItemPointerData &heap_tid, bool building)
{
	ItemPointerData tid = key_tid(e->key);
	Buffer buf = ReadBuffer(index, ItemPointerGetBlockNumber(&tid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	Page page = BufferGetPage(buf);
	OffsetNumber off = ItemPointerGetOffsetNumber(&tid);
	bool done = false;
	if (off <= PageGetMaxOffsetNumber(page) && ItemIdIsNormal(PageGetItemId(page, off))) {
		HnswElementTuple et = item_element(page, off);
		int free_slot = -1, used = 0;
		for (int i = 0; i < kMaxHeapTids; i++) {
			if (ItemPointerIsValid(&et->heaptids[i]))
				used++;
			else if (free_slot < 0)
				free_slot = i;
		}
		if (et->type == kElementTuple && !et->deleted && et->version == e->version && used > 0 && free_slot >= 0) {
			PageEdit edit(index, building);
			page = edit.add(buf);
			item_element(page, off)->heaptids[free_slot] = heap_tid;
			edit.finish();
			done = true;
		}
	}
	UnlockReleaseBuffer(buf);
	return done;
}

// The raw slots of one layer of an element's neighbour tuple; false when the tuple no longer
// belongs to the element (its slot was reused).
bool read_slots(Relation index, int m, const Element *e, int layer, ItemPointerData *slots)
{
	Buffer buf = ReadBuffer(index, ItemPointerGetBlockNumber(&e->neighbourtid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	Page page = BufferGetPage(buf);
	OffsetNumber off = ItemPointerGetOffsetNumber(&e->neighbourtid);
	bool ok = false;
	if (off <= PageGetMaxOffsetNumber(page) && ItemIdIsNormal(PageGetItemId(page, off))) {
		auto *nt = reinterpret_cast<HnswNeighbourTuple>(PageGetItem(page, PageGetItemId(page, off)));
		if (nt->type == kNeighbourTuple && nt->version == e->version && nt->count == graph::link_slots(uint32(m), e->level)) {
			memcpy(slots, nt->tids + graph::layer_offset(uint32(m), uint32(layer)), sizeof(ItemPointerData) * Size(layer_m(m, layer)));
			ok = true;
		}
	}
	UnlockReleaseBuffer(buf);
	return ok;
}

}  // namespace

// Link neighbour `n` back to the new element in `layer`: a free slot, or the slot of the
// neighbour the heuristic prunes from its list plus the new element (nothing when that is the new
// element, unless `force`: then the farthest one's). The slot is written only if the whole list
// still holds what was read; a list changed by a concurrent insert meanwhile is read again (a few
// times), so concurrent inserts do not silently drop each other's links, nor prune two members
// where one decision over the current list prunes one (checking only the slot written let two
// inserts each replace a member on the same stale list: in tests/sh/100's fill by 4 sessions, 5 of
// 22 fills lost part of a cluster, recall@10 at ef_search 100 0.975-0.983; with the whole list
// checked 1 of 32 did (0.975). Serial fills of the same rows give 1.000 in any order.)
enum class LinkResult { linked, pruned, gone, raced };
LinkResult link_back_once(Search &s, Element *n, int layer, const ItemPointerData &new_tid, const std::byte *new_row,
                          bool building, bool force);

bool link_back(Search &s, Element *n, int layer, const ItemPointerData &new_tid, const std::byte *new_row, bool building,
               bool force)
{
	for (int attempt = 0; attempt < 4; attempt++) {
		switch (link_back_once(s, n, layer, new_tid, new_row, building, force)) {
		case LinkResult::linked:
			return true;
		case LinkResult::pruned:
		case LinkResult::gone:
			return false;
		case LinkResult::raced:
			break;
		}
	}
	return false;
}

LinkResult link_back_once(Search &s, Element *n, int layer, const ItemPointerData &new_tid, const std::byte *new_row,
                          bool building, bool force)
{
	Relation index = s.index;
	int lm = layer_m(s.m, layer);
	ItemPointerData *slots = static_cast<ItemPointerData *>(palloc(sizeof(ItemPointerData) * Size(lm)));
	if (!read_slots(index, s.m, n, layer, slots))
		return LinkResult::gone;
	int idx = -1;
	for (int i = 0; i < lm; i++) {
		if (ItemPointerEquals(&slots[i], const_cast<ItemPointer>(&new_tid)))
			return LinkResult::linked;
		if (idx < 0 && !ItemPointerIsValid(&slots[i]))
			idx = i;
	}
	if (idx < 0) {
		// Full: the old neighbours' distances to n, then the heuristic over them and the new one.
		const std::byte *saved = s.query;
		s.query = n->row;
		Element **cands = static_cast<Element **>(palloc(sizeof(Element *) * Size(lm + 1)));
		int *slot_of = static_cast<int *>(palloc(sizeof(int) * Size(lm + 1)));
		int nc = 0;
		for (int i = 0; i < lm && idx < 0; i++) {
			Element *el = s.load(slots[i]);
			if (!el || el->ntids == 0)
				idx = i;  // a neighbour that is (being) deleted goes first
			else {
				slot_of[nc] = i;
				cands[nc++] = el;
			}
		}
		s.query = saved;
		if (idx < 0) {
			Size rs = s.row_size(new_row);
			Element *ne = s.new_element(rs);
			ne->key = tid_key(new_tid);
			ne->distance = s.metric->order(n->row, new_row, Size(s.dim));
			memcpy(ne->row, new_row, rs);
			slot_of[nc] = -1;
			cands[nc++] = ne;
			int *order = static_cast<int *>(palloc(sizeof(int) * Size(nc)));
			for (int i = 0; i < nc; i++)
				order[i] = i;
			std::stable_sort(order, order + nc, [&](int a, int b) { return cands[a]->distance < cands[b]->distance; });
			Element **sorted = static_cast<Element **>(palloc(sizeof(Element *) * Size(nc)));
			for (int i = 0; i < nc; i++)
				sorted[i] = cands[order[i]];
			Element **kept = static_cast<Element **>(palloc(sizeof(Element *) * Size(nc)));
			int nk = select_neighbours(*s.metric, s.dim, sorted, nc, lm, kept);
			for (int i = 0; i < nc && idx < 0; i++) {
				bool in = false;
				for (int j = 0; j < nk && !in; j++)
					in = kept[j] == cands[i];
				if (!in) {
					if (slot_of[i] < 0 && !force)
						return LinkResult::pruned;  // the new element is the one pruned
					if (slot_of[i] >= 0)
						idx = slot_of[i];
				}
			}
			if (idx < 0 && force) {
				// The farthest old neighbour gives up its slot.
				int far = -1;
				for (int i = 0; i < nc; i++)
					if (slot_of[i] >= 0 && (far < 0 || cands[i]->distance > cands[far]->distance))
						far = i;
				if (far >= 0)
					idx = slot_of[far];
			}
			if (idx < 0)
				return LinkResult::pruned;
		}
	}
	LinkResult result = LinkResult::gone;
	Buffer buf = ReadBuffer(index, ItemPointerGetBlockNumber(&n->neighbourtid));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	Page page = BufferGetPage(buf);
	OffsetNumber off = ItemPointerGetOffsetNumber(&n->neighbourtid);
	if (off <= PageGetMaxOffsetNumber(page) && ItemIdIsNormal(PageGetItemId(page, off))) {
		auto *nt = reinterpret_cast<HnswNeighbourTuple>(PageGetItem(page, PageGetItemId(page, off)));
		const Size first = graph::layer_offset(uint32(s.m), uint32(layer)), at = first + Size(idx);
		if (nt->type == kNeighbourTuple && nt->version == n->version && nt->count == graph::link_slots(uint32(s.m), n->level)) {
			if (memcmp(nt->tids + first, slots, sizeof(ItemPointerData) * Size(lm)) == 0) {
				PageEdit edit(index, building);
				page = edit.add(buf);
				reinterpret_cast<HnswNeighbourTuple>(PageGetItem(page, PageGetItemId(page, off)))->tids[at] = new_tid;
				edit.finish();
				result = LinkResult::linked;
			} else {
				result = LinkResult::raced;
			}
		}
	}
	UnlockReleaseBuffer(buf);
	return result;
}

ItemPointerData place_element(Relation index, const HnswMetaPage &meta, char *etup, Size esize, HnswNeighbourTuple ntup,
							  Size nsize, bool building)
{
	constexpr Size kItemId = sizeof(ItemIdData);
	bool can_share = esize + nsize + 2 * kItemId <= kPageDataSpace;
	// What a level-0 element needs: the insert page moves to the first page that still has it.
	Size min_pair = esize + neighbour_tuple_size(meta.m, 0) + kItemId;
	BlockNumber blk = meta.insert_page != InvalidBlockNumber ? meta.insert_page : kFirstElementBlock;
	BlockNumber first_room = InvalidBlockNumber;
	ItemPointerData etid;
	for (;;) {
		CHECK_FOR_INTERRUPTS();
		Buffer buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		Page page = BufferGetPage(buf);
		Size free = PageGetFreeSpace(page);
		if (can_share && free >= esize + nsize + kItemId) {
			PageEdit edit(index, building);
			page = edit.add(buf);
			OffsetNumber eoff = add_pair(index, page, blk, page, etup, esize, ntup, nsize);
			edit.finish();
			if (first_room == InvalidBlockNumber && PageGetFreeSpace(page) >= min_pair)
				first_room = blk;
			UnlockReleaseBuffer(buf);
			ItemPointerSet(&etid, blk, eoff);
			break;
		}
		bool has_deleted;
		if (OffsetNumber off = try_reuse(index, buf, etup, esize, ntup, nsize, building, &has_deleted);
			off != InvalidOffsetNumber) {
			UnlockReleaseBuffer(buf);
			ItemPointerSet(&etid, blk, off);
			break;
		}
		// A freed slot this element does not fit (its neighbour tuple is too small for its level)
		// may fit the next: inserts keep starting here, as pgvector's.
		if (first_room == InvalidBlockNumber && (free >= min_pair || has_deleted))
			first_room = blk;
		BlockNumber next = page_opaque(page)->next;
		if (next != InvalidBlockNumber) {
			UnlockReleaseBuffer(buf);
			blk = next;
			continue;
		}
		// The last page: extend (holding its lock keeps other inserts from chaining a page too).
		bool element_here = !can_share && free >= esize + kItemId;
		int new_pages = element_here ? 1 : (can_share ? 1 : 2);
		Buffer nb[2];
		LockRelationForExtension(index, ExclusiveLock);
		for (int i = 0; i < new_pages; i++)
			nb[i] = new_buffer(index);
		UnlockRelationForExtension(index, ExclusiveLock);
		PageEdit edit(index, building);
		page = edit.add(buf);
		Page np[2];
		for (int i = 0; i < new_pages; i++) {
			np[i] = edit.add(nb[i], true);
			init_page(np[i]);
		}
		page_opaque(page)->next = BufferGetBlockNumber(nb[0]);
		if (new_pages == 2)
			page_opaque(np[0])->next = BufferGetBlockNumber(nb[1]);
		Page epage = element_here ? page : np[0];
		BlockNumber eblk = element_here ? blk : BufferGetBlockNumber(nb[0]);
		int ni = element_here ? 0 : (can_share ? 0 : 1);
		OffsetNumber eoff = add_pair(index, epage, BufferGetBlockNumber(nb[ni]), np[ni], etup, esize, ntup, nsize);
		edit.finish();
		if (first_room == InvalidBlockNumber)
			first_room = BufferGetBlockNumber(nb[new_pages - 1]);
		for (int i = 0; i < new_pages; i++)
			UnlockReleaseBuffer(nb[i]);
		UnlockReleaseBuffer(buf);
		ItemPointerSet(&etid, eblk, eoff);
		break;
	}
	if (first_room != InvalidBlockNumber && first_room != meta.insert_page)
		update_meta(index, building, nullptr, 0, false, first_room);
	return etid;
}

Neighbours find_neighbours(Search &s, const HnswMetaPage &meta, int level, int ef)
{
	int m = s.m;
	Neighbours nb;
	nb.sel = static_cast<Element ***>(palloc0(sizeof(Element **) * Size(level + 1)));
	nb.n = static_cast<int *>(palloc0(sizeof(int) * Size(level + 1)));
	nb.layer0 = nullptr;
	nb.nlayer0 = 0;
	Element *ep = nullptr;
	if (meta.entry_blkno != InvalidBlockNumber) {
		ItemPointerData entry;
		ItemPointerSet(&entry, meta.entry_blkno, meta.entry_offno);
		ep = s.load(entry);
	}
	if (!ep)
		return nb;
	// Entered as a query enters layer 0 (Search::enter), not by pgvector's single greedy path: that
	// path can end in a neighbouring cluster, and rows inserted in a grouped order (a table loaded
	// cluster by cluster) then split their cluster in two, the first rows linked only there and
	// the later ones, entering elsewhere, never finding them. tests/sh/100's 2000 cluster-ordered
	// rows inserted into an empty index: recall@10 over all rows at ef_search 40 / 100 0.978 /
	// 0.991 on average in 8 fills with the single path, 0.990 / 0.996 so; builds past
	// maintenance_work_mem (538 rows built by the worker, the rest inserted) 0.986 / 0.993 and
	// 0.995 / 0.999 in 10-20 builds.
	Element **entries;
	int nentries = s.enter(ep, meta.entry_level, &entries, std::min<int>(level, meta.entry_level));
	for (int layer = std::min<int>(level, meta.entry_level); layer >= 0; layer--) {
		Element **w;
		int n = s.search_layer(entries, nentries, ef, layer, &w, true);
		// Elements being deleted guide the search but get no new links (nor does the element
		// vacuum repairs, s.skip, link to itself).
		Element **live = static_cast<Element **>(palloc(sizeof(Element *) * Size(std::max(n, 1))));
		int nlive = 0;
		for (int i = 0; i < n; i++)
			if (w[i]->ntids > 0 && w[i]->key != s.skip)
				live[nlive++] = w[i];
		int lm = layer_m(m, layer);
		nb.sel[layer] = static_cast<Element **>(palloc(sizeof(Element *) * Size(lm)));
		nb.n[layer] = select_neighbours(*s.metric, s.dim, live, nlive, lm, nb.sel[layer]);
		if (n > 0) {  // (a vacuum repair's search may find only elements being deleted)
			entries = w;
			nentries = n;
		}
		nb.layer0 = live;
		nb.nlayer0 = nlive;
	}
	return nb;
}

void insert_row(Relation index, const std::byte *row, const ItemPointerData &heap_tid, bool building)
{
	LOCKMODE lockmode = ShareLock;
	LockPage(index, kUpdateLock, lockmode);
	HnswMetaPage meta = read_meta(index);
	int m = meta.m;
	int level = random_level(m);
	// A new entry point is possible: serialise with the other inserts that may change it.
	if (meta.entry_blkno == InvalidBlockNumber || level > meta.entry_level) {
		UnlockPage(index, kUpdateLock, lockmode);
		lockmode = ExclusiveLock;
		LockPage(index, kUpdateLock, lockmode);
		meta = read_meta(index);
	}
	const MetricInfo &metric = meta_metric(index, meta);
	int dim = int(meta.dimensions);
	int ef = index_options(index)->ef_construction;

	Search s;
	s.init(index, metric, dim, m, row, true, CurrentMemoryContext);
	Neighbours nb = find_neighbours(s, meta, level, ef);
	Element ***sel = nb.sel;
	int *nsel = nb.n;
	// A byte-identical value already indexed takes this heap TID too (up to kMaxHeapTids).
	Size rs = s.row_size(row);
	for (int i = 0; i < nb.nlayer0; i++)
		if (s.row_size(nb.layer0[i]->row) == rs && memcmp(nb.layer0[i]->row, row, rs) == 0 &&
			add_heap_tid(index, nb.layer0[i], heap_tid, building)) {
			UnlockPage(index, kUpdateLock, lockmode);
			return;
		}

	Size esize = element_tuple_size(rs);
	Size nsize = neighbour_tuple_size(m, level);
	if (esize > kPageDataSpace - sizeof(ItemIdData))
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("index tuple too large")));
	char *etup = static_cast<char *>(palloc0(esize));
	auto *et = reinterpret_cast<HnswElementTuple>(etup);
	et->type = kElementTuple;
	et->level = uint8(level);
	for (int i = 0; i < kMaxHeapTids; i++)
		ItemPointerSetInvalid(&et->heaptids[i]);
	et->heaptids[0] = heap_tid;
	ItemPointerSetInvalid(&et->neighbourtid);
	memcpy(element_row(et), row, rs);
	auto *nt = static_cast<HnswNeighbourTuple>(palloc0(nsize));
	nt->type = kNeighbourTuple;
	nt->count = uint16(graph::link_slots(uint32(m), uint32(level)));
	for (int i = 0; i < nt->count; i++)
		ItemPointerSetInvalid(&nt->tids[i]);
	for (int layer = 0; layer <= level; layer++)
		for (int i = 0; i < nsel[layer]; i++)
			nt->tids[graph::layer_offset(uint32(m), uint32(layer)) + Size(i)] = key_tid(sel[layer][i]->key);

	ItemPointerData etid = place_element(index, meta, etup, esize, nt, nsize, building);

	bool reachable = false;
	for (int layer = 0; layer <= level; layer++)
		for (int i = 0; i < nsel[layer]; i++)
			reachable |= link_back(s, sel[layer][i], layer, etid, row, building) && layer == 0;
	// Pruned from every neighbour's layer-0 list: the nearest one takes it anyway, or no search
	// could ever reach it (pgvector leaves such elements unreachable until a REINDEX).
	for (int i = 0; !reachable && i < nsel[0]; i++)
		reachable = link_back(s, sel[0][i], 0, etid, row, building, true);

	if (meta.entry_blkno == InvalidBlockNumber || level > meta.entry_level)
		update_meta(index, building, &etid, level, false, InvalidBlockNumber);
	UnlockPage(index, kUpdateLock, lockmode);
}

bool hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid, Relation, IndexUniqueCheck, bool,
				IndexInfo *)
{
	if (isnull[0])
		return false;  // NULLs are not indexed
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ruhnsw insert", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HnswMetaPage meta = read_meta(index);
	const MetricInfo &metric = meta_metric(index, meta);
	// Cosine zero vectors have no direction: not indexed, as pgvector's.
	if (std::byte *row = value_row(metric, values[0], int(meta.dimensions), false))
		insert_row(index, row, *heap_tid, false);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return false;
}

}  // namespace ruvector::hnsw
