// halfvec: text and binary I/O, typmod, and casts to and from vector and arrays.
#include "extension/types/halfvec.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
}

using namespace ruvector;
namespace k = ruvector::kernels;

half ruvector::float_to_half_checked(float f)
{
	if (k::overflows_half(f)) {
		char buf[k::kFloatTextMax + 1];
		buf[k::format_float(f, buf)] = '\0';
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("\"%s\" is out of range for type halfvec", buf),
						errdetail("halfvec elements are 16-bit floats, at most %g in magnitude.", double(k::kHalfMax)),
						errhint("Scale the values, or keep them as vector.")));
	}
	return k::float_to_half(f);
}

// Text as pgvector reads it: each number read as a float (strtof), then rounded to half.
RV_FUNCTION(halfvec_in)
{
	char *lit = PG_GETARG_CSTRING(0);
	int32 typmod = PG_GETARG_INT32(2);
	float *buf = static_cast<float *>(palloc(sizeof(float) * kVectorMaxDim));
	k::VectorTextResult r = k::parse_vector_text(lit, std::span<float>(buf, kVectorMaxDim), k::kVectorMaxDim,
	                                             k::overflows_half);

	switch (r.error) {
	case k::VectorTextError::none:
		break;
	case k::VectorTextError::missing_bracket:
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type halfvec: \"%s\"", lit),
						errdetail("Vector contents must start with \"[\".")));
	case k::VectorTextError::junk_after:
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type halfvec: \"%s\"", lit),
						errdetail("Junk after closing right brace.")));
	case k::VectorTextError::syntax:
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type halfvec: \"%s\"", lit)));
	case k::VectorTextError::out_of_range:
		ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						errmsg("\"%s\" is out of range for type halfvec", pnstrdup(r.token.data(), r.token.size()))));
	case k::VectorTextError::nan:
		check_element(NAN, "halfvec");
		break;
	case k::VectorTextError::infinite:
		check_element(INFINITY, "halfvec");
		break;
	case k::VectorTextError::no_dimensions:
		check_dim(0, "halfvec");
		break;
	case k::VectorTextError::too_many_dims:
		check_dim(kVectorMaxDim + 1, "halfvec");
		break;
	}

	check_expected_dim(typmod, int(r.dim));
	HalfVector *result = new_halfvec(int(r.dim));
	k::active_half_kernels().from_float(buf, result->x, r.dim);
	pfree(buf);
	PG_RETURN_POINTER(result);
}

// Each half printed as the shortest text of its float value (pgvector: "[0.099975586]" for 0.1).
RV_FUNCTION(halfvec_out)
{
	HalfVector *v = RV_GETARG_HALFVEC(0);
	float *values = static_cast<float *>(palloc(sizeof(float) * (v->dim + 1)));
	k::active_half_kernels().to_float(v->x, values, v->dim);
	char *buf = static_cast<char *>(palloc(k::vector_text_capacity(v->dim) + 1));
	std::size_t len = k::format_vector_text(std::span<const float>(values, v->dim), buf);
	buf[len] = '\0';
	pfree(values);
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

RV_FUNCTION(halfvec_typmod_in)
{
	PG_RETURN_INT32(dims_typmod_in(PG_GETARG_ARRAYTYPE_P(0), "halfvec"));
}

// Binary: int16 dim, int16 unused, then dim halves as uint16, network byte order (pgvector's).
RV_FUNCTION(halfvec_recv)
{
	StringInfo buf = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
	int32 typmod = PG_GETARG_INT32(2);
	int16 dim = int16(pq_getmsgint(buf, sizeof(int16)));
	int16 unused = int16(pq_getmsgint(buf, sizeof(int16)));

	check_dim(dim, "halfvec");
	check_expected_dim(typmod, dim);
	if (unused != 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected unused to be 0, not %d", unused)));

	HalfVector *result = new_halfvec(dim);
	for (int i = 0; i < dim; i++) {
		result->x[i] = half(pq_getmsgint(buf, sizeof(int16)));
		check_half_element(result->x[i]);
	}
	PG_RETURN_POINTER(result);
}

RV_FUNCTION(halfvec_send)
{
	HalfVector *v = RV_GETARG_HALFVEC(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, uint16(v->dim));
	pq_sendint16(&buf, uint16(v->unused));
	for (int i = 0; i < v->dim; i++)
		pq_sendint16(&buf, v->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

// The typmod coercion: halfvec(halfvec, typmod, explicit).
RV_FUNCTION(halfvec)
{
	HalfVector *v = RV_GETARG_HALFVEC(0);
	check_expected_dim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_POINTER(v);
}

// integer[], real[], double precision[], numeric[] -> halfvec. Out-of-range values fail as they
// are converted, NaN and infinity afterwards (pgvector's order).
RV_FUNCTION(array_to_halfvec)
{
	int n;
	float *values = array_to_floats(PG_GETARG_ARRAYTYPE_P(0), PG_GETARG_INT32(1), &n, "halfvec");
	HalfVector *result = new_halfvec(n);
	for (int i = 0; i < n; i++)
		result->x[i] = float_to_half_checked(values[i]);
	pfree(values);
	for (int i = 0; i < n; i++)
		check_half_element(result->x[i]);
	PG_RETURN_POINTER(result);
}

// halfvec -> real[]
RV_FUNCTION(halfvec_to_float4)
{
	HalfVector *v = RV_GETARG_HALFVEC(0);
	Datum *datums = static_cast<Datum *>(palloc(sizeof(Datum) * v->dim));
	for (int i = 0; i < v->dim; i++)
		datums[i] = Float4GetDatum(half_element(v, i));
	ArrayType *result = construct_array(datums, v->dim, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT);
	pfree(datums);
	PG_RETURN_POINTER(result);
}

RV_FUNCTION(vector_to_halfvec)
{
	Vector *v = RV_GETARG_VECTOR(0);
	int32 typmod = PG_GETARG_INT32(1);
	check_dim(v->dim, "halfvec");
	check_expected_dim(typmod, v->dim);
	HalfVector *result = new_halfvec(v->dim);
	// The SIMD conversion (the same bits as float_to_half) unless an element is out of range (or
	// not finite): then element by element, so the error names the first one, as pgvector's. An
	// expression index's query casts every row it returns (and the query) this way.
	if (k::any_overflows_half(v->x, Size(v->dim))) {
		for (int i = 0; i < v->dim; i++)
			result->x[i] = float_to_half_checked(v->x[i]);
	} else
		k::active_half_kernels().from_float(v->x, result->x, Size(v->dim));
	PG_RETURN_POINTER(result);
}

// Every half is exactly a float: this cast never loses anything.
RV_FUNCTION(halfvec_to_vector)
{
	HalfVector *v = RV_GETARG_HALFVEC(0);
	int32 typmod = PG_GETARG_INT32(1);
	check_dim(v->dim);
	check_expected_dim(typmod, v->dim);
	Vector *result = new_vector(v->dim);
	k::active_half_kernels().to_float(v->x, result->x, v->dim);
	PG_RETURN_POINTER(result);
}
