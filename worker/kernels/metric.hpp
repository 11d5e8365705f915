// The metric table: everything that depends on (element type, distance metric) in one place.
//
// The access methods, k-means, the k-NN / epsilon graph builders, the GNN graph search and the
// worker protocol all look a metric up here instead of switching on it, so a new element type
// (halfvec, bit, sparsevec) or metric is a new row of the table, not a new switch.
//
// A Metric's value is its code everywhere it is stored or sent: the ruivfflat meta page and the
// opclass support functions (l2 = 1 ... l1 = 4, as the index has always stored them) and the
// worker protocol.
#pragma once
#include "shmem/codec/pg_free.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ruvector::kernels {

enum class ElementType : std::uint8_t {
	float32 = 0,  // vector
	float16 = 1,  // halfvec
	bit = 2,      // PostgreSQL's bit: one bit per dimension, first dimension in the high bit
	sparse = 3,   // sparsevec: variable-size rows that describe themselves (ElementInfo::row_size)
};

// How rows of one element type are stored: index pages hold rows in the element type, while
// k-means and centroids work on its float form (every float16 value is exactly a float; a bit is
// 0 or 1).
struct ElementInfo {
	ElementType type;
	const char *sql_type;  // "vector", "halfvec", "bit"
	const char *dims_noun; // what pgvector's mismatch error calls the dimensions ("lengths" for bit)
	std::size_t bits;      // per element: a row of dim elements takes ceil(dim * bits / 8) bytes
	// Relative rounding of a value stored as this type (2^-24 float, 2^-11 half, 0 bit): the error
	// a normalised stored row carries per element.
	double unit;
	// Exact for every value of the type; from_float rounds to nearest even (no range check: the
	// callers convert values that came from this type, or unit vectors); for bit, a float above
	// 0.5 is a set bit (pgvector's rule for bit centroids: the majority of the list).
	void (*to_float)(const std::byte *in, float *out, std::size_t dim);
	void (*from_float)(const float *in, std::byte *out, std::size_t dim);
	// Centroids are rounded through the type after k-means (bit: pgvector's bit centroids; halves
	// keep float32 centroids).
	bool round_centroids;
	// A detoasted PostgreSQL value of the type, from its 4-byte varlena header on: the dimension
	// count its header says (vector, halfvec: int16 after the header, as pgvector's; bit: the int32
	// bit length of PostgreSQL's VarBit). The row starts value_header bytes in.
	std::int64_t (*value_dims)(const std::byte *value);
	std::size_t value_header;
	// Variable-size rows (sparse): the size of a row, read from the row itself; null for the fixed-
	// size types, whose rows of dim elements are all row_bytes(dim). A sparse row is the sparsevec
	// value after its varlena header: int32 dim, int32 nnz, int32 unused, int32 indices[nnz],
	// float values[nnz] (row_header bytes, then `bits` per non-zero element).
	std::size_t (*row_size)(const std::byte *row) = nullptr;
	std::size_t row_header = 0;
	// MetricInfo::order_batch takes the query as dim floats (to_float of the query row) rather
	// than as a row (float16: converted once per query, not once per row it is compared with).
	bool batch_query_floats = false;

	// The size of a row of dim elements; for variable-size rows the largest (every element
	// non-zero), which from_float may write.
	std::size_t row_bytes(std::size_t dim) const noexcept { return row_header + (dim * bits + 7) / 8; }
	// The most dimensions whose (largest) row fits in `bytes`.
	std::size_t dims_in(std::size_t bytes) const noexcept { return bytes < row_header ? 0 : (bytes - row_header) * 8 / bits; }
	bool variable_size() const noexcept { return row_size != nullptr; }
	// The size of this row of dim elements (its own for variable-size rows).
	std::size_t size_of(const std::byte *row, std::size_t dim) const noexcept
	{
		return row_size ? row_size(row) : row_bytes(dim);
	}
};
const ElementInfo &element_info(ElementType type) noexcept;

enum class Metric : std::uint8_t {
	l2 = 1,      // <->  Euclidean
	ip = 2,      // <#>  negative inner product
	cosine = 3,  // <=>  1 - cosine similarity
	l1 = 4,      // <+>  taxicab
	hamming = 5, // <~>  differing bits (bit rows)
	jaccard = 6, // <%>  1 - |a & b| / |a | b| (bit rows; ruhnsw only, as in pgvector)
};

