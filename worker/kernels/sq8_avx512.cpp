// SQ8 kernels for AVX-512 (flags: see CMakeLists.txt for *_avx512.cpp).
#include "worker/kernels/sq8_impl.hpp"

namespace ruvector::kernels::detail {

namespace {
struct Avx512 {
	using reg = __m512;
	static constexpr std::size_t W = 16;
	static reg zero() { return _mm512_setzero_ps(); }
	static reg codes(const std::uint8_t *p)
	{
		// The masked forms: GCC 12 warns about the unmasked ones' undefined pass-through operand.
		__m512i wide = _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
		return _mm512_maskz_cvtepi32_ps(0xFFFF, wide);
	}
	static reg load(const float *p) { return _mm512_loadu_ps(p); }
	static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
	static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
	static reg fnmadd(reg a, reg b, reg c) { return _mm512_fnmadd_ps(a, b, c); }
	static reg abs(reg a) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7FFFFFFF))); }
	static float hsum(reg a)
	{
		__m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, a, 0), _mm512_maskz_extractf32x8_ps(0xFF, a, 1));
		__m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
		s = _mm_add_ps(s, _mm_movehl_ps(s, s));
		s = _mm_add_ss(s, _mm_movehdup_ps(s));
		return _mm_cvtss_f32(s);
	}
};
}  // namespace

const Sq8Kernels &sq8_kernels_avx512()
{
	static const Sq8Kernels table = simd::Sq8Impl<Avx512>::table(Isa::avx512);
	return table;
}

}  // namespace ruvector::kernels::detail
