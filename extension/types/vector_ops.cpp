// vector: distance functions and operators, arithmetic, comparison, hashing and utilities.
#include "extension/types/vector.hpp"

#include "worker/kernels/distance.hpp"
#include "worker/kernels/metric.hpp"

#include <algorithm>

extern "C" {
#include "utils/float.h"
}

using namespace ruvector;
namespace k = ruvector::kernels;

namespace {

// Two detoasted operands of equal dimension.
struct VectorPair {
	Vector *a;
	Vector *b;
};

VectorPair get_pair(FunctionCallInfo fcinfo)
{
	VectorPair p{RV_GETARG_VECTOR(0), RV_GETARG_VECTOR(1)};
	check_same_dims(p.a, p.b);
	return p;
}

const k::DistanceKernels &kern() { return k::active_kernels(); }

// The distance operators: the metric table's float32 entry.
double operator_distance(FunctionCallInfo fcinfo, k::Metric m)
{
	auto [a, b] = get_pair(fcinfo);
	return k::metric_info(k::ElementType::float32, m).distance(k::as_row(a->x), k::as_row(b->x), Size(a->dim));
}

float element(const Vector *v, int i) { return v->x[i]; }

int compare_args(FunctionCallInfo fcinfo)
{
	return compare_elements(RV_GETARG_VECTOR(0), RV_GETARG_VECTOR(1), element);
}

}  // namespace

/* Distances */

RV_FUNCTION(l2_distance) { PG_RETURN_FLOAT8(operator_distance(fcinfo, k::Metric::l2)); }

RV_FUNCTION(vector_l2_squared_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(kern().l2_squared(a->x, b->x, a->dim)));
}

RV_FUNCTION(inner_product)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(kern().inner_product(a->x, b->x, a->dim)));
}

RV_FUNCTION(vector_negative_inner_product) { PG_RETURN_FLOAT8(operator_distance(fcinfo, k::Metric::ip)); }

RV_FUNCTION(cosine_distance) { PG_RETURN_FLOAT8(operator_distance(fcinfo, k::Metric::cosine)); }

// Angular distance on unit vectors, acos(dot)/pi: what spherical k-means uses (a true metric).
RV_FUNCTION(vector_spherical_distance)
{
	auto [a, b] = get_pair(fcinfo);
	double dp = double(kern().inner_product(a->x, b->x, a->dim));
	dp = std::clamp(dp, -1.0, 1.0);  // rounding can push |dot| of unit vectors past 1
	PG_RETURN_FLOAT8(std::acos(dp) / M_PI);
}

RV_FUNCTION(l1_distance) { PG_RETURN_FLOAT8(operator_distance(fcinfo, k::Metric::l1)); }

/* Element-wise arithmetic (overflow-checked like float4 arithmetic) */

RV_FUNCTION(vector_add)
{
	auto [a, b] = get_pair(fcinfo);
	Vector *r = new_vector(a->dim);
	for (int i = 0; i < a->dim; i++) {
		r->x[i] = a->x[i] + b->x[i];
		if (std::isinf(r->x[i]))
			float_overflow_error();
	}
	PG_RETURN_POINTER(r);
}

RV_FUNCTION(vector_sub)
{
	auto [a, b] = get_pair(fcinfo);
	Vector *r = new_vector(a->dim);
	for (int i = 0; i < a->dim; i++) {
		r->x[i] = a->x[i] - b->x[i];
		if (std::isinf(r->x[i]))
			float_overflow_error();
	}
	PG_RETURN_POINTER(r);
}

RV_FUNCTION(vector_mul)
{
	auto [a, b] = get_pair(fcinfo);
	Vector *r = new_vector(a->dim);
	for (int i = 0; i < a->dim; i++) {
		r->x[i] = a->x[i] * b->x[i];
		if (std::isinf(r->x[i]))
			float_overflow_error();
		if (r->x[i] == 0 && !(a->x[i] == 0 || b->x[i] == 0))
			float_underflow_error();
	}
	PG_RETURN_POINTER(r);
}

RV_FUNCTION(vector_concat)
{
	Vector *a = RV_GETARG_VECTOR(0);
	Vector *b = RV_GETARG_VECTOR(1);
	int dim = a->dim + b->dim;
	check_dim(dim);
	Vector *r = new_vector(dim);
	memcpy(r->x, a->x, sizeof(float) * a->dim);
	memcpy(r->x + a->dim, b->x, sizeof(float) * b->dim);
	PG_RETURN_POINTER(r);
}

/* Comparison (btree) and hashing */

RV_FUNCTION(vector_lt) { PG_RETURN_BOOL(compare_args(fcinfo) < 0); }
RV_FUNCTION(vector_le) { PG_RETURN_BOOL(compare_args(fcinfo) <= 0); }
RV_FUNCTION(vector_eq) { PG_RETURN_BOOL(compare_args(fcinfo) == 0); }
RV_FUNCTION(vector_ne) { PG_RETURN_BOOL(compare_args(fcinfo) != 0); }
RV_FUNCTION(vector_ge) { PG_RETURN_BOOL(compare_args(fcinfo) >= 0); }
RV_FUNCTION(vector_gt) { PG_RETURN_BOOL(compare_args(fcinfo) > 0); }
RV_FUNCTION(vector_cmp) { PG_RETURN_INT32(compare_args(fcinfo)); }

RV_FUNCTION(vector_hash)
{
	PG_RETURN_INT32(int32(uint32(hash_elements(RV_GETARG_VECTOR(0), 0, element))));
}

RV_FUNCTION(vector_hash_extended)
{
	PG_RETURN_INT64(int64(hash_elements(RV_GETARG_VECTOR(0), uint64(PG_GETARG_INT64(1)), element)));
}

/* Utilities */

RV_FUNCTION(vector_dims)
{
	PG_RETURN_INT32(RV_GETARG_VECTOR(0)->dim);
}

// Accumulated in double, as pgvector does for the norm.
RV_FUNCTION(vector_norm)
{
	Vector *a = RV_GETARG_VECTOR(0);
	double norm = 0;
	for (int i = 0; i < a->dim; i++)
		norm += double(a->x[i]) * double(a->x[i]);
	PG_RETURN_FLOAT8(std::sqrt(norm));
}

RV_FUNCTION(l2_normalize)
{
	Vector *a = RV_GETARG_VECTOR(0);
	Vector *r = new_vector(a->dim);
	double norm = 0;
	for (int i = 0; i < a->dim; i++)
		norm += double(a->x[i]) * double(a->x[i]);
	norm = std::sqrt(norm);
	// A zero vector stays zero.
	if (norm > 0) {
		for (int i = 0; i < a->dim; i++) {
			r->x[i] = float(a->x[i] / norm);
			if (std::isinf(r->x[i]))
				float_overflow_error();
		}
	}
	PG_RETURN_POINTER(r);
}

RV_FUNCTION(subvector)
{
	Vector *a = RV_GETARG_VECTOR(0);
	int first;
	int dim = subvector_range(a->dim, PG_GETARG_INT32(1), PG_GETARG_INT32(2), &first, "vector");
	Vector *r = new_vector(dim);
	memcpy(r->x, a->x + first, sizeof(float) * dim);
	PG_RETURN_POINTER(r);
}

RV_FUNCTION(binary_quantize)
{
	PG_RETURN_VARBIT_P(quantize_elements(RV_GETARG_VECTOR(0), element));
}
