// What both vector index access methods need from an index relation (index_support.hpp).
#include "extension/index_support.hpp"

extern "C" {
#include "access/genam.h"
#include "fmgr.h"
}

#include <algorithm>
#include <climits>

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

}  // namespace ruvector
