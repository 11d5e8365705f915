// halfvec: distances (in float from the converted halves, as pgvector), arithmetic rounded back to
// half with overflow errors, comparison, hashing and utilities.
#include "extension/types/halfvec.hpp"

extern "C" {
#include "utils/float.h"
}

using namespace ruvector;
namespace k = ruvector::kernels;

namespace {

struct HalfPair {
	HalfVector *a;
	HalfVector *b;
};

HalfPair get_pair(FunctionCallInfo fcinfo)
{
	HalfPair p{RV_GETARG_HALFVEC(0), RV_GETARG_HALFVEC(1)};
	check_same_dims(p.a->dim, p.b->dim, "halfvec");
	return p;
}

const k::HalfKernels &kern() { return k::active_half_kernels(); }

int compare_args(FunctionCallInfo fcinfo)
{
	return compare_elements(RV_GETARG_HALFVEC(0), RV_GETARG_HALFVEC(1), half_element);
}

// a[i] op b[i] in float (exact for + - * of halves up to the final rounding), rounded to half;
// an infinite result is an overflow and a product that rounds to zero from nonzero factors an
// underflow, as in pgvector.
template <class Op>
HalfVector *elementwise(FunctionCallInfo fcinfo, Op op, bool check_underflow)
{
	auto [a, b] = get_pair(fcinfo);
	HalfVector *r = new_halfvec(a->dim);
	for (int i = 0; i < a->dim; i++) {
		r->x[i] = k::float_to_half(op(half_element(a, i), half_element(b, i)));
		if (k::half_is_inf(r->x[i]))
			float_overflow_error();
		if (check_underflow && k::half_is_zero(r->x[i]) && !(k::half_is_zero(a->x[i]) || k::half_is_zero(b->x[i])))
			float_underflow_error();
	}
	return r;
}

double norm(const HalfVector *a)
{
	double s = 0;
	for (int i = 0; i < a->dim; i++) {
		double x = half_element(a, i);
		s += x * x;
	}
	return std::sqrt(s);
}

}  // namespace

/* Distances */

RV_FUNCTION(halfvec_l2_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(std::sqrt(double(kern().l2_squared(a->x, b->x, a->dim))));
}

RV_FUNCTION(halfvec_l2_squared_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(kern().l2_squared(a->x, b->x, a->dim)));
}

RV_FUNCTION(halfvec_inner_product)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(kern().inner_product(a->x, b->x, a->dim)));
}

RV_FUNCTION(halfvec_negative_inner_product)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(-double(kern().inner_product(a->x, b->x, a->dim)));
}

RV_FUNCTION(halfvec_cosine_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(k::half_cosine_distance(a->x, b->x, std::size_t(a->dim)));
}

// Angular distance on unit vectors, acos(dot)/pi (pgvector's spherical k-means distance).
RV_FUNCTION(halfvec_spherical_distance)
{
	auto [a, b] = get_pair(fcinfo);
	double dp = std::clamp(double(kern().inner_product(a->x, b->x, a->dim)), -1.0, 1.0);
	PG_RETURN_FLOAT8(std::acos(dp) / M_PI);
}

RV_FUNCTION(halfvec_l1_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(kern().l1(a->x, b->x, a->dim)));
}

/* Element-wise arithmetic */

RV_FUNCTION(halfvec_add)
{
	PG_RETURN_POINTER(elementwise(fcinfo, [](float x, float y) { return x + y; }, false));
}

RV_FUNCTION(halfvec_sub)
{
	PG_RETURN_POINTER(elementwise(fcinfo, [](float x, float y) { return x - y; }, false));
}

RV_FUNCTION(halfvec_mul)
{
	PG_RETURN_POINTER(elementwise(fcinfo, [](float x, float y) { return x * y; }, true));
}

RV_FUNCTION(halfvec_concat)
{
	HalfVector *a = RV_GETARG_HALFVEC(0);
	HalfVector *b = RV_GETARG_HALFVEC(1);
	int dim = a->dim + b->dim;
	check_dim(dim, "halfvec");
	HalfVector *r = new_halfvec(dim);
	memcpy(r->x, a->x, sizeof(half) * a->dim);
	memcpy(r->x + a->dim, b->x, sizeof(half) * b->dim);
	PG_RETURN_POINTER(r);
}

/* Comparison (btree) and hashing */

RV_FUNCTION(halfvec_lt) { PG_RETURN_BOOL(compare_args(fcinfo) < 0); }
RV_FUNCTION(halfvec_le) { PG_RETURN_BOOL(compare_args(fcinfo) <= 0); }
RV_FUNCTION(halfvec_eq) { PG_RETURN_BOOL(compare_args(fcinfo) == 0); }
RV_FUNCTION(halfvec_ne) { PG_RETURN_BOOL(compare_args(fcinfo) != 0); }
RV_FUNCTION(halfvec_ge) { PG_RETURN_BOOL(compare_args(fcinfo) >= 0); }
RV_FUNCTION(halfvec_gt) { PG_RETURN_BOOL(compare_args(fcinfo) > 0); }
RV_FUNCTION(halfvec_cmp) { PG_RETURN_INT32(compare_args(fcinfo)); }

RV_FUNCTION(halfvec_hash)
{
	PG_RETURN_INT32(int32(uint32(hash_elements(RV_GETARG_HALFVEC(0), 0, half_element))));
}

RV_FUNCTION(halfvec_hash_extended)
{
	PG_RETURN_INT64(int64(hash_elements(RV_GETARG_HALFVEC(0), uint64(PG_GETARG_INT64(1)), half_element)));
}

/* Utilities */

RV_FUNCTION(halfvec_vector_dims)
{
	PG_RETURN_INT32(RV_GETARG_HALFVEC(0)->dim);
}

// Accumulated in double, as pgvector does.
RV_FUNCTION(halfvec_l2_norm)
{
	PG_RETURN_FLOAT8(norm(RV_GETARG_HALFVEC(0)));
}

RV_FUNCTION(halfvec_l2_normalize)
{
	HalfVector *a = RV_GETARG_HALFVEC(0);
	HalfVector *r = new_halfvec(a->dim);
	double n = norm(a);
	// A zero vector stays zero. |x| / norm <= 1, so no element can overflow.
	if (n > 0)
		for (int i = 0; i < a->dim; i++)
			r->x[i] = k::float_to_half(float(half_element(a, i) / n));
	PG_RETURN_POINTER(r);
}

RV_FUNCTION(halfvec_subvector)
{
	HalfVector *a = RV_GETARG_HALFVEC(0);
	int first;
	int dim = subvector_range(a->dim, PG_GETARG_INT32(1), PG_GETARG_INT32(2), &first, "halfvec");
	HalfVector *r = new_halfvec(dim);
	memcpy(r->x, a->x + first, sizeof(half) * dim);
	PG_RETURN_POINTER(r);
}

RV_FUNCTION(halfvec_binary_quantize)
{
	PG_RETURN_VARBIT_P(quantize_elements(RV_GETARG_HALFVEC(0), half_element));
}
