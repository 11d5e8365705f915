// The IndexAmRoutine of a vector index access method (ruivfflat, ruhnsw): the properties both share
// (ORDER BY operators only, one key column, no unique/included columns, no bitmap or parallel
// scans) and every callback wrapped at the C++/PostgreSQL boundary (pg::call_boundary), so a C++
// exception becomes an ERROR before it reaches PostgreSQL's frames.
#pragma once
#include "shmem/pg.hpp"

extern "C" {
#include "access/amapi.h"
#include "access/genam.h"
#include "access/relscan.h"
#include "commands/vacuum.h"
}

namespace ruvector {

struct VectorIndexAm {
	IndexBuildResult *(*build)(Relation heap, Relation index, IndexInfo *info);
	void (*buildempty)(Relation index);
	bool (*insert)(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid, Relation heap,
				   IndexUniqueCheck check, bool unchanged, IndexInfo *info);
	IndexBulkDeleteResult *(*bulkdelete)(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
										 IndexBulkDeleteCallback callback, void *state);
	IndexBulkDeleteResult *(*vacuumcleanup)(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);
	IndexScanDesc (*beginscan)(Relation index, int nkeys, int norderbys);
	void (*rescan)(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
	bool (*gettuple)(IndexScanDesc scan, ScanDirection dir);
	void (*endscan)(IndexScanDesc scan);
	// Called by PostgreSQL directly: they do not throw.
	amcostestimate_function costestimate;
	amoptions_function options;
	ambuildphasename_function buildphasename;
};

// ambeginscan's common part: the scan descriptor, with room for the ORDER BY values a scan may hand
// the executor to recheck (NULL until then).
inline IndexScanDesc begin_ordered_scan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	if (norderbys > 0) {
		scan->xs_orderbyvals = static_cast<Datum *>(palloc0(sizeof(Datum) * norderbys));
		scan->xs_orderbynulls = static_cast<bool *>(palloc(sizeof(bool) * norderbys));
		memset(scan->xs_orderbynulls, true, sizeof(bool) * norderbys);
	}
	return scan;
}

// amrescan's common part: the new keys and ORDER BY keys.
inline void set_scan_keys(IndexScanDesc scan, ScanKey keys, ScanKey orderbys)
{
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

template <const VectorIndexAm &Am>
IndexAmRoutine *make_vector_index_routine()
{
	IndexAmRoutine *am = makeNode(IndexAmRoutine);
	am->amstrategies = 0;
	am->amsupport = 1;  // the metric code (index_support.hpp)
	am->amoptsprocnum = 0;
	am->amcanorder = false;
	am->amcanorderbyop = true;
	am->amcanbackward = false;
	am->amcanunique = false;
	am->amcanmulticol = false;
	am->amoptionalkey = true;
	am->amsearcharray = false;
	am->amsearchnulls = false;
	am->amstorage = false;
	am->amclusterable = false;
	am->ampredlocks = false;
	am->amcanparallel = false;
	am->amcaninclude = false;
	am->amusemaintenanceworkmem = false;
	am->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	am->amkeytype = InvalidOid;

	am->ambuild = [](Relation heap, Relation index, IndexInfo *info) {
		return pg::call_boundary([&] { return Am.build(heap, index, info); });
	};
	am->ambuildempty = [](Relation index) { pg::call_boundary([&] { Am.buildempty(index); }); };
	am->aminsert = [](Relation index, Datum *values, bool *isnull, ItemPointer tid, Relation heap,
					  IndexUniqueCheck check, bool unchanged, IndexInfo *info) {
		return pg::call_boundary([&] { return Am.insert(index, values, isnull, tid, heap, check, unchanged, info); });
	};
	am->ambulkdelete = [](IndexVacuumInfo *info, IndexBulkDeleteResult *stats, IndexBulkDeleteCallback cb,
						  void *state) { return pg::call_boundary([&] { return Am.bulkdelete(info, stats, cb, state); }); };
	am->amvacuumcleanup = [](IndexVacuumInfo *info, IndexBulkDeleteResult *stats) {
		return pg::call_boundary([&] { return Am.vacuumcleanup(info, stats); });
	};
	am->amcanreturn = nullptr;
	am->amcostestimate = Am.costestimate;
	am->amoptions = Am.options;
	am->amproperty = nullptr;
	am->ambuildphasename = Am.buildphasename;
	am->amvalidate = [](Oid) { return true; };  // as pgvector: opclasses are ours, not user-defined
	am->amadjustmembers = nullptr;
	am->ambeginscan = [](Relation index, int nkeys, int norderbys) {
		return pg::call_boundary([&] { return Am.beginscan(index, nkeys, norderbys); });
	};
	am->amrescan = [](IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys) {
		pg::call_boundary([&] { Am.rescan(scan, keys, nkeys, orderbys, norderbys); });
	};
	am->amgettuple = [](IndexScanDesc scan, ScanDirection dir) {
		return pg::call_boundary([&] { return Am.gettuple(scan, dir); });
	};
	am->amgetbitmap = nullptr;
	am->amendscan = [](IndexScanDesc scan) { pg::call_boundary([&] { Am.endscan(scan); }); };
	am->ammarkpos = nullptr;
	am->amrestrpos = nullptr;
	am->amestimateparallelscan = nullptr;
	am->aminitparallelscan = nullptr;
	am->amparallelrescan = nullptr;
	return am;
}

}  // namespace ruvector
