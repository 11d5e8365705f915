// SQ8 kernel bodies over a Loader that widens codes to a float register, instantiated in
// sq8_{avx2,avx512}.cpp (compiled with the ISA's flags). As in distance_impl.hpp, everything is a
// member of a per-ISA template, so no wide-ISA symbol can stand in for a narrower one.
#pragma once
#include "worker/kernels/sq8.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

namespace ruvector::kernels::simd {

// Loader provides: reg (float register type), W (lanes), zero(), codes(const uint8 *) -> reg,
// load(const float *) -> reg, fmadd(a, b, c) = a*b + c, fnmadd(a, b, c) = c - a*b, abs(reg),
// hsum(reg) -> float.
template <class L>
struct Sq8Impl {
	using reg = typename L::reg;
	static constexpr std::size_t W = L::W;

	// sum W_j c_j over 16-bit weights (sq8.hpp): L provides ireg, IW (16-bit lanes), izero(),
	// madd(acc, codes, w) (acc's 32-bit lanes += pairs of code * weight products), widen_sum(ireg) -> int64.
	static std::int64_t dot(const std::int16_t *w, const std::uint8_t *codes, std::size_t n)
	{
		using ireg = typename L::ireg;
		constexpr std::size_t IW = L::IW;
		std::int64_t total = 0;
		std::size_t i = 0;
		while (i + IW <= n) {
			std::size_t block_end = std::min(n, i + kSq8DotBlock);
			ireg s0 = L::izero(), s1 = L::izero(), s2 = L::izero(), s3 = L::izero();
			for (; i + 4 * IW <= block_end; i += 4 * IW) {
				s0 = L::madd(s0, codes + i, w + i);
				s1 = L::madd(s1, codes + i + IW, w + i + IW);
				s2 = L::madd(s2, codes + i + 2 * IW, w + i + 2 * IW);
				s3 = L::madd(s3, codes + i + 3 * IW, w + i + 3 * IW);
			}
			for (; i + IW <= block_end; i += IW)
				s0 = L::madd(s0, codes + i, w + i);
			total += L::widen_sum(s0) + L::widen_sum(s1) + L::widen_sum(s2) + L::widen_sum(s3);
		}
		for (; i < n; i++)
			total += std::int64_t(w[i]) * codes[i];
		return total;
	}

	static float l1(const float *a, const float *step, const std::uint8_t *codes, std::size_t n)
	{
		reg s0 = L::zero(), s1 = L::zero();
		std::size_t i = 0;
		for (; i + 2 * W <= n; i += 2 * W) {
			s0 = L::add(s0, L::abs(L::fnmadd(L::codes(codes + i), L::load(step + i), L::load(a + i))));
			s1 = L::add(s1, L::abs(L::fnmadd(L::codes(codes + i + W), L::load(step + i + W), L::load(a + i + W))));
		}
		for (; i + W <= n; i += W)
			s0 = L::add(s0, L::abs(L::fnmadd(L::codes(codes + i), L::load(step + i), L::load(a + i))));
		float s = L::hsum(L::add(s0, s1));
		for (; i < n; i++)
			s += std::fabs(a[i] - float(codes[i]) * step[i]);
		return s;
	}

	static Sq8Kernels table(Isa isa) { return {isa, dot, l1}; }
};

}  // namespace ruvector::kernels::simd
