// The metric table (see metric.hpp): float32 (vector), float16 (halfvec), bit and sparse
// (sparsevec) rows.
#include "worker/kernels/metric.hpp"

#include "worker/kernels/bitwise.hpp"
#include "worker/kernels/distance.hpp"
#include "worker/kernels/float16.hpp"
#include "worker/kernels/sparse.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <cstring>
#include <vector>

namespace ruvector::kernels {

bool normalize_f32(float *v, std::size_t dim) noexcept
{
	double s = 0;
	for (std::size_t j = 0; j < dim; j++)
		s += double(v[j]) * v[j];
	if (s == 0)
		return false;
	double inv = 1.0 / std::sqrt(s);
	for (std::size_t j = 0; j < dim; j++)
		v[j] = float(v[j] * inv);
	return true;
}

namespace {

/* float32 rows */

const float *f32(const std::byte *p) { return reinterpret_cast<const float *>(p); }

double l2_f32(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return std::sqrt(double(active_kernels().l2_squared(f32(a), f32(b), dim)));
}
double negative_ip_f32(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return -double(active_kernels().inner_product(f32(a), f32(b), dim));
}
double cosine_f32(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return cosine_distance({f32(a), dim}, {f32(b), dim});
}
double l1_f32(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return double(active_kernels().l1(f32(a), f32(b), dim));
}

float l2_order_f32(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return active_kernels().l2_squared(f32(a), f32(b), dim);
}
float ip_order_f32(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return -active_kernels().inner_product(f32(a), f32(b), dim);
}
float l1_order_f32(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return active_kernels().l1(f32(a), f32(b), dim);
}

void l2_batch_f32(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim, std::size_t stride,
                  float *out)
{
	active_kernels().l2_squared_batch(f32(q), f32(rows), count, dim, stride / sizeof(float), out);
}
void ip_batch_f32(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim, std::size_t stride,
                  float *out)
{
	active_kernels().inner_product_batch(f32(q), f32(rows), count, dim, stride / sizeof(float), out);
	for (std::size_t i = 0; i < count; i++)
		out[i] = -out[i];
}
void l1_batch_f32(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim, std::size_t stride,
                  float *out)
{
	const auto &k = active_kernels();
	for (std::size_t i = 0; i < count; i++)
		out[i] = k.l1(f32(q), f32(rows + i * stride), dim);
}

double sqrt_of_order(float order) { return std::sqrt(double(order)); }
double order_is_distance(float order) { return order; }
// Unit rows: order = -cos.
double cosine_of_order(float order) { return 1.0 - std::clamp(-double(order), -1.0, 1.0); }

bool normalise_f32_row(std::byte *row, std::size_t dim)
{
	return normalize_f32(reinterpret_cast<float *>(row), dim);
}

void l2_from_dots(float *d, std::size_t cols, const float *a, float norm_a, const float *b, const float *norms_b,
                  std::size_t dim)
{
	// The expansion overflows where a norm or the dot does (components near 1e19 and up), and
	// inf - inf is NaN, which max() would turn into distance 0. There the pair kernel gives what
	// <-> gives: the true distance, or +Infinity when that overflows.
	const auto &k = active_kernels();
	for (std::size_t j = 0; j < cols; j++) {
		float s = norm_a - 2 * d[j] + norms_b[j];
		d[j] = std::isfinite(s) && std::isfinite(norm_a) && std::isfinite(norms_b[j])
		           ? std::sqrt(std::max(0.0f, s))
		           : std::sqrt(k.l2_squared(a, b + j * dim, dim));
	}
}
void ip_from_dots(float *d, std::size_t cols, const float *a, float, const float *b, const float *, std::size_t dim)
{
	// An overflowed GEMM sum may be NaN where the operator's sequential one is -Infinity.
	const auto &k = active_kernels();
	for (std::size_t j = 0; j < cols; j++)
		d[j] = std::isfinite(d[j]) ? -d[j] : -k.inner_product(a, b + j * dim, dim);
}
void cosine_from_dots(float *d, std::size_t cols, const float *, float norm_a, const float *, const float *norms_b,
                      std::size_t)
{
	// Unit rows (zero rows have no direction: NaN, never a neighbour).
	for (std::size_t j = 0; j < cols; j++)
		d[j] = (norm_a == 0 || norms_b[j] == 0) ? std::numeric_limits<float>::quiet_NaN()
		                                        : std::clamp(1.0f - d[j], 0.0f, 2.0f);
}

/* float16 rows: the half kernels the halfvec operators use, so index order is operator order */

const half *f16(const std::byte *p) { return reinterpret_cast<const half *>(p); }
const HalfKernels &hk() { return active_half_kernels(); }

double l2_f16(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return std::sqrt(double(hk().l2_squared(f16(a), f16(b), dim)));
}
double negative_ip_f16(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return -double(hk().inner_product(f16(a), f16(b), dim));
}
double cosine_f16(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return half_cosine_distance(f16(a), f16(b), dim);
}
double l1_f16(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return double(hk().l1(f16(a), f16(b), dim));
}

float l2_order_f16(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return hk().l2_squared(f16(a), f16(b), dim);
}
float ip_order_f16(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return -hk().inner_product(f16(a), f16(b), dim);
}
float l1_order_f16(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return hk().l1(f16(a), f16(b), dim);
}

// A page of rows against the query's floats (batch_query_floats), converted once: the same bits as
// the pair kernels above (HalfKernels::l2_squared_rows).
const float *query_floats(const std::byte *q) { return reinterpret_cast<const float *>(q); }
void l2_batch_f16(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim, std::size_t stride,
                  float *out)
{
	hk().l2_squared_rows(query_floats(q), f16(rows), count, dim, stride / sizeof(half), out);
}
void ip_batch_f16(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim, std::size_t stride,
                  float *out)
{
	hk().inner_product_rows(query_floats(q), f16(rows), count, dim, stride / sizeof(half), out);
	for (std::size_t i = 0; i < count; i++)
		out[i] = -out[i];
}
void l1_batch_f16(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim, std::size_t stride,
                  float *out)
{
	hk().l1_rows(query_floats(q), f16(rows), count, dim, stride / sizeof(half), out);
}

// Row by row through the pair kernel: each value is exactly what the operator computes.
template <float (*Order)(const std::byte *, const std::byte *, std::size_t)>
void batch_of(const std::byte *q, const std::byte *rows, std::size_t count, std::size_t dim, std::size_t stride,
              float *out)
{
	for (std::size_t i = 0; i < count; i++)
		out[i] = Order(q, rows + i * stride, dim);
}

void f16_to_float(const std::byte *in, float *out, std::size_t dim) { hk().to_float(f16(in), out, dim); }
void f16_from_float(const float *in, std::byte *out, std::size_t dim)
{
	hk().from_float(in, reinterpret_cast<half *>(out), dim);
}
void f32_to_float(const std::byte *in, float *out, std::size_t dim) { std::memcpy(out, in, dim * sizeof(float)); }
void f32_from_float(const float *in, std::byte *out, std::size_t dim) { std::memcpy(out, in, dim * sizeof(float)); }

// As pgvector's halfvec l2_normalize: the norm in double, each element rounded to float, then
// to half (a float row round-trips exactly through half_to_float first).
bool normalise_f16_row(std::byte *row, std::size_t dim)
{
	std::vector<float> v(dim);
	f16_to_float(row, v.data(), dim);
	if (!normalize_f32(v.data(), dim))
		return false;
	f16_from_float(v.data(), row, dim);
	return true;
}

/* bit rows: PostgreSQL's bit strings, Hamming distance by the popcount kernels (as <~>) */

const std::uint8_t *u8(const std::byte *p) { return reinterpret_cast<const std::uint8_t *>(p); }

double hamming_bits(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return double(hamming_distance(u8(a), u8(b), (dim + 7) / 8));
}
// Exact: a count below 2^24.
float hamming_order(const std::byte *a, const std::byte *b, std::size_t dim) { return float(hamming_bits(a, b, dim)); }
double jaccard_bits(const std::byte *a, const std::byte *b, std::size_t dim)
{
	return jaccard_distance(u8(a), u8(b), (dim + 7) / 8);
}
float jaccard_order(const std::byte *a, const std::byte *b, std::size_t dim) { return float(jaccard_bits(a, b, dim)); }

void bit_to_float(const std::byte *in, float *out, std::size_t dim)
{
	for (std::size_t j = 0; j < dim; j++)
		out[j] = float((u8(in)[j / 8] >> (7 - j % 8)) & 1);
}
// pgvector's bit centroid rule (x > 0.5); padding bits stay zero, as PostgreSQL keeps them.
void bit_from_float(const float *in, std::byte *out, std::size_t dim)
{
	auto *o = reinterpret_cast<std::uint8_t *>(out);
	std::memset(o, 0, (dim + 7) / 8);
	for (std::size_t j = 0; j < dim; j++)
		o[j / 8] |= std::uint8_t((in[j] > 0.5f ? 1 : 0) << (7 - j % 8));
}

/* sparse rows: a sparsevec after its varlena header, distances by the sparsevec operators' merge
   kernels (so index order is operator order) */

struct SparseHeader {
	std::int32_t dim, nnz, unused;
};
constexpr std::size_t kSparseHeader = sizeof(SparseHeader);

// Rows are 4-byte aligned (index pages and pallocs are MAXALIGNed; sizes are multiples of 4).
std::int32_t sparse_nnz(const std::byte *row) { return reinterpret_cast<const SparseHeader *>(row)->nnz; }
SparseView sparse_view(const std::byte *row)
{
	auto n = std::size_t(std::max(sparse_nnz(row), 0));
	const auto *idx = reinterpret_cast<const std::int32_t *>(row + kSparseHeader);
	return {{idx, n}, {reinterpret_cast<const float *>(idx + n), n}};
}
std::size_t sparse_row_size(const std::byte *row)
{
	return kSparseHeader + std::size_t(std::max(sparse_nnz(row), 0)) * (sizeof(std::int32_t) + sizeof(float));
}

double l2_sparse(const std::byte *a, const std::byte *b, std::size_t)
{
	return std::sqrt(double(sparse_l2_squared(sparse_view(a), sparse_view(b))));
}
double negative_ip_sparse(const std::byte *a, const std::byte *b, std::size_t)
{
	return -double(sparse_inner_product(sparse_view(a), sparse_view(b)));
}
double cosine_sparse(const std::byte *a, const std::byte *b, std::size_t)
{
	return sparse_cosine_distance(sparse_view(a), sparse_view(b));
}
double l1_sparse(const std::byte *a, const std::byte *b, std::size_t)
{
	return double(sparse_l1(sparse_view(a), sparse_view(b)));
}
float l2_order_sparse(const std::byte *a, const std::byte *b, std::size_t)
{
	return sparse_l2_squared(sparse_view(a), sparse_view(b));
}
float ip_order_sparse(const std::byte *a, const std::byte *b, std::size_t)
{
	return -sparse_inner_product(sparse_view(a), sparse_view(b));
}
float l1_order_sparse(const std::byte *a, const std::byte *b, std::size_t)
{
	return sparse_l1(sparse_view(a), sparse_view(b));
}

// As pgvector's sparsevec l2_normalize: the norm in double, each value divided by it; values that
// underflow to zero leave the row (it shrinks in place: indices close up, values follow them).
bool normalise_sparse_row(std::byte *row, std::size_t)
{
	auto *h = reinterpret_cast<SparseHeader *>(row);
	SparseView v = sparse_view(row);
	double norm = sparse_l2_norm(v.values);
	if (norm == 0)
		return false;
	auto *idx = reinterpret_cast<std::int32_t *>(row + kSparseHeader);
	const std::size_t n = v.indices.size();
	std::vector<float> values(n);
	std::size_t kept = 0;
	for (std::size_t i = 0; i < n; i++) {
		float x = float(double(v.values[i]) / norm);
		if (x != 0) {
			idx[kept] = idx[i];
			values[kept++] = x;
		}
	}
	std::memcpy(idx + kept, values.data(), kept * sizeof(float));
	h->nnz = std::int32_t(kept);
	return true;
}

void sparse_to_float(const std::byte *in, float *out, std::size_t dim)
{
	std::fill(out, out + dim, 0.0f);
	SparseView v = sparse_view(in);
	for (std::size_t i = 0; i < v.indices.size(); i++)
		if (v.indices[i] >= 0 && std::size_t(v.indices[i]) < dim)
			out[v.indices[i]] = v.values[i];
}
// The non-zero elements; `out` has row_bytes(dim) bytes (the largest row).
void sparse_from_float(const float *in, std::byte *out, std::size_t dim)
{
	auto *idx = reinterpret_cast<std::int32_t *>(out + kSparseHeader);
	std::int32_t n = 0;
	for (std::size_t j = 0; j < dim; j++)
		n += in[j] != 0;
	auto *val = reinterpret_cast<float *>(idx + n);
	for (std::size_t j = 0, k = 0; j < dim; j++)
		if (in[j] != 0) {
			idx[k] = std::int32_t(j);
			val[k++] = in[j];
		}
	*reinterpret_cast<SparseHeader *>(out) = {std::int32_t(dim), n, 0};
}

// Value headers (after the 4-byte varlena length): pgvector's int16 dim, PostgreSQL's int32 bit_len
// (and sparsevec's int32 dim).
std::int64_t int16_dims(const std::byte *value)
{
	std::int16_t d;
	std::memcpy(&d, value + 4, sizeof d);
	return d;
}
std::int64_t varbit_dims(const std::byte *value)
{
	std::int32_t d;
	std::memcpy(&d, value + 4, sizeof d);
	return d;
}

constexpr std::array kElements{
	ElementInfo{ElementType::float32, "vector", "dimensions", 32, 1.0 / 16777216.0, f32_to_float, f32_from_float, false,
	            int16_dims, 8},
	ElementInfo{ElementType::float16, "halfvec", "dimensions", 16, 1.0 / 2048.0, f16_to_float, f16_from_float, false,
	            int16_dims, 8, nullptr, 0, true},
	ElementInfo{ElementType::bit, "bit", "lengths", 1, 0.0, bit_to_float, bit_from_float, true, varbit_dims, 8},
	// 64 bits per non-zero element (index and value) after the 12-byte row header.
	ElementInfo{ElementType::sparse, "sparsevec", "dimensions", 64, 1.0 / 16777216.0, sparse_to_float, sparse_from_float,
	            false, varbit_dims, 4, sparse_row_size, kSparseHeader},
};

constexpr std::array kTable{
	MetricInfo{ElementType::float32, Metric::l2, "l2", "", "<->", "vector_l2_ops", false, false, true, Metric::l2,
	           Metric::l2, l2_f32, l2_order_f32, l2_batch_f32, sqrt_of_order, normalise_f32_row, l2_from_dots},
	MetricInfo{ElementType::float32, Metric::ip, "ip", "inner_product", "<#>", "vector_ip_ops", false, true, true,
	           Metric::ip, Metric::ip, negative_ip_f32, ip_order_f32, ip_batch_f32, order_is_distance, normalise_f32_row,
	           ip_from_dots},
	MetricInfo{ElementType::float32, Metric::cosine, "cosine", "", "<=>", "vector_cosine_ops", true, true, true,
	           Metric::cosine, Metric::cosine, cosine_f32, ip_order_f32, ip_batch_f32, cosine_of_order, normalise_f32_row,
	           cosine_from_dots},
	MetricInfo{ElementType::float32, Metric::l1, "l1", "", "<+>", "vector_l1_ops", false, false, false, Metric::l2,
	           Metric::l1, l1_f32, l1_order_f32, l1_batch_f32, order_is_distance, normalise_f32_row, nullptr},
	// halfvec: rows of halves, graph building has no dot-product form for them (from_dots null).
	MetricInfo{ElementType::float16, Metric::l2, "l2", "", "<->", "halfvec_l2_ops", false, false, true, Metric::l2,
	           Metric::l2, l2_f16, l2_order_f16, l2_batch_f16, sqrt_of_order, normalise_f16_row, nullptr},
	MetricInfo{ElementType::float16, Metric::ip, "ip", "inner_product", "<#>", "halfvec_ip_ops", false, true, true,
	           Metric::ip, Metric::ip, negative_ip_f16, ip_order_f16, ip_batch_f16, order_is_distance,
	           normalise_f16_row, nullptr},
	MetricInfo{ElementType::float16, Metric::cosine, "cosine", "", "<=>", "halfvec_cosine_ops", true, true, true,
	           Metric::cosine, Metric::cosine, cosine_f16, ip_order_f16, ip_batch_f16, cosine_of_order, normalise_f16_row,
	           nullptr},
	MetricInfo{ElementType::float16, Metric::l1, "l1", "", "<+>", "halfvec_l1_ops", false, false, false, Metric::l2,
	           Metric::l1, l1_f16, l1_order_f16, l1_batch_f16, order_is_distance, normalise_f16_row, nullptr},
	// bit: Hamming by popcount, exactly <~>; lists are trained and ranked on the 0/1 float form by
	// L2 (squared L2 between 0/1 rows is their Hamming distance), centroids rounded to bits.
	MetricInfo{ElementType::bit, Metric::hamming, "hamming", "", "<~>", "bit_hamming_ops", false, false, false,
	           Metric::l2, Metric::l2, hamming_bits, hamming_order, batch_of<hamming_order>, order_is_distance,
	           nullptr, nullptr},
	// Jaccard: ruhnsw's bit_jaccard_ops (pgvector has no ivfflat opclass for it: no k-means form).
	MetricInfo{ElementType::bit, Metric::jaccard, "jaccard", "", "<%>", "bit_jaccard_ops", false, false, false,
	           Metric::l2, Metric::l2, jaccard_bits, jaccard_order, batch_of<jaccard_order>, order_is_distance,
	           nullptr, nullptr},
	// sparsevec: ruhnsw only (pgvector has no ivfflat opclass for it: no k-means).
	MetricInfo{ElementType::sparse, Metric::l2, "l2", "", "<->", "sparsevec_l2_ops", false, false, false, Metric::l2,
	           Metric::l2, l2_sparse, l2_order_sparse, batch_of<l2_order_sparse>, sqrt_of_order, normalise_sparse_row,
	           nullptr},
	MetricInfo{ElementType::sparse, Metric::ip, "ip", "inner_product", "<#>", "sparsevec_ip_ops", false, true, false,
	           Metric::ip, Metric::ip, negative_ip_sparse, ip_order_sparse, batch_of<ip_order_sparse>, order_is_distance,
	           normalise_sparse_row, nullptr},
	MetricInfo{ElementType::sparse, Metric::cosine, "cosine", "", "<=>", "sparsevec_cosine_ops", true, true, false,
	           Metric::cosine, Metric::cosine, cosine_sparse, ip_order_sparse, batch_of<ip_order_sparse>, cosine_of_order,
	           normalise_sparse_row, nullptr},
	MetricInfo{ElementType::sparse, Metric::l1, "l1", "", "<+>", "sparsevec_l1_ops", false, false, false, Metric::l2,
	           Metric::l1, l1_sparse, l1_order_sparse, batch_of<l1_order_sparse>, order_is_distance, normalise_sparse_row,
	           nullptr},
};

}  // namespace

const ElementInfo &element_info(ElementType type) noexcept
{
	for (const ElementInfo &e : kElements)
		if (e.type == type)
			return e;
	return kElements[0];  // unreachable: every ElementType has an entry (test_metric checks)
}

std::size_t MetricInfo::row_bytes(std::size_t dim) const noexcept { return element().row_bytes(dim); }

std::size_t MetricInfo::batch_query_bytes(std::size_t dim) const noexcept
{
	return element().batch_query_floats ? dim * sizeof(float) : row_bytes(dim);
}

void MetricInfo::batch_query(const std::byte *row, std::byte *out, std::size_t dim) const noexcept
{
	const ElementInfo &e = element();
	if (e.batch_query_floats)
		e.to_float(row, reinterpret_cast<float *>(out), dim);
	else
		std::memcpy(out, row, e.size_of(row, dim));
}

const MetricInfo &MetricInfo::as_float32() const noexcept { return *find_metric(ElementType::float32, float_form); }

const MetricInfo *find_metric_code(unsigned code) noexcept
{
	if (code > 0xFFFF)
		return nullptr;
	return find_metric_code(ElementType(code >> 8), code & 0xFF);
}

std::span<const MetricInfo> metric_table() noexcept { return kTable; }

const MetricInfo *find_metric(ElementType type, Metric metric) noexcept
{
	for (const MetricInfo &m : kTable)
		if (m.type == type && m.metric == metric)
			return &m;
	return nullptr;
}

const MetricInfo *find_metric(ElementType type, std::string_view name) noexcept
{
	for (const MetricInfo &m : kTable)
		if (m.type == type && (name == m.name || (*m.alias && name == m.alias)))
			return &m;
	return nullptr;
}

const MetricInfo *find_metric_code(ElementType type, unsigned code) noexcept
{
	for (const MetricInfo &m : kTable)
		if (m.type == type && unsigned(m.metric) == code)
			return &m;
	return nullptr;
}

const MetricInfo &metric_info(ElementType type, Metric metric)
{
	if (const MetricInfo *m = find_metric(type, metric))
		return *m;
	throw std::invalid_argument("unknown metric code " + std::to_string(unsigned(metric)) + " for element type " +
	                            std::to_string(unsigned(type)));
}

}  // namespace ruvector::kernels
