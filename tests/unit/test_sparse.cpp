// Sparse distances (merge-join over sorted indices) against a dense double-precision reference on
// the same vectors: random patterns of overlap, empty operands, disjoint and identical index sets,
// and the float accumulation order pgvector uses.
#include "worker/kernels/sparse.hpp"

#include "worker/kernels/distance.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace ruvector::kernels;

namespace {

struct Sparse {
	std::vector<std::int32_t> idx;
	std::vector<float> val;
	SparseView view() const { return {idx, val}; }
	std::vector<float> dense(int dim) const
	{
		std::vector<float> d(std::size_t(dim), 0.0f);
		for (std::size_t i = 0; i < idx.size(); i++)
			d[std::size_t(idx[i])] = val[i];
		return d;
	}
};

Sparse random_sparse(std::mt19937 &rng, int dim, double density)
{
	Sparse s;
	std::uniform_real_distribution<float> u(-10, 10);
	std::bernoulli_distribution keep(density);
	for (int i = 0; i < dim; i++)
		if (keep(rng)) {
			float v = u(rng);
			if (v != 0) {
				s.idx.push_back(i);
				s.val.push_back(v);
			}
		}
	return s;
}

TEST(Sparse, MatchesDenseReference)
{
	std::mt19937 rng(11);
	for (int dim : {1, 2, 3, 7, 16, 100, 1000}) {
		for (double da : {0.0, 0.05, 0.5, 1.0}) {
			for (double db : {0.0, 0.3, 1.0}) {
				Sparse a = random_sparse(rng, dim, da), b = random_sparse(rng, dim, db);
				std::vector<float> x = a.dense(dim), y = b.dense(dim);
				double l2 = 0, ip = 0, l1 = 0, na = 0, nb = 0, mag = 0;
				for (int i = 0; i < dim; i++) {
					double p = x[std::size_t(i)], q = y[std::size_t(i)];
					l2 += (p - q) * (p - q);
					ip += p * q;
					l1 += std::fabs(p - q);
					na += p * p;
					nb += q * q;
					mag += std::fabs(p * q) + (p - q) * (p - q) + std::fabs(p - q);
				}
				const double tol = 1e-5 * mag + 1e-30;
				EXPECT_NEAR(sparse_l2_squared(a.view(), b.view()), l2, tol) << dim;
				EXPECT_NEAR(sparse_inner_product(a.view(), b.view()), ip, tol) << dim;
				EXPECT_NEAR(sparse_l1(a.view(), b.view()), l1, tol) << dim;
				EXPECT_NEAR(sparse_l2_norm(a.val), std::sqrt(na), 1e-12 * std::sqrt(na) + 1e-300);
				double cos = sparse_cosine_distance(a.view(), b.view());
				if (na == 0 || nb == 0)
					EXPECT_TRUE(std::isnan(cos)) << dim;
				else
					EXPECT_NEAR(cos, 1 - std::clamp(ip / std::sqrt(na * nb), -1.0, 1.0), 1e-5) << dim;
				// Symmetric, as the commutator declarations of the operators promise.
				EXPECT_EQ(sparse_l2_squared(a.view(), b.view()), sparse_l2_squared(b.view(), a.view()));
				EXPECT_EQ(sparse_l1(a.view(), b.view()), sparse_l1(b.view(), a.view()));
			}
		}
	}
}

// pgvector accumulates in float, entries by ascending index: the same order gives the same bits.
TEST(Sparse, FloatAccumulationInIndexOrder)
{
	Sparse a{{0, 2, 5}, {1e8f, 1.0f, -1e8f}}, b{{1, 2, 3}, {1.0f, 3.0f, 0.5f}};
	float want = 0;
	for (float t : {1e8f * 1e8f, 1.0f, (1.0f - 3.0f) * (1.0f - 3.0f), 0.25f, 1e8f * 1e8f})
		want += t;
	EXPECT_EQ(sparse_l2_squared(a.view(), b.view()), want);
}

TEST(Sparse, ExtremeValues)
{
	Sparse huge{{0}, {3e38f}}, neg{{0}, {-3e38f}};
	// Float sums overflow as pgvector's do: a float8 +Infinity, never an error.
	EXPECT_TRUE(std::isinf(sparse_inner_product(huge.view(), huge.view())));
	EXPECT_TRUE(std::isinf(sparse_l1(huge.view(), neg.view())));
	// Cosine is recomputed in double (pgvector: NaN), as for dense vectors.
	EXPECT_DOUBLE_EQ(sparse_cosine_distance(huge.view(), huge.view()), 0);
	EXPECT_DOUBLE_EQ(sparse_cosine_distance(huge.view(), neg.view()), 2);
	Sparse tiny{{3}, {1e-30f}};
	EXPECT_DOUBLE_EQ(sparse_cosine_distance(tiny.view(), tiny.view()), 0);
	EXPECT_DOUBLE_EQ(sparse_l2_norm(std::vector<float>{3e38f, -2e38f}), std::hypot(double(3e38f), double(2e38f)));
}

}  // namespace
