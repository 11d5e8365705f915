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
	// reserved: bit = 2, sparse = 3 (sparsevec)
};

// How rows of one element type are stored: index pages hold rows in the element type, while
// k-means and centroids work on float32 (every float16 value is exactly a float).
struct ElementInfo {
	ElementType type;
	const char *sql_type;  // "vector", "halfvec"
	std::size_t bytes;     // per element
	// Relative rounding of a value stored as this type (2^-24 float, 2^-11 half): the error a
	// normalised stored row carries per element.
	double unit;
	// Exact for every value of the type; from_float rounds to nearest even (no range check: the
	// callers convert values that came from this type, or unit vectors).
	void (*to_float)(const std::byte *in, float *out, std::size_t dim);
	void (*from_float)(const float *in, std::byte *out, std::size_t dim);
};
const ElementInfo &element_info(ElementType type) noexcept;

enum class Metric : std::uint8_t {
	l2 = 1,      // <->  Euclidean
	ip = 2,      // <#>  negative inner product
	cosine = 3,  // <=>  1 - cosine similarity
	l1 = 4,      // <+>  taxicab
	// reserved: hamming = 5 (<~>), jaccard = 6 (<%>)
};

// A row is `dim` elements of the entry's element type, passed as bytes so that one signature
// serves every type. Strides are in bytes.
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
	// The metric lists are trained with (k-means request of an index build).
	Metric train_as;

	// The SQL operator's distance between two rows as given.
	double (*distance)(const std::byte *a, const std::byte *b, std::size_t dim);
	// The ordering distance the index uses: cheaper, and ordered as the operator's distance is
	// once rows are prepared (normalised when `normalise`): squared L2, negative inner product,
	// L1.
	float (*order)(const std::byte *a, const std::byte *b, std::size_t dim);
	// order() of q against `count` rows `stride` bytes apart.
	void (*order_batch)(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim,
	                    std::size_t stride, float *out);
	// The operator's distance from order() (prepared rows; a zero cosine query is NaN, which the
	// caller knows and this cannot).
	double (*from_order)(float order);
	// L2-normalises a row in place (accumulated in double); false, row untouched, when it is zero.
	bool (*normalise_row)(std::byte *row, std::size_t dim);

	// Graph building on float32 rows (prepared, with their squared norms): turns dots[j], the dot
	// product of row a with row b + j * dim, into the operator's distance, in place. Where the
	// expansion is not finite the pair kernel gives what the operator gives. Null when the metric
	// has no dot-product form (l1): callers then compute distance() per pair.
	void (*from_dots)(float *dots, std::size_t cols, const float *a, float norm_a, const float *b,
	                  const float *norms_b, std::size_t dim);

	std::size_t row_bytes(std::size_t dim) const noexcept;
	const ElementInfo &element() const noexcept { return element_info(type); }
	// The code an index stores (meta page, support function): the element type in the high
	// byte, so float32 codes are the plain Metric values ruivfflat has always stored.
	unsigned code() const noexcept { return unsigned(type) << 8 | unsigned(metric); }
	// The float32 row of the same metric: what centroids, k-means and list assignment use.
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
