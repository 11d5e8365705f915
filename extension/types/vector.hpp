// The `vector` type: pgvector's on-disk layout and checks, shared by every backend file that
// reads or builds vectors.
#pragma once
#include "shmem/pg.hpp"

#include "worker/kernels/vector_text.hpp"

#include <cmath>

namespace ruvector {

// varlena header, int16 dim, int16 unused (always 0), then dim float4 values: pgvector's layout.
struct Vector {
	int32 vl_len_;
	int16 dim;
	int16 unused;
	float x[FLEXIBLE_ARRAY_MEMBER];
};

inline constexpr int kVectorMaxDim = int(kernels::kVectorMaxDim);

inline Size vector_size(int dim) { return offsetof(Vector, x) + sizeof(float) * Size(dim); }

// A detoasted vector whose header agrees with its length. Every function reads its vectors through
// here, so a damaged value (a dimension count its bytes do not hold) is an error, never a read
// past its end.
inline Vector *datum_get_vector(Datum d)
{
	Vector *v = reinterpret_cast<Vector *>(PG_DETOAST_DATUM(d));
	if (v->dim < 0 || VARSIZE(v) != vector_size(v->dim))
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("invalid vector value: header says %d dimensions in %zu bytes", int(v->dim),
							   Size(VARSIZE(v))),
						errdetail("A vector of %d dimensions takes %zu bytes.", int(v->dim),
								  v->dim < 0 ? Size(0) : vector_size(v->dim)),
						errhint("The stored value is damaged: restore it from a backup or overwrite it.")));
	return v;
}

// A zeroed vector of `dim` elements in the current memory context.
inline Vector *new_vector(int dim)
{
	Vector *v = static_cast<Vector *>(palloc0(vector_size(dim)));
	SET_VARSIZE(v, vector_size(dim));
	v->dim = int16(dim);
	return v;
}

inline void check_dim(int dim)
{
	if (dim < 1)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("vector must have at least 1 dimension")));
	if (dim > kVectorMaxDim)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("vector cannot have more than %d dimensions", kVectorMaxDim)));
}

// typmod -1 means "any dimension".
inline void check_expected_dim(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected %d dimensions, not %d", typmod, dim)));
}

inline void check_element(float value)
{
	if (std::isnan(value))
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("NaN not allowed in vector")));
	if (std::isinf(value))
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("infinite value not allowed in vector")));
}

inline void check_same_dims(const Vector *a, const Vector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
						errmsg("different vector dimensions %d and %d", a->dim, b->dim)));
}

}  // namespace ruvector

#define RV_GETARG_VECTOR(n) (ruvector::datum_get_vector(PG_GETARG_DATUM(n)))
