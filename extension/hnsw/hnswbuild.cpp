// ruhnsw build: read the heap, build the graph on the worker, write it to the pages.
//
//   1. loading   one heap scan (the caller's snapshot); every indexed row is prepared (normalised
//                for cosine) and kept; byte-identical rows share one element of up to
//                kMaxHeapTids heap TIDs
//   2. graph     the rows go to the worker, which builds the graph on its threads
//                (worker/kernels/hnsw_graph.hpp) and returns levels and links as node numbers
//   3. writing   elements in node order, each with its neighbour tuple (on the same page when both
//                fit, else the neighbour tuple starts the next page), then a second pass fills the
//                neighbour TIDs; the meta page gets the entry point
// When the rows and the graph stop fitting in maintenance_work_mem, the rows kept so far are built
// and written, pgvector's NOTICE says so, and every later row goes through the on-disk insert.
// Nothing is WAL-logged during the build; the pages are logged at the end (log_newpage_range), as
// pgvector's build does.
#include "extension/hnsw/hnswutils.hpp"
#include "extension/client/worker_client.hpp"
#include "shmem/codec/request_checks.hpp"

extern "C" {
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
}

#include <algorithm>

namespace ruvector::hnsw {

namespace {

struct BuildState {
	Relation index;
	const MetricInfo *metric;
	int dim;
	int m;
	int ef_construction;
	Size row_bytes;
	std::byte *row;
	float *scratch;
	MemoryContext tmp_cxt;  // reset per row
	double indexed;         // heap rows indexed (pgvector's tuple count)

	// Elements kept for the worker: rows, heap TIDs, and a hash of the rows for duplicates.
	std::byte *rows;
	ItemPointerData *tids;  // kMaxHeapTids per element
	uint8 *ntids;
	Size n, capacity;
	Size expected;          // elements the table's row estimate (reltuples) says to make room for
	uint32 *slots;          // element + 1, 0 empty
	Size slot_mask;
	Size budget;            // maintenance_work_mem in bytes
	bool spilled;           // the graph no longer fit: later rows are inserted on disk
};

proto::HnswBuildRequest build_request(const BuildState *bs, Size n)
{
	proto::HnswBuildRequest req;
	req.n = n;
	req.dim = uint32(bs->dim);
	req.metric = bs->metric->code();
	req.m = uint32(bs->m);
	req.ef_construction = uint32(bs->ef_construction);
	req.max_level = uint32(max_level(bs->m));
	req.seed = 42;
	req.memory_budget = bs->budget;
	return req;
}

// What n kept elements take: the worker's rows and graph, and here the rows again, their heap
// TIDs and the duplicate hash.
Size kept_bytes(const BuildState *bs, Size n)
{
	return Size(proto::hnsw_build_bytes(build_request(bs, n))) +
		   n * (bs->row_bytes + sizeof(ItemPointerData) * kMaxHeapTids + 1 + 4 * sizeof(uint32));
}

// pgvector's checks, in its order and with its messages.
void check_build(Relation index, const MetricInfo &metric, int *dim, int *m, int *ef_construction)
{
	*dim = index_dimensions(index);
	if (*dim < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("column does not have dimensions"),
						errhint("Declare the column with a dimension, e.g. vector(3), or index an expression cast to one.")));
	// pgvector's limits (2000 vector, 4000 halfvec, 64000 bit): an element must fit one page.
	// (sparsevec: up to its type's 1,000,000,000; the non-zero elements are limited instead.)
	int max_dim = int(64000 / metric.element().bits);
	if (!metric.element().variable_size() && *dim > max_dim)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("column cannot have more than %d dimensions for hnsw index", max_dim),
						errdetail("Each element holds the whole value and must fit in one %d-byte index page.", BLCKSZ)));
	*m = index_options(index)->m;
	*ef_construction = index_options(index)->ef_construction;
	if (*ef_construction < 2 * *m)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("ef_construction must be greater than or equal to 2 * m"),
						errhint("Raise ef_construction to at least %d, or lower m.", 2 * *m)));
}

