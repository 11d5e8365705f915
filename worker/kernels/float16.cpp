// Scalar half conversions (the reference every ISA must match bit for bit), the scalar half
// kernels, and run-time selection of the half kernel table.
#include "worker/kernels/float16.hpp"

#include <bit>
#include <stdexcept>
#include <string>

namespace ruvector::kernels {

namespace detail {
const HalfKernels &half_kernels_avx2();
const HalfKernels &half_kernels_avx512();
}  // namespace detail

float half_to_float(half h) noexcept
{
	std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
	std::uint32_t exponent = (h >> 10) & 0x1F;
	std::uint32_t mantissa = h & 0x3FF;
	if (exponent == 0x1F)  // infinity, or NaN made quiet (as vcvtph2ps does)
		return std::bit_cast<float>(sign | 0x7F800000 | (mantissa << 13) | (mantissa ? 0x400000 : 0));
	if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
		float v = std::ldexp(float(mantissa), -24);
		return sign ? -v : v;
	}
	return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

half float_to_half(float f) noexcept
{
	std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
	half sign = half((bits >> 16) & 0x8000);
	std::uint32_t abs = bits & 0x7FFFFFFF;

	if (abs >= 0x7F800000)  // infinity; NaN keeps its top payload bits and is made quiet
		return half(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 | ((abs >> 13) & 0x3FF) : 0));
	if (abs >= 0x477FF000)  // >= 65520 rounds to infinity
		return half(sign | 0x7C00);
	if (abs >= 0x38800000) {  // a normal half (>= 2^-14): rebias, round the low 13 bits to even
		std::uint32_t rebased = abs - (112u << 23);
		return half(sign | ((rebased + 0xFFF + ((rebased >> 13) & 1)) >> 13));
	}
	std::uint32_t exponent = abs >> 23;
	if (exponent < 102)  // below 2^-25: rounds to zero
		return sign;
	// A subnormal half counts units of 2^-24: significand * 2^(exponent - 150) / 2^-24.
	std::uint32_t significand = (abs & 0x7FFFFF) | 0x800000;
	std::uint32_t shift = 126 - exponent;  // 14..24
	std::uint32_t q = significand >> shift;
	std::uint32_t rest = significand & ((1u << shift) - 1);
	std::uint32_t halfway = 1u << (shift - 1);
	if (rest > halfway || (rest == halfway && (q & 1)))
		q++;  // may carry into the smallest normal, whose encoding follows the largest subnormal
	return half(sign | q);
}

namespace {

void to_float(const half *in, float *out, std::size_t n)
{
	for (std::size_t i = 0; i < n; i++)
		out[i] = half_to_float(in[i]);
}

void from_float(const float *in, half *out, std::size_t n)
{
	for (std::size_t i = 0; i < n; i++)
		out[i] = float_to_half(in[i]);
}

// In float, in element order, as pgvector's portable loops.
float l2_squared(const half *a, const half *b, std::size_t n)
{
	float s = 0;
	for (std::size_t i = 0; i < n; i++) {
		float d = half_to_float(a[i]) - half_to_float(b[i]);
		s += d * d;
	}
	return s;
}

float inner_product(const half *a, const half *b, std::size_t n)
{
	float s = 0;
	for (std::size_t i = 0; i < n; i++)
		s += half_to_float(a[i]) * half_to_float(b[i]);
	return s;
}

float l1(const half *a, const half *b, std::size_t n)
{
	float s = 0;
	for (std::size_t i = 0; i < n; i++)
		s += std::fabs(half_to_float(a[i]) - half_to_float(b[i]));
	return s;
}

CosineParts cosine_parts(const half *a, const half *b, std::size_t n)
{
	CosineParts p{0, 0, 0};
	for (std::size_t i = 0; i < n; i++) {
		float x = half_to_float(a[i]), y = half_to_float(b[i]);
		p.dot += x * y;
		p.norm_a += x * x;
		p.norm_b += y * y;
	}
	return p;
}

// The rows forms: the scalar pair kernels with the query's halves read as the floats q holds
// (their exact values), row by row.
void l2_squared_rows(const float *q, const half *rows, std::size_t count, std::size_t n, std::size_t stride, float *out)
{
	for (std::size_t r = 0; r < count; r++, rows += stride) {
		float s = 0;
		for (std::size_t i = 0; i < n; i++) {
			float d = q[i] - half_to_float(rows[i]);
			s += d * d;
		}
		out[r] = s;
	}
}

void inner_product_rows(const float *q, const half *rows, std::size_t count, std::size_t n, std::size_t stride,
                        float *out)
{
	for (std::size_t r = 0; r < count; r++, rows += stride) {
		float s = 0;
		for (std::size_t i = 0; i < n; i++)
			s += q[i] * half_to_float(rows[i]);
		out[r] = s;
	}
}

void l1_rows(const float *q, const half *rows, std::size_t count, std::size_t n, std::size_t stride, float *out)
{
	for (std::size_t r = 0; r < count; r++, rows += stride) {
		float s = 0;
		for (std::size_t i = 0; i < n; i++)
			s += std::fabs(q[i] - half_to_float(rows[i]));
		out[r] = s;
	}
}

const HalfKernels kScalar{Isa::scalar, to_float,     from_float,      l2_squared,        inner_product,
                          l1,          cosine_parts, l2_squared_rows, inner_product_rows, l1_rows};

bool has_f16c()
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("f16c");
}

// The table for `isa` if this CPU can run it, else nullptr. SSE4.2 has no half conversion.
const HalfKernels *table_if_supported(Isa isa)
{
	if (isa == Isa::scalar || isa == Isa::sse42)
		return &kScalar;
	try {
		kernels_for(isa);  // throws when the CPU lacks the float kernels' features
	} catch (const std::runtime_error &) {
		return nullptr;
	}
	if (!has_f16c())
		return nullptr;
	return isa == Isa::avx512 ? &detail::half_kernels_avx512() : &detail::half_kernels_avx2();
}

const HalfKernels &select_best()
{
	for (Isa isa = active_kernels().isa;; isa = Isa(int(isa) - 1))
		if (const HalfKernels *t = table_if_supported(isa))
			return *t;
}

}  // namespace

const HalfKernels &half_kernels_for(Isa isa)
{
	if (const HalfKernels *t = table_if_supported(isa))
		return *t;
	throw std::runtime_error("this CPU cannot run the " + std::string(isa_name(isa)) + " half kernels");
}

const HalfKernels &active_half_kernels() noexcept
{
	static const HalfKernels &best = select_best();
	return best;
}

double half_cosine_distance(const half *a, const half *b, std::size_t n) noexcept
{
	CosineParts p = active_half_kernels().cosine_parts(a, b, n);
	return cosine_distance_from_parts(double(p.dot), double(p.norm_a) * double(p.norm_b));
}

}  // namespace ruvector::kernels
