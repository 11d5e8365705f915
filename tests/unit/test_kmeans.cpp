// k-means against a brute-force double-precision reference: nearest-centroid assignment, an
// objective no worse than plain Lloyd from the same seeds, determinism across thread counts.
#include "worker/kernels/kmeans.hpp"

#include <gtest/gtest.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

using namespace ruvector::kernels;

namespace {

struct Data {
	std::vector<float> x;
	std::size_t n, dim;
};

Data blobs(std::size_t n, std::size_t dim, std::size_t centers, std::uint32_t seed, float noise = 1.0f)
{
	std::mt19937 rng(seed);
	std::normal_distribution<float> g(0, 1);
	std::vector<float> c(centers * dim);
	for (float &v : c)
		v = g(rng) * 10;
	Data d{std::vector<float>(n * dim), n, dim};
	for (std::size_t i = 0; i < n; i++)
		for (std::size_t j = 0; j < dim; j++)
			d.x[i * dim + j] = c[(i % centers) * dim + j] + g(rng) * noise;
	return d;
}

double sq(const float *a, const float *b, std::size_t dim)
{
	double s = 0;
	for (std::size_t j = 0; j < dim; j++)
		s += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
	return s;
}

// Nearest centroid of row i in double precision, and its distance.
std::pair<std::size_t, double> nearest(const Data &d, std::size_t i, const std::vector<float> &c, std::size_t k)
{
	std::size_t best = 0;
	double bd = INFINITY;
	for (std::size_t j = 0; j < k; j++) {
		double v = sq(&d.x[i * d.dim], &c[j * d.dim], d.dim);
		if (v < bd)
			bd = v, best = j;
	}
	return {best, bd};
}

// Plain Lloyd in double from the given seeds, for `iterations` updates; returns the objective.
double reference_lloyd(const Data &d, std::vector<float> c, std::size_t k, int iterations)
{
	for (int it = 0; it < iterations; it++) {
		std::vector<double> sum(k * d.dim, 0);
		std::vector<std::size_t> cnt(k, 0);
		for (std::size_t i = 0; i < d.n; i++) {
			auto [j, dist] = nearest(d, i, c, k);
			cnt[j]++;
			for (std::size_t q = 0; q < d.dim; q++)
				sum[j * d.dim + q] += d.x[i * d.dim + q];
		}
		for (std::size_t j = 0; j < k; j++)
			if (cnt[j])
				for (std::size_t q = 0; q < d.dim; q++)
					c[j * d.dim + q] = float(sum[j * d.dim + q] / double(cnt[j]));
	}
	double obj = 0;
	for (std::size_t i = 0; i < d.n; i++)
		obj += nearest(d, i, c, k).second;
	return obj;
}

}  // namespace

TEST(Kmeans, AssignsEveryPointToItsNearestCentroid)
{
	for (auto [n, dim, k] : {std::tuple{500, 2, 5}, {2000, 16, 20}, {3000, 64, 50}, {777, 7, 13}}) {
		Data d = blobs(std::size_t(n), std::size_t(dim), std::size_t(k), 1);
		KmeansOptions o;
		o.k = k;
		o.max_iterations = 8;
		KmeansResult r = kmeans(d.x.data(), d.n, d.dim, o);
		ASSERT_EQ(r.centroids.size(), std::size_t(k * dim));
		std::vector<std::int64_t> sizes(std::size_t(k), 0);
		double obj = 0;
		for (std::size_t i = 0; i < d.n; i++) {
			auto [j, dist] = nearest(d, i, r.centroids, std::size_t(k));
			sizes[j]++;
			obj += dist;
		}
		// Sizes and objective are those of the nearest-centroid assignment (ties aside).
		std::int64_t total = 0;
		for (auto s : r.sizes)
			total += s;
		EXPECT_EQ(total, n);
		EXPECT_EQ(sizes, r.sizes) << "n=" << n;
		EXPECT_NEAR(r.objective, obj, 1e-4 * obj + 1e-3);
	}
}

TEST(Kmeans, NoWorseThanReferenceLloydFromTheSameSeeds)
{
	for (std::uint32_t seed : {1u, 2u, 3u}) {
		Data d = blobs(3000, 12, 30, seed, 3.0f);  // overlapping blobs: Lloyd has work to do
		for (int k : {5, 30, 60}) {
			KmeansOptions o;
			o.k = k;
			o.max_iterations = 10;
			o.seed = seed;
			auto seeds = kmeans_plus_plus(d.x.data(), d.n, d.dim, k, seed, 0);
			KmeansResult r = kmeans(d.x.data(), d.n, d.dim, o);
			double ref = reference_lloyd(d, seeds, std::size_t(k), r.iterations);
			EXPECT_LE(r.objective, ref * (1 + 1e-4)) << "seed=" << seed << " k=" << k;
		}
	}
}

