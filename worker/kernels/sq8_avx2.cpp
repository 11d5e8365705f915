// SQ8 kernels for AVX2+FMA (flags: see CMakeLists.txt for *_avx2.cpp).
#include "worker/kernels/sq8_impl.hpp"

namespace ruvector::kernels::detail {

namespace {
struct Avx2 {
	using reg = __m256;
	static constexpr std::size_t W = 8;
	static reg zero() { return _mm256_setzero_ps(); }
	static reg codes(const std::uint8_t *p)
	{
		return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(p))));
	}
	static reg load(const float *p) { return _mm256_loadu_ps(p); }
	static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
	static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
	static reg fnmadd(reg a, reg b, reg c) { return _mm256_fnmadd_ps(a, b, c); }
	static reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
	using ireg = __m256i;
	static constexpr std::size_t IW = 16;
	static ireg izero() { return _mm256_setzero_si256(); }
	static ireg madd(ireg acc, const std::uint8_t *codes, const std::int16_t *w)
	{
		__m256i c = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(codes)));
		return _mm256_add_epi32(acc, _mm256_madd_epi16(c, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w))));
	}
	static std::int64_t widen_sum(ireg a)
	{
		__m256i wide = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(a)),
		                                _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a, 1)));
		__m128i s = _mm_add_epi64(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
		return _mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1);
	}
	static float hsum(reg a)
	{
		__m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
		s = _mm_add_ps(s, _mm_movehl_ps(s, s));
		s = _mm_add_ss(s, _mm_movehdup_ps(s));
		return _mm_cvtss_f32(s);
	}
};
}  // namespace

const Sq8Kernels &sq8_kernels_avx2()
{
	static const Sq8Kernels table = simd::Sq8Impl<Avx2>::table(Isa::avx2);
	return table;
}

}  // namespace ruvector::kernels::detail
