// SQ8: 8-bit scalar quantization with a range per dimension (FAISS's QT_8bit with RS_minmax), the
// code ruivfflat's `quantizer = sq8` lists hold. A value x of dimension j is stored as
//   c = round((x - vmin_j) / step_j), clamped to 0..255,   step_j = (vmax_j - vmin_j) / 255
// and read back as vmin_j + c * step_j (so vmin and vmax themselves are exact).
//
// Scans compare a float query with codes without decoding them, in the metric's order() form:
//   l2     k' - 2 sum w_j c_j + |x|^2      w = q * step, k' = |q|^2 - 2 sum q_j vmin_j, |x|^2 the
//                                          decoded row's squared norm, stored with its codes
//   ip     -(k + sum w_j c_j)              w = q * step, k = sum q_j vmin_j (cosine: unit rows, the same)
//   l1     sum |a_j - c_j step_j|          a = q - vmin
// For l2 and ip the query's w is rounded once to 16-bit integers, w ~ s W (s = max |w_j| / 32767),
// so a row costs one integer dot product of its codes with W (exact in 64 bits; AVX-512 VNNI's
// VPDPWSSD multiplies and adds 32 code and weight pairs an instruction). The rounding moves
// sum w_j c_j by at most s / 2 * sum c_j: 2^-16 of max |w_j| * sum c_j, far below the codes' own
// rounding (steps of 1/255 of each range). A coded row is kSq8RowHeader bytes (the decoded squared
// norm, a float) then dim codes.
// The per-row kernels exist once per instruction set (scalar reference, AVX2, AVX-512 and, for the
// integer dot product, AVX-512 VNNI where the CPU has it), chosen at run time like the distance
// kernels (RUVECTOR_ISA caps them too).
#pragma once
#include "shmem/codec/pg_free.hpp"
#include "worker/kernels/distance.hpp"
#include "worker/kernels/metric.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace ruvector::kernels {

inline constexpr int kSq8Levels = 255;  // codes 0..255: 255 steps
inline constexpr int kSq8WeightMax = 32767;  // the query's integer weights: -32767..32767
// The SIMD integer dot products add 32-bit lanes over blocks of kSq8DotBlock dimensions, then widen
// to 64 bits: a lane (AVX2: 8 of them, 2 pairs an instruction, 4 chains) adds at most 128 products
// of at most 255 * 32767 in a block, under 2^31.
inline constexpr std::size_t kSq8DotBlock = 4096;
inline constexpr std::size_t kSq8RowHeader = sizeof(float);
inline std::size_t sq8_row_bytes(std::size_t dim) noexcept { return kSq8RowHeader + dim; }

// sum W_j c_j, exact for |W_j| <= kSq8WeightMax.
using Sq8DotKernel = std::int64_t (*)(const std::int16_t *w, const std::uint8_t *codes, std::size_t n);

// One ISA's table. Pointers may be unaligned; n may be any length (including 0).
struct Sq8Kernels {
	Isa isa;
	Sq8DotKernel dot;
	float (*l1)(const float *a, const float *step, const std::uint8_t *codes, std::size_t n);
};

// The best table for the ISA the float kernels run at (SSE4.2 uses the scalar one).
const Sq8Kernels &active_sq8_kernels() noexcept;
// A specific table; throws std::runtime_error if this CPU cannot run it.
const Sq8Kernels &sq8_kernels_for(Isa isa);
// Every integer dot product this CPU can run, by name (the AVX-512 table holds the VNNI one where the
// CPU has it, the AVX512BW one otherwise): for tests against the scalar reference.
std::vector<std::pair<std::string_view, Sq8DotKernel>> sq8_dot_kernels();

/* Training and coding */

// Per-dimension ranges: start with sq8_range_init, widen with every sample row, then
// sq8_range_finish turns [vmin, vmax] into (vmin, step). A dimension no row reached gets [-1, 1]
// (an index built on an empty table; unit vectors lie there); a constant one gets step 0.
void sq8_range_init(float *vmin, float *vmax, std::size_t dim) noexcept;
void sq8_range_add(const float *row, float *vmin, float *vmax, std::size_t dim) noexcept;
void sq8_range_finish(float *vmin, const float *vmax, float *step, std::size_t dim) noexcept;

// Values outside the range clamp to its ends (rows inserted after the build may lie outside).
void sq8_encode(const float *x, const float *vmin, const float *step, std::uint8_t *codes, std::size_t dim) noexcept;
void sq8_decode(const std::uint8_t *codes, const float *vmin, const float *step, float *x, std::size_t dim) noexcept;
// A coded row (sq8_row_bytes(dim) bytes, any alignment): the decoded squared norm, then the codes.
void sq8_encode_row(const float *x, const float *vmin, const float *step, std::byte *row, std::size_t dim) noexcept;
inline const std::uint8_t *sq8_row_codes(const std::byte *row) noexcept
{
	return reinterpret_cast<const std::uint8_t *>(row + kSq8RowHeader);
}
// How far clamping to the ranges moves a row, against how far rounding to the codes can move any row
// (squared L2): true when clamping moves it further (a row far outside the trained ranges, whose
// codes would misplace it; ruivfflat stores such a row whole).
bool sq8_clamp_exceeds_rounding(const float *x, const float *vmin, const float *step, std::size_t dim) noexcept;

/* Scanning */

enum class Sq8Form : std::uint8_t { l2, ip, l1 };

// The form a metric's order() takes on codes; false when the metric has none (bit rows).
bool sq8_form(Metric metric, Sq8Form *form) noexcept;

// A query prepared against one index's ranges. The caller owns `a` (dim floats) and `w` (dim int16).
struct Sq8Query {
	Sq8Form form;
	const float *a;           // q - vmin (l1)
	const std::int16_t *w;    // l2, ip: q * step ~ w_scale * w
	float w_scale;
	const float *step;        // the index's steps (l1)
	float constant;           // l2: |q|^2 - 2 sum q_j vmin_j; ip: sum q_j vmin_j
	std::size_t dim;
};
// Fill a and w for query q (prepared for the metric: normalised for cosine).
Sq8Query sq8_prepare(Sq8Form form, const float *q, const float *vmin, const float *step, float *a, std::int16_t *w,
                     std::size_t dim) noexcept;
// order() of the query against `count` coded rows `stride` bytes apart.
void sq8_order_batch(const Sq8Query &q, const std::byte *rows, std::size_t count, std::size_t stride,
                     float *out) noexcept;

}  // namespace ruvector::kernels
