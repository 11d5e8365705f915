// What both vector index access methods need from an index relation (index_support.hpp).
#include "extension/index_support.hpp"

extern "C" {
#include "access/genam.h"
#include "access/relation.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

#include <algorithm>
#include <climits>
#include <sys/mman.h>

namespace ruvector {

using kernels::MetricInfo;

namespace {

const MetricInfo &metric_of_code(Relation index, int32 code, const char *from)
{
	const MetricInfo *m = kernels::find_metric_code(unsigned(code));
	if (!m || code < 0)
		ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
						errmsg("index \"%s\" has an unknown metric %d in its %s", RelationGetRelationName(index), code, from),
						errhint("REINDEX it.")));
	return *m;
}

}  // namespace

const MetricInfo &index_metric(Relation index)
{
	FmgrInfo *proc = index_getprocinfo(index, 1, 1);
	return metric_of_code(index, DatumGetInt32(FunctionCall1(proc, PointerGetDatum(nullptr))), "support function");
}

const MetricInfo &stored_metric(Relation index, int32 code) { return metric_of_code(index, code, "meta page"); }

int index_dimensions(Relation index)
{
	return TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
}

void value_floats(const MetricInfo &metric, Datum value, int dim, float *out, bool query)
{
	const kernels::ElementInfo &e = metric.element();
	auto *v = reinterpret_cast<const std::byte *>(PG_DETOAST_DATUM(value));
	int64 vdim = e.value_dims(v);
	check_dense_size(Size(VARSIZE(v)), int(std::clamp<int64>(vdim, -1, INT_MAX)),
					 e.value_header + e.row_bytes(Size(std::max<int64>(vdim, 0))), e.sql_type);
	if (vdim != dim) {
		if (query)
			check_same_dims(dim, int(vdim), e.sql_type, e.dims_noun);
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected %d dimensions, not %d", dim, int(vdim))));
	}
	e.to_float(v + e.value_header, out, Size(dim));
}

bool prepare_vector(const MetricInfo &metric, const float *in, int dim, float *out)
{
	if (out != in)
		memcpy(out, in, sizeof(float) * Size(dim));
	return !metric.normalise || metric.as_float32().normalise_row(kernels::as_row(out), Size(dim));
}

Relation open_index_for_stats(Oid relid, bool (*is_kind)(Relation), const char *am_name)
{
	Relation index = relation_open(relid, AccessShareLock);
	if (!is_kind(index))
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("\"%s\" is not a %s index", RelationGetRelationName(index), am_name)));
	Oid heap = index->rd_index->indrelid;
	if (pg_class_aclcheck(heap, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied for table %s", get_rel_name(heap))));
	// A failed or cancelled CREATE INDEX CONCURRENTLY leaves an invalid index, perhaps without pages.
	if (!index->rd_index->indisvalid)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("index \"%s\" is not valid", RelationGetRelationName(index)),
						errdetail("A CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY did not finish."),
						errhint("REINDEX INDEX %s, or drop the index and create it again.",
								quote_identifier(RelationGetRelationName(index)))));
	return index;
}

void advise_huge_pages(void *p, Size bytes)
{
	constexpr uintptr_t kHuge = uintptr_t(2) << 20;
	uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
	uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
	if (hi > lo)
		(void) madvise(reinterpret_cast<void *>(lo), hi - lo, MADV_HUGEPAGE);
}

uint64 new_build_stamp()
{
	uint64 stamp = 0;
	if (!pg_strong_random(&stamp, sizeof stamp))
		stamp = uint64(GetCurrentTimestamp());
	return stamp | 1;
}

TableCounters table_counters(Oid heap)
{
	PgStat_StatTabEntry *t = pgstat_fetch_stat_tabentry(heap);
	if (!t)
		return {0, 0, 0};
	auto counter = [](PgStat_Counter c) { return uint64(std::max<PgStat_Counter>(c, 0)) + 1; };
	return {counter(t->tuples_inserted), counter(t->tuples_deleted + t->tuples_updated - t->tuples_hot_updated),
			counter(t->tuples_inserted + t->tuples_updated + t->tuples_deleted)};
}

}  // namespace ruvector
