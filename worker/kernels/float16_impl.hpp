// Half kernel bodies, written once over an xsimd architecture and a way to load halves as a float
// batch, instantiated in float16_{avx2,avx512}.cpp (compiled with -mf16c plus the ISA's flags).
// Same structure and ODR rules as distance_impl.hpp: everything is a member of a per-Arch template.
#pragma once
#include "worker/kernels/float16.hpp"
#include "worker/kernels/simd_reduce.hpp"

#include <immintrin.h>
#include <xsimd/xsimd.hpp>

namespace ruvector::kernels::simd {

// Cvt provides: W (lanes), load(const half *) -> batch<float, Arch>, store(half *, batch).
template <class Arch, class Cvt>
struct HalfKernelsImpl {
	using batch = xsimd::batch<float, Arch>;
	static constexpr std::size_t W = batch::size;

	static void to_float(const half *in, float *out, std::size_t n)
	{
		std::size_t i = 0;
		for (; i + W <= n; i += W)
			Cvt::load(in + i).store_unaligned(out + i);
		for (; i < n; i++)
			out[i] = half_to_float(in[i]);
	}

	static void from_float(const float *in, half *out, std::size_t n)
	{
		std::size_t i = 0;
		for (; i + W <= n; i += W)
			Cvt::store(out + i, batch::load_unaligned(in + i));
		for (; i < n; i++)
			out[i] = float_to_half(in[i]);
	}

	// The float kernels' reduction (simd_reduce.hpp), on halves converted as they load.
	struct HalfToFloat {
		static float get(half x) { return half_to_float(x); }
		static float get(float x) { return x; }
	};
	using Pair = PairReduce<batch, half, Cvt, Cvt, HalfToFloat>;
	// The query as floats (the values of its halves), rows as halves: the same values in the
	// same lanes as Pair, so the same bits.
	struct FloatLoad {
		static batch load(const float *p) { return batch::load_unaligned(p); }
	};
	using Rows = PairReduce<batch, float, FloatLoad, Cvt, HalfToFloat, half>;
	static float l2_squared(const half *a, const half *b, std::size_t n) { return Pair::l2_squared(a, b, n); }
	static float inner_product(const half *a, const half *b, std::size_t n) { return Pair::inner_product(a, b, n); }
	static float l1(const half *a, const half *b, std::size_t n) { return Pair::l1(a, b, n); }

	static void l2_squared_rows(const float *q, const half *r, std::size_t count, std::size_t n, std::size_t stride,
	                            float *out)
	{
		Rows::template rows<typename Rows::L2>(q, r, count, n, stride, out);
	}
	static void inner_product_rows(const float *q, const half *r, std::size_t count, std::size_t n,
	                               std::size_t stride, float *out)
	{
		Rows::template rows<typename Rows::Ip>(q, r, count, n, stride, out);
	}
	static void l1_rows(const float *q, const half *r, std::size_t count, std::size_t n, std::size_t stride, float *out)
	{
		Rows::template rows<typename Rows::L1>(q, r, count, n, stride, out);
	}

	static CosineParts cosine_parts(const half *a, const half *b, std::size_t n)
	{
		batch d(0.0f), na(0.0f), nb(0.0f);
		std::size_t i = 0;
		for (; i + W <= n; i += W) {
			batch x = Cvt::load(a + i), y = Cvt::load(b + i);
			d = xsimd::fma(x, y, d);
			na = xsimd::fma(x, x, na);
			nb = xsimd::fma(y, y, nb);
		}
		CosineParts p{xsimd::hadd(d), xsimd::hadd(na), xsimd::hadd(nb)};
		for (; i < n; i++) {
			float x = half_to_float(a[i]), y = half_to_float(b[i]);
			p.dot += x * y;
			p.norm_a += x * x;
			p.norm_b += y * y;
		}
		return p;
	}

	static HalfKernels table(Isa isa)
	{
		return {isa, to_float, from_float, l2_squared, inner_product, l1, cosine_parts, l2_squared_rows, inner_product_rows, l1_rows};
	}
};

}  // namespace ruvector::kernels::simd
