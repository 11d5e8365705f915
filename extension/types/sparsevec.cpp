// sparsevec: text and binary I/O, typmod, casts, distances, norms and comparison, as pgvector 0.8.
#include "extension/types/sparsevec.hpp"

#include "extension/types/halfvec.hpp"

#include "worker/kernels/vector_text.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>

extern "C" {
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/float.h"
}

using namespace ruvector;
namespace k = ruvector::kernels;

namespace {

constexpr const char *kType = "sparsevec";

void check_same_dims(const SparseVector *a, const SparseVector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
						errmsg("different sparsevec dimensions %d and %d", a->dim, b->dim)));
}

void check_nnz(int nnz, int dim)
{
	if (nnz < 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("sparsevec cannot have negative number of elements")));
	if (nnz > kSparsevecMaxNnz)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("sparsevec cannot have more than %d non-zero elements", kSparsevecMaxNnz)));
	if (nnz > dim)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("sparsevec cannot have more elements than dimensions")));
}

// indices[i] against the dimension and its predecessor (0-based).
void check_index(const int32 *indices, int i, int dim)
{
	if (indices[i] < 0 || indices[i] >= dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("sparsevec index out of bounds")));
	if (i > 0) {
		if (indices[i] < indices[i - 1])
			ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("sparsevec indices must be in ascending order")));
		if (indices[i] == indices[i - 1])
			ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("sparsevec indices must not contain duplicates")));
	}
}

// A stored value's index before it is used to write into a dense result (damage is XX001).
void check_stored_index(const SparseVector *s, int i)
{
	if (s->indices[i] < 0 || s->indices[i] >= s->dim)
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
						errmsg("invalid sparsevec value: index %d outside its %d dimensions", s->indices[i] + 1, s->dim),
						errhint("The stored value is damaged: restore it from a backup or overwrite it.")));
}

bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

[[noreturn]] void syntax_error(const char *lit, const char *detail = nullptr)
{
	if (detail)
		ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						errmsg("invalid input syntax for type sparsevec: \"%s\"", lit), errdetail("%s", detail)));
	ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					errmsg("invalid input syntax for type sparsevec: \"%s\"", lit)));
	pg_unreachable();
}

struct Entry {
	int32 index;  // 0-based
	float value;
};

// pgvector orders by the dense vectors the values stand for, element by element (an absent index
// is a zero), then by dimension, like arrays.
int sparsevec_cmp_internal(SparseVector *a, SparseVector *b)
{
	float *ax = sparsevec_values(a), *bx = sparsevec_values(b);
	int nnz = std::min(a->nnz, b->nnz);
	for (int i = 0; i < nnz; i++) {
		if (a->indices[i] < b->indices[i])
			return ax[i] < 0 ? -1 : 1;
		if (a->indices[i] > b->indices[i])
			return bx[i] < 0 ? 1 : -1;
		if (ax[i] < bx[i])
			return -1;
		if (ax[i] > bx[i])
			return 1;
	}
	if (a->nnz < b->nnz && b->indices[nnz] < a->dim)
		return bx[nnz] < 0 ? 1 : -1;
	if (a->nnz > b->nnz && a->indices[nnz] < b->dim)
		return ax[nnz] < 0 ? -1 : 1;
	return (a->dim > b->dim) - (a->dim < b->dim);
}

int compare_args(FunctionCallInfo fcinfo)
{
	return sparsevec_cmp_internal(RV_GETARG_SPARSEVEC(0), RV_GETARG_SPARSEVEC(1));
}

struct SparsePair {
	SparseVector *a;
	SparseVector *b;
};

SparsePair get_pair(FunctionCallInfo fcinfo)
{
	SparsePair p{RV_GETARG_SPARSEVEC(0), RV_GETARG_SPARSEVEC(1)};
	check_same_dims(p.a, p.b);
	return p;
}

}  // namespace

/* I/O */