// The meta page and the first (empty) element page of a new fork.
// `table`: the table's statistics counters (none for an init fork).
void write_first_pages(Relation index, ForkNumber fork, const MetricInfo &metric, int dim, int m, int ef_construction,
					   const TableCounters &table = {})
{
	Buffer mbuf = new_buffer(index, fork);
	Buffer ebuf = new_buffer(index, fork);
	if (BufferGetBlockNumber(mbuf) != kMetaBlock || BufferGetBlockNumber(ebuf) != kFirstElementBlock)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	Page page = BufferGetPage(mbuf);
	init_page(page);
	HnswMetaPage *meta = meta_of(page);
	memset(meta, 0, sizeof *meta);
	meta->magic = kMagic;
	meta->layout_version = kLayoutVersion;
	meta->dimensions = uint32(dim);
	meta->m = uint16(m);
	meta->ef_construction = uint16(ef_construction);
	meta->metric = uint16(metric.code());
	meta->entry_blkno = InvalidBlockNumber;
	meta->entry_offno = InvalidOffsetNumber;
	meta->entry_level = -1;
	meta->insert_page = kFirstElementBlock;
	meta->stamp = new_build_stamp();
	meta->table_at_build = table;
	// pd_lower covers the meta data, so full-page images and generic WAL keep it.
	reinterpret_cast<PageHeader>(page)->pd_lower = uint16(reinterpret_cast<char *>(meta + 1) - page);
	init_page(BufferGetPage(ebuf));
	MarkBufferDirty(mbuf);
	MarkBufferDirty(ebuf);
	UnlockReleaseBuffer(ebuf);
	UnlockReleaseBuffer(mbuf);
}

/* Writing the worker's graph */

// Element pages appended to the chain, through shared buffers (no WAL: logged at the end).
// A dry writer places the same items on a private copy of the page instead and only counts the
// pages: the relation is then extended once, to its final length (one write at the last block,
// the blocks before it a hole, as hash indexes allocate buckets), and each new page is a zeroed
// buffer of a block the file already has: no write and no size check per page (the checkpoint
// writes them).
struct ChainWriter {
	Relation index;
	bool dry;
	Buffer buf = InvalidBuffer;
	Page page;
	BlockNumber blkno;
	BlockNumber nblocks;  // the relation's blocks (the dry writer: those it placed)
	PGAlignedBlock copy;  // the dry writer's page

