// avg(vector) and avg(halfvec) support functions. The state is pgvector's: float8[] = {count,
// sum_1, ..., sum_dim}, so partial aggregates combine across parallel workers (both types share
// vector_combine, as in pgvector).
#include "extension/types/halfvec.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/float.h"
}

using namespace ruvector;

namespace {

// pgvector's check, with an errcode: these are callable from SQL with any array.
float8 *check_state_array(ArrayType *state, const char *caller, const char *type)
{
	if (ARR_NDIM(state) != 1 || ARR_DIMS(state)[0] < 1 || ARR_HASNULL(state) || ARR_ELEMTYPE(state) != FLOAT8OID)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s: expected state array", caller),
						errdetail("The state of avg(vector) and avg(halfvec) is a one-dimensional double "
								  "precision array {count, sum_1, ..., sum_n} without nulls."),
						errhint("Call avg() rather than its support functions.")));
	// A state holds no more dimensions than a vector can (pgvector's limit, checked where it errs).
	if (ARR_DIMS(state)[0] - 1 > kVectorMaxDim)
		check_dim(ARR_DIMS(state)[0] - 1, type);
	return reinterpret_cast<float8 *>(ARR_DATA_PTR(state));
}

int state_dims(ArrayType *state) { return ARR_DIMS(state)[0] - 1; }

Datum make_state(float8 n, const float8 *sums, int dim)
{
	Datum *datums = static_cast<Datum *>(palloc(sizeof(Datum) * (dim + 1)));
	datums[0] = Float8GetDatum(n);
	for (int i = 0; i < dim; i++)
		datums[i + 1] = Float8GetDatum(sums[i]);
	ArrayType *result = construct_array(datums, dim + 1, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(datums);
	return PointerGetDatum(result);
}

// The state plus one value whose element i `at(v, i)` reads as float.
template <class V, class At>
Datum accumulate(ArrayType *state, const V *v, At at, const char *caller, const char *type)
{
	float8 *values = check_state_array(state, caller, type);
	int dim = state_dims(state);
	bool first = dim == 0;

	if (first)
		dim = v->dim;
	else
		check_expected_dim(dim, v->dim);

	float8 *sums = static_cast<float8 *>(palloc(sizeof(float8) * dim));
	for (int i = 0; i < dim; i++) {
		sums[i] = first ? double(at(v, i)) : values[i + 1] + double(at(v, i));
		if (std::isinf(sums[i]))
			float_overflow_error();
	}
	return make_state(values[0] + 1.0, sums, dim);
}

}  // namespace

RV_FUNCTION(vector_accum)
{
	PG_RETURN_DATUM(accumulate(PG_GETARG_ARRAYTYPE_P(0), RV_GETARG_VECTOR(1),
	                           [](const Vector *v, int i) { return v->x[i]; }, "vector_accum", "vector"));
}

RV_FUNCTION(halfvec_accum)
{
	PG_RETURN_DATUM(accumulate(PG_GETARG_ARRAYTYPE_P(0), RV_GETARG_HALFVEC(1), half_element, "halfvec_accum", "halfvec"));
}

RV_FUNCTION(vector_combine)
{
	ArrayType *state1 = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType *state2 = PG_GETARG_ARRAYTYPE_P(1);
	float8 *values1 = check_state_array(state1, "vector_combine", "vector");
	float8 *values2 = check_state_array(state2, "vector_combine", "vector");
	float8 n1 = values1[0];
	float8 n2 = values2[0];

	// An empty side contributes nothing (its array may not even carry dimensions).
	if (n1 == 0.0)
		PG_RETURN_DATUM(make_state(n2, values2 + 1, state_dims(state2)));
	if (n2 == 0.0)
		PG_RETURN_DATUM(make_state(n1, values1 + 1, state_dims(state1)));

	int dim = state_dims(state1);
	check_expected_dim(dim, state_dims(state2));
	float8 *sums = static_cast<float8 *>(palloc(sizeof(float8) * dim));
	for (int i = 0; i < dim; i++) {
		sums[i] = values1[i + 1] + values2[i + 1];
		if (std::isinf(sums[i]))
			float_overflow_error();
	}
	PG_RETURN_DATUM(make_state(n1 + n2, sums, dim));
}

RV_FUNCTION(vector_avg)
{
	ArrayType *state = PG_GETARG_ARRAYTYPE_P(0);
	float8 *values = check_state_array(state, "vector_avg", "vector");
	float8 n = values[0];

	// SQL defines the average of no rows as NULL.
	if (n == 0.0)
		PG_RETURN_NULL();

	int dim = state_dims(state);
	check_dim(dim);
	Vector *r = new_vector(dim);
	for (int i = 0; i < dim; i++) {
		r->x[i] = float(values[i + 1] / n);
		check_element(r->x[i]);
	}
	PG_RETURN_POINTER(r);
}

RV_FUNCTION(halfvec_avg)
{
	ArrayType *state = PG_GETARG_ARRAYTYPE_P(0);
	float8 *values = check_state_array(state, "halfvec_avg", "halfvec");
	float8 n = values[0];

	if (n == 0.0)
		PG_RETURN_NULL();

	int dim = state_dims(state);
	check_dim(dim, "halfvec");
	HalfVector *r = new_halfvec(dim);
	for (int i = 0; i < dim; i++) {
		r->x[i] = float_to_half_checked(float(values[i + 1] / n));
		check_half_element(r->x[i]);
	}
	PG_RETURN_POINTER(r);
}
