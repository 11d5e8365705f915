// SQ8 kernel bodies over a Loader that widens codes to a float register, instantiated in
// sq8_{avx2,avx512}.cpp (compiled with the ISA's flags). As in distance_impl.hpp, everything is a
// member of a per-ISA template, so no wide-ISA symbol can stand in for a narrower one.
#pragma once
#include "worker/kernels/sq8.hpp"

#include <immintrin.h>

#include <cmath>

namespace ruvector::kernels::simd {

// Loader provides: reg (float register type), W (lanes), zero(), codes(const uint8 *) -> reg,
// load(const float *) -> reg, fmadd(a, b, c) = a*b + c, fnmadd(a, b, c) = c - a*b, abs(reg),
// hsum(reg) -> float.
template <class L>
struct Sq8Impl {
	using reg = typename L::reg;
	static constexpr std::size_t W = L::W;

	static float dot(const float *w, const std::uint8_t *codes, std::size_t n)
	{
		// Four chains: one multiply-add per dimension leaves the FMA latency as the limit.
		reg s0 = L::zero(), s1 = L::zero(), s2 = L::zero(), s3 = L::zero();
		std::size_t i = 0;
		for (; i + 4 * W <= n; i += 4 * W) {
			s0 = L::fmadd(L::codes(codes + i), L::load(w + i), s0);
			s1 = L::fmadd(L::codes(codes + i + W), L::load(w + i + W), s1);
			s2 = L::fmadd(L::codes(codes + i + 2 * W), L::load(w + i + 2 * W), s2);
			s3 = L::fmadd(L::codes(codes + i + 3 * W), L::load(w + i + 3 * W), s3);
		}
		for (; i + W <= n; i += W)
			s0 = L::fmadd(L::codes(codes + i), L::load(w + i), s0);
		float s = L::hsum(L::add(L::add(s0, s1), L::add(s2, s3)));
		for (; i < n; i++)
			s += w[i] * float(codes[i]);
		return s;
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
