// The `sparsevec` type: pgvector's on-disk layout and checks.
#pragma once
#include "extension/types/vector.hpp"

#include "worker/kernels/sparse.hpp"

namespace ruvector {

// varlena header, int32 dim, int32 nnz, int32 unused (always 0), then nnz int32 indices (0-based,
// strictly ascending) followed by nnz float4 values, all non-zero and finite: pgvector's layout.
struct SparseVector {
	int32 vl_len_;
	int32 dim;
	int32 nnz;
	int32 unused;
	int32 indices[FLEXIBLE_ARRAY_MEMBER];
};

inline constexpr int kSparsevecMaxDim = 1000000000;
inline constexpr int kSparsevecMaxNnz = 16000;

inline Size sparsevec_size(int nnz) { return offsetof(SparseVector, indices) + (sizeof(int32) + sizeof(float)) * Size(nnz); }
inline float *sparsevec_values(SparseVector *v) { return reinterpret_cast<float *>(v->indices + v->nnz); }
inline kernels::SparseView sparsevec_view(SparseVector *v)
{
	return {{v->indices, size_t(v->nnz)}, {sparsevec_values(v), size_t(v->nnz)}};
}

// A detoasted sparsevec whose header agrees with its length (a damaged value is an error, never a
// read past its end).
inline SparseVector *datum_get_sparsevec(Datum d)
{
	SparseVector *v = reinterpret_cast<SparseVector *>(PG_DETOAST_DATUM(d));
	if (v->nnz < 0 || v->nnz > kSparsevecMaxNnz || VARSIZE(v) != sparsevec_size(v->nnz))
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("invalid sparsevec value: header says %d non-zero elements in %zu bytes", int(v->nnz),
							   Size(VARSIZE(v))),
						errhint("The stored value is damaged: restore it from a backup or overwrite it.")));
	return v;
}

// A sparsevec of `dim` dimensions with room for `nnz` entries (zeroed), in the current context.
inline SparseVector *new_sparsevec(int dim, int nnz)
{
	SparseVector *v = static_cast<SparseVector *>(palloc0(sparsevec_size(nnz)));
	SET_VARSIZE(v, sparsevec_size(nnz));
	v->dim = dim;
	v->nnz = nnz;
	return v;
}

}  // namespace ruvector

#define RV_GETARG_SPARSEVEC(n) (ruvector::datum_get_sparsevec(PG_GETARG_DATUM(n)))
