// Every distance kernel, on every instruction set this CPU runs, against a double-precision
// reference: random and edge-case inputs, dims 0..2000, odd lengths, unaligned pointers, tiny and
// huge magnitudes; batches against pairs; GEMM over many shapes, strides and edge tiles.
#include "worker/kernels/distance.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace ruvector::kernels;

namespace {

struct Ref {
	double l2 = 0, ip = 0, l1 = 0, na = 0, nb = 0;
	double mag = 0;  // sum of |terms| of all sums: float rounding error scales with it
};

Ref reference(const float *a, const float *b, std::size_t n)
{
	Ref r;
	for (std::size_t i = 0; i < n; i++) {
		double x = a[i], y = b[i];
		r.l2 += (x - y) * (x - y);
		r.ip += x * y;
		r.l1 += std::fabs(x - y);
		r.na += x * x;
		r.nb += y * y;
		r.mag += std::fabs(x * y) + (x - y) * (x - y) + std::fabs(x - y) + x * x + y * y;
	}
	return r;
}

// Relative to the magnitude of the terms, not of the result (which may cancel to ~0); the
// absolute part is tiny so that inputs around 1e-15 are still checked.
void expect_close(double got, double want, double mag, const char *what, std::size_t n, float scale)
{
	EXPECT_NEAR(got, want, 1e-5 * mag + 1e-35) << what << " n=" << n << " scale=" << scale;
}

std::vector<std::size_t> test_dims()
{
	std::vector<std::size_t> dims;
	for (std::size_t d = 0; d <= 70; d++)
		dims.push_back(d);
	for (std::size_t d : {95, 127, 128, 129, 255, 256, 257, 300, 511, 768, 1000, 1023, 1536, 1999, 2000})
		dims.push_back(d);
	return dims;
}

class DistanceIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(DistanceIsa, MatchesDoubleReference)
{
	const DistanceKernels &K = kernels_for(GetParam());
	EXPECT_EQ(K.isa, GetParam());
	std::mt19937 rng(7);
	std::normal_distribution<float> g(0, 1);
	std::vector<float> buf_a(2000 + 4), buf_b(2000 + 4);
	for (std::size_t n : test_dims()) {
		for (float scale : {1.0f, 1e-15f, 1e-3f, 1e3f, 1e15f}) {
			for (std::size_t off = 0; off < 4; off++) {  // starts 0..3 floats into the buffers
				float *a = buf_a.data() + off, *b = buf_b.data() + (3 - off);
				for (std::size_t i = 0; i < n; i++) {
					a[i] = g(rng) * scale;
					b[i] = g(rng) * scale;
				}
				Ref r = reference(a, b, n);
				expect_close(K.l2_squared(a, b, n), r.l2, r.mag, "l2", n, scale);
				expect_close(K.inner_product(a, b, n), r.ip, r.mag, "ip", n, scale);
				expect_close(K.l1(a, b, n), r.l1, r.mag, "l1", n, scale);
				CosineParts p = K.cosine_parts(a, b, n);
				expect_close(p.dot, r.ip, r.mag, "cos.dot", n, scale);
				expect_close(p.norm_a, r.na, r.mag, "cos.na", n, scale);
				expect_close(p.norm_b, r.nb, r.mag, "cos.nb", n, scale);
			}
		}
	}
}

TEST_P(DistanceIsa, ZeroAndIdenticalVectors)
{
	const DistanceKernels &K = kernels_for(GetParam());
	for (std::size_t n : {0, 1, 7, 16, 33, 128, 1001}) {
		std::vector<float> z(n, 0.0f), a(n);
		for (std::size_t i = 0; i < n; i++)
			a[i] = float(i % 7) - 3.0f;
		EXPECT_EQ(K.l2_squared(a.data(), a.data(), n), 0.0f) << n;
		EXPECT_EQ(K.l1(a.data(), a.data(), n), 0.0f) << n;
		EXPECT_EQ(K.inner_product(a.data(), z.data(), n), 0.0f) << n;
		CosineParts p = K.cosine_parts(a.data(), z.data(), n);
		EXPECT_EQ(p.norm_b, 0.0f) << n;
		// pgvector's formula on these parts: a zero norm gives NaN (0/0 or x/0 -> clamp -> NaN/inf).
		double sim = double(p.dot) / std::sqrt(double(p.norm_a) * double(p.norm_b));
		EXPECT_TRUE(std::isnan(sim)) << n;
	}
}

TEST_P(DistanceIsa, BatchesEqualSinglePairs)
{
	const DistanceKernels &K = kernels_for(GetParam());
	std::mt19937 rng(11);
	std::uniform_real_distribution<float> u(-1, 1);
	struct Case {
		std::size_t dim, count, stride;
	};
	std::vector<Case> cases;
	for (std::size_t dim : {0, 1, 3, 16, 17, 31, 64, 128, 130, 257})
		cases.push_back({dim, 37, dim + dim % 3});
	cases.push_back({128, 0, 128});
	// Over 1 MB of rows: the prefetching / streaming path.
	cases.push_back({128, 2100, 128});
	cases.push_back({130, 2100, 133});
	cases.push_back({1536, 200, 1537});
	for (const Case &c : cases) {
		for (std::size_t off : {0, 1, 3}) {
			std::vector<float> rows(c.count * c.stride + off + 1), q(c.dim + off), out(c.count + 1, -1.0f);
			for (float &v : rows)
				v = u(rng);
			for (float &v : q)
				v = u(rng);
			const float *R = rows.data() + off, *Q = q.data() + off;
			K.l2_squared_batch(Q, R, c.count, c.dim, c.stride, out.data());
			for (std::size_t i = 0; i < c.count; i++)
				ASSERT_EQ(out[i], K.l2_squared(Q, R + i * c.stride, c.dim)) << c.dim << " " << i;
			K.inner_product_batch(Q, R, c.count, c.dim, c.stride, out.data());
			for (std::size_t i = 0; i < c.count; i++)
				ASSERT_EQ(out[i], K.inner_product(Q, R + i * c.stride, c.dim)) << c.dim << " " << i;
			EXPECT_EQ(out[c.count], -1.0f) << "batch wrote past count";
		}
	}
}

struct Shape {
	std::size_t m, n, k, pad;
};

// C = A B^T against a double reference; pad widens lda/ldb/ldc, shift misaligns A, B and C.
void check_gemm(const DistanceKernels &K, const Shape &s, std::size_t shift, std::mt19937 &rng)
{
	std::uniform_real_distribution<float> u(-1, 1);
	std::size_t lda = s.k + s.pad, ldb = s.k + 2 * s.pad, ldc = s.n + s.pad;
	std::vector<float> A(s.m * lda + shift), B(s.n * ldb + shift), C(s.m * ldc + shift + 1, -7.0f);
	for (float &v : A)
		v = u(rng);
	for (float &v : B)
		v = u(rng);
	const float *a = A.data() + shift, *b = B.data() + shift;
	float *c = C.data() + shift;
	K.gemm_nt(a, lda, b, ldb, c, ldc, s.m, s.n, s.k);
	for (std::size_t i = 0; i < s.m; i++) {
		for (std::size_t j = 0; j < s.n; j++) {
			double want = 0, mag = 0;
			for (std::size_t p = 0; p < s.k; p++) {
				want += double(a[i * lda + p]) * b[j * ldb + p];
				mag += std::fabs(double(a[i * lda + p]) * b[j * ldb + p]);
			}
			ASSERT_NEAR(c[i * ldc + j], want, 1e-5 * mag + 1e-30)
			    << "m=" << s.m << " n=" << s.n << " k=" << s.k << " pad=" << s.pad << " at " << i << "," << j;
		}
		for (std::size_t j = s.n; j < ldc; j++)
			ASSERT_EQ(c[i * ldc + j], -7.0f) << "gemm wrote into the row padding of C";
	}
	for (std::size_t i = 0; i < shift; i++)
		ASSERT_EQ(C[i], -7.0f) << "gemm wrote before C";
	ASSERT_EQ(C.back(), -7.0f) << "gemm wrote after C";
}

TEST_P(DistanceIsa, GemmSmallShapes)
{
	const DistanceKernels &K = kernels_for(GetParam());
	std::mt19937 rng(3);
	// Every m, n and k in 1..67 (covering every edge tile for MR <= 8 and NR <= 32), each against
	// a few values of the other two.
	for (std::size_t x = 1; x <= 67; x++)
		for (std::size_t y : {1, 5, 16, 33})
			for (std::size_t z : {1, 17, 64}) {
				std::size_t pad = (x + y + z) % 3;
				check_gemm(K, {x, y, z, pad}, x % 3, rng);
				check_gemm(K, {y, x, z, pad}, y % 3, rng);
				check_gemm(K, {y, z, x, pad}, z % 3, rng);
			}
	std::uniform_int_distribution<std::size_t> d(1, 67);
	for (int t = 0; t < 300; t++)
		check_gemm(K, {d(rng), d(rng), d(rng), d(rng) % 4}, std::size_t(t % 4), rng);
}

TEST_P(DistanceIsa, GemmLargeShapes)
{
	const DistanceKernels &K = kernels_for(GetParam());
	std::mt19937 rng(5);
	// Several k blocks (k > 256) and several column blocks of B (n beyond the packed block).
	for (Shape s : {Shape{300, 257, 129, 5}, Shape{64, 200, 128, 0}, Shape{37, 1000, 128, 1}, Shape{19, 70, 600, 3},
	                Shape{9, 900, 513, 0}, Shape{130, 33, 2000, 7}})
		check_gemm(K, s, 1, rng);
}

TEST_P(DistanceIsa, GemmDegenerateShapes)
{
	const DistanceKernels &K = kernels_for(GetParam());
	std::vector<float> A(64, 1.0f), B(64, 1.0f), C(64, -7.0f);
	K.gemm_nt(A.data(), 4, B.data(), 4, C.data(), 8, 3, 5, 0);  // k = 0: empty sums
	for (std::size_t i = 0; i < 3; i++)
		for (std::size_t j = 0; j < 8; j++)
			EXPECT_EQ(C[i * 8 + j], j < 5 ? 0.0f : -7.0f);
	std::fill(C.begin(), C.end(), -7.0f);
	K.gemm_nt(A.data(), 4, B.data(), 4, C.data(), 8, 0, 5, 4);
	K.gemm_nt(A.data(), 4, B.data(), 4, C.data(), 8, 3, 0, 4);
	EXPECT_TRUE(std::all_of(C.begin(), C.end(), [](float v) { return v == -7.0f; }));
}

INSTANTIATE_TEST_SUITE_P(AllIsas, DistanceIsa, ::testing::ValuesIn(available_isas()),
                         [](const auto &info) { return std::string(isa_name(info.param)); });

}  // namespace