	// Continue on element page `last` (block 1 right after write_first_pages), the relation's last
	// before the dry run.
	ChainWriter(Relation rel, BlockNumber last, bool count_only) : index(rel), dry(count_only), blkno(last)
	{
		nblocks = RelationGetNumberOfBlocks(rel);
		Buffer b = ReadBuffer(rel, blkno);
		LockBuffer(b, dry ? BUFFER_LOCK_SHARE : BUFFER_LOCK_EXCLUSIVE);
		if (dry) {
			memcpy(copy.data, BufferGetPage(b), BLCKSZ);
			UnlockReleaseBuffer(b);
			page = copy.data;
		} else {
			buf = b;
			page = BufferGetPage(buf);
		}
	}
	BlockNumber block() const { return blkno; }
	void next_page()
	{
		if (dry) {
			nblocks = ++blkno + 1;
			init_page(page);
			return;
		}
		Buffer nb;
		if (blkno + 1 < nblocks)
			nb = ReadBufferExtended(index, MAIN_FORKNUM, blkno + 1, RBM_ZERO_AND_LOCK, nullptr);
		else {
			nb = new_buffer(index);
			nblocks = BufferGetBlockNumber(nb) + 1;
		}
		init_page(BufferGetPage(nb));
		page_opaque(page)->next = BufferGetBlockNumber(nb);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		buf = nb;
		blkno = BufferGetBlockNumber(nb);
		page = BufferGetPage(nb);
	}
	OffsetNumber add(const void *item, Size size)
	{
		OffsetNumber off = PageAddItem(page, Item(item), size, InvalidOffsetNumber, false, false);
		if (off == InvalidOffsetNumber)
			elog(ERROR, "failed to add index item to \"%s\"", RelationGetRelationName(index));
		return off;
	}
	void finish()
	{
		if (dry)
			return;
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
	// After a dry run: the relation extended to the blocks it placed.
	void extend_to_count() const
	{
		if (nblocks <= RelationGetNumberOfBlocks(index))
			return;
		PGAlignedBlock zero{};
		smgrextend(RelationGetSmgr(index), MAIN_FORKNUM, nblocks - 1, zero.data, false);
	}
};

// Layer-0 links added so that every element is reachable from the entry point: the worker's graph
// can leave an element no other one links to (or a small group linking only among itself), which no
// search would ever find. Each such element gets a link from the first of its own layer-0
// neighbours that is reachable: a free slot, or the last slot whose element has other in-links.
struct Patches {
	int32 *head;   // per node: first patch of its layer-0 list, -1 none
	int32 *next;
	uint16 *slot;
	int32 *target;
	Size count, capacity;
	Size unreachable;  // before patching
};

template <class G>
int32 link0(const G &g, const Patches &p, Size v, Size s)
{
	for (int32 i = p.head[v]; i >= 0; i = p.next[i])
		if (p.slot[i] == s)
			return p.target[i];
	return g.neighbours(v, 0)[s];
}

template <class G>
Patches connect_graph(const G &g, Size n, int m)
{
	Patches p{};
	p.head = static_cast<int32 *>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (n + 1)));
	memset(p.head, 0xFF, sizeof(int32) * (n + 1));
	if (n == 0 || g.entry < 0)
		return p;
	Size lm = Size(2 * m);
	int32 *indeg = static_cast<int32 *>(MemoryContextAllocExtended(CurrentMemoryContext, sizeof(int32) * n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO));
	bool *reach = static_cast<bool *>(MemoryContextAllocExtended(CurrentMemoryContext, n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO));
	int32 *stack = static_cast<int32 *>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * n));
	for (Size v = 0; v < n; v++)
		for (int32 x : g.neighbours(v, 0))
			if (x >= 0)
				indeg[x]++;
	auto visit = [&](Size start) {
		Size top = 0;
		reach[start] = true;
		stack[top++] = int32(start);
		while (top > 0) {
			Size v = Size(stack[--top]);
			for (Size s = 0; s < lm; s++) {
				int32 x = link0(g, p, v, s);
				if (x >= 0 && !reach[x]) {
					reach[x] = true;
					stack[top++] = x;
				}
			}
		}
	};
	visit(Size(g.entry));
	for (Size u = 0; u < n; u++)
		p.unreachable += !reach[u];
	for (bool progress = p.unreachable > 0; progress;) {
		progress = false;
		for (Size u = 0; u < n; u++) {
			if (reach[u])
				continue;
			for (int32 x : g.neighbours(u, 0)) {
				if (x < 0 || !reach[x])
					continue;
				int64 use = -1;
				for (Size s = 0; s < lm && use < 0; s++)
					if (link0(g, p, Size(x), s) < 0)
						use = int64(s);
				for (Size s = lm; s-- > 0 && use < 0;) {
					int32 w = link0(g, p, Size(x), s);
					if (w >= 0 && indeg[w] > 1)
						use = int64(s);
				}
				if (use < 0)
					continue;
				int32 victim = link0(g, p, Size(x), Size(use));
				if (victim >= 0)
					indeg[victim]--;
				if (p.count == p.capacity) {
					p.capacity = std::max<Size>(p.capacity * 2, 64);
					p.next = static_cast<int32 *>(p.next ? repalloc_huge(p.next, sizeof(int32) * p.capacity) : palloc(sizeof(int32) * p.capacity));
					p.slot = static_cast<uint16 *>(p.slot ? repalloc_huge(p.slot, sizeof(uint16) * p.capacity) : palloc(sizeof(uint16) * p.capacity));
					p.target = static_cast<int32 *>(p.target ? repalloc_huge(p.target, sizeof(int32) * p.capacity) : palloc(sizeof(int32) * p.capacity));
				}
				// A later patch of the same slot comes first in the chain, so it wins.
				p.next[p.count] = p.head[x];
				p.slot[p.count] = uint16(use);
				p.target[p.count] = int32(u);
				p.head[x] = int32(p.count++);
				indeg[u]++;
				visit(u);
				progress = true;
				break;
			}
		}
	}
	pfree(stack);
	pfree(reach);
	pfree(indeg);
	return p;
}

