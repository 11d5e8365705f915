// ruhnsw helpers: pages, the meta page, values, and the graph search on the pages.
#include "extension/hnsw/hnswutils.hpp"

#include "extension/types/sparsevec.hpp"

extern "C" {
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
}

#include <algorithm>
#include <cmath>

namespace ruvector::hnsw {

void init_page(Page page)
{
	PageInit(page, BLCKSZ, sizeof(HnswPageOpaque));
	HnswPageOpaque *op = page_opaque(page);
	op->next = InvalidBlockNumber;
	op->flags = 0;
	op->page_id = kPageId;
}

Buffer new_buffer(Relation index, ForkNumber fork)
{
	Buffer buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, nullptr);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	return buf;
}

HnswMetaPage read_meta(Relation index)
{
	Buffer buf = ReadBuffer(index, kMetaBlock);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	HnswMetaPage meta = *meta_of(BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	if (meta.magic != kMagic || meta.layout_version != kLayoutVersion || meta.m < kMinM || meta.m > kMaxM)
		ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
						errmsg("index \"%s\" is not a valid ruhnsw index", RelationGetRelationName(index)),
						errhint("REINDEX it.")));
	return meta;
}

const MetricInfo &meta_metric(Relation index, const HnswMetaPage &meta) { return stored_metric(index, meta.metric); }

namespace {

// Change the meta page of the build `stamp` (generic WAL) with fn(meta); false (nothing changed)
// when the index was rebuilt since.
template <typename Fn>
bool update_meta_of_build(Relation index, uint64 stamp, Fn &&fn)
{
	Buffer buf = ReadBuffer(index, kMetaBlock);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	PageEdit edit(index, false);
	Page page = edit.add(buf);
	HnswMetaPage *m = meta_of(page);
	if (m->stamp != stamp) {
		edit.abort();
		UnlockReleaseBuffer(buf);
		return false;
	}
	cover_meta(page, sizeof(HnswMetaPage));  // written before the fields added since layout 1
	fn(*m);
	edit.finish();
	UnlockReleaseBuffer(buf);
	return true;
}

}  // namespace

void write_recall_curve(Relation index, uint64 stamp, const RecallCurve &curve)
{
	if (!update_meta_of_build(index, stamp, [&](HnswMetaPage &m) { m.curve = curve; }))
		report_rebuilt_while_measured(index);  // the curve is of another build
}

bool write_recall_estimate(Relation index, uint64 stamp, const RecallEstimate &estimate)
{
	return update_meta_of_build(index, stamp, [&](HnswMetaPage &m) { m.recall = estimate; });
}

/* PageEdit */

PageEdit::PageEdit(Relation index, bool building) : wal(!building), state(nullptr), n(0)
{
	if (wal)
		state = GenericXLogStart(index);
}

Page PageEdit::add(Buffer buf, bool new_page)
{
	bufs[n++] = buf;
	if (wal)
		return GenericXLogRegisterBuffer(state, buf, new_page ? GENERIC_XLOG_FULL_IMAGE : 0);
	return BufferGetPage(buf);
}

void PageEdit::finish()
{
	if (wal)
		GenericXLogFinish(state);
	else
		for (int i = 0; i < n; i++)
			MarkBufferDirty(bufs[i]);
}

void PageEdit::abort()
{
	if (wal)
		GenericXLogAbort(state);
}

void update_meta(Relation index, bool building, const ItemPointerData *entry, int level, bool force_entry,
				 BlockNumber insert_page)
{
	Buffer buf = ReadBuffer(index, kMetaBlock);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	HnswMetaPage *cur = meta_of(BufferGetPage(buf));
	bool set_entry = entry && (force_entry || cur->entry_blkno == InvalidBlockNumber || level > cur->entry_level);
	bool set_insert = insert_page != InvalidBlockNumber &&
					  (cur->insert_page == InvalidBlockNumber || insert_page > cur->insert_page);
	if (!set_entry && !set_insert) {
		UnlockReleaseBuffer(buf);
		return;
	}
	PageEdit edit(index, building);
	HnswMetaPage *meta = meta_of(edit.add(buf));
	if (set_entry) {
		if (ItemPointerIsValid(entry)) {
			meta->entry_blkno = ItemPointerGetBlockNumber(entry);
			meta->entry_offno = ItemPointerGetOffsetNumber(entry);
			meta->entry_level = int16(level);
		} else {
			meta->entry_blkno = InvalidBlockNumber;
			meta->entry_offno = InvalidOffsetNumber;
			meta->entry_level = -1;
		}
	}
	if (set_insert)
		meta->insert_page = insert_page;
	edit.finish();
	UnlockReleaseBuffer(buf);
}

