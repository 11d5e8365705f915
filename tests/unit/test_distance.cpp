// Every distance kernel, on every instruction set this CPU runs, against a double-precision
// reference: random and edge-case inputs, dims 1..2000, odd lengths, unaligned pointers.
#include "worker/kernels/distance.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

using namespace ruvector::kernels;

namespace {

struct Ref {
	double l2 = 0, ip = 0, l1 = 0, na = 0, nb = 0, mag = 0;  // mag: sum of |terms|, for tolerances
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
		r.mag += std::fabs(x * y) + (x - y) * (x - y) + std::fabs(x - y);
	}
	return r;
}

void expect_close(double got, double want, double mag, const char *what, std::size_t n)
{
	EXPECT_NEAR(got, want, 2e-6 * mag + 1e-6) << what << " n=" << n;
}

class DistanceIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(DistanceIsa, MatchesDoubleReference)
{
	const DistanceKernels &K = kernels_for(GetParam());
	std::mt19937 rng(7);
	std::normal_distribution<float> g(0, 1);
	std::vector<std::size_t> dims;
	for (std::size_t d = 0; d <= 70; d++)
		dims.push_back(d);
	for (std::size_t d : {127, 128, 129, 255, 256, 257, 511, 768, 1000, 1023, 1536, 1999, 2000})
		dims.push_back(d);
	std::vector<float> buf_a(2000 + 8), buf_b(2000 + 8);
	for (std::size_t n : dims) {
		for (std::size_t off = 0; off < 4; off++) {  // unaligned starts
			float *a = buf_a.data() + off, *b = buf_b.data() + (3 - off);
			float scale = off == 2 ? 1e3f : (off == 3 ? 1e-3f : 1.0f);
			for (std::size_t i = 0; i < n; i++) {
				a[i] = g(rng) * scale;
				b[i] = g(rng) * scale;
			}
			Ref r = reference(a, b, n);
			expect_close(K.l2_squared(a, b, n), r.l2, r.mag, "l2", n);
			expect_close(K.inner_product(a, b, n), r.ip, r.mag, "ip", n);
			expect_close(K.l1(a, b, n), r.l1, r.mag, "l1", n);
			CosineParts p = K.cosine_parts(a, b, n);
			expect_close(p.dot, r.ip, r.mag, "cos.dot", n);
			expect_close(p.norm_a, r.na, r.na, "cos.na", n);
			expect_close(p.norm_b, r.nb, r.nb, "cos.nb", n);
		}
	}
}

TEST_P(DistanceIsa, BatchesEqualSinglePairs)
{
	const DistanceKernels &K = kernels_for(GetParam());
	std::mt19937 rng(11);
	std::uniform_real_distribution<float> u(-1, 1);
	for (std::size_t dim : {1, 3, 16, 17, 128, 130}) {
		std::size_t count = 37, stride = dim + 3;
		std::vector<float> rows(count * stride), q(dim), out(count);
		for (float &v : rows)
			v = u(rng);
		for (float &v : q)
			v = u(rng);
		K.l2_squared_batch(q.data(), rows.data(), count, dim, stride, out.data());
		for (std::size_t i = 0; i < count; i++)
			EXPECT_EQ(out[i], K.l2_squared(q.data(), rows.data() + i * stride, dim));
		K.inner_product_batch(q.data(), rows.data(), count, dim, stride, out.data());
		for (std::size_t i = 0; i < count; i++)
			EXPECT_EQ(out[i], K.inner_product(q.data(), rows.data() + i * stride, dim));
	}
}

TEST_P(DistanceIsa, GemmMatchesDoubleReference)
{
	const DistanceKernels &K = kernels_for(GetParam());
	std::mt19937 rng(3);
	std::uniform_real_distribution<float> u(-1, 1);
	struct Shape {
		std::size_t m, n, k, pad;
	};
	std::vector<Shape> shapes;
	for (std::size_t m : {1, 2, 3, 4, 5, 7, 9})
		for (std::size_t n : {1, 2, 3, 4, 5, 8, 13, 67})
			for (std::size_t k : {1, 3, 15, 16, 17, 33, 64})
				shapes.push_back({m, n, k, (m + n + k) % 3});
	shapes.push_back({300, 257, 129, 5});
	shapes.push_back({64, 200, 128, 0});
	for (const Shape &s : shapes) {
		std::size_t lda = s.k + s.pad, ldb = s.k + 2 * s.pad, ldc = s.n + s.pad;
		std::vector<float> A(s.m * lda), B(s.n * ldb), C(s.m * ldc, -7.0f);
		for (float &v : A)
			v = u(rng);
		for (float &v : B)
			v = u(rng);
		K.gemm_nt(A.data(), lda, B.data(), ldb, C.data(), ldc, s.m, s.n, s.k);
		for (std::size_t i = 0; i < s.m; i++) {
			for (std::size_t j = 0; j < s.n; j++) {
				double want = 0, mag = 0;
				for (std::size_t p = 0; p < s.k; p++) {
					want += double(A[i * lda + p]) * B[j * ldb + p];
					mag += std::fabs(double(A[i * lda + p]) * B[j * ldb + p]);
				}
				ASSERT_NEAR(C[i * ldc + j], want, 1e-5 * mag + 1e-6)
				    << "m=" << s.m << " n=" << s.n << " k=" << s.k << " at " << i << "," << j;
			}
			for (std::size_t j = s.n; j < ldc; j++)
				ASSERT_EQ(C[i * ldc + j], -7.0f) << "gemm wrote outside C";
		}
	}
}

INSTANTIATE_TEST_SUITE_P(AllIsas, DistanceIsa, ::testing::ValuesIn(available_isas()),
                         [](const auto &info) { return std::string(isa_name(info.param)); });

}  // namespace

TEST(Distance, ActiveIsBestAvailable)
{
	auto isas = available_isas();
	ASSERT_FALSE(isas.empty());
	EXPECT_EQ(isas.front(), Isa::scalar);
	if (!std::getenv("RUVECTOR_ISA")) {
		EXPECT_EQ(active_kernels().isa, isas.back());
	}
}

TEST(Distance, CosineFollowsPgvector)
{
	std::vector<float> a{1, 0}, b{0, 1}, z{0, 0}, c{2, 0}, d{-3, 0};
	EXPECT_DOUBLE_EQ(cosine_distance(a, b), 1.0);
	EXPECT_DOUBLE_EQ(cosine_distance(a, c), 0.0);
	EXPECT_DOUBLE_EQ(cosine_distance(a, d), 2.0);
	EXPECT_TRUE(std::isnan(cosine_distance(a, z)));
	EXPECT_TRUE(std::isnan(cosine_distance(z, z)));
}
