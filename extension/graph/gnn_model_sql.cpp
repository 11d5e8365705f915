// ruvector_gnn_glorot: deterministic Glorot-uniform initial weights for the GNN model catalog
// (sql/gnn.sql: ruvector_gnn_model_create draws every weight matrix and attention vector from it).
#include "shmem/pg.hpp"

#include "worker/kernels/gnn.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
}

#include <cstring>

using namespace ruvector;

// ruvector_gnn_glorot(out_dim integer, in_dim integer, seed bigint) RETURNS real[]
// out_dim * in_dim values, row-major [out, in] (a torch.nn.Linear weight), as a 1-D array:
// U(-b, b) with b = sqrt(6 / (in + out)), from SplitMix64(seed); the same arguments always give the
// same values, on any machine.
RV_FUNCTION(ruvector_gnn_glorot)
{
	const int32 out = PG_GETARG_INT32(0);
	const int32 in = PG_GETARG_INT32(1);
	const int64 seed = PG_GETARG_INT64(2);
	if (out < 1 || in < 1)
		throw pg::Error(ERRCODE_INVALID_PARAMETER_VALUE,
		                "ruvector_gnn_glorot: dimensions must be at least 1, got out_dim " + std::to_string(out) +
		                    " and in_dim " + std::to_string(in));
	const uint64 n = uint64(out) * uint64(in);
	// The array's header, data and a construct_array-sized Datum copy must stay under MaxAllocSize.
	if (n > uint64(MaxArraySize) || n * sizeof(float4) + ARR_OVERHEAD_NONULLS(1) > MaxAllocSize)
		throw pg::Error(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
		                "ruvector_gnn_glorot: " + std::to_string(out) + " x " + std::to_string(in) +
		                    " values exceed the maximum array size");

	// Allocate the result before any C++ object exists, so a palloc failure skips no destructor.
	const Size bytes = ARR_OVERHEAD_NONULLS(1) + Size(n) * sizeof(float4);
	ArrayType *result = static_cast<ArrayType *>(palloc0(bytes));
	SET_VARSIZE(result, bytes);
	result->ndim = 1;
	result->dataoffset = 0;  // no null bitmap
	result->elemtype = FLOAT4OID;
	ARR_DIMS(result)[0] = int(n);
	ARR_LBOUND(result)[0] = 1;
	{
		const std::vector<float> w = kernels::glorot(std::size_t(out), std::size_t(in), uint64(seed));
		std::memcpy(ARR_DATA_PTR(result), w.data(), w.size() * sizeof(float));
	}
	PG_RETURN_ARRAYTYPE_P(result);
}
