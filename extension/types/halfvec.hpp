// The `halfvec` type: pgvector's layout (varlena header, int16 dim, int16 unused, then dim IEEE
// binary16 values) and checks, built on vector.hpp's (same dimension limits and messages, with
// "halfvec" in them). The element conversions are the PG-free kernels in float16.hpp.
#pragma once
#include "extension/types/vector.hpp"

#include "worker/kernels/float16.hpp"

namespace ruvector {

using kernels::half;

struct HalfVector {
	int32 vl_len_;
	int16 dim;
	int16 unused;
	half x[FLEXIBLE_ARRAY_MEMBER];
};

inline Size halfvec_size(int dim) { return offsetof(HalfVector, x) + sizeof(half) * Size(dim); }

inline HalfVector *datum_get_halfvec(Datum d)
{
	return datum_get_checked<HalfVector>(d, halfvec_size, "halfvec");
}

inline HalfVector *new_halfvec(int dim)
{
	HalfVector *v = static_cast<HalfVector *>(palloc0(halfvec_size(dim)));
	SET_VARSIZE(v, halfvec_size(dim));
	v->dim = int16(dim);
	return v;
}

inline float half_element(const HalfVector *v, int i) { return kernels::half_to_float(v->x[i]); }

inline void check_half_element(half h) { check_element(kernels::half_to_float(h), "halfvec"); }

// pgvector's Float4ToHalf: a finite float beyond the half range is an error (22003) naming the
// value; NaN and infinity convert as they are (the caller's element check rejects them).
half float_to_half_checked(float f);

}  // namespace ruvector

#define RV_GETARG_HALFVEC(n) (ruvector::datum_get_halfvec(PG_GETARG_DATUM(n)))
