// ruvector_hnsw_stats(index regclass): the shape and health of a ruhnsw index, read from its pages.
#include "extension/hnsw/hnswutils.hpp"

extern "C" {
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
}

#include <algorithm>

namespace ruvector::hnsw {

// One pass over the element pages in block order (every page after the meta page is one). A freed
// slot's neighbour tuple has no links, so summing layer-0 links over all neighbour tuples counts
// the live elements' links.
GraphCounts count_graph(Relation index, int m)
{
	GraphCounts c;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	for (BlockNumber blk = kFirstElementBlock; blk < nblocks; blk++) {
		CHECK_FOR_INTERRUPTS();
		Buffer buf = ReadBuffer(index, blk);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		Page page = BufferGetPage(buf);
		OffsetNumber maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
			ItemId id = PageGetItemId(page, off);
			if (!ItemIdIsNormal(id))
				continue;
			const auto *item = reinterpret_cast<const uint8 *>(PageGetItem(page, id));
			if (item[0] == kElementTuple) {
				const auto *e = reinterpret_cast<const HnswElementTupleData *>(item);
				if (e->deleted) {
					c.deleted++;
					continue;
				}
				c.elements++;
				for (const auto &t : e->heaptids)
					c.heap_tids += ItemPointerIsValid(&t);
				int level = std::min<int>(e->level, 63);
				c.per_level[level]++;
				c.max_level = std::max(c.max_level, level);
			} else if (item[0] == kNeighbourTuple) {
				const auto *n = reinterpret_cast<const HnswNeighbourTupleData *>(item);
				int layer0 = std::min<int>(2 * m, n->count);  // layer 0 comes first
				for (int i = 0; i < layer0; i++)
					c.layer0_links += ItemPointerIsValid(&n->tids[i]);
			}
		}
		UnlockReleaseBuffer(buf);
	}
	return c;
}

}  // namespace ruvector::hnsw

using namespace ruvector;
using namespace ruvector::hnsw;

RV_FUNCTION(ruvector_hnsw_stats)
{
	Relation index = open_index_for_stats(PG_GETARG_OID(0), is_hnsw_index, "ruhnsw");
	HnswMetaPage meta = read_meta(index);
	const MetricInfo &metric = meta_metric(index, meta);
	GraphCounts c = count_graph(index, meta.m);
	BlockNumber pages = RelationGetNumberOfBlocks(index);

	TupleDesc desc;
	if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	constexpr int kCols = 14;
	Datum values[kCols];
	bool nulls[kCols] = {};
	values[0] = Int64GetDatum(c.elements);
	values[1] = Int64GetDatum(c.heap_tids);
	values[2] = Int64GetDatum(c.deleted);
	values[3] = Int32GetDatum(c.max_level);
	Datum *levels = static_cast<Datum *>(palloc(sizeof(Datum) * Size(c.max_level + 1)));
	for (int l = 0; l <= c.max_level; l++)
		levels[l] = Int64GetDatum(c.per_level[l]);
	values[4] = PointerGetDatum(construct_array(levels, c.max_level + 1, INT8OID, sizeof(int64), true, TYPALIGN_DOUBLE));
	values[5] = Float8GetDatum(c.elements ? double(c.layer0_links) / double(c.elements) : 0.0);
	if (meta.entry_blkno == InvalidBlockNumber) {
		nulls[6] = nulls[7] = true;
	} else {
		ItemPointer entry = static_cast<ItemPointer>(palloc(sizeof(ItemPointerData)));
		ItemPointerSet(entry, meta.entry_blkno, meta.entry_offno);
		values[6] = PointerGetDatum(entry);
		values[7] = Int32GetDatum(meta.entry_level);
	}
	values[8] = Int32GetDatum(meta.m);
	values[9] = Int32GetDatum(meta.ef_construction);
	values[10] = Int32GetDatum(int32(meta.dimensions));
	values[11] = CStringGetTextDatum(metric.name);
	values[12] = Int64GetDatum(int64(pages));
	values[13] = Int64GetDatum(int64(pages) * BLCKSZ);
	relation_close(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