/* Values */

bool prepare_value(const MetricInfo &metric, Datum value, int dim, std::byte *row, float *scratch, bool query)
{
	value_floats(metric, value, dim, scratch, query);
	bool indexable = prepare_vector(metric, scratch, dim, scratch);
	metric.element().from_float(scratch, row, Size(dim));
	return indexable;
}

namespace {

// A sparsevec row: the value after its varlena header, as the metric table's sparse rows are.
std::byte *sparse_value_row(const MetricInfo &metric, Datum value, int dim, bool query)
{
	SparseVector *v = datum_get_sparsevec(value);
	if (v->dim != dim) {
		if (query)
			check_same_dims(dim, v->dim, "sparsevec");
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected %d dimensions, not %d", dim, v->dim)));
	}
	if (!query && v->nnz > kMaxSparseNnz)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("sparsevec cannot have more than %d non-zero elements for hnsw index", kMaxSparseNnz),
						errdetail("The value has %d non-zero elements; each element must fit in one index page.", v->nnz),
						errhint("Keep the largest elements of such values, or do not index them.")));
	Size size = VARSIZE(v) - VARHDRSZ;
	auto *row = static_cast<std::byte *>(palloc(MAXALIGN(size)));
	memcpy(row, reinterpret_cast<char *>(v) + VARHDRSZ, size);
	bool indexable = !metric.normalise || metric.normalise_row(row, Size(dim));
	return indexable || query ? row : nullptr;
}

}  // namespace

std::byte *value_row(const MetricInfo &metric, Datum value, int dim, bool query)
{
	if (metric.element().variable_size())
		return sparse_value_row(metric, value, dim, query);
	auto *row = static_cast<std::byte *>(palloc(MAXALIGN(metric.row_bytes(Size(dim)))));
	float *scratch = static_cast<float *>(palloc(sizeof(float) * Size(dim)));
	bool indexable = prepare_value(metric, value, dim, row, scratch, query);
	pfree(scratch);
	return indexable || query ? row : nullptr;
}

int random_level(int m)
{
	double u = 1.0 - pg_prng_double(&pg_global_prng_state);  // (0, 1]
	double level = std::floor(-std::log(u) / std::log(double(m)));
	return int(std::min<double>(level, max_level(m)));
}

/* TidSet */

namespace {
inline uint32 tid_hash(uint64 key) { return uint32((key * 0x9E3779B97F4A7C15ull) >> 32); }
}  // namespace

void TidSet::init(MemoryContext c, uint32 expected)
{
	cxt = c;
	uint32 cap = 64;
	while (cap < expected * 2)
		cap <<= 1;
	slots = static_cast<uint64 *>(MemoryContextAllocZero(cxt, sizeof(uint64) * cap));
	mask = cap - 1;
	count = 0;
}

bool TidSet::insert(uint64 key)
{
	if ((count + 1) * 2 > mask + 1) {
		uint64 *old = slots;
		uint32 oldcap = mask + 1;
		uint32 cap = oldcap * 2;
		slots = static_cast<uint64 *>(MemoryContextAllocExtended(cxt, sizeof(uint64) * cap, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO));
		mask = cap - 1;
		for (uint32 i = 0; i < oldcap; i++)
			if (old[i]) {
				uint32 h = tid_hash(old[i]) & mask;
				while (slots[h])
					h = (h + 1) & mask;
				slots[h] = old[i];
			}
		pfree(old);
	}
	uint32 h = tid_hash(key) & mask;
	while (slots[h]) {
		if (slots[h] == key)
			return false;
		h = (h + 1) & mask;
	}
	slots[h] = key;
	count++;
	return true;
}

bool TidSet::contains(uint64 key) const
{
	uint32 h = tid_hash(key) & mask;
	while (slots[h]) {
		if (slots[h] == key)
			return true;
		h = (h + 1) & mask;
	}
	return false;
}

void TidSet::clear()
{
	memset(slots, 0, sizeof(uint64) * (Size(mask) + 1));
	count = 0;
}

/* ElementHeap */

void ElementHeap::init(MemoryContext c, bool is_max, int cap)
{
	cxt = c;
	max = is_max;
	capacity = std::max(cap, 16);
	size = 0;
	items = static_cast<Element **>(MemoryContextAlloc(cxt, sizeof(Element *) * Size(capacity)));
}