// "{1:1.5,3:2}/5": 1-based indices in any order, zeros dropped, then the dimension count. Checks
// and messages in pgvector's order.
RV_FUNCTION(sparsevec_in)
{
	char *lit = PG_GETARG_CSTRING(0);
	int32 typmod = PG_GETARG_INT32(2);
	const char *pt = lit;
	char *end;

	// One entry per comma at most: bounds the work before parsing anything.
	int max_nnz = 1;
	for (const char *c = lit; *c; c++)
		max_nnz += *c == ',';
	if (max_nnz > kSparsevecMaxNnz)
		ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						errmsg("sparsevec cannot have more than %d non-zero elements", kSparsevecMaxNnz)));
	Entry *entries = static_cast<Entry *>(palloc(sizeof(Entry) * max_nnz));
	int nnz = 0;

	while (is_space(*pt))
		pt++;
	if (*pt != '{')
		syntax_error(lit, "Vector contents must start with \"{\".");
	pt++;
	while (is_space(*pt))
		pt++;

	if (*pt == '}')
		pt++;
	else {
		for (;;) {
			if (nnz == max_nnz)
				syntax_error(lit);  // unreachable: the comma count bounds the entries
			while (is_space(*pt))
				pt++;
			if (*pt == '\0')
				syntax_error(lit);

			long index = std::strtol(pt, &end, 10);
			if (end == pt)
				syntax_error(lit);
			// Clamped into int range, so that an out-of-range index is reported as out of bounds.
			index = std::clamp(index, long(INT_MIN) + 1, long(INT_MAX));
			pt = end;
			while (is_space(*pt))
				pt++;
			if (*pt != ':')
				syntax_error(lit);
			pt++;
			while (is_space(*pt))
				pt++;

			// strtof, as float4in does: reading through double would round twice.
			errno = 0;
			float value = std::strtof(pt, &end);
			if (end == pt)
				syntax_error(lit);
			if (errno == ERANGE && (value == 0 || std::isinf(value)))
				ereport(ERROR, (errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
								errmsg("\"%s\" is out of range for type sparsevec", pnstrdup(pt, end - pt))));
			check_element(value, kType);
			if (value != 0)
				entries[nnz++] = {int32(index - 1), value};

			pt = end;
			while (is_space(*pt))
				pt++;
			if (*pt == ',')
				pt++;
			else if (*pt == '}') {
				pt++;
				break;
			} else
				syntax_error(lit);
		}
	}

	while (is_space(*pt))
		pt++;
	if (*pt != '/')
		syntax_error(lit, "Unexpected end of input.");
	pt++;
	while (is_space(*pt))
		pt++;
	long dim = std::strtol(pt, &end, 10);
	if (end == pt)
		syntax_error(lit);
	dim = std::clamp(dim, long(INT_MIN), long(INT_MAX));
	pt = end;
	while (is_space(*pt))
		pt++;
	if (*pt != '\0')
		syntax_error(lit, "Junk after closing.");

	check_dim(int(dim), kType, kSparsevecMaxDim);
	check_expected_dim(typmod, int(dim));

	std::stable_sort(entries, entries + nnz, [](const Entry &x, const Entry &y) { return x.index < y.index; });
	SparseVector *result = new_sparsevec(int(dim), nnz);
	float *values = sparsevec_values(result);
	for (int i = 0; i < nnz; i++) {
		result->indices[i] = entries[i].index;
		values[i] = entries[i].value;
		check_index(result->indices, i, int(dim));
	}
	pfree(entries);
	PG_RETURN_POINTER(result);
}

RV_FUNCTION(sparsevec_out)
{
	SparseVector *v = RV_GETARG_SPARSEVEC(0);
	float *values = sparsevec_values(v);
	// Per entry: an index (at most 10 digits), ':', a float, ','; then '{', '}', '/', the dimension, NUL.
	char *buf = static_cast<char *>(palloc((12 + k::kFloatTextMax) * Size(v->nnz) + 16));
	char *p = buf;

	*p++ = '{';
	for (int i = 0; i < v->nnz; i++) {
		if (i > 0)
			*p++ = ',';
		p = std::to_chars(p, p + 12, int64(v->indices[i]) + 1).ptr;  // 1-based in text
		*p++ = ':';
		p += k::format_float(values[i], p);
	}
	*p++ = '}';
	*p++ = '/';
	p = std::to_chars(p, p + 12, v->dim).ptr;
	*p = '\0';
	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

RV_FUNCTION(sparsevec_typmod_in)
{
	PG_RETURN_INT32(dims_typmod_in(PG_GETARG_ARRAYTYPE_P(0), kType, kSparsevecMaxDim));
}

// Binary: int32 dim, int32 nnz, int32 unused, nnz int32 0-based indices, nnz float4 values.
RV_FUNCTION(sparsevec_recv)
{
	StringInfo buf = reinterpret_cast<StringInfo>(PG_GETARG_POINTER(0));
	int32 typmod = PG_GETARG_INT32(2);
	int32 dim = int32(pq_getmsgint(buf, sizeof(int32)));
	int32 nnz = int32(pq_getmsgint(buf, sizeof(int32)));
	int32 unused = int32(pq_getmsgint(buf, sizeof(int32)));

	check_dim(dim, kType, kSparsevecMaxDim);
	check_nnz(nnz, dim);
	check_expected_dim(typmod, dim);
	if (unused != 0)
		ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("expected unused to be 0, not %d", unused)));

	SparseVector *result = new_sparsevec(dim, nnz);
	float *values = sparsevec_values(result);
	for (int i = 0; i < nnz; i++) {
		result->indices[i] = int32(pq_getmsgint(buf, sizeof(int32)));
		check_index(result->indices, i, dim);
	}
	for (int i = 0; i < nnz; i++) {
		values[i] = pq_getmsgfloat4(buf);
		check_element(values[i], kType);
		if (values[i] == 0)
			ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
							errmsg("binary representation of sparsevec cannot contain zero values")));
	}
	PG_RETURN_POINTER(result);
}

