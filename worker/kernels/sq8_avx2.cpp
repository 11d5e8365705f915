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
