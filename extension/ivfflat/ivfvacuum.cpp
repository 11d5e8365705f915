// ruivfflat vacuum: remove entries of dead rows; later inserts reuse the space.
#include "extension/ivfflat/ivfflat.hpp"

extern "C" {
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
}

namespace ruvector::ivf {

IndexBulkDeleteResult *ivfbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
									 IndexBulkDeleteCallback callback, void *state)
{
	Relation index = info->index;
	if (!stats)
		stats = static_cast<IndexBulkDeleteResult *>(palloc0(sizeof(IndexBulkDeleteResult)));
	IvfMetaPage meta = read_meta(index);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	OffsetNumber deletable[MaxOffsetNumber];

	for (uint32 list = 0; list < meta.lists; list++) {
		IvfListEntry entry = read_list_entry(index, meta, list);
		BlockNumber first_freed = InvalidBlockNumber;
		for (BlockNumber blkno = entry.start; blkno != InvalidBlockNumber;) {
			vacuum_delay_point();
			Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
			// Scans copy TIDs out and hold no pins, so a cleanup lock only waits for page readers.
			LockBufferForCleanup(buf);
			Page page = BufferGetPage(buf);
			int ndeletable = 0;
			OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
			for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
				ItemId iid = PageGetItemId(page, off);
				if (!ItemIdIsNormal(iid))
					continue;
				auto *e = reinterpret_cast<IvfEntryHeader *>(PageGetItem(page, iid));
				if (callback(&e->tid, state)) {
					deletable[ndeletable++] = off;
					stats->tuples_removed++;
				} else
					stats->num_index_tuples++;
			}
			BlockNumber next = page_opaque(page)->next;
			if (ndeletable > 0) {
				GenericXLogState *xs = GenericXLogStart(index);
				Page copy = GenericXLogRegisterBuffer(xs, buf, 0);
				PageIndexMultiDelete(copy, deletable, ndeletable);
				GenericXLogFinish(xs);
				if (first_freed == InvalidBlockNumber)
					first_freed = blkno;
			}
			UnlockReleaseBuffer(buf);
			blkno = next;
		}
		// Inserts into this list start at the first page with freed space again.
		if (first_freed != InvalidBlockNumber && first_freed != entry.insert)
			set_list_insert_page(index, meta, list, first_freed, true);
	}
	FreeAccessStrategy(strategy);
	return stats;
}

IndexBulkDeleteResult *ivfvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (!stats)
		return nullptr;  // nothing was deleted: keep the statistics as they are
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}

}  // namespace ruvector::ivf
