// Which operator functions the exact scan evaluates, and how.
#include "extension/scan/exact_scan.hpp"

extern "C" {
#include "fmgr.h"
// The operators' C entry points (RV_FUNCTION in extension/types/).
Datum l2_distance(PG_FUNCTION_ARGS);
Datum vector_negative_inner_product(PG_FUNCTION_ARGS);
Datum cosine_distance(PG_FUNCTION_ARGS);
Datum l1_distance(PG_FUNCTION_ARGS);
Datum halfvec_l2_distance(PG_FUNCTION_ARGS);
Datum halfvec_negative_inner_product(PG_FUNCTION_ARGS);
Datum halfvec_cosine_distance(PG_FUNCTION_ARGS);
Datum halfvec_l1_distance(PG_FUNCTION_ARGS);
Datum hamming_distance(PG_FUNCTION_ARGS);
Datum jaccard_distance(PG_FUNCTION_ARGS);
Datum sparsevec_l2_distance(PG_FUNCTION_ARGS);
Datum sparsevec_negative_inner_product(PG_FUNCTION_ARGS);
Datum sparsevec_cosine_distance(PG_FUNCTION_ARGS);
Datum sparsevec_l1_distance(PG_FUNCTION_ARGS);
}

namespace ruvector::scan {

namespace k = ruvector::kernels;

namespace {

struct Entry {
	PGFunction fn;
	bool direct;  // the function returns the metric table entry's distance() of the two rows
	k::ElementType type;
	k::Metric metric;
};

// Each direct entry's function computes exactly metric_info(type, metric).distance (see
// extension/types/vector_ops.cpp, halfvec_ops.cpp, bit.cpp); pgtap/090_exact_scan compares the
// distances of both plans as text (shortest exact float8 form) for every operator.
const Entry kEntries[] = {
	{l2_distance, true, k::ElementType::float32, k::Metric::l2},
	{vector_negative_inner_product, true, k::ElementType::float32, k::Metric::ip},
	{cosine_distance, true, k::ElementType::float32, k::Metric::cosine},
	{l1_distance, true, k::ElementType::float32, k::Metric::l1},
	{halfvec_l2_distance, true, k::ElementType::float16, k::Metric::l2},
	{halfvec_negative_inner_product, true, k::ElementType::float16, k::Metric::ip},
	{halfvec_cosine_distance, true, k::ElementType::float16, k::Metric::cosine},
	{halfvec_l1_distance, true, k::ElementType::float16, k::Metric::l1},
	{hamming_distance, true, k::ElementType::bit, k::Metric::hamming},
	{jaccard_distance, false, {}, {}},
	{sparsevec_l2_distance, false, {}, {}},
	{sparsevec_negative_inner_product, false, {}, {}},
	{sparsevec_cosine_distance, false, {}, {}},
	{sparsevec_l1_distance, false, {}, {}},
};

}  // namespace

bool lookup_distance_function(Oid funcid, const k::MetricInfo **metric)
{
	FmgrInfo finfo;
	fmgr_info(funcid, &finfo);
	for (const Entry &e : kEntries)
		if (finfo.fn_addr == e.fn) {
			*metric = e.direct ? k::find_metric(e.type, e.metric) : nullptr;
			return true;
		}
	return false;
}

}  // namespace ruvector::scan
