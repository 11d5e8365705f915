// k-NN and epsilon graphs against brute force in double precision.
#include "worker/kernels/knn.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>

using namespace ruvector::kernels;

namespace {

const MetricInfo &f32(Metric m) { return metric_info(ElementType::float32, m); }

std::vector<float> random_rows(std::size_t n, std::size_t dim, unsigned seed, bool unit = false)
{
	std::mt19937 rng(seed);
	std::normal_distribution<float> dist;
	std::vector<float> x(n * dim);
	for (auto &v : x)
		v = dist(rng);
	if (unit)
		for (std::size_t i = 0; i < n; i++) {
			double s = 0;
			for (std::size_t j = 0; j < dim; j++)
				s += double(x[i * dim + j]) * x[i * dim + j];
			for (std::size_t j = 0; j < dim; j++)
				x[i * dim + j] = float(x[i * dim + j] / std::sqrt(s));
		}
	return x;
}

double ref_distance(const float *a, const float *b, std::size_t dim, Metric m)
{
	double s = 0;
	for (std::size_t j = 0; j < dim; j++) {
		switch (m) {
		case Metric::l2:
			s += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
			break;
		case Metric::ip:
		case Metric::cosine:
			s += double(a[j]) * b[j];
			break;
		case Metric::l1:
		case Metric::hamming:  // float32 graphs have no Hamming or Jaccard metric
		case Metric::jaccard:
			s += std::abs(double(a[j]) - b[j]);
			break;
		}
	}
	switch (m) {
	case Metric::l2:
		return std::sqrt(s);
	case Metric::ip:
		return -s;
	case Metric::cosine:
		return 1 - s;
	case Metric::l1:
	case Metric::hamming:
	case Metric::jaccard:
		return s;
	}
	return 0;
}

}  // namespace

class KnnMetric : public ::testing::TestWithParam<Metric> {};

TEST_P(KnnMetric, MatchesBruteForce)
{
	Metric m = GetParam();
	const std::size_t n = 1500, dim = 37, k = 7;  // several row and column blocks, ragged ends
	auto x = random_rows(n, dim, 11, m == Metric::cosine);
	std::vector<Neighbor> out((n - 100) * k);
	knn_rows(x.data(), n, dim, f32(m), 100, n, k, out.data());
	for (std::size_t r = 100; r < n; r += 37) {
		std::vector<std::pair<double, std::size_t>> all;
		for (std::size_t j = 0; j < n; j++)
			if (j != r)
				all.push_back({ref_distance(&x[r * dim], &x[j * dim], dim, m), j});
		std::partial_sort(all.begin(), all.begin() + k, all.end());
		for (std::size_t i = 0; i < k; i++) {
			const Neighbor &nb = out[(r - 100) * k + i];
			// the same distance; indexes may differ only between (near-)ties
			EXPECT_NEAR(nb.distance, all[i].first, 2e-4 * (1 + std::abs(all[i].first))) << r << " " << i;
			bool clear_gap = i + 1 < k && std::abs(all[i].first - all[i + 1].first) > 1e-3 &&
			                 (i == 0 || std::abs(all[i].first - all[i - 1].first) > 1e-3);
			if (clear_gap) {
				EXPECT_EQ(std::size_t(nb.index), all[i].second) << r << " " << i;
			}
		}
	}
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, KnnMetric,
                         ::testing::Values(Metric::l2, Metric::ip, Metric::cosine, Metric::l1));

TEST(Knn, FewerRowsThanKAndSelfExcluded)
{
	std::vector<float> x{0, 0, 1, 0, 3, 0};
	std::vector<Neighbor> out(3 * 4);
	knn_rows(x.data(), 3, 2, f32(Metric::l2), 0, 3, 4, out.data());
	EXPECT_EQ(out[0].index, 1);
	EXPECT_FLOAT_EQ(out[0].distance, 1);
	EXPECT_EQ(out[1].index, 2);
	EXPECT_EQ(out[2].index, -1);  // only two other rows
	EXPECT_EQ(out[4].index, 0);   // row 1: 0 at distance 1 before 2 at distance 2
}

TEST(Knn, ZeroVectorsHaveNoCosineNeighbours)
{
	std::vector<float> x{1, 0, 0, 0, 0, 1};
	std::vector<Neighbor> out(3 * 2);
	knn_rows(x.data(), 3, 2, f32(Metric::cosine), 0, 3, 2, out.data());
	EXPECT_EQ(out[0].index, 2);
	EXPECT_EQ(out[1].index, -1);  // the zero row is never a neighbour
	EXPECT_EQ(out[2].index, -1);  // and has none
}

