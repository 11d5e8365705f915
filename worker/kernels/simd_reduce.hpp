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

// Batch: xsimd::batch<float, Arch>. LoadA: load(const E *) -> Batch, LoadB: load(const EB *) ->
// Batch (the second operand may be read another way, e.g. streamed, or be of another element type
// holding the same values, e.g. a half query given as floats; every way yields the same values, so
// the results are the same bits). ToFloat: the tail's conversion of one element (get(E), get(EB)).
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

	// reduce4 of a against two rows at once (one load of a for both): each row's accumulators and
	// their order are reduce4's, so r0 and r1 are the bits reduce4 gives for b0 and b1.
	template <class Step>
	static void reduce4x2(const E *a, const EB *b0, const EB *b1, std::size_t n, Step step, std::size_t &i, float &r0,
	                      float &r1)
	{
		Batch s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f), t0(0.0f), t1(0.0f), t2(0.0f), t3(0.0f);
		i = 0;
		for (; i + 4 * W <= n; i += 4 * W) {
			Batch x0 = LoadA::load(a + i), x1 = LoadA::load(a + i + W);
			s0 = step(x0, LoadB::load(b0 + i), s0);
			t0 = step(x0, LoadB::load(b1 + i), t0);
			s1 = step(x1, LoadB::load(b0 + i + W), s1);
			t1 = step(x1, LoadB::load(b1 + i + W), t1);
			Batch x2 = LoadA::load(a + i + 2 * W), x3 = LoadA::load(a + i + 3 * W);
			s2 = step(x2, LoadB::load(b0 + i + 2 * W), s2);
			t2 = step(x2, LoadB::load(b1 + i + 2 * W), t2);
			s3 = step(x3, LoadB::load(b0 + i + 3 * W), s3);
			t3 = step(x3, LoadB::load(b1 + i + 3 * W), t3);
		}
		for (; i + W <= n; i += W) {
			Batch x = LoadA::load(a + i);
			s0 = step(x, LoadB::load(b0 + i), s0);
			t0 = step(x, LoadB::load(b1 + i), t0);
		}
		r0 = xsimd::hadd((s0 + s1) + (s2 + s3));
		r1 = xsimd::hadd((t0 + t1) + (t2 + t3));
	}

	// Each kernel: the vector step and the tail (the elements past the last whole batch, in float,
	// in order), shared by the pair form and the many-rows form.
	struct L2 {
		static Batch step(Batch x, Batch y, Batch acc) { return xsimd::fma(x - y, x - y, acc); }
		static float tail(const E *a, const EB *b, std::size_t i, std::size_t n, float s)
		{
			for (; i < n; i++) {
				float d = ToFloat::get(a[i]) - ToFloat::get(b[i]);
				s += d * d;
			}
			return s;
		}
	};
	struct Ip {
		static Batch step(Batch x, Batch y, Batch acc) { return xsimd::fma(x, y, acc); }
		static float tail(const E *a, const EB *b, std::size_t i, std::size_t n, float s)
		{
			for (; i < n; i++)
				s += ToFloat::get(a[i]) * ToFloat::get(b[i]);
			return s;
		}
	};
	struct L1 {
		static Batch step(Batch x, Batch y, Batch acc) { return acc + xsimd::abs(x - y); }
		static float tail(const E *a, const EB *b, std::size_t i, std::size_t n, float s)
		{
			for (; i < n; i++)
				s += std::fabs(ToFloat::get(a[i]) - ToFloat::get(b[i]));
			return s;
		}
	};

	template <class K>
	static float pair(const E *a, const EB *b, std::size_t n)
	{
		std::size_t i;
		float s = reduce4(a, b, n, [](Batch x, Batch y, Batch acc) { return K::step(x, y, acc); }, i);
		return K::tail(a, b, i, n, s);
	}

	// pair<K>(a, row) for `count` rows `stride` elements apart, two rows a pass (the same bits).
	template <class K>
	static void rows(const E *a, const EB *b, std::size_t count, std::size_t n, std::size_t stride, float *out)
	{
		std::size_t r = 0;
		for (; r + 2 <= count; r += 2) {
			const EB *b0 = b + r * stride, *b1 = b0 + stride;
			std::size_t i;
			float s0, s1;
			reduce4x2(a, b0, b1, n, [](Batch x, Batch y, Batch acc) { return K::step(x, y, acc); }, i, s0, s1);
			out[r] = K::tail(a, b0, i, n, s0);
			out[r + 1] = K::tail(a, b1, i, n, s1);
		}
		if (r < count)
			out[r] = pair<K>(a, b + r * stride, n);
	}

	static float l2_squared(const E *a, const EB *b, std::size_t n) { return pair<L2>(a, b, n); }
	static float inner_product(const E *a, const EB *b, std::size_t n) { return pair<Ip>(a, b, n); }
	static float l1(const E *a, const EB *b, std::size_t n) { return pair<L1>(a, b, n); }
};

}  // namespace ruvector::kernels::simd
