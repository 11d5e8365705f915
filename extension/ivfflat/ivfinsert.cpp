// ruivfflat insert: one row goes to the list of its nearest centroid.
#include "extension/ivfflat/ivfflat.hpp"

extern "C" {
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
}

namespace ruvector::ivf {

namespace {

// Add the entry to the list's chain, starting at its insert page; extend the chain when every
// page from there on is full. Returns the page the entry went to.
BlockNumber add_to_list(Relation index, BlockNumber blkno, const char *item, Size size)
{
	for (;;) {
		Buffer buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		Page page = BufferGetPage(buf);
		if (PageGetFreeSpace(page) >= MAXALIGN(size)) {
			GenericXLogState *state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			if (PageAddItem(page, Item(item), size, InvalidOffsetNumber, false, false) == InvalidOffsetNumber) {
				GenericXLogAbort(state);
				elog(ERROR, "failed to add an entry to ruivfflat index \"%s\"", RelationGetRelationName(index));
			}
			GenericXLogFinish(state);
			UnlockReleaseBuffer(buf);
			return blkno;
		}
		BlockNumber next = page_opaque(page)->next;
		if (next != InvalidBlockNumber) {
			UnlockReleaseBuffer(buf);
			blkno = next;
			continue;
		}
		// The last page is full: chain a new one. Holding the last page's lock keeps a concurrent
		// inserter from chaining a second one.
		LockRelationForExtension(index, ExclusiveLock);
		Buffer newbuf = new_buffer(index);
		UnlockRelationForExtension(index, ExclusiveLock);
		GenericXLogState *state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		Page newpage = GenericXLogRegisterBuffer(state, newbuf, GENERIC_XLOG_FULL_IMAGE);
		init_page(newpage, kPageEntries);
		BlockNumber newblk = BufferGetBlockNumber(newbuf);
		page_opaque(page)->next = newblk;
		if (PageAddItem(newpage, Item(item), size, InvalidOffsetNumber, false, false) == InvalidOffsetNumber) {
			GenericXLogAbort(state);
			elog(ERROR, "failed to add an entry to ruivfflat index \"%s\"", RelationGetRelationName(index));
		}
		GenericXLogFinish(state);
		UnlockReleaseBuffer(newbuf);
		UnlockReleaseBuffer(buf);
		return newblk;
	}
}

}  // namespace

bool ivfinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid, Relation, IndexUniqueCheck, bool,
			   IndexInfo *)
{
	if (isnull[0])
		return false;  // NULLs are not indexed
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ruivfflat insert", ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	IvfMetaPage meta = read_meta(index);
	int dim = int(meta.dimensions);
	const MetricInfo &metric = meta_metric(index, meta);
	float *x = static_cast<float *>(palloc(sizeof(float) * Size(dim)));
	value_floats(metric, values[0], dim, x, false);
	Quantizer q = Quantizer(meta.quantizer);
	char *item = static_cast<char *>(palloc(max_entry_size(metric, dim, q)));
	// Cosine zero vectors have no direction: not indexed (pgvector does the same).
	if (prepare_vector(metric, x, dim, x)) {
		int32 list = 0;
		const Centroids *c = meta.lists > 1 || q == Quantizer::rabitq ? &index_centroids(index, meta) : nullptr;
		if (meta.lists > 1)
			nearest_lists(*c, x, 1, &list, nullptr);
		// sq8: the build's ranges; values outside them clamp to their ends (a row far outside is
		// stored whole). rabitq: coded against the list's centroid.
		EntryCoding coding{q, q == Quantizer::sq8 ? read_sq8_ranges(index, meta) : nullptr,
						   c ? c->data + Size(list) * Size(dim) : nullptr, meta.rotation_seed};
		Size size = encode_entry(metric, coding, *heap_tid, x, dim, item);
		IvfListEntry entry = read_list_entry(index, meta, uint32(list));
		BlockNumber landed = add_to_list(index, entry.insert, item, size);
		if (landed != entry.insert)
			set_list_insert_page(index, meta, uint32(list), landed, false);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return false;
}

}  // namespace ruvector::ivf