TEST(Distance, ActiveIsBestAvailableUnderCap)
{
	auto isas = available_isas();
	ASSERT_FALSE(isas.empty());
	EXPECT_EQ(isas.front(), Isa::scalar);
	EXPECT_TRUE(std::is_sorted(isas.begin(), isas.end()));
	// RUVECTOR_ISA caps the choice (run this binary with RUVECTOR_ISA=sse42 etc. to test it).
	Isa want = isas.back();
	if (const char *env = std::getenv("RUVECTOR_ISA")) {
		for (Isa isa : isas)
			if (isa_name(isa) == env)
				want = isa;
	}
	EXPECT_EQ(active_kernels().isa, want);
	EXPECT_EQ(&active_kernels(), &kernels_for(want));
}

TEST(Distance, IsaNames)
{
	EXPECT_EQ(isa_name(Isa::scalar), "scalar");
	EXPECT_EQ(isa_name(Isa::sse42), "sse42");
	EXPECT_EQ(isa_name(Isa::avx2), "avx2");
	EXPECT_EQ(isa_name(Isa::avx512), "avx512");
}

TEST(Distance, CosineFollowsPgvector)
{
	std::vector<float> a{1, 0}, b{0, 1}, z{0, 0}, c{2, 0}, d{-3, 0};
	EXPECT_DOUBLE_EQ(cosine_distance(a, b), 1.0);
	EXPECT_DOUBLE_EQ(cosine_distance(a, c), 0.0);
	EXPECT_DOUBLE_EQ(cosine_distance(a, d), 2.0);
	EXPECT_TRUE(std::isnan(cosine_distance(a, z)));
	EXPECT_TRUE(std::isnan(cosine_distance(z, z)));
	EXPECT_TRUE(std::isnan(cosine_distance({}, {})));
	// The clamp: a vector against itself can round to similarity slightly above 1.
	std::vector<float> v{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f};
	double self = cosine_distance(v, v);
	EXPECT_GE(self, 0.0);
	EXPECT_LE(self, 1e-6);
}