// G: the worker's reply (proto::HnswGraphReply): n, entry, level(node), neighbours(node, layer).
template <class G>
void write_graph(BuildState *bs, const G &g)
{
	Relation index = bs->index;
	Size n = Size(g.n);
	int m = bs->m;
	Size esize = element_tuple_size(bs->row_bytes);
	auto *etids = static_cast<ItemPointerData *>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(ItemPointerData) * (n + 1)));
	auto *ntids = static_cast<ItemPointerData *>(MemoryContextAllocHuge(CurrentMemoryContext, sizeof(ItemPointerData) * (n + 1)));
	char *etup = static_cast<char *>(palloc0(esize));
	auto *nt = static_cast<HnswNeighbourTuple>(palloc0(neighbour_tuple_size(m, max_level(m))));
	auto *et = reinterpret_cast<HnswElementTuple>(etup);

	// Pass 1: elements and empty neighbour tuples, in node order (A.5 placement); counted first
	// (only the sizes matter then), so that the relation is extended once.
	BlockNumber first = RelationGetNumberOfBlocks(index) - 1;
	auto place = [&](ChainWriter &w) {
		for (Size node = 0; node < n; node++) {
			if ((node & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			int level = int(g.level(node));
			Size nsize = neighbour_tuple_size(m, level);
			memset(etup, 0, esize);
			et->type = kElementTuple;
			et->level = uint8(level);
			for (int i = 0; i < kMaxHeapTids; i++) {
				if (i < bs->ntids[node])
					et->heaptids[i] = bs->tids[node * kMaxHeapTids + i];
				else
					ItemPointerSetInvalid(&et->heaptids[i]);
			}
			if (!w.dry)
				memcpy(element_row(et), bs->rows + node * bs->row_bytes, bs->row_bytes);
			memset(nt, 0, nsize);  // its MAXALIGN padding too: the same bytes whatever came before
			nt->type = kNeighbourTuple;
			nt->version = 0;
			nt->count = uint16(graph::link_slots(uint32(m), uint32(level)));
			for (int i = 0; i < nt->count; i++)
				ItemPointerSetInvalid(&nt->tids[i]);

			constexpr Size kItemId = sizeof(ItemIdData);
			bool can_share = esize + nsize + 2 * kItemId <= kPageDataSpace;
			if (PageGetFreeSpace(w.page) < (can_share ? esize + nsize + kItemId : esize))
				w.next_page();
			// Fresh pages fill their line pointers in order: the neighbour tuple's TID is known before
			// either tuple is added (this page's next offset, or the first of the next page).
			OffsetNumber next_off = OffsetNumberNext(PageGetMaxOffsetNumber(w.page));
			if (can_share)
				ItemPointerSet(&ntids[node], w.block(), OffsetNumberNext(next_off));
			else
				ItemPointerSet(&ntids[node], w.block() + 1, FirstOffsetNumber);
			et->neighbourtid = ntids[node];
			ItemPointerSet(&etids[node], w.block(), w.add(etup, esize));
			if (!can_share)
				w.next_page();
			if (w.add(nt, nsize) != ItemPointerGetOffsetNumber(&ntids[node]) || w.block() != ItemPointerGetBlockNumber(&ntids[node]))
				elog(ERROR, "ruhnsw build placed a neighbour tuple unexpectedly");
		}
	};
	{
		ChainWriter counter(index, first, true);
		place(counter);
		counter.extend_to_count();
	}
	ChainWriter w(index, first, false);
	place(w);
	BlockNumber last = w.block();
	w.finish();

	// Pass 2: the links, as index TIDs (consecutive nodes share pages: each page is locked once).
	Patches patches = connect_graph(g, n, m);
	elog(DEBUG1, "ruhnsw build: %zu elements, %zu not reachable from the entry point, %zu layer-0 links added",
		 n, patches.unreachable, patches.count);
	Buffer buf = InvalidBuffer;
	for (Size node = 0; node < n; node++) {
		BlockNumber nblk = ItemPointerGetBlockNumber(&ntids[node]);
		if (!BufferIsValid(buf) || BufferGetBlockNumber(buf) != nblk) {
			if (BufferIsValid(buf)) {
				MarkBufferDirty(buf);
				UnlockReleaseBuffer(buf);
			}
			buf = ReadBuffer(index, nblk);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		}
		Page page = BufferGetPage(buf);
		auto *t = reinterpret_cast<HnswNeighbourTuple>(PageGetItem(page, PageGetItemId(page, ItemPointerGetOffsetNumber(&ntids[node]))));
		for (uint32 layer = 0; layer <= g.level(node); layer++) {
			std::span<const int32_t> links = g.neighbours(node, layer);
			ItemPointerData *slots = t->tids + graph::layer_offset(uint32(m), layer);
			for (Size i = 0; i < links.size(); i++)
				if (links[i] >= 0)
					slots[i] = etids[links[i]];
		}
		for (int32 i = patches.head[node]; i >= 0; i = patches.next[i])
			if (patches.head[node] == i || link0(g, patches, node, patches.slot[i]) == patches.target[i])
				t->tids[patches.slot[i]] = etids[patches.target[i]];
	}
	if (BufferIsValid(buf)) {
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}

	// The meta page: entry point and where inserts start.
	Buffer mbuf = ReadBuffer(index, kMetaBlock);
	LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
	HnswMetaPage *meta = meta_of(BufferGetPage(mbuf));
	if (g.entry >= 0) {
		meta->entry_blkno = ItemPointerGetBlockNumber(&etids[g.entry]);
		meta->entry_offno = ItemPointerGetOffsetNumber(&etids[g.entry]);
		meta->entry_level = int16(g.level(Size(g.entry)));
	}
	meta->insert_page = last;
	meta->built_elements = n;
	MarkBufferDirty(mbuf);
	UnlockReleaseBuffer(mbuf);
	pfree(nt);
	pfree(etup);
	pfree(ntids);
	pfree(etids);
}

// Rows [from, from + count) for the worker's input.
void copy_rows(const void *arg, Size from, Size count, std::byte *dst)
{
	const auto *bs = static_cast<const BuildState *>(arg);
	memcpy(dst, bs->rows + from * bs->row_bytes, count * bs->row_bytes);
}

// Build the kept rows' graph on the worker and write it; the kept rows are freed.
void flush(BuildState *bs)
{
	if (bs->n > 0) {
		proto::HnswGraphReply g = client::hnsw_build(build_request(bs, bs->n), copy_rows, bs);
		write_graph(bs, g);
		client::free_reply(g);
	}
	pfree(bs->rows);
	pfree(bs->tids);
	pfree(bs->ntids);
	pfree(bs->slots);
	bs->rows = nullptr;
	bs->n = bs->capacity = 0;
}

// Keep a prepared row for the worker: a new element, or one more heap TID of an element with the
// same bytes. False when a new element would not fit in maintenance_work_mem.
bool keep_row(BuildState *bs, const ItemPointerData &tid)
{
	uint32 h = uint32(hash_bytes(reinterpret_cast<const unsigned char *>(bs->row), int(bs->row_bytes)));
	Size s = h & bs->slot_mask;
	for (; bs->slots[s] != 0; s = (s + 1) & bs->slot_mask) {
		Size e = bs->slots[s] - 1;
		if (bs->ntids[e] < kMaxHeapTids && memcmp(bs->rows + e * bs->row_bytes, bs->row, bs->row_bytes) == 0) {
			bs->tids[e * kMaxHeapTids + bs->ntids[e]++] = tid;
			return true;
		}
	}
	if (bs->n == bs->capacity) {
		// Room for the table's estimated rows at once (no copy of the rows, no rehash, as they
		// come), then doubling beyond the estimate.
		Size grow = std::max<Size>({bs->capacity * 2, bs->expected, 1024});
		while (grow > bs->capacity && kept_bytes(bs, grow) > bs->budget)
			grow = bs->capacity + (grow - bs->capacity) / 2;
		if (grow <= bs->capacity)
			return false;
		bs->rows = static_cast<std::byte *>(repalloc_huge(bs->rows, grow * bs->row_bytes));
		advise_huge_pages(bs->rows, grow * bs->row_bytes);
		bs->tids = static_cast<ItemPointerData *>(repalloc_huge(bs->tids, grow * kMaxHeapTids * sizeof(ItemPointerData)));
		bs->ntids = static_cast<uint8 *>(repalloc_huge(bs->ntids, grow));
		// The hash at most half full.
		Size nslots = bs->slot_mask + 1;
		if (grow * 2 > nslots) {
			while (grow * 2 > nslots)
				nslots *= 2;
			pfree(bs->slots);
			bs->slots = static_cast<uint32 *>(MemoryContextAllocExtended(CurrentMemoryContext, sizeof(uint32) * nslots,
																		  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO));
			bs->slot_mask = nslots - 1;
			for (Size e = 0; e < bs->n; e++) {
				uint32 eh = uint32(hash_bytes(reinterpret_cast<const unsigned char *>(bs->rows + e * bs->row_bytes), int(bs->row_bytes)));
				Size t = eh & bs->slot_mask;
				while (bs->slots[t] != 0)
					t = (t + 1) & bs->slot_mask;
				bs->slots[t] = uint32(e + 1);
			}
			s = h & bs->slot_mask;
			while (bs->slots[s] != 0)
				s = (s + 1) & bs->slot_mask;
		}
		bs->capacity = grow;
	}
	Size e = bs->n++;
	memcpy(bs->rows + e * bs->row_bytes, bs->row, bs->row_bytes);
	bs->tids[e * kMaxHeapTids] = tid;
	bs->ntids[e] = 1;
	bs->slots[s] = uint32(e + 1);
	return true;
}

void build_row(BuildState *bs, ItemPointer tid, Datum value, bool isnull)
{
	if (isnull)
		return;
	MemoryContext old = MemoryContextSwitchTo(bs->tmp_cxt);
	if (bs->metric->element().variable_size()) {
		// Variable-size rows (sparsevec) take the on-disk insert path: the worker's graph build
		// takes fixed-size rows.
		std::byte *row = value_row(*bs->metric, value, bs->dim, false);
		if (row) {
			insert_row(bs->index, row, *tid, true);
			bs->indexed++;
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, int64(bs->indexed));
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(bs->tmp_cxt);
		return;
	}
	bool indexable = prepare_value(*bs->metric, value, bs->dim, bs->row, bs->scratch, false);
	MemoryContextSwitchTo(old);
	if (indexable) {
		if (!bs->spilled && !keep_row(bs, *tid)) {
			// pgvector's notice, with its count: the heap rows indexed so far.
			ereport(NOTICE, (errmsg("hnsw graph no longer fits into maintenance_work_mem after %lld tuples", (long long) bs->indexed),
							 errdetail("Building will take significantly more time."),
							 errhint("Increase maintenance_work_mem to speed up builds.")));
			flush(bs);
			bs->spilled = true;
		}
		if (bs->spilled) {
			old = MemoryContextSwitchTo(bs->tmp_cxt);
			insert_row(bs->index, bs->row, *tid, true);
			MemoryContextSwitchTo(old);
		}
		bs->indexed++;
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, int64(bs->indexed));
	}
	MemoryContextReset(bs->tmp_cxt);
}

