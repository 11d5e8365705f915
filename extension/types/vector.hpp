// The `vector` type: pgvector's on-disk layout and checks, shared by every backend file that
// reads or builds vectors.
#pragma once
#include "shmem/pg.hpp"

#include "worker/kernels/vector_text.hpp"

#include <algorithm>
#include <cmath>

extern "C" {
#include "common/hashfn.h"
#include "utils/array.h"
#include "utils/varbit.h"
}

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

// The header check of datum_get_checked: `bytes` is the value's length, `want` what `dim`
// elements take.
inline void check_dense_size(Size bytes, int dim, Size want, const char *type)
{
	if (dim < 0 || bytes != want)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("invalid %s value: header says %d dimensions in %zu bytes", type, dim, bytes),
						errdetail("A %s of %d dimensions takes %zu bytes.", type, dim, want),
						errhint("The stored value is damaged: restore it from a backup or overwrite it.")));
}

// A detoasted vector-like value (vector, halfvec: a varlena header then int16 dim) whose header
// agrees with its length. Every function reads its values through here, so a damaged value (a
// dimension count its bytes do not hold) is an error, never a read past its end.
template <class V>
V *datum_get_checked(Datum d, Size (*size_for)(int dim), const char *type)
{
	V *v = reinterpret_cast<V *>(PG_DETOAST_DATUM(d));
	check_dense_size(Size(VARSIZE(v)), v->dim, v->dim < 0 ? Size(0) : size_for(v->dim), type);
	return v;
}

inline Vector *datum_get_vector(Datum d) { return datum_get_checked<Vector>(d, vector_size, "vector"); }

// A zeroed vector of `dim` elements in the current memory context.
inline Vector *new_vector(int dim)
{
	Vector *v = static_cast<Vector *>(palloc0(vector_size(dim)));
	SET_VARSIZE(v, vector_size(dim));
	v->dim = int16(dim);
	return v;
}

// The dimension checks and messages of pgvector's types ("vector", "sparsevec", ...).
inline void check_dim(int dim, const char *type = "vector", int max_dim = kVectorMaxDim)
{
	if (dim < 1)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("%s must have at least 1 dimension", type)));
	if (dim > max_dim)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("%s cannot have more than %d dimensions", type, max_dim)));
}

// TYPMOD_IN of pgvector's types: a single dimension count in [1, max_dim].
int32 dims_typmod_in(ArrayType *ta, const char *type, int max_dim = kVectorMaxDim);

// The elements of a 1-D integer[], real[], double precision[] or numeric[] without nulls (errors
// as pgvector's casts raise them); array_element_to_float converts one of them.
struct NumberArray {
	Datum *elems;
	int count;
	Oid type;
};
NumberArray deconstruct_number_array(ArrayType *array);
float array_element_to_float(Datum elem, Oid type);

// typmod -1 means "any dimension".
inline void check_expected_dim(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected %d dimensions, not %d", typmod, dim)));
}

inline void check_element(float value, const char *type = "vector")
{
	if (std::isnan(value))
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("NaN not allowed in %s", type)));
	if (std::isinf(value))
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("infinite value not allowed in %s", type)));
}

inline void check_same_dims(int a, int b, const char *type, const char *noun = "dimensions")
{
	if (a != b)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("different %s %s %d and %d", type, noun, a, b)));
}

inline void check_same_dims(const Vector *a, const Vector *b) { check_same_dims(a->dim, b->dim, "vector"); }

// The float elements of a 1-D integer[], real[], double precision[] or numeric[] without nulls,
// checked against the type's dimension limits and typmod (a dense type's cast); *n receives the
// count.
float *array_to_floats(ArrayType *array, int32 typmod, int *n, const char *type);

// subvector(v, start, count): 1-based and clamped like substring(); an empty result is an
// error. Sets *first to the 0-based first element and returns the count.
inline int subvector_range(int dim, int32 start, int32 count, int *first, const char *type)
{
	int32 end;
	if (count < 1)
		check_dim(0, type);
	// start + count > dim, written so it cannot overflow (dim and count are positive).
	if (start > dim - count)
		end = dim + 1;
	else
		end = start + count;
	if (start < 1)
		start = 1;
	else if (start > dim)
		check_dim(0, type);
	check_dim(end - start, type);
	*first = start - 1;
	return end - start;
}

// pgvector orders by element, then by dimension (like arrays). `at(v, i)` reads element i as float.
template <class V, class At>
int compare_elements(const V *a, const V *b, At at)
{
	int dim = std::min(a->dim, b->dim);
	for (int i = 0; i < dim; i++) {
		if (at(a, i) < at(b, i))
			return -1;
		if (at(a, i) > at(b, i))
			return 1;
	}
	return (a->dim > b->dim) - (a->dim < b->dim);
}

// Equal values must hash equally: -0 equals 0, so both hash as +0.
template <class V, class At>
uint64 hash_elements(const V *v, uint64 seed, At at)
{
	uint64 h = hash_bytes_uint32_extended(uint32(v->dim), seed);
	for (int i = 0; i < v->dim; i++) {
		float f = at(v, i) == 0.0f ? 0.0f : at(v, i);
		uint32 bits;
		memcpy(&bits, &f, sizeof bits);
		h = hash_combine64(h, hash_bytes_uint32_extended(bits, seed));
	}
	return h;
}

// One bit per element: 1 where the element is positive (binary_quantize).
template <class V, class At>
VarBit *quantize_elements(const V *v, At at)
{
	VarBit *r = static_cast<VarBit *>(palloc0(VARBITTOTALLEN(v->dim)));
	SET_VARSIZE(r, VARBITTOTALLEN(v->dim));
	VARBITLEN(r) = v->dim;
	for (int i = 0; i < v->dim; i++)
		VARBITS(r)[i / 8] |= bits8((at(v, i) > 0) << (7 - (i % 8)));
	return r;
}

}  // namespace ruvector

#define RV_GETARG_VECTOR(n) (ruvector::datum_get_vector(PG_GETARG_DATUM(n)))
