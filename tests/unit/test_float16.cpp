// float16: the scalar reference conversions against the IEEE definition, every ISA's conversions
// against the reference for all 65536 halves and millions of floats (ties, subnormals, overflow,
// NaN), and every half distance kernel against the scalar one (and the rows forms, a float query
// against half rows, against the pair kernels).
#include "worker/kernels/float16.hpp"
#include "worker/kernels/vector_text.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

using namespace ruvector::kernels;

namespace {

std::vector<float> all_half_values()
{
	std::vector<float> out(65536);
	for (std::uint32_t h = 0; h < 65536; h++)
		out[h] = half_to_float(half(h));
	return out;
}

}  // namespace

TEST(Float16Reference, KnownValues)
{
	EXPECT_EQ(half_to_float(0x3C00), 1.0f);
	EXPECT_EQ(half_to_float(0xC000), -2.0f);
	EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
	EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
	EXPECT_EQ(half_to_float(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
	EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));  // smallest normal
	EXPECT_TRUE(std::isinf(half_to_float(0x7C00)));
	EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
	EXPECT_TRUE(std::isnan(half_to_float(0x7C01)));
	EXPECT_EQ(float_to_half(0.1f), 0x2E66);  // 0.0999755859375
	EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
	EXPECT_EQ(float_to_half(65519.996f), 0x7BFF);
	EXPECT_EQ(float_to_half(65520.0f), 0x7C00);  // the tie rounds to even: infinity
	EXPECT_EQ(float_to_half(-65520.0f), 0xFC00);
	EXPECT_EQ(float_to_half(1e-8f), 0x0000);
	EXPECT_EQ(float_to_half(-1e-8f), 0x8000);
	EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and 2^-24: even
	EXPECT_EQ(float_to_half(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
	EXPECT_EQ(float_to_half(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units: tie to even (2)
	EXPECT_EQ(float_to_half(std::numeric_limits<float>::infinity()), 0x7C00);
	EXPECT_TRUE(half_is_nan(float_to_half(std::numeric_limits<float>::quiet_NaN())));
	EXPECT_TRUE(overflows_half(65520.0f));
	EXPECT_FALSE(overflows_half(65519.996f));
	EXPECT_FALSE(overflows_half(std::numeric_limits<float>::infinity()));
}

// Independent of any hardware: every half converts exactly, and between two neighbouring halves
// the midpoint goes to the even one and anything past it to the nearer one.
TEST(Float16Reference, RoundsToNearestEven)
{
	std::vector<float> v = all_half_values();
	for (std::uint32_t h = 0; h < 0x7C00; h++) {  // non-negative finite, ascending
		ASSERT_EQ(float_to_half(v[h]), h) << h;
		ASSERT_EQ(float_to_half(-v[h]), half(h | 0x8000)) << h;
		float up = h + 1 < 0x7C00 ? v[h + 1] : 65536.0f;  // 2^16 is where infinity "would" be
		double mid = (double(v[h]) + double(up)) / 2;
		float fmid = float(mid);
		ASSERT_EQ(double(fmid), mid);  // representable in float
		half even = (h & 1) ? half(h + 1) : half(h);
		ASSERT_EQ(float_to_half(fmid), even) << h;
		ASSERT_EQ(float_to_half(std::nextafter(fmid, 0.0f)), h) << h;
		ASSERT_EQ(float_to_half(std::nextafter(fmid, 1e30f)), half(h + 1)) << h;
	}
}

class Float16Isa : public ::testing::TestWithParam<Isa> {};

TEST_P(Float16Isa, EveryHalfConvertsAsTheReference)
{
	const HalfKernels &K = half_kernels_for(GetParam());
	std::vector<half> halves(65536 + 3);
	for (std::uint32_t h = 0; h < 65536; h++)
		halves[h + 3] = half(h);
	std::vector<float> floats(65536 + 1);
	K.to_float(halves.data() + 3, floats.data() + 1, 65536);  // unaligned both sides
	std::vector<half> back(65536 + 5);
	K.from_float(floats.data() + 1, back.data() + 5, 65536);
	for (std::uint32_t h = 0; h < 65536; h++) {
		float ref = half_to_float(half(h));
		ASSERT_EQ(std::bit_cast<std::uint32_t>(floats[h + 1]), std::bit_cast<std::uint32_t>(ref)) << std::hex << h;
		// Back to the same half; a NaN comes back quiet.
		half want = half_is_nan(half(h)) ? half(h | 0x200) : half(h);
		ASSERT_EQ(back[h + 5], want) << std::hex << h;
		ASSERT_EQ(float_to_half(ref), want) << std::hex << h;
	}
}

TEST_P(Float16Isa, FloatsRoundAsTheReference)
{
	const HalfKernels &K = half_kernels_for(GetParam());
	std::mt19937 rng(16);
	std::uniform_int_distribution<std::uint32_t> bits;
	std::uniform_int_distribution<int> exponent(127 - 30, 127 + 17);  // zero to past the overflow
	std::vector<float> in;
	for (int i = 0; i < 1 << 21; i++) {
		std::uint32_t b = bits(rng);
		if (i % 2)  // concentrate on the exponents half can (nearly) hold
			b = (b & 0x807FFFFF) | (std::uint32_t(exponent(rng)) << 23);
		if (i % 8 == 1)  // ties and near-ties: low 13 bits (or more, for subnormals) special
			b = (b & ~0x1FFFu) | (i % 16 == 1 ? 0x1000u : 0x0FFFu);
		in.push_back(std::bit_cast<float>(b));
	}
	for (float f : {65504.0f, 65519.99f, 65520.0f, 65536.0f, 1e6f, 3.4e38f, std::ldexp(1.0f, -24),
	                std::ldexp(1.0f, -25), std::ldexp(1.5f, -25), std::ldexp(1.0f, -14), 0.0f, -0.0f})
		for (float s : {1.0f, -1.0f})
			in.push_back(f * s);
	std::vector<half> got(in.size());
	K.from_float(in.data(), got.data(), in.size());
	for (std::size_t i = 0; i < in.size(); i++)
		ASSERT_EQ(got[i], float_to_half(in[i])) << std::hexfloat << in[i];
}

TEST_P(Float16Isa, DistancesMatchScalar)
{
	const HalfKernels &K = half_kernels_for(GetParam());
	const HalfKernels &S = half_kernels_for(Isa::scalar);
	std::mt19937 rng(3);
	std::vector<half> buf_a(2100), buf_b(2100);
	std::vector<std::size_t> dims;
	for (std::size_t d = 0; d <= 70; d++)
		dims.push_back(d);
	for (std::size_t d : {127, 128, 129, 255, 256, 257, 768, 1536, 2000})
		dims.push_back(d);
	for (std::size_t n : dims) {
		for (float scale : {1.0f, 1e-6f, 100.0f, 60000.0f}) {
			std::normal_distribution<float> g(0, scale);
			for (std::size_t off = 0; off < 3; off++) {
				half *a = buf_a.data() + off, *b = buf_b.data() + (2 - off);
				double mag_l2 = 0, mag_ip = 0, mag_l1 = 0, mag_na = 0, mag_nb = 0;
				for (std::size_t i = 0; i < n; i++) {
					a[i] = float_to_half(std::clamp(g(rng), -kHalfMax, kHalfMax));
					b[i] = float_to_half(std::clamp(g(rng), -kHalfMax, kHalfMax));
					double x = half_to_float(a[i]), y = half_to_float(b[i]);
					mag_l2 += (x - y) * (x - y);
					mag_ip += std::fabs(x * y);
					mag_l1 += std::fabs(x - y);
					mag_na += x * x;
					mag_nb += y * y;
				}
				// Lanes sum in another order than the scalar loop: float rounding, relative to the terms.
				auto near = [&](double got, double want, double mag, const char *what) {
					EXPECT_NEAR(got, want, 1e-5 * mag + 1e-30) << what << " n=" << n << " scale=" << scale;
				};
				near(K.l2_squared(a, b, n), S.l2_squared(a, b, n), mag_l2, "l2");
				near(K.inner_product(a, b, n), S.inner_product(a, b, n), mag_ip, "ip");
				near(K.l1(a, b, n), S.l1(a, b, n), mag_l1, "l1");
				CosineParts p = K.cosine_parts(a, b, n), q = S.cosine_parts(a, b, n);
				near(p.dot, q.dot, mag_ip, "cos.dot");
				near(p.norm_a, q.norm_a, mag_na, "cos.na");
				near(p.norm_b, q.norm_b, mag_nb, "cos.nb");
				if (n > 0 && n < 8) {  // within one lane group the scalar tail is exact: equal
					EXPECT_EQ(K.l1(a, b, n), S.l1(a, b, n));
				}
			}
		}
	}
	// Exact small case: integers are exact in half and float.
	std::vector<half> a{float_to_half(1), float_to_half(2), float_to_half(3)};
	std::vector<half> b{float_to_half(4), float_to_half(6), float_to_half(3)};
	EXPECT_EQ(K.l2_squared(a.data(), b.data(), 3), 25.0f);
	EXPECT_EQ(K.inner_product(a.data(), b.data(), 3), 25.0f);
	EXPECT_EQ(K.l1(a.data(), b.data(), 3), 7.0f);
}

// The rows forms (the index scan's pages): the query as floats against rows a stride apart give
// the bits of the same ISA's pair kernel on the query's halves, for every row of a page (one, two
// at a time, an odd one left), at every length, at every alignment.
TEST_P(Float16Isa, RowsEqualPairKernelBitForBit)
{
	const HalfKernels &K = half_kernels_for(GetParam());
	std::mt19937 rng(11);
	std::normal_distribution<float> g(0, 3);
	std::vector<std::size_t> dims;
	for (std::size_t d = 0; d <= 70; d++)
		dims.push_back(d);
	for (std::size_t d : {127, 128, 129, 1535, 1536, 1537})
		dims.push_back(d);
	for (std::size_t n : dims) {
		for (std::size_t count : {1, 2, 3, 5}) {
			std::size_t off = n % 3, stride = n + 1 + n % 4;
			std::vector<half> qh(n), rows(off + count * stride, 0x7C01);  // NaN in the gaps: never read
			std::vector<float> q(n);
			for (std::size_t i = 0; i < n; i++) {
				qh[i] = float_to_half(g(rng));
				q[i] = half_to_float(qh[i]);
			}
			for (std::size_t r = 0; r < count; r++)
				for (std::size_t i = 0; i < n; i++)
					rows[off + r * stride + i] = float_to_half(g(rng));
			std::vector<float> l2(count), ip(count), l1(count);
			const half *base = rows.data() + off;
			K.l2_squared_rows(q.data(), base, count, n, stride, l2.data());
			K.inner_product_rows(q.data(), base, count, n, stride, ip.data());
			K.l1_rows(q.data(), base, count, n, stride, l1.data());
			for (std::size_t r = 0; r < count; r++) {
				const half *row = base + r * stride;
				ASSERT_EQ(l2[r], K.l2_squared(qh.data(), row, n)) << "n=" << n << " count=" << count << " row " << r;
				ASSERT_EQ(l2[r], K.l2_squared(row, qh.data(), n)) << "n=" << n;  // the operator's operand order
				ASSERT_EQ(ip[r], K.inner_product(qh.data(), row, n)) << "n=" << n << " count=" << count << " row " << r;
				ASSERT_EQ(ip[r], K.inner_product(row, qh.data(), n)) << "n=" << n;
				ASSERT_EQ(l1[r], K.l1(qh.data(), row, n)) << "n=" << n << " count=" << count << " row " << r;
				ASSERT_EQ(l1[r], K.l1(row, qh.data(), n)) << "n=" << n;
			}
		}
	}
}

INSTANTIATE_TEST_SUITE_P(AllIsas, Float16Isa, ::testing::ValuesIn(available_isas()),
                         [](const ::testing::TestParamInfo<Isa> &info) { return std::string(isa_name(info.param)); });

TEST(Float16Dispatch, ActiveTableIsTheBestSupported)
{
	const HalfKernels &K = active_half_kernels();
	Isa want = active_kernels().isa == Isa::sse42 ? Isa::scalar : active_kernels().isa;
	if (want != Isa::scalar && !__builtin_cpu_supports("f16c"))
		want = Isa::scalar;
	EXPECT_EQ(K.isa, want);
	std::vector<half> a{float_to_half(1), float_to_half(2)}, b{float_to_half(2), float_to_half(4)};
	EXPECT_DOUBLE_EQ(half_cosine_distance(a.data(), b.data(), 2), 0.0);
	std::vector<half> z{0, 0};
	EXPECT_TRUE(std::isnan(half_cosine_distance(a.data(), z.data(), 2)));  // pgvector: NaN
}

// halfvec text input: the element type's range check sits where float4's does (pgvector's order:
// after the syntax of the number, before NaN/Infinity and the separator), and names the token.
TEST(Float16Text, OverflowIsOutOfRangeWithItsToken)
{
	std::vector<float> buf(kVectorMaxDim);
	auto parse = [&](const char *text) { return parse_vector_text(text, buf, kVectorMaxDim, overflows_half); };
	VectorTextResult r = parse("[1, -65520 ,2]");
	EXPECT_EQ(r.error, VectorTextError::out_of_range);
	EXPECT_EQ(r.token, "-65520");
	EXPECT_EQ(parse("[65519.99,1e-30]").error, VectorTextError::none);  // rounds to 65504 and 0
	EXPECT_EQ(parse("[1e5 x").error, VectorTextError::out_of_range);    // before the syntax error after it
	EXPECT_EQ(parse("[Infinity]").error, VectorTextError::infinite);   // infinity is not "out of range"
	EXPECT_EQ(parse_vector_text("[1e5]", buf).error, VectorTextError::none);  // vector: no hook, in range
}