// Called by table_index_build_scan from PostgreSQL code: no C++ exception may unwind through it.
void build_callback(Relation, ItemPointer tid, Datum *values, bool *isnull, bool, void *state)
{
	pg::call_boundary([&] { build_row(static_cast<BuildState *>(state), tid, values[0], isnull[0]); });
}

// After a build without WAL: every page as a full-page image (the init fork always).
void log_pages(Relation index, ForkNumber fork)
{
	if (RelationNeedsWAL(index) || fork == INIT_FORKNUM)
		log_newpage_range(index, fork, 0, RelationGetNumberOfBlocksInFork(index, fork), true);
}

}  // namespace

IndexBuildResult *hnswbuild(Relation heap, Relation index, IndexInfo *info)
{
	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	const MetricInfo &metric = index_metric(index);
	BuildState bs{};
	check_build(index, metric, &bs.dim, &bs.m, &bs.ef_construction);
	require_worker_support();
	bs.index = index;
	bs.metric = &metric;
	bs.row_bytes = metric.row_bytes(Size(bs.dim));
	bs.budget = Size(maintenance_work_mem) * 1024;
	// reltuples: -1 when never vacuumed or analysed; a margin for rows added since (ruivfflat's).
	if (heap->rd_rel->reltuples > 0)
		bs.expected = Size(heap->rd_rel->reltuples * 1.05) + 1024;

	MemoryContext build_cxt = AllocSetContextCreate(CurrentMemoryContext, "ruhnsw build", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(build_cxt);
	bs.tmp_cxt = AllocSetContextCreate(build_cxt, "ruhnsw build row", ALLOCSET_DEFAULT_SIZES);
	if (metric.element().variable_size()) {
		bs.spilled = true;  // every row through the on-disk insert (build_row)
	} else {
		bs.row = static_cast<std::byte *>(palloc(MAXALIGN(bs.row_bytes)));
		bs.scratch = static_cast<float *>(palloc(sizeof(float) * Size(bs.dim)));
		bs.rows = static_cast<std::byte *>(palloc(MAXALIGN(bs.row_bytes)));
		bs.tids = static_cast<ItemPointerData *>(palloc(sizeof(ItemPointerData) * kMaxHeapTids));
		bs.ntids = static_cast<uint8 *>(palloc(1));
		bs.slots = static_cast<uint32 *>(palloc0(sizeof(uint32) * 2));
		bs.slot_mask = 1;
	}

	write_first_pages(index, MAIN_FORKNUM, metric, bs.dim, bs.m, bs.ef_construction, table_counters(RelationGetRelid(heap)));
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, kPhaseLoad);
	double reltuples = table_index_build_scan(heap, index, info, true, true, build_callback, &bs, nullptr);
	if (!bs.spilled)
		flush(&bs);
	{
		Buffer mbuf = ReadBuffer(index, kMetaBlock);
		LockBuffer(mbuf, BUFFER_LOCK_EXCLUSIVE);
		meta_of(BufferGetPage(mbuf))->built_rows = uint64(bs.indexed);
		MarkBufferDirty(mbuf);
		UnlockReleaseBuffer(mbuf);
	}
	log_pages(index, MAIN_FORKNUM);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(build_cxt);
	IndexBuildResult *result = static_cast<IndexBuildResult *>(palloc(sizeof(IndexBuildResult)));
	result->heap_tuples = reltuples;
	result->index_tuples = bs.indexed;
	return result;
}

// The init fork of an unlogged index: an empty graph.
void hnswbuildempty(Relation index)
{
	const MetricInfo &metric = index_metric(index);
	int dim, m, ef_construction;
	check_build(index, metric, &dim, &m, &ef_construction);
	write_first_pages(index, INIT_FORKNUM, metric, dim, m, ef_construction);
	log_pages(index, INIT_FORKNUM);
}

}  // namespace ruvector::hnsw