// A row is `dim` elements of the entry's element type, passed as bytes so that one signature
// serves every type (a sparse row also says its dimensions: dim is then the index's). Strides are
// in bytes; a variable-size row must fit in its stride.
struct MetricInfo {
	ElementType type;
	Metric metric;
	const char *name;          // as metric arguments and ruvector_index_info spell it
	const char *alias;         // also accepted by name lookup ("" when none)
	const char *sql_operator;  // the distance operator
	const char *opclass;       // the ruivfflat / ivfflat opclass ordering by it

	// Rows and queries are L2-normalised before they are indexed or compared (cosine).
	bool normalise;
	// k-means: unit-norm centroids, nearest = largest inner product (cosine and ip lists).
	bool spherical;
	// k-means minimises this metric's own error (false for l1: no mean-based centroid update;
	// l1 index lists are trained as l2 ones, see train_as).
	bool kmeans;
	// The float32 metric lists are trained with (k-means request of an index build).
	Metric train_as;
	// The float32 metric of the float form: centroids and list assignment (the same metric, but
	// l2 for bit hamming: on 0/1 floats the squared L2 distance is the Hamming distance).
	Metric float_form;

	// The SQL operator's distance between two rows as given.
	double (*distance)(const std::byte *a, const std::byte *b, std::size_t dim);
	// The ordering distance the index uses: cheaper, and ordered as the operator's distance is
	// once rows are prepared (normalised when `normalise`): squared L2, negative inner product,
	// L1.
	float (*order)(const std::byte *a, const std::byte *b, std::size_t dim);
	// order() of the query against `count` rows `stride` bytes apart, the same bits as order() of
	// the query row against each. q is the query in batch form (batch_query()).
	void (*order_batch)(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim,
	                    std::size_t stride, float *out);
	// The operator's distance from order() (prepared rows; a zero cosine query is NaN, which the
	// caller knows and this cannot).
	double (*from_order)(float order);
	// L2-normalises a row in place (accumulated in double); false, row untouched, when it is zero.
	// Null for bit rows (no norm).
	bool (*normalise_row)(std::byte *row, std::size_t dim);

	// Graph building on float32 rows (prepared, with their squared norms): turns dots[j], the dot
	// product of row a with row b + j * dim, into the operator's distance, in place. Where the
	// expansion is not finite the pair kernel gives what the operator gives. Null when the metric
	// has no dot-product form (l1): callers then compute distance() per pair.
	void (*from_dots)(float *dots, std::size_t cols, const float *a, float norm_a, const float *b,
	                  const float *norms_b, std::size_t dim);

	std::size_t row_bytes(std::size_t dim) const noexcept;
	// The query row `row` as order_batch takes it, written to `out` (batch_query_bytes(dim) bytes):
	// the row itself, or its floats where the element says so (ElementInfo::batch_query_floats).
	std::size_t batch_query_bytes(std::size_t dim) const noexcept;
	void batch_query(const std::byte *row, std::byte *out, std::size_t dim) const noexcept;
	const ElementInfo &element() const noexcept { return element_info(type); }
	// The code an index stores (meta page, support function): the element type in the high
	// byte, so float32 codes are the plain Metric values ruivfflat has always stored.
	unsigned code() const noexcept { return unsigned(type) << 8 | unsigned(metric); }
	// The float32 row of the float form: what centroids, k-means and list assignment use.
	const MetricInfo &as_float32() const noexcept;
};

// Every entry of the table (for tests and listings).
std::span<const MetricInfo> metric_table() noexcept;

// Lookups: null when the table has no such entry.
const MetricInfo *find_metric(ElementType type, Metric metric) noexcept;
const MetricInfo *find_metric(ElementType type, std::string_view name) noexcept;
// By code as stored or sent (the Metric's value).
const MetricInfo *find_metric_code(ElementType type, unsigned code) noexcept;
// By MetricInfo::code() (element type and metric).
const MetricInfo *find_metric_code(unsigned code) noexcept;
// As find_metric, throwing std::invalid_argument when absent (worker requests).
const MetricInfo &metric_info(ElementType type, Metric metric);

// L2-normalise float32 rows in place, accumulated in double (v * (1 / |v|)); false, untouched,
// for a zero row. The one normaliser of the table's float32 rows and spherical k-means.
bool normalize_f32(float *v, std::size_t dim) noexcept;

inline const std::byte *as_row(const float *v) noexcept { return reinterpret_cast<const std::byte *>(v); }
inline std::byte *as_row(float *v) noexcept { return reinterpret_cast<std::byte *>(v); }

}  // namespace ruvector::kernels