RV_FUNCTION(sparsevec_send)
{
	SparseVector *v = RV_GETARG_SPARSEVEC(0);
	float *values = sparsevec_values(v);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, v->dim);
	pq_sendint32(&buf, v->nnz);
	pq_sendint32(&buf, v->unused);
	for (int i = 0; i < v->nnz; i++)
		pq_sendint32(&buf, v->indices[i]);
	for (int i = 0; i < v->nnz; i++)
		pq_sendfloat4(&buf, values[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* Casts */

// The typmod coercion: sparsevec(sparsevec, typmod, explicit).
RV_FUNCTION(sparsevec)
{
	SparseVector *v = RV_GETARG_SPARSEVEC(0);
	check_expected_dim(PG_GETARG_INT32(1), v->dim);
	PG_RETURN_POINTER(v);
}

RV_FUNCTION(vector_to_sparsevec)
{
	Vector *v = RV_GETARG_VECTOR(0);
	check_dim(v->dim, kType, kSparsevecMaxDim);
	check_expected_dim(PG_GETARG_INT32(1), v->dim);

	int nnz = int(std::count_if(v->x, v->x + v->dim, [](float x) { return x != 0; }));
	SparseVector *result = new_sparsevec(v->dim, nnz);
	float *values = sparsevec_values(result);
	for (int i = 0, j = 0; i < v->dim; i++)
		if (v->x[i] != 0) {
			result->indices[j] = i;
			values[j++] = v->x[i];
		}
	PG_RETURN_POINTER(result);
}

RV_FUNCTION(sparsevec_to_vector)
{
	SparseVector *s = RV_GETARG_SPARSEVEC(0);
	float *values = sparsevec_values(s);
	check_dim(s->dim);
	check_expected_dim(PG_GETARG_INT32(1), s->dim);

	Vector *result = new_vector(s->dim);
	for (int i = 0; i < s->nnz; i++) {
		check_stored_index(s, i);
		result->x[s->indices[i]] = values[i];
	}
	PG_RETURN_POINTER(result);
}

// halfvec -> sparsevec (implicit, as pgvector): exact, zeros (either sign) dropped.
RV_FUNCTION(halfvec_to_sparsevec)
{
	HalfVector *v = RV_GETARG_HALFVEC(0);
	check_dim(v->dim, kType, kSparsevecMaxDim);
	check_expected_dim(PG_GETARG_INT32(1), v->dim);

	int nnz = int(std::count_if(v->x, v->x + v->dim, [](half h) { return !k::half_is_zero(h); }));
	SparseVector *result = new_sparsevec(v->dim, nnz);
	float *values = sparsevec_values(result);
	for (int i = 0, j = 0; i < v->dim; i++)
		if (!k::half_is_zero(v->x[i])) {
			result->indices[j] = i;
			values[j++] = half_element(v, i);
		}
	PG_RETURN_POINTER(result);
}

// sparsevec -> halfvec (assignment): a value beyond the half range is 22003, as pgvector.
RV_FUNCTION(sparsevec_to_halfvec)
{
	SparseVector *s = RV_GETARG_SPARSEVEC(0);
	float *values = sparsevec_values(s);
	check_dim(s->dim, "halfvec");
	check_expected_dim(PG_GETARG_INT32(1), s->dim);

	HalfVector *result = new_halfvec(s->dim);
	for (int i = 0; i < s->nnz; i++) {
		check_stored_index(s, i);
		result->x[s->indices[i]] = float_to_half_checked(values[i]);
	}
	PG_RETURN_POINTER(result);
}

// integer[], real[], double precision[], numeric[] -> sparsevec: zeros dropped.
RV_FUNCTION(array_to_sparsevec)
{
	NumberArray a = deconstruct_number_array(PG_GETARG_ARRAYTYPE_P(0));
	check_dim(a.count, kType, kSparsevecMaxDim);
	check_expected_dim(PG_GETARG_INT32(1), a.count);

	float *x = static_cast<float *>(palloc(sizeof(float) * Size(a.count)));
	int nnz = 0;
	for (int i = 0; i < a.count; i++) {
		x[i] = array_element_to_float(a.elems[i], a.type);
		nnz += x[i] != 0;  // NaN counts: it is refused below
	}
	pfree(a.elems);

	// pgvector stores more than its text input reads back; refusing here keeps every value dumpable.
	check_nnz(nnz, a.count);
	SparseVector *result = new_sparsevec(a.count, nnz);
	float *values = sparsevec_values(result);
	for (int i = 0, j = 0; i < a.count; i++)
		if (x[i] != 0) {
			result->indices[j] = i;
			values[j++] = x[i];
		}
	pfree(x);
	for (int i = 0; i < nnz; i++)
		check_element(values[i], kType);
	PG_RETURN_POINTER(result);
}

/* Distances: float8 results; a float sum that overflows is +-Infinity, as in pgvector */

RV_FUNCTION(sparsevec_l2_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(std::sqrt(double(k::sparse_l2_squared(sparsevec_view(a), sparsevec_view(b)))));
}

RV_FUNCTION(sparsevec_l2_squared_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(k::sparse_l2_squared(sparsevec_view(a), sparsevec_view(b))));
}

RV_FUNCTION(sparsevec_inner_product)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(k::sparse_inner_product(sparsevec_view(a), sparsevec_view(b))));
}

