// vector: text and binary I/O, typmod, and casts to and from arrays.
#include "extension/types/vector.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
}

using namespace ruvector;
namespace k = ruvector::kernels;

RV_FUNCTION(vector_in)
{
	char *lit = PG_GETARG_CSTRING(0);
	int32 typmod = PG_GETARG_INT32(2);
	float *buf = static_cast<float *>(palloc(sizeof(float) * kVectorMaxDim));
	k::VectorTextResult r = k::parse_vector_text(lit, std::span<float>(buf, kVectorMaxDim));

	switch (r.error) {
	case k::VectorTextError::none:
		break;
	case k::VectorTextError::missing_bracket:
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type vector: \"%s\"", lit),
						errdetail("Vector contents must start with \"[\".")));
	case k::VectorTextError::junk_after:
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type vector: \"%s\"", lit),
						errdetail("Junk after closing right brace.")));
	case k::VectorTextError::syntax:
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type vector: \"%s\"", lit)));
	case k::VectorTextError::out_of_range:
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("\"%s\" is out of range for type vector",
							   pnstrdup(r.token.data(), r.token.size()))));
	case k::VectorTextError::nan:
		check_element(NAN);
		break;
	case k::VectorTextError::infinite:
		check_element(INFINITY);
		break;
	case k::VectorTextError::no_dimensions:
		check_dim(0);
		break;
	case k::VectorTextError::too_many_dims:
		check_dim(kVectorMaxDim + 1);
		break;
	}

	check_expected_dim(typmod, int(r.dim));
	Vector *result = new_vector(int(r.dim));
	memcpy(result->x, buf, sizeof(float) * r.dim);
	pfree(buf);
	PG_RETURN_POINTER(result);
}

RV_FUNCTION(vector_out)
{
	Vector *v = RV_GETARG_VECTOR(0);
	char *buf = static_cast<char *>(palloc(k::vector_text_capacity(v->dim) + 1));
	std::size_t len = k::format_vector_text(std::span<const float>(v->x, v->dim), buf);
	buf[len] = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

int32 ruvector::dims_typmod_in(ArrayType *ta, const char *type, int max_dim)
{
	int n;
	int32 *tl = ArrayGetIntegerTypmods(ta, &n);

	if (n != 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid type modifier")));
	if (*tl < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("dimensions for type %s must be at least 1", type)));
	if (*tl > max_dim)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("dimensions for type %s cannot exceed %d", type, max_dim)));
	return *tl;
}

RV_FUNCTION(vector_typmod_in)
{
	PG_RETURN_INT32(dims_typmod_in(PG_GETARG_ARRAYTYPE_P(0), "vector"));
}

// Binary: int16 dim, int16 unused, then dim float4, network byte order (pgvector's wire format).
RV_FUNCTION(vector_recv)
{
	StringInfo buf = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
	int32 typmod = PG_GETARG_INT32(2);
	int16 dim = int16(pq_getmsgint(buf, sizeof(int16)));
	int16 unused = int16(pq_getmsgint(buf, sizeof(int16)));

	check_dim(dim);
	check_expected_dim(typmod, dim);
	if (unused != 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected unused to be 0, not %d", unused)));

	Vector *result = new_vector(dim);
	for (int i = 0; i < dim; i++) {
		result->x[i] = pq_getmsgfloat4(buf);
		check_element(result->x[i]);
	}
	PG_RETURN_POINTER(result);
}

RV_FUNCTION(vector_send)
{
	Vector *v = RV_GETARG_VECTOR(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint(&buf, v->dim, sizeof(int16));
	pq_sendint(&buf, v->unused, sizeof(int16));
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

// The typmod coercion: vector(vector, typmod, explicit).
RV_FUNCTION(vector)
{
	Vector *v = RV_GETARG_VECTOR(0);
	check_expected_dim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_POINTER(v);
}

NumberArray ruvector::deconstruct_number_array(ArrayType *array)
{
	NumberArray r{nullptr, 0, ARR_ELEMTYPE(array)};
	int16 typlen;
	bool typbyval;
	char typalign;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("array must be 1-D")));
	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("array must not contain nulls")));
	get_typlenbyvalalign(r.type, &typlen, &typbyval, &typalign);
	deconstruct_array(array, r.type, typlen, typbyval, typalign, &r.elems, nullptr, &r.count);
	return r;
}

float ruvector::array_element_to_float(Datum elem, Oid type)
{
	switch (type) {
	case INT4OID:
		return float(DatumGetInt32(elem));
	case FLOAT8OID:
		return float(DatumGetFloat8(elem));
	case FLOAT4OID:
		return DatumGetFloat4(elem);
	case NUMERICOID:
		return DatumGetFloat4(DirectFunctionCall1(numeric_float4, elem));
	default:
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("unsupported array type")));
	}
}

float *ruvector::array_to_floats(ArrayType *array, int32 typmod, int *n, const char *type)
{
	NumberArray a = deconstruct_number_array(array);
	check_dim(a.count, type);
	check_expected_dim(typmod, a.count);
	float *out = static_cast<float *>(palloc(sizeof(float) * a.count));
	for (int i = 0; i < a.count; i++)
		out[i] = array_element_to_float(a.elems[i], a.type);
	pfree(a.elems);
	*n = a.count;
	return out;
}

// integer[], real[], double precision[], numeric[] -> vector
RV_FUNCTION(array_to_vector)
{
	int n;
	float *values = array_to_floats(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_INT32(1), &n, "vector");
	Vector *result = new_vector(n);
	memcpy(result->x, values, sizeof(float) * n);
	pfree(values);
	for (int i = 0; i < n; i++)
		check_element(result->x[i]);
	PG_RETURN_POINTER(result);
}

// vector -> real[]
RV_FUNCTION(vector_to_float4)
{
	Vector *v = RV_GETARG_VECTOR(0);
	Datum *datums = static_cast<Datum *>(palloc(sizeof(Datum) * v->dim));

	for (int i = 0; i < v->dim; i++)
		datums[i] = Float4GetDatum(v->x[i]);
	ArrayType *result = construct_array(datums, v->dim, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT);
	pfree(datums);
	PG_RETURN_POINTER(result);
}
