// vector: distance functions and operators, arithmetic, comparison, hashing and utilities.
#include "extension/types/vector.hpp"

#include "worker/kernels/distance.hpp"
#include "worker/kernels/metric.hpp"

#include <algorithm>

extern "C" {
#include "common/hashfn.h"
#include "utils/float.h"
#include "utils/varbit.h"
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

// pgvector orders by element, then by dimension (like arrays).
int vector_cmp_internal(const Vector *a, const Vector *b)
{
	int dim = std::min(a->dim, b->dim);
	for (int i = 0; i < dim; i++) {
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

int compare_args(FunctionCallInfo fcinfo)
{
	return vector_cmp_internal(RV_GETARG_VECTOR(0), RV_GETARG_VECTOR(1));
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

// Equal vectors must hash equally: -0 equals 0, so both hash as +0.
static uint64 vector_hash_internal(const Vector *v, uint64 seed)
{
	uint64 h = hash_bytes_uint32_extended(uint32(v->dim), seed);
	for (int i = 0; i < v->dim; i++) {
		float f = v->x[i] == 0.0f ? 0.0f : v->x[i];
		uint32 bits;
		memcpy(&bits, &f, sizeof bits);
		h = hash_combine64(h, hash_bytes_uint32_extended(bits, seed));
	}
	return h;
}

RV_FUNCTION(vector_hash)
{
	PG_RETURN_INT32(int32(uint32(vector_hash_internal(RV_GETARG_VECTOR(0), 0))));
}

RV_FUNCTION(vector_hash_extended)
{
	PG_RETURN_INT64(int64(vector_hash_internal(RV_GETARG_VECTOR(0), uint64(PG_GETARG_INT64(1)))));
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

// 1-based and clamped like substring(); an empty result is an error.
RV_FUNCTION(subvector)
{
	Vector *a = RV_GETARG_VECTOR(0);
	int32 start = PG_GETARG_INT32(1);
	int32 count = PG_GETARG_INT32(2);
	int32 end;

	if (count < 1)
		check_dim(0);
	// start + count > dim, written so it cannot overflow (dim and count are positive).
	if (start > a->dim - count)
		end = a->dim + 1;
	else
		end = start + count;
	if (start < 1)
		start = 1;
	else if (start > a->dim)
		check_dim(0);

	int dim = end - start;
	check_dim(dim);
	Vector *r = new_vector(dim);
	memcpy(r->x, a->x + (start - 1), sizeof(float) * dim);
	PG_RETURN_POINTER(r);
}

// One bit per element: 1 where the element is positive.
RV_FUNCTION(binary_quantize)
{
	Vector *a = RV_GETARG_VECTOR(0);
	VarBit *r = static_cast<VarBit *>(palloc0(VARBITTOTALLEN(a->dim)));
	SET_VARSIZE(r, VARBITTOTALLEN(a->dim));
	VARBITLEN(r) = a->dim;
	for (int i = 0; i < a->dim; i++)
		VARBITS(r)[i / 8] |= bits8((a->x[i] > 0) << (7 - (i % 8)));
	PG_RETURN_VARBIT_P(r);
}