void ElementHeap::push(Element *e)
{
	if (size == capacity) {
		capacity *= 2;
		items = static_cast<Element **>(repalloc_huge(items, sizeof(Element *) * Size(capacity)));
	}
	int i = size++;
	// Sift up: the parent must be nearer (min-heap) or further (max-heap).
	while (i > 0) {
		int p = (i - 1) / 2;
		bool ok = max ? items[p]->distance >= e->distance : items[p]->distance <= e->distance;
		if (ok)
			break;
		items[i] = items[p];
		i = p;
	}
	items[i] = e;
}

Element *ElementHeap::pop()
{
	Element *top = items[0];
	Element *last = items[--size];
	int i = 0;
	for (;;) {
		int l = 2 * i + 1;
		if (l >= size)
			break;
		int c = l;
		if (l + 1 < size) {
			bool right = max ? items[l + 1]->distance > items[l]->distance : items[l + 1]->distance < items[l]->distance;
			if (right)
				c = l + 1;
		}
		bool done = max ? last->distance >= items[c]->distance : last->distance <= items[c]->distance;
		if (done)
			break;
		items[i] = items[c];
		i = c;
	}
	if (size > 0)
		items[i] = last;
	return top;
}

/* Search */

void Search::init(Relation rel, const MetricInfo &mi, int dims, int mm, const std::byte *q, bool rows, MemoryContext c)
{
	index = rel;
	metric = &mi;
	dim = dims;
	m = mm;
	row_bytes = mi.element().variable_size() ? 0 : mi.row_bytes(Size(dims));
	query = q;
	keep_rows = rows;
	cxt = c;
	visited.init(c, 1024);
	discarded.init(c, false, 256);
	recent = RecentBuffers::for_relation(rel);
}

Buffer Search::pin(BlockNumber blk)
{
	return recent->read(index, blk);
}

void *Search::arena_alloc(Size size)
{
	size = MAXALIGN(size);
	if (arena_left < size) {
		Size chunk = std::max<Size>(size * 64, 16384);
		arena = static_cast<char *>(MemoryContextAlloc(cxt, chunk));
		arena_left = chunk;
	}
	void *p = arena;
	arena += size;
	arena_left -= size;
	return p;
}

Element *Search::new_element(Size row_size)
{
	Size size = MAXALIGN(sizeof(Element)) + (keep_rows ? MAXALIGN(row_size) : 0);
	auto *e = static_cast<Element *>(arena_alloc(size));
	e->row = keep_rows ? reinterpret_cast<std::byte *>(e) + MAXALIGN(sizeof(Element)) : nullptr;
	e->links = nullptr;
	e->nlinks = -1;
	return e;
}

namespace {

// The element tuple at `off` of a locked page, or null when the slot holds no live element.
inline const HnswElementTupleData *element_at(Page page, OffsetNumber off)
{
	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return nullptr;
	ItemId iid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(iid))
		return nullptr;
	auto *e = reinterpret_cast<const HnswElementTupleData *>(PageGetItem(page, iid));
	if (e->type != kElementTuple || e->deleted)
		return nullptr;
	return e;
}

inline void fill_element(Element *out, uint64 key, float distance, const HnswElementTupleData *e, Size row_size)
{
	out->key = key;
	out->distance = distance;
	out->level = e->level;
	out->version = e->version;
	out->flag = false;
	out->neighbourtid = e->neighbourtid;
	uint8 n = 0;
	for (int i = 0; i < kMaxHeapTids; i++)
		if (ItemPointerIsValid(&e->heaptids[i]))
			out->heaptids[n++] = e->heaptids[i];
	out->ntids = n;
	if (out->row)
		memcpy(out->row, element_row(e), row_size);
}

}  // namespace

