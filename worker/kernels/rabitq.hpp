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
// The query side follows the paper: per probed list the rotated v is rounded to 4 bits per
// dimension, v ~ lo + delta * q (q in 0..15, nearest), kept as 4 bit planes, so a row's <xb, v>
// costs popcount(x) and popcount(x AND plane) for each plane (AVX-512 VPOPCNTDQ where the CPU has
// it, else POPCNT, else a portable count; the same selection as the Hamming kernels). The rounding
// error e = v - (lo + delta q) moves <xb, v> by <xb, e>, about normal with deviation |e| / sqrt(D)
// for the same reason the paper's error is; the bound adds it in quadrature at the same eps0:
//   error = eps0 sqrt((|v| sqrt(1 - a^2) / sqrt(D - 1))^2 + (|e| / sqrt(D))^2) / a.
// At D = 1536 |e| is about 0.13 |v|, which widens the bound by about 2%.
//
// The rotation: four rounds of (random sign flips; a normalised Walsh-Hadamard transform on the
// leading and on the trailing power-of-two block; a pi/4 Givens mix of the two halves), each step
// orthogonal, O(D log D) (RaBitQ-Library's "FHT + Kac's walk" rotator).
#pragma once
#include "shmem/codec/pg_free.hpp"
#include "worker/kernels/bitwise.hpp"
#include "worker/kernels/metric.hpp"

#include <cstddef>
#include <cstdint>

namespace ruvector::kernels {

inline constexpr double kRabitqEpsilon = 1.9;
// A coded row: r, 1/a, sqrt(1 - a^2)/a (floats), then D/8 code bytes (bit k of byte j: dimension 8j + k).
inline constexpr std::size_t kRabitqRowHeader = 3 * sizeof(float);
inline std::size_t rabitq_padded_dim(std::size_t dim) noexcept { return (dim + 63) / 64 * 64; }
inline std::size_t rabitq_row_bytes(std::size_t dim) noexcept { return kRabitqRowHeader + rabitq_padded_dim(dim) / 8; }
inline constexpr int kRabitqQueryBits = kPlaneBits;
// 64-bit words of the per-list query (rabitq_prepare's `planes`): kRabitqQueryBits planes of D bits.
inline std::size_t rabitq_plane_words(std::size_t dim) noexcept { return kRabitqQueryBits * rabitq_padded_dim(dim) / 64; }

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
	const std::uint64_t *planes;  // the 4-bit query: bit b of word w of plane p is bit p of q[64 w + b]
	std::size_t words;            // words per plane (D / 64)
	float lo, delta;              // v ~ lo + delta q
	std::int32_t dim, sum_q;      // D; sum of q
	float scale;                  // 1 / sqrt(D)
	float bound;                  // |v| eps0 / sqrt(D - 1)
	float rounding;               // |e| eps0 / sqrt(D): the query rounding's share of the bound
	float constant;               // l2: |q - c|^2; ip: <c, q>
	decltype(BitwiseKernels::plane_counts) counts;
};
// q: the prepared query (float, normalised for cosine). scratch: padded_dim floats; planes:
// rabitq_plane_words(dim) words (the caller owns both; the result points into planes). kernels:
// the popcount table to estimate with.
RabitqQuery rabitq_prepare(RabitqForm form, const float *q, const float *centroid, std::size_t dim, std::uint64_t seed,
                           float *scratch, std::uint64_t *planes, double epsilon = kRabitqEpsilon,
                           const BitwiseKernels &kernels = active_bitwise_kernels()) noexcept;
// The same from the rotated vector v (padded_dim floats): R (q - c) for l2, R q for ip. R being
// linear, a scan rotates its query once and each probed list's centroid once per backend (l2:
// v = R q - R c), or uses one v for every list (ip, whose lists differ only in `constant`).
// constant: ip: <c, q>; l2: ignored (|q - c|^2 = |v|^2, R being orthogonal).
RabitqQuery rabitq_prepare_rotated(RabitqForm form, const float *v, std::size_t dim, float constant,
                                   std::uint64_t *planes, double epsilon = kRabitqEpsilon,
                                   const BitwiseKernels &kernels = active_bitwise_kernels()) noexcept;

// The estimated inner product <u, v> of one coded row and its error bound.
struct RabitqEstimate {
	float ip, error;
};
RabitqEstimate rabitq_estimate(const RabitqQuery &q, const std::byte *row) noexcept;
// order() estimates and their lower bounds for `count` coded rows `stride` bytes apart.
void rabitq_order_batch(const RabitqQuery &q, const std::byte *rows, std::size_t count, std::size_t stride,
                        float *estimate, float *lower) noexcept;

}  // namespace ruvector::kernels