TEST(Eps, MatchesBruteForceAndGuardsTheSize)
{
	const std::size_t n = 700, dim = 5;
	auto x = random_rows(n, dim, 3);
	auto edges = eps_rows(x.data(), n, dim, f32(Metric::l2), 0, n, 1.5f, n * n);
	std::size_t want = 0;
	for (std::size_t i = 0; i < n; i++)
		for (std::size_t j = 0; j < n; j++)
			if (i != j && ref_distance(&x[i * dim], &x[j * dim], dim, Metric::l2) <= 1.5 - 1e-4)
				want++;
	EXPECT_GE(edges.size(), want);
	EXPECT_LE(edges.size(), want + 10);  // pairs within rounding of epsilon
	for (std::size_t e = 1; e < edges.size(); e++)
		EXPECT_TRUE(edges[e - 1].dst < edges[e].dst || (edges[e - 1].dst == edges[e].dst && edges[e - 1].src < edges[e].src));
	for (const auto &e : edges)
		EXPECT_LE(e.distance, 1.5f);
	EXPECT_THROW(eps_rows(x.data(), n, dim, f32(Metric::l2), 0, n, 1.5f, want / 2), std::length_error);
	EXPECT_THROW(eps_rows(x.data(), n, dim, f32(Metric::l2), 0, n, -1.0f, 10), std::invalid_argument);
}

TEST(Knn, CancelStops)
{
	auto x = random_rows(5000, 16, 1);
	std::atomic<bool> flag{true};
	std::vector<Neighbor> out(5000 * 3);
	EXPECT_THROW(knn_rows(x.data(), 5000, 16, f32(Metric::l2), 0, 5000, 3, out.data(), CancelToken(&flag)), Cancelled);
}

// Components of ~3e38 overflow the GEMM expansion ||a||^2 - 2ab + ||b||^2 (inf - inf = NaN). Such
// a row must be at +Infinity from ordinary rows, as <-> says, never at distance 0; two huge rows
// close to each other keep their true (finite) distance.
TEST(Knn, OverflowingDistancesOrderAsInfinity)
{
	const std::size_t n = 300, dim = 3, k = 3;
	auto x = random_rows(n, dim, 5);
	for (std::size_t j = 0; j < dim; j++) {
		x[0 * dim + j] = j == 0 ? 3e38f : 0.0f;      // [3e38, 0, 0]
		x[1 * dim + j] = j == 0 ? 3e38f : 2.0f;      // [3e38, 2, 2]: 2.83 from row 0
		x[2 * dim + j] = j == 0 ? -3e38f : -1.0f;    // [-3e38, -1, -1]
	}
	for (Metric m : {Metric::l2, Metric::ip}) {
		std::vector<Neighbor> out(n * k);
		knn_rows(x.data(), n, dim, f32(m), 0, n, k, out.data());
		for (std::size_t r = 3; r < n; r++)
			for (std::size_t i = 0; i < k; i++) {
				const Neighbor &nb = out[r * k + i];
				ASSERT_FALSE(std::isnan(nb.distance));
				if (m == Metric::l2) {
					ASSERT_GT(nb.index, 2) << "row " << r << " got huge row " << nb.index << " at " << nb.distance;
				}
			}
		if (m == Metric::l2) {
			EXPECT_EQ(out[0 * k].index, 1);
			EXPECT_NEAR(out[0 * k].distance, std::sqrt(8.0f), 1e-5);
			EXPECT_EQ(out[1 * k].index, 0);
			// Row 2 is beyond float range from every row: all at +Infinity, ties by the lower index.
			for (std::size_t i = 0; i < k; i++) {
				EXPECT_EQ(out[2 * k + i].index, std::int32_t(i < 2 ? i : 3));
				EXPECT_EQ(out[2 * k + i].distance, std::numeric_limits<float>::infinity());
			}
		}
	}
	std::vector<EpsEdge> edges = eps_rows(x.data(), n, dim, f32(Metric::l2), 0, n, 1.0f, n * n);
	for (const EpsEdge &e : edges) {
		ASSERT_FALSE(e.src <= 2 && e.dst > 2) << e.src << " -> " << e.dst << " at " << e.distance;
		ASSERT_FALSE(e.dst <= 2 && e.src > 2) << e.src << " -> " << e.dst << " at " << e.distance;
	}
}