TEST(Kmeans, DeterministicAcrossRunsAndThreadCounts)
{
	Data d = blobs(20000, 32, 40, 5, 2.0f);
	KmeansOptions o;
	o.k = 40;
	KmeansResult a, b, c;
	tbb::task_arena one(1), two(2);
	one.execute([&] { a = kmeans(d.x.data(), d.n, d.dim, o); });
	two.execute([&] { b = kmeans(d.x.data(), d.n, d.dim, o); });
	c = kmeans(d.x.data(), d.n, d.dim, o);
	EXPECT_EQ(a.centroids, b.centroids);
	EXPECT_EQ(a.centroids, c.centroids);
	EXPECT_EQ(a.sizes, b.sizes);
	o.seed = 43;
	EXPECT_NE(kmeans(d.x.data(), d.n, d.dim, o).centroids, a.centroids);
}

TEST(Kmeans, SphericalCentroidsAreUnitAndAssignByCosine)
{
	Data d = blobs(2000, 8, 10, 9);
	KmeansOptions o;
	o.k = 10;
	o.spherical = true;
	KmeansResult r = kmeans(d.x.data(), d.n, d.dim, o);
	for (int j = 0; j < o.k; j++) {
		double norm = 0;
		for (std::size_t q = 0; q < d.dim; q++)
			norm += double(r.centroids[std::size_t(j) * d.dim + q]) * r.centroids[std::size_t(j) * d.dim + q];
		EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);
	}
	std::vector<std::int32_t> labels(d.n);
	assign_nearest(d.x.data(), d.n, d.dim, r.centroids.data(), std::size_t(o.k), true, labels.data(), nullptr);
	for (std::size_t i = 0; i < d.n; i++) {
		double best = -2;
		std::size_t arg = 0;
		for (int j = 0; j < o.k; j++) {
			double dot = 0, nx = 0;
			for (std::size_t q = 0; q < d.dim; q++) {
				dot += double(d.x[i * d.dim + q]) * r.centroids[std::size_t(j) * d.dim + q];
				nx += double(d.x[i * d.dim + q]) * d.x[i * d.dim + q];
			}
			if (dot / std::sqrt(nx) > best + 1e-6)
				best = dot / std::sqrt(nx), arg = std::size_t(j);
		}
		EXPECT_EQ(std::size_t(labels[i]), arg) << i;
	}
}

TEST(Kmeans, EdgeCases)
{
	Data d = blobs(50, 3, 5, 2);
	KmeansOptions o;
	o.k = 50;  // k = n: every point its own centroid
	KmeansResult r = kmeans(d.x.data(), d.n, d.dim, o);
	EXPECT_NEAR(r.objective, 0.0, 1e-6);
	o.k = 1;
	r = kmeans(d.x.data(), d.n, d.dim, o);
	EXPECT_EQ(r.sizes, std::vector<std::int64_t>{50});

	std::vector<float> dup(100 * 4, 1.5f);  // all points identical
	o.k = 3;
	r = kmeans(dup.data(), 100, 4, o);
	for (float v : r.centroids)
		EXPECT_TRUE(std::isfinite(v));
	// ||x||^2 - 2 x.c + ||c||^2 cancels to rounding noise relative to ||x||^2 (here 9 per point).
	EXPECT_NEAR(r.objective, 0.0, 1e-5 * 100 * 9);
}

TEST(Kmeans, RejectsBadArguments)
{
	std::vector<float> x(10 * 2, 1.0f);
	KmeansOptions o;
	o.k = 0;
	EXPECT_THROW(kmeans(x.data(), 10, 2, o), std::invalid_argument);
	o.k = 11;
	EXPECT_THROW(kmeans(x.data(), 10, 2, o), std::invalid_argument);
	o.k = 1;
	EXPECT_THROW(kmeans(x.data(), 0, 2, o), std::invalid_argument);
	o.max_iterations = 0;
	EXPECT_THROW(kmeans(x.data(), 10, 2, o), std::invalid_argument);
}

TEST(Kmeans, HonoursCancellation)
{
	Data d = blobs(5000, 16, 10, 4);
	std::atomic<bool> flag{true};
	KmeansOptions o;
	o.k = 10;
	EXPECT_THROW(kmeans(d.x.data(), d.n, d.dim, o, CancelToken(&flag)), Cancelled);
}
