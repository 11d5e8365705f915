// RaBitQ (Gao & Long, SIGMOD 2024): one bit per dimension with an unbiased inner-product estimator
// and an error bound, the code ruivfflat's `quantizer = rabitq` lists hold.
//
// A row x of a list with centroid c is stored as its residual's norm r = |x - c| and the sign bits
// of the rotated unit residual u = R (x - c) / r (R a random orthogonal transform reproducible from
// a seed, on the dimension padded to a multiple of 64). Its codeword is xb = sign(u) / sqrt(D); the
// row keeps a = <xb, u> (near 0.8). For any vector v (rotated the same way), <u, v> is estimated by
//   <xb, v> / a,   and   |<xb, v> / a - <u, v>| <= |v| sqrt(1 - a^2) / a * eps0 / sqrt(D - 1)
// with high probability (eps0 = 1.9: the paper's and RaBitQ-Library's "nearly perfect confidence").
// Scans turn this into the metric's order() and a lower bound of it:
//   l2  v = R (q - c):  |x - q|^2 = r^2 + |q - c|^2 - 2 r <u, v>
//   ip  v = R q:        -<x, q>  = -(<c, q> + r <u, v>)       (cosine: unit rows, the same)
// The query stays in float: per probed list it is rotated once and turned into a table of the sums
// of every byte's 8 values, so a row costs one table read per 8 dimensions and the bound is exact
// arithmetic on the paper's estimator (no query quantization error to account for).
//
// The rotation: four rounds of (random sign flips; a normalised Walsh-Hadamard transform on the
// leading and on the trailing power-of-two block; a pi/4 Givens mix of the two halves), each step
// orthogonal, O(D log D) (RaBitQ-Library's "FHT + Kac's walk" rotator).
#pragma once
#include "shmem/codec/pg_free.hpp"
#include "worker/kernels/metric.hpp"

#include <cstddef>
#include <cstdint>

namespace ruvector::kernels {

inline constexpr double kRabitqEpsilon = 1.9;
// A coded row: r, 1/a, sqrt(1 - a^2)/a (floats), then D/8 code bytes (bit k of byte j: dimension 8j + k).
inline constexpr std::size_t kRabitqRowHeader = 3 * sizeof(float);
inline std::size_t rabitq_padded_dim(std::size_t dim) noexcept { return (dim + 63) / 64 * 64; }
inline std::size_t rabitq_row_bytes(std::size_t dim) noexcept { return kRabitqRowHeader + rabitq_padded_dim(dim) / 8; }
// Floats of the per-list query table (rabitq_prepare's `table`).
inline std::size_t rabitq_table_floats(std::size_t dim) noexcept { return rabitq_padded_dim(dim) / 8 * 256; }

// out (padded_dim floats) = R [x; 0]. x and out may not overlap.
void rabitq_rotate(const float *x, std::size_t dim, std::uint64_t seed, float *out) noexcept;

// The coded row of x (prepared, in float) against its list's centroid. scratch: padded_dim floats.
void rabitq_encode_row(const float *x, const float *centroid, std::size_t dim, std::uint64_t seed, float *scratch,
                       std::byte *row) noexcept;

enum class RabitqForm : std::uint8_t { l2, ip };
// The form a metric's order() takes; false when it has none (l1, bit and sparse rows).
bool rabitq_form(Metric metric, RabitqForm *form) noexcept;

// A query prepared against one list.
struct RabitqQuery {
	RabitqForm form;
	const float *table;  // padded_dim / 8 tables of 256 sums
	std::size_t bytes;   // code bytes per row
	float vsum;          // sum of v
	float scale;         // 1 / sqrt(D)
	float bound;         // |v| eps0 / sqrt(D - 1)
	float constant;      // l2: |q - c|^2; ip: <c, q>
};
// q: the prepared query (float, normalised for cosine). scratch: padded_dim floats; table:
// rabitq_table_floats(dim) floats (the caller owns both; the result points into table).
RabitqQuery rabitq_prepare(RabitqForm form, const float *q, const float *centroid, std::size_t dim, std::uint64_t seed,
                           float *scratch, float *table, double epsilon = kRabitqEpsilon) noexcept;

// The estimated inner product <u, v> of one coded row and its error bound.
struct RabitqEstimate {
	float ip, error;
};
RabitqEstimate rabitq_estimate(const RabitqQuery &q, const std::byte *row) noexcept;
// order() estimates and their lower bounds for `count` coded rows `stride` bytes apart.
void rabitq_order_batch(const RabitqQuery &q, const std::byte *rows, std::size_t count, std::size_t stride,
                        float *estimate, float *lower) noexcept;

}  // namespace ruvector::kernels
