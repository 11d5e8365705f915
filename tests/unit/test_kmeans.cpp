// k-means against brute force in double precision: nearest-centroid final assignment, sizes and
// objective, an objective no worse than plain Lloyd from the same seeds, converged centroids that
// are the means of their lists, bit-for-bit determinism across runs and thread counts, spherical
// mode, degenerate inputs, argument checks, cancellation.
#include "worker/kernels/kmeans.hpp"

#include <gtest/gtest.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <thread>
#include <tuple>
#include <vector>

using namespace ruvector::kernels;

namespace {

struct Data {
	std::vector<float> x;
	std::size_t n, dim;
	const float *row(std::size_t i) const { return x.data() + i * dim; }
};

// Gaussian blobs: centres ~ N(0, 10^2) per coordinate, points = centre + N(0, noise^2).
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

KmeansOptions options(int k, int iterations = 10, std::uint64_t seed = 42)
{
	KmeansOptions o;
	o.k = k;
	o.max_iterations = iterations;
	o.seed = seed;
	return o;
}

double sq(const float *a, const float *b, std::size_t dim)
{
	double s = 0;
	for (std::size_t j = 0; j < dim; j++)
		s += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
	return s;
}

double dot(const float *a, const float *b, std::size_t dim)
{
	double s = 0;
	for (std::size_t j = 0; j < dim; j++)
		s += double(a[j]) * b[j];
	return s;
}

// Nearest centroid of row i in double precision (lowest number on ties), and its squared distance.
std::pair<std::size_t, double> nearest(const Data &d, std::size_t i, const std::vector<float> &c, std::size_t k)
{
	std::size_t best = 0;
	double bd = INFINITY;
	for (std::size_t j = 0; j < k; j++) {
		double v = sq(d.row(i), &c[j * d.dim], d.dim);
		if (v < bd)
			bd = v, best = j;
	}
	return {best, bd};
}

// Plain Lloyd in double from the given seeds, `iterations` updates (an empty list keeps its
// centroid); returns the objective of the nearest assignment to the final centroids.
double reference_lloyd(const Data &d, std::vector<float> c, std::size_t k, int iterations)
{
	for (int it = 0; it < iterations; it++) {
		std::vector<double> sum(k * d.dim, 0);
		std::vector<std::size_t> cnt(k, 0);
		for (std::size_t i = 0; i < d.n; i++) {
			std::size_t j = nearest(d, i, c, k).first;
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

// The result describes the nearest-centroid assignment of its own centroids: sizes (exactly, the
// data have no near ties) and objective (to rounding).
void expect_consistent(const Data &d, const KmeansResult &r, std::size_t k, const char *what)
{
	ASSERT_EQ(r.centroids.size(), k * d.dim) << what;
	ASSERT_EQ(r.sizes.size(), k) << what;
	for (float v : r.centroids)
		ASSERT_TRUE(std::isfinite(v)) << what;
	std::vector<std::int64_t> sizes(k, 0);
	double obj = 0;
	for (std::size_t i = 0; i < d.n; i++) {
		auto [j, dist] = nearest(d, i, r.centroids, k);
		sizes[j]++;
		obj += dist;
	}
	EXPECT_EQ(std::accumulate(r.sizes.begin(), r.sizes.end(), std::int64_t(0)), std::int64_t(d.n)) << what;
	EXPECT_EQ(sizes, r.sizes) << what;
	EXPECT_NEAR(r.objective, obj, 1e-5 * obj + 1e-6) << what;
}

}  // namespace

TEST(Kmeans, AssignsEveryPointToItsNearestCentroid)
{
	// Includes k > 256 (several centroid blocks per GEMM) and n not a multiple of any block size.
	for (auto [n, dim, k] : {std::tuple{500, 2, 5}, {2000, 16, 20}, {3000, 64, 50}, {777, 7, 13}, {5000, 9, 300}}) {
		Data d = blobs(std::size_t(n), std::size_t(dim), std::size_t(k), 1);
		KmeansResult r = kmeans(d.x.data(), d.n, d.dim, options(k, 8));
		EXPECT_GE(r.iterations, 1);
		EXPECT_LE(r.iterations, 8);
		expect_consistent(d, r, std::size_t(k), ("n=" + std::to_string(n) + " k=" + std::to_string(k)).c_str());
	}
}

TEST(Kmeans, OverlappingDataStaysConsistent)
{
	// Heavy overlap: many points move in every iteration, so the bounds are exercised hard.
	Data d = blobs(4000, 5, 50, 11, 8.0f);
	for (int k : {2, 17, 64, 400}) {
		KmeansResult r = kmeans(d.x.data(), d.n, d.dim, options(k, 15));
		expect_consistent(d, r, std::size_t(k), ("k=" + std::to_string(k)).c_str());
	}
}

TEST(Kmeans, NoWorseThanReferenceLloydFromTheSameSeeds)
{
	for (std::uint32_t seed : {1u, 2u, 3u}) {
		Data d = blobs(3000, 12, 30, seed, 3.0f);  // overlapping blobs: Lloyd has work to do
		for (int k : {1, 5, 30, 60}) {
			for (std::size_t sample : {std::size_t(0), std::size_t(700)}) {
				KmeansOptions o = options(k, 10, seed);
				o.seeding_sample = sample;
				auto seeds = kmeans_plus_plus(d.x.data(), d.n, d.dim, k, seed, sample, false);
				ASSERT_EQ(seeds.size(), std::size_t(k) * d.dim);
				KmeansResult r = kmeans(d.x.data(), d.n, d.dim, o);
				double ref = reference_lloyd(d, seeds, std::size_t(k), r.iterations);
				EXPECT_LE(r.objective, ref * (1 + 1e-4)) << "seed=" << seed << " k=" << k << " sample=" << sample;
			}
		}
	}
}

// Once nothing moves, every centroid is the mean of its members (spherical: their normalised
// sum). Later updates only move the rows that changed list in and out of kept per-list sums, so
// this catches a sum that drifted from its members.
TEST(Kmeans, ConvergedCentroidsAreTheMeansOfTheirLists)
{
	Data d = blobs(6000, 24, 40, 9, 4.0f);  // overlapping: points keep moving for a while
	for (bool spherical : {false, true}) {
		KmeansOptions o = options(40, 200);
		o.spherical = spherical;
		KmeansResult r = kmeans(d.x.data(), d.n, d.dim, o);
		ASSERT_GT(r.iterations, 5) << spherical;  // several updates after the first
		ASSERT_LT(r.iterations, 200) << spherical;  // converged
		std::vector<double> sum(40 * d.dim, 0);
		for (std::size_t i = 0; i < d.n; i++) {
			std::vector<double> row(d.row(i), d.row(i) + d.dim);
			if (spherical) {
				double norm = std::sqrt(dot(d.row(i), d.row(i), d.dim));
				for (double &v : row)
					v /= norm;
			}
			std::size_t best = 0;
			double bd = -INFINITY;
			for (std::size_t j = 0; j < 40; j++) {  // the largest dot (spherical) or the nearest
				const float *c = &r.centroids[j * d.dim];
				double score = spherical ? dot(d.row(i), c, d.dim) : -sq(d.row(i), c, d.dim);
				if (score > bd)
					bd = score, best = j;
			}
			for (std::size_t q = 0; q < d.dim; q++)
				sum[best * d.dim + q] += row[q];
		}
		for (std::size_t j = 0; j < 40; j++) {
			ASSERT_GT(r.sizes[j], 0) << j;
			double scale = 1.0 / double(r.sizes[j]);
			if (spherical) {
				double norm2 = 0;
				for (std::size_t q = 0; q < d.dim; q++)
					norm2 += sum[j * d.dim + q] * sum[j * d.dim + q];
				scale = 1.0 / std::sqrt(norm2);
			}
			for (std::size_t q = 0; q < d.dim; q++)
				ASSERT_NEAR(r.centroids[j * d.dim + q], sum[j * d.dim + q] * scale, spherical ? 1e-5 : 1e-4)
					<< "spherical=" << spherical << " list " << j << " coordinate " << q;
		}
	}
}

// From 512 dimensions on (k <= 256), the passes keep a lower bound per point and centroid
// (Elkan) instead of Hamerly's one: the same guarantees must hold there.
TEST(Kmeans, HighDimensionalBoundsKeepTheGuarantees)
{
	Data d = blobs(2000, 640, 8, 4, 20.0f);  // k >= 8 splits blobs: points move for many passes
	for (int k : {2, 30, 90}) {
		for (bool spherical : {false, true}) {
			KmeansOptions o = options(k, 15, 4);
			o.spherical = spherical;
			KmeansResult a, b;
			tbb::task_arena one(1), two(2);
			one.execute([&] { a = kmeans(d.x.data(), d.n, d.dim, o); });
			two.execute([&] { b = kmeans(d.x.data(), d.n, d.dim, o); });
			std::string what = "k=" + std::to_string(k) + " spherical=" + std::to_string(spherical);
			EXPECT_EQ(a.centroids, b.centroids) << what;
			EXPECT_EQ(a.sizes, b.sizes) << what;
			EXPECT_GE(a.iterations, 2) << what;  // a bounded pass moved points
			if (spherical)
				continue;  // the assignment by cosine is checked in SphericalCentroidsAreUnitAndAssignByCosine
			expect_consistent(d, a, std::size_t(k), what.c_str());
			auto seeds = kmeans_plus_plus(d.x.data(), d.n, d.dim, k, 4, 0, false);
			EXPECT_LE(a.objective, reference_lloyd(d, seeds, std::size_t(k), a.iterations) * (1 + 1e-4)) << what;
		}
	}
}

TEST(Kmeans, SeedsAreDistinctDataPoints)
{
	Data d = blobs(1000, 6, 10, 8);
	auto seeds = kmeans_plus_plus(d.x.data(), d.n, d.dim, 40, 7, 0, false);
	for (std::size_t s = 0; s < 40; s++) {
		int found = 0;
		for (std::size_t i = 0; i < d.n; i++)
			found += sq(d.row(i), &seeds[s * d.dim], d.dim) == 0;
		EXPECT_EQ(found, 1) << s;
		for (std::size_t t = 0; t < s; t++)
			EXPECT_GT(sq(&seeds[t * d.dim], &seeds[s * d.dim], d.dim), 0) << s << " " << t;
	}
	EXPECT_EQ(seeds, kmeans_plus_plus(d.x.data(), d.n, d.dim, 40, 7, 0, false));
	EXPECT_NE(seeds, kmeans_plus_plus(d.x.data(), d.n, d.dim, 40, 8, 0, false));
}

TEST(Kmeans, DeterministicAcrossRunsAndThreadCounts)
{
	Data d = blobs(20000, 32, 40, 5, 2.0f);
	for (int k : {40, 300}) {
		for (bool spherical : {false, true}) {
			KmeansOptions o = options(k);
			o.spherical = spherical;
			o.seeding_sample = 5000;
			KmeansResult a, b, c;
			tbb::task_arena one(1), two(2);
			one.execute([&] { a = kmeans(d.x.data(), d.n, d.dim, o); });
			two.execute([&] { b = kmeans(d.x.data(), d.n, d.dim, o); });
			c = kmeans(d.x.data(), d.n, d.dim, o);
			EXPECT_EQ(a.centroids, b.centroids) << k << spherical;
			EXPECT_EQ(a.centroids, c.centroids) << k << spherical;
			EXPECT_EQ(a.sizes, b.sizes) << k << spherical;
			EXPECT_EQ(a.objective, b.objective) << k << spherical;
			EXPECT_EQ(a.iterations, b.iterations) << k << spherical;
			o.seed = 43;
			EXPECT_NE(kmeans(d.x.data(), d.n, d.dim, o).centroids, a.centroids) << k << spherical;
		}
	}
}

TEST(Kmeans, SphericalCentroidsAreUnitAndAssignByCosine)
{
	Data d = blobs(2000, 8, 10, 9);
	for (std::size_t i = 0; i < 3; i++)  // zero vectors are assigned but do not move centroids
		std::fill_n(d.x.begin() + std::ptrdiff_t(i * 97 * d.dim), d.dim, 0.0f);
	KmeansOptions o = options(10);
	o.spherical = true;
	KmeansResult r = kmeans(d.x.data(), d.n, d.dim, o);
	const std::size_t k = 10;
	for (std::size_t j = 0; j < k; j++)
		EXPECT_NEAR(std::sqrt(dot(&r.centroids[j * d.dim], &r.centroids[j * d.dim], d.dim)), 1.0, 1e-6);
	EXPECT_EQ(std::accumulate(r.sizes.begin(), r.sizes.end(), std::int64_t(0)), std::int64_t(d.n));

	// Max cosine in double against the final centroids: the sizes, the objective on normalised
	// points (a zero vector is at distance 1 from any unit centroid), and assign_nearest's labels.
	std::vector<std::int32_t> labels(d.n);
	std::vector<float> dist(d.n);
	assign_nearest(d.x.data(), d.n, d.dim, r.centroids.data(), k, true, labels.data(), dist.data());
	std::vector<std::int64_t> sizes(k, 0);
	double obj = 0;
	for (std::size_t i = 0; i < d.n; i++) {
		double nx = std::sqrt(dot(d.row(i), d.row(i), d.dim));
		double best = -INFINITY;
		std::size_t arg = 0;
		for (std::size_t j = 0; j < k; j++) {
			double cs = nx > 0 ? dot(d.row(i), &r.centroids[j * d.dim], d.dim) / nx : 0;
			if (cs > best)
				best = cs, arg = j;
		}
		sizes[arg]++;
		obj += nx > 0 ? 2 - 2 * best : 1;
		if (nx > 0) {
			EXPECT_EQ(std::size_t(labels[i]), arg) << i;
			EXPECT_NEAR(dist[i], 1 - best * nx, 1e-4 * nx) << i;  // 1 - dot with the row as given
		}
	}
	EXPECT_EQ(sizes, r.sizes);
	EXPECT_NEAR(r.objective, obj, 1e-5 * obj);

	// Spherical seeds are normalised data points.
	auto seeds = kmeans_plus_plus(d.x.data(), d.n, d.dim, 10, 42, 0, true);
	for (std::size_t j = 0; j < k; j++)
		EXPECT_NEAR(dot(&seeds[j * d.dim], &seeds[j * d.dim], d.dim), 1.0, 1e-6);
}

TEST(Kmeans, AssignNearestMatchesBruteForce)
{
	Data d = blobs(3000, 24, 30, 12, 4.0f);
	Data cent = blobs(300, 24, 30, 13, 4.0f);  // more than one block of centroids
	std::vector<std::int32_t> labels(d.n);
	std::vector<float> dist(d.n);
	assign_nearest(d.x.data(), d.n, d.dim, cent.x.data(), cent.n, false, labels.data(), dist.data());
	for (std::size_t i = 0; i < d.n; i++) {
		auto [j, bd] = nearest(d, i, cent.x, cent.n);
		EXPECT_LE(sq(d.row(i), cent.row(std::size_t(labels[i])), d.dim), bd * (1 + 1e-5)) << i;
		EXPECT_NEAR(dist[i], bd, 1e-4 * (dot(d.row(i), d.row(i), d.dim) + bd)) << i;
	}
	std::vector<std::int32_t> again(d.n);
	assign_nearest(d.x.data(), d.n, d.dim, cent.x.data(), cent.n, false, again.data(), nullptr);
	EXPECT_EQ(labels, again);
}

TEST(Kmeans, EdgeCases)
{
	Data d = blobs(50, 3, 5, 2);
	// k = n: every point its own centroid.
	KmeansResult r = kmeans(d.x.data(), d.n, d.dim, options(50));
	EXPECT_EQ(r.objective, 0.0);
	EXPECT_EQ(r.sizes, std::vector<std::int64_t>(50, 1));

	// k = 1: the mean.
	r = kmeans(d.x.data(), d.n, d.dim, options(1));
	EXPECT_EQ(r.sizes, std::vector<std::int64_t>{50});
	for (std::size_t q = 0; q < d.dim; q++) {
		double mean = 0;
		for (std::size_t i = 0; i < d.n; i++)
			mean += d.x[i * d.dim + q];
		EXPECT_NEAR(r.centroids[q], mean / 50, 1e-5 * (1 + std::fabs(mean / 50)));
	}
	expect_consistent(d, r, 1, "k=1");

	// All points identical, more centroids than distinct points.
	std::vector<float> same(100 * 4, 1.5f);
	for (int k : {1, 3, 100}) {
		r = kmeans(same.data(), 100, 4, options(k));
		for (float v : r.centroids)
			EXPECT_TRUE(std::isfinite(v));
		EXPECT_EQ(std::accumulate(r.sizes.begin(), r.sizes.end(), std::int64_t(0)), 100);
		EXPECT_EQ(r.objective, 0.0) << k;  // lists of identical points are never split
	}

	// k = the number of distinct points, each repeated: one list per distinct point.
	Data ten = blobs(10, 5, 10, 3);
	Data dup{{}, 200, 5};
	for (std::size_t i = 0; i < 200; i++)
		dup.x.insert(dup.x.end(), ten.row(i % 10), ten.row(i % 10) + 5);
	r = kmeans(dup.x.data(), dup.n, dup.dim, options(10));
	EXPECT_EQ(r.objective, 0.0);
	EXPECT_EQ(r.sizes, std::vector<std::int64_t>(10, 20));
	expect_consistent(dup, r, 10, "duplicates");

	// One vector, one dimension.
	float one = 3.0f;
	r = kmeans(&one, 1, 1, options(1));
	EXPECT_EQ(r.centroids, std::vector<float>{3.0f});
	EXPECT_EQ(r.sizes, std::vector<std::int64_t>{1});

	// Spherical with nothing but zero vectors: no NaN.
	std::vector<float> zeros(20 * 3, 0.0f);
	KmeansOptions o = options(2);
	o.spherical = true;
	r = kmeans(zeros.data(), 20, 3, o);
	for (float v : r.centroids)
		EXPECT_TRUE(std::isfinite(v));
	EXPECT_EQ(std::accumulate(r.sizes.begin(), r.sizes.end(), std::int64_t(0)), 20);
}

TEST(Kmeans, RefillsEmptyLists)
{
	// Five values repeated 196 times each, plus a little spread around each value. Seeding on a
	// sample of 10 rows almost surely draws the same value twice, so some seeds coincide, their
	// lists come out empty, and the repair has to split lists to fill them.
	const std::size_t dim = 6;
	Data base = blobs(5, dim, 5, 21);
	Data noise = blobs(20, dim, 1, 22, 0.3f);
	Data d{{}, 1000, dim};
	for (std::size_t i = 0; i < 980; i++)
		d.x.insert(d.x.end(), base.row(i % 5), base.row(i % 5) + dim);
	for (std::size_t i = 0; i < 20; i++)
		for (std::size_t q = 0; q < dim; q++)
			d.x.push_back(base.row(i % 5)[q] + noise.row(i)[q] - noise.x[q]);
	for (std::uint64_t seed : {1, 2, 3, 4}) {
		KmeansOptions o = options(10, 10, seed);
		o.seeding_sample = 10;
		KmeansResult r = kmeans(d.x.data(), d.n, d.dim, o);
		expect_consistent(d, r, 10, "refill");
		for (std::int64_t size : r.sizes)
			EXPECT_GT(size, 0) << "seed=" << seed;
	}
}

TEST(Kmeans, RejectsBadArguments)
{
	std::vector<float> x(10 * 2, 1.0f);
	std::int32_t label;
	KmeansOptions o = options(0);
	EXPECT_THROW(kmeans(x.data(), 10, 2, o), std::invalid_argument);
	o.k = 11;
	EXPECT_THROW(kmeans(x.data(), 10, 2, o), std::invalid_argument);
	o.k = -1;
	EXPECT_THROW(kmeans(x.data(), 10, 2, o), std::invalid_argument);
	o.k = 1;
	EXPECT_THROW(kmeans(x.data(), 0, 2, o), std::invalid_argument);
	EXPECT_THROW(kmeans(x.data(), 10, 0, o), std::invalid_argument);
	o.max_iterations = 0;
	EXPECT_THROW(kmeans(x.data(), 10, 2, o), std::invalid_argument);
	EXPECT_THROW(kmeans_plus_plus(x.data(), 10, 2, 0, 1, 0, false), std::invalid_argument);
	EXPECT_THROW(kmeans_plus_plus(x.data(), 10, 2, 11, 1, 0, false), std::invalid_argument);
	EXPECT_THROW(kmeans_plus_plus(x.data(), 0, 2, 1, 1, 0, false), std::invalid_argument);
	EXPECT_THROW(assign_nearest(x.data(), 1, 2, x.data(), 0, false, &label, nullptr), std::invalid_argument);
	try {
		kmeans(x.data(), 10, 2, options(11));
		FAIL();
	} catch (const std::invalid_argument &e) {
		EXPECT_STREQ(e.what(), "k must be between 1 and the number of vectors (10)");
	}
	x[7] = INFINITY;
	EXPECT_THROW(kmeans(x.data(), 10, 2, options(2)), std::invalid_argument);
	x[7] = NAN;
	EXPECT_THROW(kmeans(x.data(), 10, 2, options(2)), std::invalid_argument);
}

TEST(Kmeans, HonoursCancellation)
{
	Data d = blobs(5000, 16, 10, 4);
	std::atomic<bool> flag{true};
	CancelToken token(&flag);
	std::vector<std::int32_t> labels(d.n);
	EXPECT_THROW(kmeans(d.x.data(), d.n, d.dim, options(10), token), Cancelled);
	EXPECT_THROW(kmeans_plus_plus(d.x.data(), d.n, d.dim, 10, 1, 0, false, token), Cancelled);
	EXPECT_THROW(assign_nearest(d.x.data(), d.n, d.dim, d.x.data(), 10, false, labels.data(), nullptr, token),
	             Cancelled);
}

TEST(Kmeans, CancellationLandsQuicklyMidRun)
{
	Data d = blobs(100000, 64, 500, 6, 1.5f);
	std::atomic<bool> flag{false};
	using Clock = std::chrono::steady_clock;
	Clock::time_point set_at;
	std::thread canceller([&] {
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
		set_at = Clock::now();
		flag = true;
	});
	bool cancelled = false;
	try {
		kmeans(d.x.data(), d.n, d.dim, options(1000, 50), CancelToken(&flag));
	} catch (const Cancelled &) {
		cancelled = true;
	}
	auto landed = Clock::now();
	canceller.join();
	ASSERT_TRUE(cancelled);
	EXPECT_LT(std::chrono::duration<double>(landed - set_at).count(), 0.2);
}

// Values the vector type accepts whose squared norms overflow float (components of 1e20 up to
// 3.4e38) or underflow to zero (below ~1e-19): k-means runs on them (no "finite values and norms"
// refusal) and gives exactly the clustering of the same data scaled into ordinary range, scaled
// back, with finite centroids.
TEST(Kmeans, ExtremeMagnitudesClusterLikeTheirScaledCopy)
{
	Data d = blobs(3000, 8, 12, 21, 2.0f);
	for (int shift : {120, -100}) {  // |x| up to ~2^126 (squares overflow), or ~2^-94 (squares underflow)
		std::vector<float> extreme(d.x.size());
		for (std::size_t i = 0; i < extreme.size(); i++)
			extreme[i] = std::ldexp(d.x[i], shift);
		if (shift > 0)
			extreme[0] = 3.4e38f;  // the largest float, in the same data
		std::vector<float> ordinary(extreme.size());
		for (std::size_t i = 0; i < extreme.size(); i++)
			ordinary[i] = std::ldexp(extreme[i], -shift);
		float norm = float(dot(&extreme[0], &extreme[0], d.dim));
		ASSERT_TRUE(shift > 0 ? std::isinf(norm) : norm == 0) << shift;
		for (int threads : {1, 2}) {
			KmeansOptions o = options(12);
			KmeansResult a, b;
			tbb::task_arena arena(threads);
			arena.execute([&] {
				a = kmeans(extreme.data(), d.n, d.dim, o);
				b = kmeans(ordinary.data(), d.n, d.dim, o);
			});
			ASSERT_EQ(a.sizes, b.sizes) << shift;
			ASSERT_EQ(a.iterations, b.iterations) << shift;
			for (std::size_t i = 0; i < a.centroids.size(); i++) {
				ASSERT_TRUE(std::isfinite(a.centroids[i])) << i;
				ASSERT_EQ(a.centroids[i], std::ldexp(b.centroids[i], shift)) << i;
			}
			EXPECT_EQ(a.objective, std::ldexp(b.objective, 2 * shift));

			std::vector<std::int32_t> la(d.n), lb(d.n);
			assign_nearest(extreme.data(), d.n, d.dim, a.centroids.data(), 12, false, la.data(), nullptr);
			assign_nearest(ordinary.data(), d.n, d.dim, b.centroids.data(), 12, false, lb.data(), nullptr);
			EXPECT_EQ(la, lb) << shift;
		}
	}
	// A single row of [1e20, 1, 1] among ordinary ones, as in an ivfflat build.
	Data e = blobs(500, 3, 4, 22);
	e.x[0] = 1e20f;
	KmeansResult r = kmeans(e.x.data(), e.n, e.dim, options(4));
	for (float v : r.centroids)
		ASSERT_TRUE(std::isfinite(v));
	EXPECT_TRUE(std::isfinite(r.objective));
}
