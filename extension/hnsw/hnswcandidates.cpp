// _ruvector_hnsw_candidates(index, query, k, num_hops): the candidates of the RuVector layer
// (ruvector_differentiable_search) over a ruhnsw index, whose layer-0 neighbour lists are the graph:
// C0 is the k nearest elements the index's search finds (hnsw.ef_search candidates, at least k),
// and each hop adds every layer-0 neighbour of the elements the previous hop added. Returns their
// heap TIDs; the caller reads the rows through the table (snapshot, RLS), so a TID whose row it
// may not see contributes nothing.
#include "extension/hnsw/hnswutils.hpp"
#include "extension/index_support.hpp"

extern "C" {
#include "access/relation.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"
}

#include <algorithm>
#include <utility>

using namespace ruvector;
using namespace ruvector::hnsw;

namespace {

// A growing array palloc'd in the current memory context (an error frees it with the context).
template <class T>
struct PallocArray {
	T *items = nullptr;
	int n = 0, cap = 0;
	void push(const T &x)
	{
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			items = static_cast<T *>(items ? repalloc_huge(items, sizeof(T) * Size(cap))
										   : palloc_extended(sizeof(T) * Size(cap), MCXT_ALLOC_HUGE));
		}
		items[n++] = x;
	}
};
using TidList = PallocArray<ItemPointerData>;      // heap TIDs, in the caller's context
using ElementList = PallocArray<Element *>;

void collect(Relation index, const HnswMetaPage &meta, const MetricInfo &metric, Datum query, int k, int hops,
			 MemoryContext result_cxt, TidList &out)
{
	const int dim = int(meta.dimensions);
	Search s;
	s.init(index, metric, dim, meta.m, value_row(metric, query, dim, true), false, CurrentMemoryContext);
	ItemPointerData entry;
	ItemPointerSet(&entry, meta.entry_blkno, meta.entry_offno);
	Element *ep = s.load(entry);
	if (!ep)
		return;
	Element **seeds;
	int nseeds = s.enter(ep, meta.entry_level, &seeds);
	s.visited.clear();
	Element **found;
	int nfound = s.search_layer(seeds, nseeds, std::max(ef_search(), k), 0, &found, false);

	TidSet chosen;
	chosen.init(CurrentMemoryContext, uint32(std::min(k * 64, 1 << 20)));
	// The elements the last hop added (palloc'd in the search's context: an error frees them).
	ElementList frontier, next;
	for (int i = 0; i < nfound && frontier.n < k; i++) {
		chosen.insert(found[i]->key);
		if (found[i]->ntids > 0)  // elements being deleted guide the search only
			frontier.push(found[i]);
	}
	auto take = [&](const ElementList &l) {
		MemoryContext old = MemoryContextSwitchTo(result_cxt);
		for (int i = 0; i < l.n; i++)
			for (int t = 0; t < l.items[i]->ntids; t++)
				out.push(l.items[i]->heaptids[t]);
		MemoryContextSwitchTo(old);
	};
	take(frontier);
	ItemPointerData *links = static_cast<ItemPointerData *>(palloc(sizeof(ItemPointerData) * Size(2 * meta.m)));
	for (int h = 0; h < hops && frontier.n > 0; h++) {
		next.n = 0;
		for (int f = 0; f < frontier.n; f++) {
			CHECK_FOR_INTERRUPTS();
			int nl = s.neighbours(frontier.items[f], 0, links);
			for (int i = 0; i < nl; i++) {
				if (!chosen.insert(tid_key(links[i])))
					continue;
				Element *nb = s.load(links[i]);
				if (nb && nb->ntids > 0)
					next.push(nb);
			}
		}
		take(next);
		std::swap(frontier, next);
	}
}

}  // namespace

RV_FUNCTION(ruvector_hnsw_candidates)
{
	Oid relid = PG_GETARG_OID(0);
	Datum query = PG_GETARG_DATUM(1);
	int32 k = PG_GETARG_INT32(2);
	int32 hops = PG_GETARG_INT32(3);
	if (k < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k must be at least 1")));
	if (hops < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("num_hops must be at least 0")));
	Relation index = open_index_for_stats(relid, is_hnsw_index, "ruhnsw");
	HnswMetaPage meta = read_meta(index);
	const MetricInfo &metric = meta_metric(index, meta);
	MemoryContext result_cxt = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ruhnsw candidates", ALLOCSET_DEFAULT_SIZES);
	TidList out;
	if (meta.entry_blkno != InvalidBlockNumber) {
		MemoryContext old = MemoryContextSwitchTo(cxt);
		// The SCAN lock: vacuum waits for it before it frees elements this search may have seen.
		LockPage(index, kScanLock, ShareLock);
		collect(index, meta, metric, query, k, hops, result_cxt, out);
		UnlockPage(index, kScanLock, ShareLock);
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(cxt);
	relation_close(index, AccessShareLock);
	Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * Size(std::max(out.n, 1))));
	for (int i = 0; i < out.n; i++)
		elems[i] = PointerGetDatum(&out.items[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, out.n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));
}
