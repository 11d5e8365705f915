// The pair kernels' reduction, written once for every element type whose W lanes load as a float
// batch (float rows directly, half rows through F16C): squared L2, inner product and L1 with four
// independent accumulators (an FMA has a latency of ~4 cycles and two issue per cycle, so a single
// chain would leave most of the FP units idle on cached data), then the tail in float, in order.
// Included by the per-ISA kernel bodies (distance_impl.hpp, float16_impl.hpp) inside their per-Arch
// templates, so each instantiation is compiled with its own ISA's flags.
#pragma once
#include <xsimd/xsimd.hpp>

#include <cmath>
#include <cstddef>

namespace ruvector::kernels::simd {

// Batch: xsimd::batch<float, Arch>. LoadA: load(const E *) -> Batch, LoadB: load(const EB *) -> Batch
// (the second operand may be read another way, e.g. streamed, or be of another element type, e.g. a
// float query against half rows; every way yields the same values). ToFloat: the tail's conversion
// of one element of either type.
template <class Batch, class E, class LoadA, class LoadB, class ToFloat, class EB = E>
struct PairReduce {
	static constexpr std::size_t W = Batch::size;

	template <class Step>
	static float reduce4(const E *a, const EB *b, std::size_t n, Step step, std::size_t &i)
	{
		Batch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
		i = 0;
		for (; i + 4 * W <= n; i += 4 * W) {
			s0 = step(LoadA::load(a + i), LoadB::load(b + i), s0);
			s1 = step(LoadA::load(a + i + W), LoadB::load(b + i + W), s1);
			s2 = step(LoadA::load(a + i + 2 * W), LoadB::load(b + i + 2 * W), s2);
			s3 = step(LoadA::load(a + i + 3 * W), LoadB::load(b + i + 3 * W), s3);
		}
		for (; i + W <= n; i += W)
			s0 = step(LoadA::load(a + i), LoadB::load(b + i), s0);
		return xsimd::hadd((s0 + s1) + (s2 + s3));
	}

	static float l2_squared(const E *a, const EB *b, std::size_t n)
	{
		std::size_t i;
		float s = reduce4(a, b, n, [](Batch x, Batch y, Batch acc) { return xsimd::fma(x - y, x - y, acc); }, i);
		for (; i < n; i++) {
			float d = ToFloat::get(a[i]) - ToFloat::get(b[i]);
			s += d * d;
		}
		return s;
	}

	static float inner_product(const E *a, const EB *b, std::size_t n)
	{
		std::size_t i;
		float s = reduce4(a, b, n, [](Batch x, Batch y, Batch acc) { return xsimd::fma(x, y, acc); }, i);
		for (; i < n; i++)
			s += ToFloat::get(a[i]) * ToFloat::get(b[i]);
		return s;
	}

	static float l1(const E *a, const EB *b, std::size_t n)
	{
		std::size_t i;
		float s = reduce4(a, b, n, [](Batch x, Batch y, Batch acc) { return acc + xsimd::abs(x - y); }, i);
		for (; i < n; i++)
			s += std::fabs(ToFloat::get(a[i]) - ToFloat::get(b[i]));
		return s;
	}
};

}  // namespace ruvector::kernels::simd
