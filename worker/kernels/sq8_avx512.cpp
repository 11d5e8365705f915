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
	using ireg = __m512i;
	static constexpr std::size_t IW = 32;
	static ireg izero() { return _mm512_setzero_si512(); }
	static __m512i widen_codes(const std::uint8_t *p)
	{
		return _mm512_maskz_cvtepu8_epi16(0xFFFFFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
	}
	static ireg madd(ireg acc, const std::uint8_t *codes, const std::int16_t *w)
	{
		return _mm512_add_epi32(acc, _mm512_madd_epi16(widen_codes(codes), _mm512_loadu_si512(w)));
	}
	static std::int64_t widen_sum(ireg a)
	{
		// The masked forms, as above.
		__m512i wide = _mm512_add_epi64(_mm512_maskz_cvtepi32_epi64(0xFF, _mm512_maskz_extracti64x4_epi64(0xFF, a, 0)),
		                                _mm512_maskz_cvtepi32_epi64(0xFF, _mm512_maskz_extracti64x4_epi64(0xFF, a, 1)));
		alignas(64) std::int64_t lanes[8];
		_mm512_store_si512(lanes, wide);
		std::int64_t s = 0;
		for (std::int64_t x : lanes)
			s += x;
		return s;
	}
	static float hsum(reg a)
	{
		__m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xFF, a, 0), _mm512_maskz_extractf32x8_ps(0xFF, a, 1));
		__m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
		s = _mm_add_ps(s, _mm_movehl_ps(s, s));
		s = _mm_add_ss(s, _mm_movehdup_ps(s));
		return _mm_cvtss_f32(s);
	}
};
// AVX-512 VNNI: VPDPWSSD multiplies and adds the pairs in one instruction. GCC inlines a function
// with a target only into functions that have it: dot_vnni has it and flattens the loop into itself.
struct Avx512Vnni : Avx512 {
	__attribute__((target("avx512vnni"))) static ireg madd(ireg acc, const std::uint8_t *codes, const std::int16_t *w)
	{
		return _mm512_dpwssd_epi32(acc, widen_codes(codes), _mm512_loadu_si512(w));
	}
};

__attribute__((target("avx512vnni"), flatten)) std::int64_t dot_vnni(const std::int16_t *w, const std::uint8_t *codes,
                                                             std::size_t n)
{
	return simd::Sq8Impl<Avx512Vnni>::dot(w, codes, n);
}
}  // namespace

Sq8DotKernel sq8_dot_avx512_vnni()
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512vnni") ? dot_vnni : nullptr;
}

const Sq8Kernels &sq8_kernels_avx512()
{
	static const Sq8Kernels table = [] {
		Sq8Kernels t = simd::Sq8Impl<Avx512>::table(Isa::avx512);
		if (Sq8DotKernel vnni = sq8_dot_avx512_vnni())
			t.dot = vnni;
		return t;
	}();
	return table;
}

Sq8DotKernel sq8_dot_avx512_bw() { return simd::Sq8Impl<Avx512>::dot; }

}  // namespace ruvector::kernels::detail