Element *Search::load(const ItemPointerData &tid)
{
	Buffer buf = pin(ItemPointerGetBlockNumber(&tid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	const HnswElementTupleData *e = element_at(BufferGetPage(buf), ItemPointerGetOffsetNumber(&tid));
	Element *out = nullptr;
	if (e) {
		Size rs = row_size(element_row(e));
		out = new_element(rs);
		float d = query ? metric->order(query, element_row(e), Size(dim)) : 0.0f;
		fill_element(out, tid_key(tid), d, e, rs);
	}
	UnlockReleaseBuffer(buf);
	return out;
}

namespace {

// The valid TIDs of one layer of an element's neighbour tuple on a locked page; -1 when the tuple
// there no longer belongs to the element (its slot was reused).
int copy_links(Page page, const Element *e, int m, int layer, ItemPointerData *out)
{
	OffsetNumber off = ItemPointerGetOffsetNumber(&e->neighbourtid);
	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return -1;
	ItemId iid = PageGetItemId(page, off);
	auto *nt = reinterpret_cast<const HnswNeighbourTupleData *>(PageGetItem(page, iid));
	if (!ItemIdIsNormal(iid) || nt->type != kNeighbourTuple || nt->version != e->version ||
		nt->count != graph::link_slots(uint32(m), e->level))
		return -1;
	const ItemPointerData *slots = nt->tids + graph::layer_offset(uint32(m), uint32(layer));
	int lm = layer_m(m, layer), n = 0;
	for (int i = 0; i < lm; i++)
		if (ItemPointerIsValid(&slots[i]))
			out[n++] = slots[i];
	return n;
}

}  // namespace

int Search::neighbours(const Element *e, int layer, ItemPointerData *out)
{
	if (layer > e->level)
		return 0;
	if (e->nlinks >= 0 && e->links_layer == layer) {
		memcpy(out, e->links, sizeof(ItemPointerData) * Size(e->nlinks));
		return e->nlinks;
	}
	Buffer buf = pin(ItemPointerGetBlockNumber(&e->neighbourtid));
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	int n = copy_links(BufferGetPage(buf), e, m, layer, out);
	UnlockReleaseBuffer(buf);
	return n;
}

int Search::search_layer(Element **entries, int nentries, int ef, int layer, Element ***out, bool fresh_visited)
{
	if (fresh_visited)
		visited.clear();
	ElementHeap cand, result;
	cand.init(cxt, false, ef * 2 + nentries);
	result.init(cxt, true, ef + 1 + nentries);
	for (int i = 0; i < nentries; i++) {
		visited.insert(entries[i]->key);
		cand.push(entries[i]);
		if (layer == 0)
			loaded++;
		if (!(skip_deleting && entries[i]->ntids == 0))
			result.push(entries[i]);
	}
	while (result.size > ef) {
		Element *ev = result.pop();
		if (keep_discarded)
			discarded.push(ev);
	}
	int lm = layer_m(m, layer);
	ItemPointerData *tids = static_cast<ItemPointerData *>(palloc(sizeof(ItemPointerData) * Size(lm)));
	uint64 *keys = static_cast<uint64 *>(palloc(sizeof(uint64) * Size(lm)));
	Buffer *bufs = static_cast<Buffer *>(palloc(sizeof(Buffer) * Size(lm)));
	while (!cand.empty()) {
		Element *c = cand.pop();
		if (!result.empty() && c->distance > result.top()->distance && result.size >= ef)
			break;
		int n = neighbours(c, layer, tids);
		if (n <= 0)
			continue;
		// The unvisited ones, by block: each page is locked once for all of its elements.
		int k = 0;
		for (int i = 0; i < n; i++) {
			uint64 key = tid_key(tids[i]);
			if (visited.insert(key))
				keys[k++] = key;
		}
		if (k == 0)
			continue;
		if (k > 1)
			std::sort(keys, keys + k);
		CHECK_FOR_INTERRUPTS();
		// Pin their pages and pull the line pointers, then the tuples, towards the cache before any
		// distance is computed: the misses of all neighbours overlap instead of queueing up. The
		// unlocked reads are only prefetch hints (clamped into the page); the data is read under
		// the share lock below.
		int nb = 0;
		for (int i = 0; i < k; i++) {
			BlockNumber blk = BlockNumber(keys[i] >> 16);
			if (nb == 0 || BufferGetBlockNumber(bufs[nb - 1]) != blk) {
				bufs[nb++] = pin(blk);
				__builtin_prefetch(BufferGetPage(bufs[nb - 1]));
			}
			OffsetNumber off = OffsetNumber(keys[i] & 0xFFFF);
			if (off >= FirstOffsetNumber && off <= MaxOffsetNumber)
				__builtin_prefetch(PageGetItemId(BufferGetPage(bufs[nb - 1]), off));
		}
		for (int i = 0, b = -1; i < k; i++) {
			BlockNumber blk = BlockNumber(keys[i] >> 16);
			if (b < 0 || BufferGetBlockNumber(bufs[b]) != blk)
				b++;
			OffsetNumber off = OffsetNumber(keys[i] & 0xFFFF);
			if (off < FirstOffsetNumber || off > MaxOffsetNumber)
				continue;
			const char *page = BufferGetPage(bufs[b]);
			Size at = ItemIdGetOffset(PageGetItemId(page, off));
			// (variable-size rows: the element's header and the row's start)
			Size end = std::min<Size>(at + sizeof(HnswElementTupleData) + (row_bytes ? row_bytes : 64), BLCKSZ);
			for (Size p = at & ~Size(63); p < end; p += 64)
				__builtin_prefetch(page + p);
		}
		for (int i = 0, b = 0; i < k; b++) {
			BlockNumber blk = BlockNumber(keys[i] >> 16);
			Buffer buf = bufs[b];
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			Page page = BufferGetPage(buf);
			for (; i < k && BlockNumber(keys[i] >> 16) == blk; i++) {
				const HnswElementTupleData *e = element_at(page, OffsetNumber(keys[i] & 0xFFFF));
				if (!e || keys[i] == skip)
					continue;
				if (layer == 0)
					loaded++;
				float d = query ? metric->order(query, element_row(e), Size(dim)) : 0.0f;
				bool admit = result.size < ef || d < result.top()->distance;
				if (!admit && !keep_discarded)
					continue;
				Size rs = row_size(element_row(e));
				Element *el = new_element(rs);
				fill_element(el, keys[i], d, e, rs);
				if (!admit) {
					discarded.push(el);
					continue;
				}
				// It may be expanded: copy its links now if this page holds them.
				if (layer <= el->level && ItemPointerGetBlockNumber(&el->neighbourtid) == blk) {
					el->links = static_cast<ItemPointerData *>(arena_alloc(sizeof(ItemPointerData) * Size(lm)));
					el->nlinks = int16(copy_links(page, el, m, layer, el->links));
					el->links_layer = uint8(layer);
				}
				cand.push(el);
				if (skip_deleting && el->ntids == 0)
					continue;
				result.push(el);
				if (result.size > ef) {
					Element *ev = result.pop();
					if (keep_discarded)
						discarded.push(ev);
				}
			}
			UnlockReleaseBuffer(buf);
		}
	}
	pfree(bufs);
	pfree(keys);
	pfree(tids);
	pfree(cand.items);
	// Nearest first.
	int n = result.size;
	Element **sorted = static_cast<Element **>(palloc(sizeof(Element *) * Size(std::max(n, 1))));
	for (int i = n - 1; i >= 0; i--)
		sorted[i] = result.pop();
	pfree(result.items);
	*out = sorted;
	return n;
}

Element *Search::descend(Element *entry, int from_layer, int to_layer)
{
	Element *ep = entry;
	for (int layer = from_layer; layer > to_layer; layer--) {
		Element **w;
		int n = search_layer(&ep, 1, 1, layer, &w, true);
		if (n > 0)
			ep = w[0];
		pfree(w);
	}
	return ep;
}

int Search::enter(Element *entry, int from_layer, Element ***out, int to_layer)
{
	int n = 0;
	if (from_layer > to_layer) {
		Element *ep = descend(entry, from_layer, to_layer + 1);
		n = search_layer(&ep, 1, int(graph::query_layer1_ef(uint32(m))), to_layer + 1, out, true);
		if (n == 0) {
			pfree(*out);
			entry = ep;
		}
	}
	if (n == 0) {
		*out = static_cast<Element **>(palloc(sizeof(Element *)));
		(*out)[0] = entry;
		n = 1;
	}
	return n;
}

int select_neighbours(const MetricInfo &metric, int dim, Element **cands, int n, int lm, Element **out)
{
	if (n <= lm) {
		memcpy(out, cands, sizeof(Element *) * Size(n));
		return n;
	}
	int kept = 0, npruned = 0;
	Element **pruned = static_cast<Element **>(palloc(sizeof(Element *) * Size(n)));
	for (int i = 0; i < n && kept < lm; i++) {
		Element *e = cands[i];
		bool good = true;
		// Kept only when nearer to the base than to every neighbour kept so far.
		for (int j = 0; j < kept && good; j++)
			good = e->distance < metric.order(e->row, out[j]->row, Size(dim));
		if (good)
			out[kept++] = e;
		else
			pruned[npruned++] = e;
	}
	for (int i = 0; i < npruned && kept < lm; i++)
		out[kept++] = pruned[i];
	pfree(pruned);
	return kept;
}

}  // namespace ruvector::hnsw