// Components whose float squares overflow or underflow: pgvector's float sums give NaN there; we
// recompute in double, so every nonzero finite pair has its true distance (and ordinary pairs keep
// pgvector's float result bit for bit).
TEST(Distance, CosineOfExtremeValuesIsFinite)
{
	std::vector<float> big{-3e38f, 3e38f, -3e38f}, q{-1, 1, -1}, other{1, 1, 1};
	EXPECT_NEAR(cosine_distance(big, q), 0.0, 1e-12);
	EXPECT_NEAR(cosine_distance(big, other), 1.0 + 1.0 / 3.0, 1e-12);
	EXPECT_NEAR(cosine_distance(big, big), 0.0, 1e-12);
	std::vector<float> huge{1e20f, 1, 1}, x{1, 0, 0};
	EXPECT_NEAR(cosine_distance(huge, x), 0.0, 1e-12);
	std::vector<float> tiny{1e-30f, 0, 0}, sub{std::numeric_limits<float>::denorm_min(), 0, 0};
	EXPECT_NEAR(cosine_distance(tiny, x), 0.0, 1e-12);
	EXPECT_NEAR(cosine_distance(sub, q), 1.0 + 1.0 / std::sqrt(3.0), 1e-12);
	std::vector<float> z{0, 0, 0};
	EXPECT_TRUE(std::isnan(cosine_distance(big, z)));

	// Ordinary inputs: exactly pgvector's formula over the kernel's float sums.
	std::vector<float> a{0.1f, -2.5f, 3}, b{4, 0.25f, -1};
	CosineParts p = active_kernels().cosine_parts(a.data(), b.data(), a.size());
	double sim = double(p.dot) / std::sqrt(double(p.norm_a) * double(p.norm_b));
	EXPECT_EQ(cosine_distance(a, b), 1 - std::clamp(sim, -1.0, 1.0));
}