RV_FUNCTION(sparsevec_negative_inner_product)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(-double(k::sparse_inner_product(sparsevec_view(a), sparsevec_view(b))));
}

RV_FUNCTION(sparsevec_cosine_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(k::sparse_cosine_distance(sparsevec_view(a), sparsevec_view(b)));
}

RV_FUNCTION(sparsevec_l1_distance)
{
	auto [a, b] = get_pair(fcinfo);
	PG_RETURN_FLOAT8(double(k::sparse_l1(sparsevec_view(a), sparsevec_view(b))));
}

/* Norms */

RV_FUNCTION(sparsevec_l2_norm)
{
	SparseVector *a = RV_GETARG_SPARSEVEC(0);
	PG_RETURN_FLOAT8(k::sparse_l2_norm(sparsevec_view(a).values));
}

// Each value divided by the norm (in double); an entry that underflows to zero is dropped, and a
// zero vector stays zero.
RV_FUNCTION(sparsevec_l2_normalize)
{
	SparseVector *a = RV_GETARG_SPARSEVEC(0);
	float *ax = sparsevec_values(a);
	double norm = k::sparse_l2_norm(sparsevec_view(a).values);
	if (norm == 0)
		PG_RETURN_POINTER(new_sparsevec(a->dim, 0));

	int nnz = 0;
	for (int i = 0; i < a->nnz; i++)
		nnz += float(ax[i] / norm) != 0;
	SparseVector *result = new_sparsevec(a->dim, nnz);
	float *rx = sparsevec_values(result);
	for (int i = 0, j = 0; i < a->nnz; i++) {
		float x = float(ax[i] / norm);
		if (std::isinf(x))
			float_overflow_error();
		if (x != 0) {
			result->indices[j] = a->indices[i];
			rx[j++] = x;
		}
	}
	PG_RETURN_POINTER(result);
}

/* Comparison (btree) */

RV_FUNCTION(sparsevec_lt) { PG_RETURN_BOOL(compare_args(fcinfo) < 0); }
RV_FUNCTION(sparsevec_le) { PG_RETURN_BOOL(compare_args(fcinfo) <= 0); }
RV_FUNCTION(sparsevec_eq) { PG_RETURN_BOOL(compare_args(fcinfo) == 0); }
RV_FUNCTION(sparsevec_ne) { PG_RETURN_BOOL(compare_args(fcinfo) != 0); }
RV_FUNCTION(sparsevec_ge) { PG_RETURN_BOOL(compare_args(fcinfo) >= 0); }
RV_FUNCTION(sparsevec_gt) { PG_RETURN_BOOL(compare_args(fcinfo) > 0); }
RV_FUNCTION(sparsevec_cmp) { PG_RETURN_INT32(compare_args(fcinfo)); }
