// IEEE 754 binary16 ("half", the halfvec element): conversion to and from float, and the
// distance kernels over halves, computed in float from the converted values as pgvector does.
//
// Like the float kernels (distance.hpp) each exists once per instruction set and is chosen at run
// time: the scalar reference here, F16C (vcvtph2ps/vcvtps2ph) with AVX2+FMA, and AVX-512F. The
// scalar conversions are exact IEEE round-to-nearest-even, subnormals and infinities included,
// so every ISA converts every value to the same bits.
#pragma once
#include "shmem/codec/pg_free.hpp"
#include "worker/kernels/distance.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace ruvector::kernels {

using half = std::uint16_t;  // the bits of a binary16 value

inline constexpr float kHalfMax = 65504.0f;
// The smallest magnitude that rounds to infinity: halfway between kHalfMax and 2^16, a tie that
// round-to-nearest-even sends up (kHalfMax has an odd significand).
inline constexpr float kHalfOverflow = 65520.0f;

constexpr bool half_is_nan(half h) { return (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0; }
constexpr bool half_is_inf(half h) { return (h & 0x7FFF) == 0x7C00; }
constexpr bool half_is_zero(half h) { return (h & 0x7FFF) == 0; }

// A finite float whose half is infinite (pgvector's "is out of range for type halfvec").
inline bool overflows_half(float f) { return std::isfinite(f) && std::fabs(f) >= kHalfOverflow; }
// Whether some element overflows half or is not finite (NaN, infinity): a branch-free pass, so
// the common all-in-range row goes straight to a SIMD from_float.
inline bool any_overflows_half(const float *x, std::size_t n)
{
	bool any = false;
	for (std::size_t i = 0; i < n; i++)
		any |= !(std::fabs(x[i]) < kHalfOverflow);
	return any;
}

// Scalar reference conversions (exact; NaN stays NaN, quiet, with its sign).
float half_to_float(half h) noexcept;
half float_to_half(float f) noexcept;

// One ISA's table. Pointers may be unaligned; n may be any length (including 0).
struct HalfKernels {
	Isa isa;
	void (*to_float)(const half *in, float *out, std::size_t n);
	void (*from_float)(const float *in, half *out, std::size_t n);
	float (*l2_squared)(const half *a, const half *b, std::size_t n);
	float (*inner_product)(const half *a, const half *b, std::size_t n);
	float (*l1)(const half *a, const half *b, std::size_t n);
	CosineParts (*cosine_parts)(const half *a, const half *b, std::size_t n);
	// A query given as floats that are the exact values of halves (half_to_float of a half row)
	// against `count` half rows `stride` halves apart: out[r] is the pair kernel of the query's
	// halves against row r, bit for bit, with the query converted once instead of once per row
	// (the index scan's pages of rows: two 1536-d rows a page).
	void (*l2_squared_rows)(const float *q, const half *rows, std::size_t count, std::size_t n, std::size_t stride,
	                        float *out);
	void (*inner_product_rows)(const float *q, const half *rows, std::size_t count, std::size_t n, std::size_t stride,
	                           float *out);
	void (*l1_rows)(const float *q, const half *rows, std::size_t count, std::size_t n, std::size_t stride, float *out);
};

// The best table for the ISA the float kernels run at (RUVECTOR_ISA caps both); an ISA without
// hardware half conversion (SSE4.2, or a CPU without F16C) uses the scalar table.
const HalfKernels &active_half_kernels() noexcept;
// A specific table; throws std::runtime_error if this CPU cannot run it.
const HalfKernels &half_kernels_for(Isa isa);

// pgvector's cosine distance over halves (see cosine_distance in distance.hpp). Half values cannot
// overflow or underflow the float sums, so this is pgvector's formula as is.
double half_cosine_distance(const half *a, const half *b, std::size_t n) noexcept;

}  // namespace ruvector::kernels
